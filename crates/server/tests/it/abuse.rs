//! Load and abuse: one server with `requirepass` takes many idle and slowloris connections,
//! a huge pipeline, huge declared lengths, unauthenticated floods and random bytes, all at
//! once, while a well-behaved client keeps pinging. The test asserts that the good client's
//! p99 latency stays under a bound, that the server's memory stays bounded, and that it is
//! still alive and answering afterwards.
//!
//! CI runs the short form (1,000 connections). `KEEL_ABUSE_CONNS=5000` is the manual run the
//! robustness issue asks for; the figures are printed to stderr (`--nocapture`).

use crate::common::{start_keel, Conn};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const PASSWORD: &str = "abuse-secret";
/// The good client's p99 PING latency must stay below this during the abuse (plus the
/// scheduler delay measured beside it). The target is 200 ms: with the event loop
/// reading at most 64 KiB per client per iteration the debug build measured 86-106 ms on
/// 2 cores (up to 300 ms with a 1 MiB budget); the bound leaves room for a loaded CI
/// machine and still fails on a server that stalls.
const P99_BOUND: Duration = Duration::from_millis(250);
/// The server's peak resident memory (VmHWM) may grow by at most this much.
const RSS_GROWTH_BOUND_KB: u64 = 128 * 1024;

/// A field of /proc/<pid>/status, in kB.
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

/// CPU time (user + system) a process has used, in ms: tells a server that was busy from
/// one that was starved of CPU when latency is high. /proc counts in USER_HZ, 100 on Linux.
fn cpu_time_ms(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let after = stat.rsplit(')').next().unwrap();
    let fields: Vec<u64> =
        after.split_whitespace().skip(11).take(2).map(|f| f.parse().unwrap()).collect();
    fields.iter().sum::<u64>() * 10
}

/// The soft limit on open files of this process (the server inherits it).
fn open_file_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    line.split_whitespace().nth(3).and_then(|v| v.parse().ok()).unwrap_or(1024)
}

/// Raises this process's soft open-file limit to its hard limit with util-linux's
/// `prlimit` (no unsafe code needed); the server started afterwards inherits it.
fn raise_open_file_limit() {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let Some(hard) = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
    else {
        return;
    };
    let pid = std::process::id().to_string();
    // Failure leaves the limit as it was; the test then sizes itself to that limit.
    let _ = std::process::Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={hard}:")])
        .stderr(std::process::Stdio::null())
        .status();
}

/// A connection that has sent AUTH and got +OK.
fn authed(port: u16) -> Conn {
    let mut c = Conn::new(port);
    assert_eq!(c.cmd(&[b"AUTH", PASSWORD.as_bytes()]), b"+OK\r\n");
    c
}

/// Pings every 5 ms until `stop`, returning every round trip; a missing reply fails.
fn prober(port: u16, stop: Arc<AtomicBool>) -> thread::JoinHandle<Vec<Duration>> {
    thread::spawn(move || {
        let mut c = authed(port);
        let mut samples = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let t = Instant::now();
            assert_eq!(c.cmd(&[b"PING"]), b"+PONG\r\n");
            samples.push(t.elapsed());
            thread::sleep(Duration::from_millis(5));
        }
        samples
    })
}

/// Sleeps 5 ms at a time until `stop`, returning how late each wake-up was: how long a
/// thread of this test waited for a CPU. On a loaded 2-core machine that delay, not the
/// server, can dominate the good client's latency, so the bound allows for it.
fn scheduler_delay(stop: Arc<AtomicBool>) -> thread::JoinHandle<Vec<Duration>> {
    thread::spawn(move || {
        let mut late = Vec::new();
        let period = Duration::from_millis(5);
        while !stop.load(Ordering::Relaxed) {
            let t = Instant::now();
            thread::sleep(period);
            late.push(t.elapsed().saturating_sub(period));
        }
        late
    })
}

/// The `q` quantile of `samples` (sorted in place).
fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * q) as usize]
}

