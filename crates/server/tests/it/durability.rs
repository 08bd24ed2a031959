//! No acknowledged write is lost.
//!
//! Kill -9: clients write keys as fast as they can, the server gets SIGKILL at a random
//! moment, it restarts on the same directory and every key acknowledged so far (in this
//! round and all earlier ones) must be there; 30 kills with `appendfsync always` and 30
//! with `everysec` (a kill -9 does not lose what was written to the kernel, and the write
//! happens before the reply).
//!
//! Disk full: the server runs under a file size limit (`prlimit --fsize`, with SIGXFSZ
//! ignored so that `write()` fails with EFBIG instead of killing it, which is what a full
//! disk looks like to the server). Under `everysec` the write that could not be persisted
//! is not acknowledged, later writes are refused with Redis's
//! `-MISCONF Errors writing to the AOF file: ...` (the same text redis-server gives under
//! the same limit), and once the limit is lifted (space
//! returns) the held write is persisted and acknowledged and writes are accepted again.
//! Under `always` the server exits rather than acknowledge, as Redis does.

use crate::common::{keel_bin, redis_bin, start_keel, Conn, Read, TestServer};
use rand::Rng;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WRITERS: usize = 3;
const KILLS_PER_POLICY: usize = 30;

/// Writes unique keys from several clients until the server dies; returns those acked.
fn write_until_killed(srv: &mut TestServer, round: usize, after_ms: u64) -> Vec<String> {
    let port = srv.port;
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (stop, acked) = (Arc::clone(&stop), Arc::clone(&acked));
            // Connected here, so a kill cannot come before the connection.
            let mut c = Conn::new(port);
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("r{round}:w{w}:{i}");
                    c.send(&[b"SET", key.as_bytes(), b"v"]);
                    match c.read_reply() {
                        Some(r) if r == b"+OK\r\n" => acked.lock().unwrap().push(key),
                        _ => break,
                    }
                    i += 1;
                }
            })
        })
        .collect();
    // The kill comes `after_ms` after the first acknowledgement (a loaded machine may
    // take a while to schedule the writers).
    let deadline = Instant::now() + Duration::from_secs(10);
    while acked.lock().unwrap().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(after_ms));
    let _ = srv.child.kill();
    let _ = srv.child.wait();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let acked = acked.lock().unwrap().clone();
    acked
}

/// Asserts every key of `keys` exists.
fn assert_all_exist(c: &mut Conn, keys: &[String], what: &str) {
    for chunk in keys.chunks(500) {
        let mut argv: Vec<&[u8]> = vec![b"EXISTS"];
        argv.extend(chunk.iter().map(|k| k.as_bytes()));
        let reply = String::from_utf8(c.cmd(&argv)).unwrap();
        assert_eq!(reply, format!(":{}\r\n", chunk.len()), "{what}: acknowledged keys lost");
    }
}

/// Kill -9 rounds on one directory: write, kill, restart, check everything acked so far.
fn kill_rounds(policy: &str) {
    let mut rng = rand::rng();
    // The first server's directory is the one every restart uses.
    let mut srv = start_keel(&["--appendfsync", policy]);
    let dir = srv.dir.path().display().to_string();
    let mut first = None;
    let mut acked_all: Vec<String> = Vec::new();
    for round in 0..KILLS_PER_POLICY {
        let acked = write_until_killed(&mut srv, round, rng.random_range(20..150));
        assert!(!acked.is_empty(), "round {round}: nothing was acknowledged before the kill");
        acked_all.extend(acked);
        let next = start_keel(&["--appendfsync", policy, "--dir", &dir]);
        let mut c = Conn::new(next.port);
        assert_all_exist(&mut c, &acked_all, &format!("{policy}, kill {}", round + 1));
        let old = std::mem::replace(&mut srv, next);
        // Keep the first server (its drop would remove the directory).
        first.get_or_insert(old);
    }
}

#[test]
fn kill_9_loses_nothing_acknowledged_with_always() {
    kill_rounds("always");
}

#[test]
fn kill_9_loses_nothing_acknowledged_with_everysec() {
    kill_rounds("everysec");
}

