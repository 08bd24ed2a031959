//! WAITAOF and WAIT over TCP: a client's writes are on disk when WAITAOF says so, under each
//! `appendfsync` policy; the replica side (Keel has no replicas) waits for the timeout.

use crate::common::{send, start_keel, wait_blocked, Conn, TestServer};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const LOCAL_ONLY: &str = "*2\r\n:1\r\n:0\r\n";
const NOTHING: &str = "*2\r\n:0\r\n:0\r\n";

fn aof_server(fsync: &str) -> TestServer {
    start_keel(&["--appendonly", "yes", "--appendfsync", fsync])
}

/// Sends `lines` in one write (one event-loop iteration) and returns their replies.
fn pipeline(c: &mut Conn, lines: &[&str]) -> Vec<String> {
    for l in lines {
        send(c, l);
    }
    lines.iter().map(|_| String::from_utf8_lossy(&c.read_reply().unwrap()).into_owned()).collect()
}

/// The INCR file the manifest lists last.
fn last_incr(keel: &TestServer) -> PathBuf {
    let dir = keel.dir.path().join("appendonlydir");
    let m = std::fs::read_to_string(dir.join("appendonly.aof.manifest")).unwrap();
    let line = m.lines().rev().find(|l| l.ends_with("type i")).unwrap().to_string();
    dir.join(line.split(' ').nth(1).unwrap())
}

fn timed(c: &mut Conn, line: &str) -> (String, Duration) {
    let started = Instant::now();
    let r = c.cmd_str(line);
    (r, started.elapsed())
}

#[test]
fn everysec_acknowledges_once_the_write_is_in_the_file() {
    let keel = aof_server("everysec");
    let mut c = Conn::new(keel.port);
    let r = pipeline(&mut c, &["SET durable-key v1", "WAITAOF 1 0 0"]);
    assert_eq!(r, ["+OK\r\n", LOCAL_ONLY]);
    let data = std::fs::read(last_incr(&keel)).unwrap();
    let needle = b"$11\r\ndurable-key\r\n$2\r\nv1\r\n";
    assert!(data.windows(needle.len()).any(|w| w == needle), "the write is in the INCR file");
    // The next write does not wait for the once-a-second fsync: a waiting WAITAOF asks
    // for one at once.
    c.cmd_str("SET durable-key v2");
    let (r, took) = timed(&mut c, "WAITAOF 1 0 0");
    assert_eq!(r, LOCAL_ONLY);
    assert!(took < Duration::from_millis(700), "took {took:?}");
}

#[test]
fn always_acknowledges_at_once() {
    let keel = aof_server("always");
    let mut c = Conn::new(keel.port);
    assert_eq!(c.cmd_str("SET k v"), "+OK\r\n");
    assert_eq!(c.cmd_str("WAITAOF 1 0 0"), LOCAL_ONLY);
    assert_eq!(pipeline(&mut c, &["INCR n", "WAITAOF 1 0 0"]), [":1\r\n", LOCAL_ONLY]);
}

#[test]
fn a_client_that_never_wrote_is_acknowledged_at_once() {
    let keel = aof_server("no");
    let mut writer = Conn::new(keel.port);
    writer.cmd_str("SET k v");
    let mut c = Conn::new(keel.port);
    let (r, took) = timed(&mut c, "WAITAOF 1 0 0");
    assert_eq!(r, LOCAL_ONLY);
    assert!(took < Duration::from_millis(500));
    // Reads do not make a client wait either.
    assert_eq!(pipeline(&mut c, &["GET k", "WAITAOF 1 0 0"]), ["$1\r\nv\r\n", LOCAL_ONLY]);
}

#[test]
fn appendfsync_no_never_acknowledges_the_local_copy() {
    let keel = aof_server("no");
    let mut c = Conn::new(keel.port);
    c.cmd_str("SET k v");
    let (r, took) = timed(&mut c, "WAITAOF 1 0 100");
    assert_eq!(r, NOTHING);
    assert!(took >= Duration::from_millis(90), "waited for the timeout: {took:?}");
    // numlocal 0 does not wait for the disk.
    assert_eq!(c.cmd_str("WAITAOF 0 0 100"), NOTHING);
}