/// Opens `n` connections; every fourth one starts a command it never finishes
/// (slowloris). Returns them so they stay open.
fn idle_and_partial(port: u16, n: usize) -> Vec<TcpStream> {
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        if i % 4 == 0 {
            s.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\n").unwrap();
        }
        conns.push(s);
    }
    conns
}

/// Trickles one byte at a time into the partial commands for `rounds` rounds.
fn trickle(conns: &mut [TcpStream], rounds: usize) {
    let body = b"k\r\n$5\r\nhello\r\n";
    for round in 0..rounds {
        for s in conns.iter_mut().step_by(4) {
            // A write error means the server closed a connection it judged abusive: fine.
            let _ = s.write_all(&body[round % body.len()..round % body.len() + 1]);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `n` PINGs in one go without reading, waits, then reads every reply back.
fn huge_pipeline(port: u16, n: usize) {
    let mut c = authed(port);
    let mut writer = c.stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        let batch = b"*1\r\n$4\r\nPING\r\n".repeat(n);
        writer.write_all(&batch).unwrap();
    });
    // Not reading for a while makes the server hold the replies.
    thread::sleep(Duration::from_millis(500));
    let mut got = 0;
    let mut buf = vec![0u8; 1 << 16];
    let mut pending = 0usize;
    while got < n {
        let k = c.stream.read(&mut buf).unwrap();
        assert!(k > 0, "the pipeline connection closed after {got} replies");
        pending += k;
        got = pending / b"+PONG\r\n".len();
    }
    assert_eq!(pending, n * b"+PONG\r\n".len());
    sender.join().unwrap();
}

/// Reads what `s` gets within `wait`: the bytes, up to the server closing the connection.
fn read_for(s: &mut TcpStream, wait: Duration) -> (Vec<u8>, bool) {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (got, false),
        }
    }
}

/// A request header, the reply before AUTH, the reply after AUTH (None: the server waits).
type LengthCase = (&'static [u8], &'static [u8], Option<&'static [u8]>);

/// Declares huge lengths before and after AUTH. As in Redis, an unauthenticated client
/// gets a protocol error for any large declared length, anyone for a bulk over
/// proto-max-bulk-len; an authenticated client may declare lengths within the limits, and
/// the server then waits for the bytes (without allocating them: the RSS bound checks).
/// Returns the connections left waiting.
fn huge_lengths(port: u16) -> Vec<TcpStream> {
    let cases: [LengthCase; 3] = [
        (
            b"*1\r\n$2147483647\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
            Some(b"-ERR Protocol error: invalid bulk length\r\n"),
        ),
        (b"*2147483647\r\n", b"-ERR Protocol error: unauthenticated multibulk length\r\n", None),
        (
            b"*2\r\n$3\r\nSET\r\n$536870000\r\nabc",
            b"-ERR Protocol error: unauthenticated bulk length\r\n",
            None,
        ),
    ];
    let mut held = Vec::new();
    for (header, unauth_reply, auth_reply) in cases {
        let mut unauth = TcpStream::connect(("127.0.0.1", port)).unwrap();
        unauth.write_all(header).unwrap();
        assert_eq!(read_for(&mut unauth, Duration::from_secs(5)), (unauth_reply.to_vec(), true));
        let mut s = authed(port).stream;
        s.write_all(header).unwrap();
        match auth_reply {
            Some(reply) => {
                assert_eq!(read_for(&mut s, Duration::from_secs(5)), (reply.to_vec(), true));
            }
            None => {
                assert_eq!(read_for(&mut s, Duration::from_millis(200)), (Vec::new(), false));
                held.push(s);
            }
        }
    }
    held
}

/// Connections that never authenticate: command floods, and connect/close churn.
fn unauthenticated_flood(port: u16, conns: usize, commands: usize) {
    let flood = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n".repeat(commands);
    let mut workers = Vec::new();
    for _ in 0..conns {
        let flood = flood.clone();
        workers.push(thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let _ = s.write_all(&flood);
            let mut first = [0u8; 7];
            // Every reply is the NOAUTH error; the first one is enough to check.
            if s.read_exact(&mut first).is_ok() {
                assert_eq!(&first, b"-NOAUTH");
            }
        }));
    }
    for _ in 0..500 {
        drop(TcpStream::connect(("127.0.0.1", port)).unwrap());
    }
    for w in workers {
        w.join().unwrap();
    }
}

