//! The wire protocol: pipelining, inline commands, protocol errors, large values.

use super::common::*;
use std::io::Write;

#[test]
fn pipelined_commands_reply_in_order() {
    let srv = start_keel(&[]);
    let mut c = Conn::new(srv.port);
    let mut batch = Vec::new();
    for i in 0..1000 {
        batch.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n$5\r\nk{i:04}\r\n$1\r\n{}\r\n", i % 10).as_bytes(),
        );
        batch.extend_from_slice(format!("*2\r\n$3\r\nGET\r\n$5\r\nk{i:04}\r\n").as_bytes());
    }
    c.send_raw(&batch);
    for i in 0..1000 {
        assert_eq!(c.read_reply().unwrap(), b"+OK\r\n");
        assert_eq!(c.read_reply().unwrap(), format!("$1\r\n{}\r\n", i % 10).as_bytes());
    }
}

#[test]
fn inline_commands_work_like_telnet() {
    let srv = start_keel(&[]);
    let mut c = Conn::new(srv.port);
    c.send_raw(b"SET greeting \"hello world\"\r\nGET greeting\nPING\r\n\r\n");
    assert_eq!(c.read_reply().unwrap(), b"+OK\r\n");
    assert_eq!(c.read_reply().unwrap(), b"$11\r\nhello world\r\n");
    assert_eq!(c.read_reply().unwrap(), b"+PONG\r\n");
}

#[test]
fn command_split_across_many_writes() {
    let srv = start_keel(&[]);
    let mut c = Conn::new(srv.port);
    let cmd = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
    for b in cmd.iter() {
        c.stream.write_all(&[*b]).unwrap();
        c.stream.flush().unwrap();
    }
    assert_eq!(c.read_reply().unwrap(), b"+OK\r\n");
}

