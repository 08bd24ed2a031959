//! TCP tests: expiry. The active expire cycle must delete keys nobody touches again, and the
//! keyspace counters (`expired_keys`, `keyspace_hits`, `keyspace_misses`) must move exactly as
//! Redis's do for the same commands.

use super::common::*;
use std::time::{Duration, Instant};

/// Sends every command first, then reads all replies, so a thousand SETs take one round trip.
fn pipeline(c: &mut Conn, cmds: &[Vec<Vec<u8>>]) -> Vec<Vec<u8>> {
    for argv in cmds {
        let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
        c.send(&argv);
    }
    cmds.iter().map(|_| c.read_reply().expect("a reply")).collect()
}

/// The value of `field` in `INFO stats`.
fn stat(c: &mut Conn, field: &str) -> u64 {
    let info = String::from_utf8(c.cmd(&[b"INFO", b"stats"])).expect("utf-8 INFO");
    let prefix = format!("{field}:");
    info.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("{field} missing from INFO stats"))
        .trim()
        .parse()
        .expect("a number")
}

/// `DBSIZE` as a number.
fn dbsize(c: &mut Conn) -> u64 {
    let r = String::from_utf8(c.cmd(&[b"DBSIZE"])).expect("utf-8");
    r.trim().trim_start_matches(':').parse().expect("an integer reply")
}

/// `SET <prefix><i> v` for `i` in `0..n`, each followed by `PEXPIRE <key> <ms>` when `px`
/// is given (plain SET + PEXPIRE, so the test depends on nothing but this family).
fn sets(prefix: &str, n: usize, px: Option<u64>) -> Vec<Vec<Vec<u8>>> {
    let mut cmds = Vec::new();
    for i in 0..n {
        let key = format!("{prefix}{i}").into_bytes();
        cmds.push(vec![b"SET".to_vec(), key.clone(), b"v".to_vec()]);
        if let Some(ms) = px {
            cmds.push(vec![b"PEXPIRE".to_vec(), key, ms.to_string().into_bytes()]);
        }
    }
    cmds
}

/// Waits up to `limit` for DBSIZE to reach `want`; returns the last value seen.
fn wait_dbsize(c: &mut Conn, want: u64, limit: Duration) -> u64 {
    let deadline = Instant::now() + limit;
    loop {
        let n = dbsize(c);
        if n == want || Instant::now() >= deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn active_cycle_deletes_untouched_keys() {
    let keel = start_keel(&[]);
    let mut c = Conn::new(keel.port);
    let before = stat(&mut c, "expired_keys");
    let replies = pipeline(&mut c, &sets("volatile:", 1000, Some(100)));
    assert!(replies.iter().all(|r| r == b"+OK\r\n" || r == b":1\r\n"), "SET or PEXPIRE failed");
    assert_eq!(dbsize(&mut c), 1000);
    std::thread::sleep(Duration::from_millis(150));
    // Nothing reads the keys: only the cron can remove them.
    assert_eq!(wait_dbsize(&mut c, 0, Duration::from_secs(2)), 0);
    assert_eq!(stat(&mut c, "expired_keys") - before, 1000);
}

#[test]
fn active_cycle_keeps_persistent_and_future_keys() {
    let keel = start_keel(&[]);
    let mut c = Conn::new(keel.port);
    pipeline(&mut c, &sets("short:", 500, Some(50)));
    pipeline(&mut c, &sets("plain:", 300, None));
    pipeline(&mut c, &sets("long:", 200, Some(600_000)));
    assert_eq!(wait_dbsize(&mut c, 500, Duration::from_secs(2)), 500);
    assert_eq!(stat(&mut c, "expired_keys"), 500);
    let info = String::from_utf8(c.cmd(&[b"INFO", b"keyspace"])).expect("utf-8");
    assert!(info.contains("db0:keys=500,expires=200,"), "{info}");
}

#[test]
fn disabled_active_expire_leaves_keys_to_lazy_expiry() {
    let keel = start_keel(&["--enable-debug-command", "yes"]);
    let mut c = Conn::new(keel.port);
    assert_eq!(c.cmd(&[b"DEBUG", b"SET-ACTIVE-EXPIRE", b"0"]), b"+OK\r\n");
    pipeline(&mut c, &sets("k", 10, Some(20)));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(dbsize(&mut c), 10);
    assert_eq!(c.cmd(&[b"GET", b"k0"]), b"$-1\r\n");
    assert_eq!(dbsize(&mut c), 9);
    assert_eq!(stat(&mut c, "expired_keys"), 1);
    c.cmd(&[b"DEBUG", b"SET-ACTIVE-EXPIRE", b"1"]);
    assert_eq!(wait_dbsize(&mut c, 0, Duration::from_secs(2)), 0);
}

/// The same script on both servers must move hits, misses and expired keys identically:
/// this pins down which commands count a lookup (EXISTS, TYPE, TTL, OBJECT, TOUCH, COPY do;
/// DEL, RENAME, EXPIRE, PERSIST, MOVE, KEYS, SCAN do not).
#[test]
fn keyspace_counters_match_redis() {
    let script: &[&str] = &[
        "SET a 1",
        "SET b 2",
        "GET a",
        "GET nosuch",
        "EXISTS a b nosuch a",
        "TYPE a",
        "TYPE nosuch",
        "TTL a",
        "PTTL nosuch",
        "EXPIRETIME a",
        "PEXPIRETIME nosuch",
        "OBJECT ENCODING a",
        "OBJECT REFCOUNT nosuch",
        "OBJECT IDLETIME a",
        "TOUCH a b nosuch",
        "COPY a c",
        "COPY nosuch d",
        "DEL c nosuch",
        "RENAME b b2",
        "RENAMENX b2 a",
        "EXPIRE a 100",
        "EXPIRE nosuch 100",
        "PERSIST a",
        "MOVE b2 1",
        "MOVE nosuch 1",
        "KEYS *",
        "SCAN 0",
        "SCAN 0 TYPE string",
        "SCAN 0 TYPE nosuchtype MATCH b*",
        "RANDOMKEY",
        "SET e v",
        "PEXPIRE e 1",
    ];
    let after_sleep: &[&str] = &["GET e", "SET f v", "PEXPIRE f 1", "EXISTS x"];
    let after_sleep2: &[&str] = &["TTL f", "DEL nosuch"];
    let debug = ["--enable-debug-command", "yes"];
    let redis = start_redis(&debug);
    let keel = start_keel(&debug);
    let mut counters = Vec::new();
    for port in [redis.port, keel.port] {
        let mut c = Conn::new(port);
        // Only lazy expiry, so both servers expire the same keys at the same commands.
        assert_eq!(c.cmd(&[b"DEBUG", b"SET-ACTIVE-EXPIRE", b"0"]), b"+OK\r\n");
        for part in [script, after_sleep, after_sleep2] {
            for line in part {
                c.cmd_str(line);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        counters.push(
            ["keyspace_hits", "keyspace_misses", "expired_keys"].map(|f| (f, stat(&mut c, f))),
        );
    }
    assert_eq!(counters[0], counters[1], "redis vs keel");
}