/// Connections that send random bytes (seeded: the same bytes every run).
fn random_bytes(port: u16, conns: usize, bytes: usize) {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..conns {
        let data: Vec<u8> = (0..bytes)
            .map(|_| {
                // xorshift64: enough randomness for garbage input, no dependency needed.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect();
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        // The server may close the connection half-way through: that is its right.
        let _ = s.write_all(&data);
    }
}

#[test]
fn abuse_leaves_the_server_alive_responsive_and_bounded() {
    let wanted: usize =
        std::env::var("KEEL_ABUSE_CONNS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    raise_open_file_limit();
    // Both this process and the server hold one descriptor per connection, plus slack.
    let limit = open_file_limit() as usize;
    let conns = wanted.min(limit.saturating_sub(1200));
    assert!(conns >= 500, "open-file limit {limit} is too low for the abuse test");
    // Room for the flood, churn and random-bytes connections besides the idle ones.
    let maxclients = (conns + 1000).to_string();
    let mut srv = start_keel(&[
        "--requirepass",
        PASSWORD,
        "--maxclients",
        &maxclients,
        "--appendonly",
        "no",
        "--save",
        "",
    ]);
    let port = srv.port;
    let pid = srv.child.id();
    let rss_before = status_kb(pid, "VmRSS:");
    let started = Instant::now();

    let stop = Arc::new(AtomicBool::new(false));
    let probe = prober(port, stop.clone());
    let control = scheduler_delay(stop.clone());
    let mut partial = idle_and_partial(port, conns);
    let held = huge_lengths(port);
    let pipeline = thread::spawn(move || huge_pipeline(port, 100_000));
    let flood = thread::spawn(move || unauthenticated_flood(port, 20, 5_000));
    random_bytes(port, 50, 64 * 1024);
    trickle(&mut partial, 60);
    pipeline.join().unwrap();
    flood.join().unwrap();
    let rss_during = status_kb(pid, "VmRSS:");
    stop.store(true, Ordering::Relaxed);
    let mut samples = probe.join().unwrap();
    let mut late = control.join().unwrap();

    drop(partial);
    drop(held);
    // The server is alive and serves a new client.
    assert!(srv.child.try_wait().unwrap().is_none(), "the server exited");
    let mut after = authed(port);
    assert_eq!(after.cmd(&[b"PING"]), b"+PONG\r\n");
    let peak = status_kb(pid, "VmHWM:");
    let rss_after = status_kb(pid, "VmRSS:");
    let cpu_ms = cpu_time_ms(pid);

    let (p50, p99, max) =
        (quantile(&mut samples, 0.5), quantile(&mut samples, 0.99), quantile(&mut samples, 1.0));
    let late99 = quantile(&mut late, 0.99);
    eprintln!(
        "abuse: {conns} connections (open-file limit {limit}), {:.1}s; server CPU {cpu_ms} ms; \
         good client: {} pings, p50 {p50:?}, p99 {p99:?}, max {max:?}; scheduler delay p99 \
         {late99:?}; server RSS before {rss_before} kB, during {rss_during} kB, after \
         {rss_after} kB, peak {peak} kB",
        started.elapsed().as_secs_f64(),
        samples.len(),
    );
    assert!(samples.len() >= 20, "too few pings to measure: {}", samples.len());
    assert!(
        p99 < P99_BOUND + late99,
        "p99 PING latency {p99:?} during abuse (scheduler delay p99 {late99:?})"
    );
    assert!(
        peak < rss_before + RSS_GROWTH_BOUND_KB,
        "peak RSS {peak} kB against {rss_before} kB at start"
    );
}