/// Each malformed request gets Redis's exact error, and then the connection closes.
#[test]
fn protocol_errors_reply_then_close() {
    let srv = start_keel(&[]);
    let cases: &[(&[u8], &str)] = &[
        (b"*x\r\n", "-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*1\r\n$x\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n+foo\r\n", "-ERR Protocol error: expected '$', got '+'\r\n"),
        (b"*1\r\n$-5\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n$536870913\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        (b"SET k \"unterminated\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"),
    ];
    for (input, want) in cases {
        let mut c = Conn::new(srv.port);
        c.send_raw(input);
        assert_eq!(
            String::from_utf8_lossy(&c.read_reply().unwrap()),
            *want,
            "input {:?}",
            String::from_utf8_lossy(input)
        );
        assert!(c.is_closed(), "connection stays open after {:?}", String::from_utf8_lossy(input));
    }
    // The server is still fine.
    let mut c = Conn::new(srv.port);
    assert_eq!(c.cmd(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn oversized_inline_request_is_refused() {
    let srv = start_keel(&[]);
    let mut c = Conn::new(srv.port);
    c.send_raw(&vec![b'a'; 70 * 1024]);
    assert_eq!(c.read_reply().unwrap(), b"-ERR Protocol error: too big inline request\r\n");
    assert!(c.is_closed());
}

#[test]
fn large_value_round_trips() {
    let srv = start_keel(&[]);
    let mut c = Conn::new(srv.port);
    let value: Vec<u8> = (0..8 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    assert_eq!(c.cmd(&[b"SET", b"big", &value]), b"+OK\r\n");
    let reply = c.cmd(&[b"GET", b"big"]);
    let header = format!("${}\r\n", value.len());
    assert!(reply.starts_with(header.as_bytes()));
    assert_eq!(&reply[header.len()..reply.len() - 2], &value[..]);
}

#[test]
fn binary_keys_and_values() {
    let srv = start_keel(&[]);
    let mut c = Conn::new(srv.port);
    let key = b"\x00\xff\r\n key";
    let val = b"\r\n\x00\x01";
    assert_eq!(c.cmd(&[b"SET", key, val]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"GET", key]), b"$4\r\n\r\n\x00\x01\r\n");
}

#[test]
fn query_buffer_limit_closes_the_client() {
    let srv = start_keel(&["--client-query-buffer-limit", "1mb"]);
    let mut c = Conn::new(srv.port);
    // Announce a 2 MB bulk and send more than the 1 MB limit of it.
    c.send_raw(b"*2\r\n$3\r\nGET\r\n$2000000\r\n");
    let chunk = vec![b'x'; 64 * 1024];
    let mut closed = false;
    for _ in 0..40 {
        if c.stream.write_all(&chunk).is_err() {
            closed = true;
            break;
        }
    }
    assert!(closed || c.is_closed());
    let mut c = Conn::new(srv.port);
    assert_eq!(c.cmd(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn maxclients_refuses_extra_connections() {
    let srv = start_keel(&["--maxclients", "2"]);
    let mut a = Conn::new(srv.port);
    let mut b = Conn::new(srv.port);
    assert_eq!(a.cmd(&[b"PING"]), b"+PONG\r\n");
    assert_eq!(b.cmd(&[b"PING"]), b"+PONG\r\n");
    let mut c = Conn::new(srv.port);
    assert_eq!(c.read_reply().unwrap(), b"-ERR max number of clients reached\r\n");
}

#[test]
fn unix_socket_serves_commands() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keel.sock");
    let path_s = path.to_str().unwrap().to_string();
    let _srv = start_keel(&["--unixsocket", &path_s]);
    let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    s.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"+PONG\r\n");
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let mut srv = start_keel(&[]);
    let pid = srv.child.id();
    std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status().unwrap();
    let status = srv.child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    let log = std::fs::read_to_string(&srv.log).unwrap();
    assert!(log.contains("Received SIGTERM scheduling shutdown..."), "{log}");
    assert!(log.contains("ready to exit, bye bye"), "{log}");
}

#[test]
fn startup_log_has_the_lines_tools_wait_for() {
    let srv = start_keel(&[]);
    let log = std::fs::read_to_string(&srv.log).unwrap();
    assert!(log.contains(" PID: "), "{log}");
    assert!(log.contains("Server initialized"), "{log}");
    assert!(log.contains("Ready to accept connections tcp"), "{log}");
}

/// Hostile input: random bytes and half-valid frames on many connections never take the
/// server down.
#[test]
fn random_garbage_never_crashes_the_server() {
    use rand::{Rng, SeedableRng};
    let srv = start_keel(&[]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6b65656c);
    let prefixes: &[&[u8]] =
        &[b"*", b"*2\r\n$", b"*1\r\n$4\r\n", b"$", b"*-1\r\n", b"\"", b"*3\r\n$3\r\nSET\r\n"];
    for round in 0..200 {
        let mut c = Conn::new(srv.port);
        let mut data = prefixes[round % prefixes.len()].to_vec();
        let n = rng.random_range(0..2048);
        data.extend((0..n).map(|_| rng.random::<u8>()));
        let _ = c.stream.write_all(&data);
    }
    let mut c = Conn::new(srv.port);
    assert_eq!(c.cmd(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    let srv = start_keel(&["--timeout", "1", "--hz", "50"]);
    let mut idle = Conn::new(srv.port);
    assert_eq!(idle.cmd(&[b"PING"]), b"+PONG\r\n");
    std::thread::sleep(std::time::Duration::from_millis(2300));
    assert!(idle.is_closed(), "an idle client outlived `timeout 1`");
}

#[test]
fn binds_ipv6_loopback() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        // No IPv6 on this machine's loopback: the optional form must still start.
        let srv = start_keel(&["--bind", "127.0.0.1", "-::1"]);
        assert_eq!(Conn::new(srv.port).cmd(&[b"PING"]), b"+PONG\r\n");
        return;
    }
    let srv = start_keel(&["--bind", "127.0.0.1", "::1"]);
    let mut v6 = std::net::TcpStream::connect(("::1", srv.port)).unwrap();
    v6.write_all(b"PING\r\n").unwrap();
    let mut buf = [0u8; 7];
    std::io::Read::read_exact(&mut v6, &mut buf).unwrap();
    assert_eq!(&buf, b"+PONG\r\n");
}

#[test]
fn logfile_and_loglevel_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("keel.log");
    let log_s = log.to_str().unwrap().to_string();
    let srv = start_keel(&["--logfile", &log_s, "--loglevel", "warning"]);
    let mut c = Conn::new(srv.port);
    assert_eq!(c.cmd(&[b"PING"]), b"+PONG\r\n");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("Server initialized"), "{text}");
    // `Ready to accept connections` is a notice: filtered out at warning level.
    assert!(!text.contains("Ready to accept"), "{text}");
    let line = text.lines().next().unwrap();
    // pid:role dd Mon yyyy hh:mm:ss.mmm # message
    let parts: Vec<&str> = line.splitn(6, ' ').collect();
    assert!(parts[0].ends_with(":C") || parts[0].ends_with(":M"), "{line}");
    assert_eq!(parts[5].chars().next(), Some('#'), "{line}");
}