/// `bin` (keel-server or redis-server) under a file size limit of `bytes` (SIGXFSZ
/// ignored), in a new directory.
fn start_limited(bin: &Path, bytes: u64, policy: &str) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::common::free_port();
    let log = dir.path().join("limited.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; exec prlimit --fsize=\"$0\":unlimited \"$@\"")
        .arg(bytes.to_string())
        .arg(bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
        .args(["--appendonly", "yes", "--appendfsync", policy])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .unwrap();
    // Killed and reaped on drop, whatever happens next.
    let srv = TestServer { child, port, dir, log };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&srv.log).unwrap_or_default();
        if text.contains("Ready to accept connections") {
            return srv;
        }
        assert!(Instant::now() < deadline, "the limited server did not start: {text}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Writes 1 KB values until one is not acknowledged within a second (the AOF write failed);
/// returns the acknowledged keys, and the connection holding the unacknowledged one.
fn fill(port: u16) -> (Vec<String>, Conn) {
    let mut c = Conn::new(port);
    c.stream.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let value = vec![b'x'; 1024];
    let mut acked = Vec::new();
    for i in 0..10_000 {
        let key = format!("fill:{i}");
        c.send(&[b"SET", key.as_bytes(), &value]);
        match c.read_outcome() {
            Read::Reply(r) => {
                assert_eq!(r, b"+OK\r\n");
                acked.push(key);
            }
            Read::TimedOut | Read::Closed => return (acked, c),
        }
    }
    panic!("the file size limit was never reached");
}

/// What redis-server answers a write after its AOF write failed under the same limit
/// (Redis acknowledges the write that failed, from memory, and refuses the next ones).
fn redis_refusal() -> String {
    let bin = redis_bin().expect("redis-server is installed");
    let srv = start_limited(&bin, 64 * 1024, "everysec");
    let mut c = Conn::new(srv.port);
    let value = vec![b'x'; 1024];
    for i in 0..10_000 {
        let reply = c.cmd(&[b"SET", format!("fill:{i}").as_bytes(), &value]);
        if reply != b"+OK\r\n" {
            return String::from_utf8(reply).unwrap();
        }
    }
    panic!("redis-server never refused a write");
}

#[test]
fn a_full_disk_refuses_writes_with_misconf_and_recovers() {
    let mut srv = start_limited(&keel_bin(), 64 * 1024, "everysec");
    let (mut acked, mut held) = fill(srv.port);
    assert!(acked.len() > 10, "only {} writes fit", acked.len());
    // A write arriving during the outage is refused; its reply, like every reply after the
    // unpersisted write, leaves only once that write is on disk.
    let mut other = Conn::new(srv.port);
    other.send(&[b"SET", b"during", b"outage"]);
    other.send(&[b"INFO", b"persistence"]);
    std::thread::sleep(Duration::from_millis(300));
    let lift = Command::new("prlimit")
        .arg("--pid")
        .arg(srv.child.id().to_string())
        .arg("--fsize=unlimited")
        .status()
        .unwrap();
    assert!(lift.success());
    held.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let late = held.read_reply().expect("the held write is acknowledged once it is persisted");
    assert_eq!(late, b"+OK\r\n");
    acked.push(format!("fill:{}", acked.len()));
    let refused = String::from_utf8(other.read_reply().unwrap()).unwrap();
    // The write was cut short at the limit: Redis calls every short write ENOSPC.
    assert_eq!(refused, "-MISCONF Errors writing to the AOF file: No space left on device\r\n");
    assert_eq!(refused, redis_refusal(), "redis-server refuses with another text");
    let info = String::from_utf8(other.read_reply().unwrap()).unwrap();
    assert!(info.contains("aof_last_write_status:err"), "{info}");
    assert_eq!(other.cmd(&[b"SET", b"after", b"recovery"]), b"+OK\r\n");
    acked.push("after".into());
    let info = String::from_utf8(other.cmd(&[b"INFO", b"persistence"])).unwrap();
    assert!(info.contains("aof_last_write_status:ok"), "{info}");
    let _ = srv.child.kill();
    let _ = srv.child.wait();
    let dir_arg = srv.dir.path().display().to_string();
    let again = start_keel(&["--dir", &dir_arg]);
    let mut c = Conn::new(again.port);
    assert_all_exist(&mut c, &acked, "disk full");
    assert_eq!(c.cmd(&[b"EXISTS", b"during"]), b":0\r\n");
}

#[test]
fn a_full_disk_under_always_stops_the_server_unacknowledged() {
    let mut srv = start_limited(&keel_bin(), 64 * 1024, "always");
    let (acked, mut held) = fill(srv.port);
    assert!(acked.len() > 10, "only {} writes fit", acked.len());
    held.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert!(matches!(held.read_outcome(), Read::Closed), "the failed write was answered");
    let status = srv.child.wait().unwrap();
    assert!(!status.success());
    let log = std::fs::read_to_string(&srv.log).unwrap();
    assert!(log.contains("Can't recover from AOF write error"), "{log}");
    let dir_arg = srv.dir.path().display().to_string();
    let again = start_keel(&["--dir", &dir_arg]);
    let mut c = Conn::new(again.port);
    assert_all_exist(&mut c, &acked, "disk full, always");
}
