//! The limits that keep the server alive, each scenario run against redis-server and
//! keel-server with the same options: what the client receives (raw bytes) and whether the
//! connection is closed must agree.

use crate::common::{start_keel, start_redis, Conn, Read, TestServer};
use std::io::Write;
use std::time::{Duration, Instant};

/// What a scenario observed: replies as text, and `<closed>` / `<silent>` markers.
type Trace = Vec<String>;

fn outcome(c: &mut Conn) -> String {
    match c.read_outcome() {
        Read::Reply(r) => String::from_utf8_lossy(&r).into_owned(),
        Read::Closed => "<closed>".into(),
        Read::TimedOut => "<silent>".into(),
    }
}

/// Runs `scenario` on redis-server then keel-server started with `args`; the traces must be
/// equal. Returns keel's trace and server, for checks of its own (logs).
fn same(args: &[&str], scenario: impl Fn(&TestServer) -> Trace) -> (Trace, TestServer) {
    let redis = start_redis(args);
    let expected = scenario(&redis);
    let keel = start_keel(args);
    let got = scenario(&keel);
    assert_eq!(got, expected, "keel-server vs redis-server");
    (got, keel)
}

/// Sends `raw` on a fresh connection and records the reply and what follows it.
fn raw_then_state(port: u16, raw: &[u8]) -> Trace {
    let mut c = Conn::new(port);
    c.stream.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    c.send_raw(raw);
    vec![outcome(&mut c), outcome(&mut c)]
}

#[test]
fn unauthenticated_clients_cannot_announce_big_requests() {
    let args = ["--requirepass", "secret"];
    let (trace, _) = same(&args, |s| {
        let mut t = Vec::new();
        // Up to 10 arguments and 16384-byte bulks are parsed (then refused: NOAUTH).
        t.extend(raw_then_state(s.port, b"*10\r\n"));
        t.extend(raw_then_state(s.port, b"*11\r\n"));
        t.extend(raw_then_state(s.port, b"*1000000000\r\n"));
        t.extend(raw_then_state(s.port, b"*1\r\n$16384\r\n"));
        t.extend(raw_then_state(s.port, b"*1\r\n$16385\r\n"));
        t.extend(raw_then_state(s.port, b"*2\r\n$4\r\nPING\r\n$999999999\r\n"));
        // Once authenticated the same requests are fine.
        let mut c = Conn::new(s.port);
        t.push(c.cmd_str("AUTH secret"));
        c.send_raw(b"*11\r\n$4\r\nECHO\r\n");
        c.send_raw(&b"$1\r\nx\r\n".repeat(10));
        t.push(outcome(&mut c));
        let big = "y".repeat(20000);
        t.push(String::from_utf8_lossy(&c.cmd(&[b"ECHO", big.as_bytes()])).len().to_string());
        t
    });
    assert_eq!(trace[2], "-ERR Protocol error: unauthenticated multibulk length\r\n");
    assert_eq!(trace[3], "<closed>");
    assert_eq!(trace[8], "-ERR Protocol error: unauthenticated bulk length\r\n");
}

#[test]
fn proto_max_bulk_len_refuses_longer_bulks() {
    let (trace, _) = same(&["--proto-max-bulk-len", "1mb"], |s| {
        let mut t = raw_then_state(s.port, b"*2\r\n$3\r\nGET\r\n$1048577\r\n");
        t.extend(raw_then_state(s.port, b"*2\r\n$3\r\nGET\r\n$-2\r\n"));
        // Exactly the limit is accepted.
        let mut c = Conn::new(s.port);
        let v = vec![b'v'; 1 << 20];
        t.push(String::from_utf8_lossy(&c.cmd(&[b"SET", b"k", &v])).into_owned());
        t.push(c.cmd_str("STRLEN k"));
        t
    });
    assert_eq!(trace[0], "-ERR Protocol error: invalid bulk length\r\n");
    assert_eq!(trace[1], "<closed>");
}

#[test]
fn query_buffer_limit_closes_the_client_like_redis() {
    let (trace, keel) = same(&["--client-query-buffer-limit", "1mb"], |s| {
        let mut c = Conn::new(s.port);
        c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n");
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..40 {
            if c.stream.write_all(&chunk).is_err() {
                break;
            }
        }
        let mut other = Conn::new(s.port);
        vec![outcome(&mut c), other.cmd_str("EXISTS k")]
    });
    assert_eq!(trace, ["<closed>", ":0\r\n"]);
    let log = std::fs::read_to_string(&keel.log).unwrap();
    assert!(log.contains("Closing client that reached max query buffer length"), "{log}");
}

#[test]
fn maxclients_error_matches_redis() {
    same(&["--maxclients", "2"], |s| {
        let mut a = Conn::new(s.port);
        let mut b = Conn::new(s.port);
        let mut t = vec![a.cmd_str("PING"), b.cmd_str("PING")];
        let mut c = Conn::new(s.port);
        t.push(outcome(&mut c));
        t.push(outcome(&mut c));
        // A slot freed is a slot taken.
        drop(a);
        std::thread::sleep(Duration::from_millis(200));
        t.push(Conn::new(s.port).cmd_str("PING"));
        t
    });
}

/// `GET big` without reading: the whole reply is pending at once.
fn big_reply_trace(s: &TestServer) -> Trace {
    let mut c = Conn::new(s.port);
    let big = vec![b'b'; 300 * 1024];
    let mut t = vec![String::from_utf8_lossy(&c.cmd(&[b"SET", b"big", &big])).into_owned()];
    let reply = c.cmd(&[b"GET", b"small"]);
    t.push(String::from_utf8_lossy(&reply).into_owned());
    c.send(&[b"GET", b"big"]);
    t.push(match c.read_outcome() {
        Read::Reply(r) => format!("{} bytes", r.len()),
        Read::Closed => "<closed>".into(),
        Read::TimedOut => "<silent>".into(),
    });
    t
}