#[test]
fn replicas_are_waited_for_until_the_timeout() {
    let keel = aof_server("everysec");
    let mut c = Conn::new(keel.port);
    c.cmd_str("SET k v");
    let (r, took) = timed(&mut c, "WAITAOF 1 1 100");
    assert_eq!(r, LOCAL_ONLY);
    assert!(took >= Duration::from_millis(90) && took < Duration::from_secs(2), "{took:?}");
    let (r, took) = timed(&mut c, "WAITAOF 0 3 100");
    assert_eq!(r, LOCAL_ONLY);
    assert!(took >= Duration::from_millis(90), "{took:?}");
}

#[test]
fn without_aof_numlocal_is_refused() {
    let keel = start_keel(&["--appendonly", "no"]);
    let mut c = Conn::new(keel.port);
    c.cmd_str("SET k v");
    assert_eq!(
        c.cmd_str("WAITAOF 1 0 0"),
        "-ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.\r\n"
    );
    assert_eq!(c.cmd_str("WAITAOF 0 0 0"), NOTHING);
    let (r, took) = timed(&mut c, "WAITAOF 0 1 50");
    assert_eq!(r, NOTHING);
    assert!(took >= Duration::from_millis(40));
}

#[test]
fn argument_errors() {
    let keel = aof_server("everysec");
    let mut c = Conn::new(keel.port);
    for (line, err) in [
        ("WAITAOF 2 0 0", "-ERR value is out of range, value must between 0 and 1\r\n"),
        ("WAITAOF -1 0 0", "-ERR value is out of range, value must between 0 and 1\r\n"),
        ("WAITAOF x 0 0", "-ERR value is not an integer or out of range\r\n"),
        ("WAITAOF 1 -1 0", "-ERR value is out of range, must be positive\r\n"),
        ("WAITAOF 1 1.5 0", "-ERR value is not an integer or out of range\r\n"),
        ("WAITAOF 1 0 -1", "-ERR timeout is negative\r\n"),
        ("WAITAOF 1 0 0.5", "-ERR timeout is not an integer or out of range\r\n"),
        ("WAITAOF 1 0 9223372036854775807", "-ERR timeout is out of range\r\n"),
        ("WAITAOF 1 0 9223372036854775808", "-ERR timeout is not an integer or out of range\r\n"),
        ("WAITAOF 1 0", "-ERR wrong number of arguments for 'waitaof' command\r\n"),
        ("WAITAOF 1 0 0 0", "-ERR wrong number of arguments for 'waitaof' command\r\n"),
        ("WAIT 1 -1", "-ERR timeout is negative\r\n"),
        ("WAIT 1 9223372036854775807", "-ERR timeout is out of range\r\n"),
    ] {
        assert_eq!(c.cmd_str(line), err, "{line}");
    }
}