#[test]
fn normal_output_hard_limit_closes_without_the_reply() {
    let (trace, keel) =
        same(&["--client-output-buffer-limit", "normal 100kb 0 0"], big_reply_trace);
    assert_eq!(trace[2], "<closed>");
    let log = std::fs::read_to_string(&keel.log).unwrap();
    let line = log.lines().find(|l| l.contains("overcoming of output buffer limits")).unwrap();
    assert!(line.contains("scheduled to be closed ASAP") && line.contains("cmd=get"), "{line}");
    // The default (no limit for normal clients) lets the same reply through, and so does a
    // limit set back to zero at run time.
    let (trace, _) = same(&[], big_reply_trace);
    assert_eq!(trace[2], format!("{} bytes", 300 * 1024 + 11));
    let (trace, _) = same(&["--client-output-buffer-limit", "normal 100kb 0 0"], |s| {
        let set: [&[u8]; 4] = [b"CONFIG", b"SET", b"client-output-buffer-limit", b"normal 0 0 0"];
        assert_eq!(Conn::new(s.port).cmd(&set), b"+OK\r\n");
        big_reply_trace(s)
    });
    assert_eq!(trace[2], format!("{} bytes", 300 * 1024 + 11));
}

/// A client that pipelines big GETs without reading stays over the soft limit: after the
/// soft seconds it is closed, before all its replies arrive.
#[test]
fn normal_output_soft_limit_closes_after_its_seconds() {
    let args = ["--client-output-buffer-limit", "normal 0 1mb 1"];
    same(&args, |s| {
        let mut c = Conn::new(s.port);
        let big = vec![b'b'; 1 << 20];
        c.cmd(&[b"SET", b"big", &big]);
        let start = Instant::now();
        let mut sent = 0;
        while start.elapsed() < Duration::from_millis(3500) {
            let mut batch = Vec::new();
            for _ in 0..4 {
                batch.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n");
            }
            if c.stream.write_all(&batch).is_err() {
                break;
            }
            sent += 4;
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut got = 0;
        while let Read::Reply(_) = c.read_outcome() {
            got += 1;
        }
        vec![(got < sent).to_string()]
    });
}

#[test]
fn idle_timeout_spares_blocked_subscribed_and_monitoring_clients() {
    same(&["--timeout", "1", "--hz", "50"], |s| {
        let mut idle = Conn::new(s.port);
        idle.cmd_str("PING");
        let mut blocked = Conn::new(s.port);
        blocked.send(&[b"BLPOP", b"list", b"0"]);
        let mut sub = Conn::new(s.port);
        sub.cmd_str("SUBSCRIBE ch");
        let mut mon = Conn::new(s.port);
        mon.cmd_str("MONITOR");
        std::thread::sleep(Duration::from_millis(2600));
        let mut t = vec![outcome(&mut idle)];
        let mut other = Conn::new(s.port);
        other.cmd_str("RPUSH list a");
        t.push(outcome(&mut blocked));
        other.cmd_str("PUBLISH ch m");
        t.push(outcome(&mut sub));
        // MONITOR saw RPUSH and PUBLISH; the timestamps differ, the shape does not.
        t.push(outcome(&mut mon).starts_with("+").to_string());
        t
    });
}

/// Sends most of a 3 MB SET on `c`: its query buffer grows past 1 MB.
fn start_big_request(c: &mut Conn) -> usize {
    c.send_raw(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$3000000\r\n");
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..32 {
        if c.stream.write_all(&chunk).is_err() {
            break;
        }
    }
    3000000 - 32 * chunk.len()
}

/// A client sending a huge request is evicted once the clients together pass
/// `maxmemory-clients`, and small clients stay.
#[test]
fn maxmemory_clients_evicts_the_biggest_client() {
    let (trace, _) = same(&["--maxmemory-clients", "1mb"], |s| {
        let mut small = Conn::new(s.port);
        let mut t = vec![small.cmd_str("PING")];
        let mut big = Conn::new(s.port);
        start_big_request(&mut big);
        t.push(outcome(&mut big));
        t.push(small.cmd_str("EXISTS big"));
        let stats = small.cmd_str("INFO stats");
        t.extend(stats.lines().filter(|l| l.starts_with("evicted_clients")).map(String::from));
        t
    });
    assert_eq!(trace, ["+PONG\r\n", "<closed>", ":0\r\n", "evicted_clients:1"]);
}

/// `CLIENT NO-EVICT on` exempts a client: its huge request completes.
#[test]
fn maxmemory_clients_spares_no_evict_clients() {
    let (trace, _) = same(&["--maxmemory-clients", "1mb"], |s| {
        let mut c = Conn::new(s.port);
        let mut t = vec![c.cmd_str("CLIENT NO-EVICT on")];
        let rest = start_big_request(&mut c);
        std::thread::sleep(Duration::from_millis(200));
        c.send_raw(&vec![b'x'; rest]);
        c.send_raw(b"\r\n");
        t.push(outcome(&mut c));
        t.push(c.cmd_str("STRLEN big"));
        let stats = c.cmd_str("INFO stats");
        t.extend(stats.lines().filter(|l| l.starts_with("evicted_clients")).map(String::from));
        t
    });
    assert_eq!(trace, ["+OK\r\n", "+OK\r\n", ":3000000\r\n", "evicted_clients:0"]);
}