#[test]
fn wait_counts_no_replica() {
    let keel = start_keel(&[]);
    let mut c = Conn::new(keel.port);
    c.cmd_str("SET k v");
    assert_eq!(c.cmd_str("WAIT 0 0"), ":0\r\n");
    assert_eq!(c.cmd_str("WAIT -3 0"), ":0\r\n");
    let (r, took) = timed(&mut c, "WAIT 1 100");
    assert_eq!(r, ":0\r\n");
    assert!(took >= Duration::from_millis(90) && took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn inside_multi_the_counts_so_far_are_the_reply() {
    let keel = aof_server("no");
    let mut c = Conn::new(keel.port);
    c.cmd_str("SET k v");
    let started = Instant::now();
    let r = pipeline(&mut c, &["MULTI", "WAITAOF 1 1 0", "WAIT 1 0", "EXEC"]);
    assert_eq!(r[3], format!("*2\r\n{NOTHING}:0\r\n"));
    assert!(started.elapsed() < Duration::from_secs(1));
    // A write queued in the same transaction is not yet the client's last write there, as
    // in Redis: WAITAOF sees the writes made before EXEC.
    let mut fresh = Conn::new(keel.port);
    let r = pipeline(&mut fresh, &["MULTI", "SET a b", "WAITAOF 1 0 0", "EXEC"]);
    assert_eq!(r[3], format!("*2\r\n+OK\r\n{LOCAL_ONLY}"));
}

#[test]
fn from_a_script_waitaof_is_refused_and_wait_answers_at_once() {
    let keel = aof_server("everysec");
    let mut c = Conn::new(keel.port);
    let r = c.cmd(&[b"EVAL", b"return redis.call('waitaof', 0, 0, 0)", b"0"]);
    let r = String::from_utf8_lossy(&r);
    assert!(r.starts_with("-ERR This Redis command is not allowed from script"), "{r}");
    let r = c.cmd(&[b"EVAL", b"return redis.call('wait', 1, 0)", b"0"]);
    assert_eq!(r, b":0\r\n");
}

#[test]
fn turning_the_aof_off_fails_a_waiting_waitaof() {
    let keel = aof_server("no");
    let mut c = Conn::new(keel.port);
    c.cmd_str("SET k v");
    send(&mut c, "WAITAOF 1 0 0");
    let mut admin = Conn::new(keel.port);
    wait_blocked(&mut admin, 1);
    assert_eq!(admin.cmd_str("CONFIG SET appendonly no"), "+OK\r\n");
    assert_eq!(
        String::from_utf8_lossy(&c.read_reply().unwrap()),
        "-ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.\r\n"
    );
    assert_eq!(c.cmd_str("PING"), "+PONG\r\n");
}

#[test]
fn a_waiting_client_sees_the_fsync_once_the_policy_allows_it() {
    let keel = aof_server("no");
    let mut c = Conn::new(keel.port);
    let id = c.cmd_str("CLIENT ID");
    let id = id.trim_start_matches(':').trim();
    c.cmd_str("SET k v");
    // Timeout 0: waits for ever (the replica never comes).
    send(&mut c, "WAITAOF 1 1 0");
    let mut admin = Conn::new(keel.port);
    wait_blocked(&mut admin, 1);
    std::thread::sleep(Duration::from_millis(200));
    wait_blocked(&mut admin, 1);
    // Under everysec the write is fsynced; the client keeps waiting for its replica, but
    // its answer now counts the local copy. A later write acknowledged by WAITAOF shows
    // the fsync covered the first one too (both waiters run again on the same fsync).
    admin.cmd_str("CONFIG SET appendfsync everysec");
    assert_eq!(pipeline(&mut admin, &["SET later v", "WAITAOF 1 0 5000"]), ["+OK\r\n", LOCAL_ONLY]);
    wait_blocked(&mut admin, 1);
    assert_eq!(admin.cmd_str(&format!("CLIENT UNBLOCK {id} TIMEOUT")), ":1\r\n");
    assert_eq!(String::from_utf8_lossy(&c.read_reply().unwrap()), LOCAL_ONLY);
    send(&mut c, "WAIT 1 0");
    wait_blocked(&mut admin, 1);
    assert_eq!(admin.cmd_str(&format!("CLIENT UNBLOCK {id} ERROR")), ":1\r\n");
    let r = String::from_utf8_lossy(&c.read_reply().unwrap()).into_owned();
    assert!(r.starts_with("-UNBLOCKED"), "{r}");
}

#[test]
fn aof_turned_on_at_run_time_acknowledges_after_its_first_rewrite() {
    let keel = start_keel(&["--appendonly", "no"]);
    let mut c = Conn::new(keel.port);
    c.cmd_str("SET before on");
    let mut admin = Conn::new(keel.port);
    assert_eq!(admin.cmd_str("CONFIG SET appendonly yes"), "+OK\r\n");
    assert_eq!(c.cmd_str("WAITAOF 1 0 5000"), LOCAL_ONLY);
    assert_eq!(pipeline(&mut c, &["SET after on", "WAITAOF 1 0 5000"]), ["+OK\r\n", LOCAL_ONLY]);
}
