//! Memory: INFO memory and MEMORY STATS against redis-server, OOM across connections,
//! each eviction policy against its definition, the keyspace event, warnings in the log.

use super::common::*;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// The `name:value` fields of an INFO section.
fn info_fields(c: &mut Conn, section: &str) -> Vec<(String, String)> {
    let text = String::from_utf8(c.cmd(&[b"INFO", section.as_bytes()])).unwrap();
    text.lines()
        .filter_map(|l| l.trim_end().split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One numeric INFO field.
fn info_num(c: &mut Conn, section: &str, name: &str) -> u64 {
    info_fields(c, section)
        .into_iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("{name} in INFO {section}"))
        .1
        .parse()
        .unwrap()
}

/// A RESP integer reply's value.
fn int(reply: &[u8]) -> i64 {
    let s = String::from_utf8_lossy(reply);
    s.trim().trim_start_matches(':').parse().unwrap_or_else(|_| panic!("integer reply: {s}"))
}

#[test]
fn info_memory_has_redis_fields_plus_keel_warning_fields() {
    let redis = start_redis(&[]);
    let keel = start_keel(&[]);
    let names = |port| {
        info_fields(&mut Conn::new(port), "memory").into_iter().map(|(k, _)| k).collect::<Vec<_>>()
    };
    let want = names(redis.port);
    let got = names(keel.port);
    let extra: Vec<&String> = got.iter().filter(|k| !want.contains(k)).collect();
    assert_eq!(extra, ["maxmemory_warning_threshold", "maxmemory_warning_active"]);
    let missing: Vec<&String> = want.iter().filter(|k| !got.contains(k)).collect();
    assert!(missing.is_empty(), "keel lacks {missing:?}");
    let order: Vec<&String> = got.iter().filter(|k| want.contains(k)).collect();
    assert_eq!(order, want.iter().collect::<Vec<_>>(), "same order as redis-server");
}

#[test]
fn info_memory_values_are_real() {
    let keel = start_keel(&[]);
    let mut c = Conn::new(keel.port);
    let before = info_num(&mut c, "memory", "used_memory");
    let value = vec![b'x'; 100_000];
    for i in 0..50 {
        c.cmd(&[b"SET", format!("big:{i}").as_bytes(), &value]);
    }
    let after = info_num(&mut c, "memory", "used_memory");
    assert!(after >= before + 5_000_000, "{before} -> {after}");
    assert!(info_num(&mut c, "memory", "used_memory_peak") >= after);
    assert!(info_num(&mut c, "memory", "used_memory_rss") > after);
    assert!(info_num(&mut c, "memory", "used_memory_dataset") >= 5_000_000);
    c.cmd(&[b"FLUSHALL"]);
    let freed = info_num(&mut c, "memory", "used_memory");
    assert!(freed + 4_000_000 < after, "FLUSHALL frees: {after} -> {freed}");
    let fields = info_fields(&mut c, "memory");
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap();
    assert!(get("mem_allocator").starts_with("jemalloc-5."));
    assert!(get("used_memory_peak_human").ends_with('M'));
    assert_eq!(get("maxmemory_human"), "0B");
}

#[test]
fn memory_stats_has_redis_keys() {
    let keys = |port| {
        let mut c = Conn::new(port);
        let raw = c.cmd(&[b"MEMORY", b"STATS"]);
        let Ok(Some((resp::Frame::Array(items), _))) = resp::reply::decode(&raw) else {
            panic!("array reply");
        };
        items
            .iter()
            .step_by(2)
            .map(|f| match f {
                resp::Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                other => format!("{other:?}"),
            })
            .collect::<Vec<_>>()
    };
    let redis = start_redis(&[]);
    let keel = start_keel(&[]);
    assert_eq!(keys(keel.port), keys(redis.port));
}

#[test]
fn memory_usage_is_close_to_redis() {
    let redis = start_redis(&[]);
    let keel = start_keel(&[]);
    let fill = |port| {
        let mut c = Conn::new(port);
        c.cmd(&[b"SET", b"str", &[b'v'; 1000]]);
        for i in 0..200 {
            let f = format!("field:{i}");
            let v = format!("value-{i}-{}", "x".repeat(80));
            c.cmd(&[b"HSET", b"hash", f.as_bytes(), v.as_bytes()]);
            c.cmd(&[b"RPUSH", b"list", v.as_bytes()]);
            c.cmd(&[b"SADD", b"set", v.as_bytes()]);
            c.cmd(&[b"ZADD", b"zset", i.to_string().as_bytes(), v.as_bytes()]);
            c.cmd(&[b"XADD", b"stream", b"*", f.as_bytes(), v.as_bytes()]);
        }
        ["str", "hash", "list", "set", "zset", "stream"]
            .iter()
            .map(|k| int(&c.cmd(&[b"MEMORY", b"USAGE", k.as_bytes(), b"SAMPLES", b"0"])))
            .collect::<Vec<_>>()
    };
    let want = fill(redis.port);
    let got = fill(keel.port);
    for ((k, w), g) in ["str", "hash", "list", "set", "zset", "stream"].iter().zip(&want).zip(&got)
    {
        let ratio = *g as f64 / *w as f64;
        assert!((0.3..=3.0).contains(&ratio), "{k}: keel {g} vs redis {w}");
    }
}

/// EXEC of a transaction holding a write, after another client lowered maxmemory: the
/// transaction is discarded with EXECABORT naming the OOM; a read-only one still runs.
#[test]
fn exec_over_maxmemory_matches_redis() {
    let transcript = same_on_both(|port| {
        let mut a = Conn::new(port);
        let mut b = Conn::new(port);
        let mut out = vec![a.cmd(&[b"SET", b"k", b"v"])];
        out.push(a.cmd(&[b"WATCH", b"k"]));
        out.push(a.cmd(&[b"MULTI"]));
        out.push(a.cmd(&[b"GET", b"k"]));
        out.push(a.cmd(&[b"SET", b"k", b"v2"]));
        out.push(b.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"1"]));
        out.push(a.cmd(&[b"EXEC"]));
        out.push(a.cmd(&[b"EXEC"]));
        out.push(a.cmd(&[b"GET", b"k"]));
        out.push(b.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"0"]));
        out.push(a.cmd(&[b"MULTI"]));
        out.push(a.cmd(&[b"GET", b"k"]));
        out.push(a.cmd(&[b"DEL", b"other"]));
        out.push(b.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"1"]));
        out.push(a.cmd(&[b"EXEC"]));
        out.push(a.cmd(&[b"MULTI"]));
        out.push(a.cmd(&[b"DISCARD"]));
        out.push(b.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"0"]));
        // The aborted transaction forgot its WATCH: this one runs.
        out.push(a.cmd(&[b"MULTI"]));
        out.push(a.cmd(&[b"SET", b"k", b"v3"]));
        out.push(b.cmd(&[b"SET", b"k", b"other"]));
        out.push(a.cmd(&[b"EXEC"]));
        out.push(a.cmd(&[b"INFO", b"errorstats"]));
        out
    });
    assert_eq!(
        transcript[6],
        "-EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.\r\n"
    );
    assert_eq!(transcript[7], "-ERR EXEC without MULTI\r\n");
}

/// A server under `policy`, a connection, and a helper filling `n` keys of `size` bytes.
fn server(policy: &str) -> (TestServer, Conn) {
    let s = start_keel(&["--maxmemory-policy", policy, "--notify-keyspace-events", "Ee"]);
    let c = Conn::new(s.port);
    (s, c)
}

fn fill(c: &mut Conn, prefix: &str, n: usize, ttl: Option<u64>) {
    let value = vec![b'v'; 1000];
    for i in 0..n {
        let key = format!("{prefix}:{i}");
        match ttl {
            Some(t) => c.cmd(&[
                b"SET",
                key.as_bytes(),
                &value,
                b"EX",
                (t + i as u64).to_string().as_bytes(),
            ]),
            None => c.cmd(&[b"SET", key.as_bytes(), &value]),
        };
    }
}

fn exists(c: &mut Conn, key: &str) -> bool {
    int(&c.cmd(&[b"EXISTS", key.as_bytes()])) == 1
}

/// Sets maxmemory `bytes` below the current usage, so about that much must be evicted.
fn squeeze(c: &mut Conn, bytes: u64) {
    let used = info_num(c, "memory", "used_memory");
    let limit = (used - bytes).to_string();
    assert_eq!(c.cmd(&[b"CONFIG", b"SET", b"maxmemory", limit.as_bytes()]), b"+OK\r\n");
}

fn surviving(c: &mut Conn, prefix: &str, n: usize) -> Vec<usize> {
    (0..n).filter(|i| exists(c, &format!("{prefix}:{i}"))).collect()
}

#[test]
fn volatile_policies_evict_only_keys_with_a_ttl() {
    for policy in ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"] {
        let (_s, mut c) = server(policy);
        fill(&mut c, "keep", 200, None);
        fill(&mut c, "ttl", 200, Some(1000));
        squeeze(&mut c, 100_000);
        let kept = surviving(&mut c, "keep", 200).len();
        let ttl_left = surviving(&mut c, "ttl", 200).len();
        assert_eq!(kept, 200, "{policy} evicted a key without TTL");
        assert!(ttl_left < 200 - 50, "{policy} evicted too little: {ttl_left} left");
        assert!(info_num(&mut c, "stats", "evicted_keys") as usize >= 200 - ttl_left);
        // Past the TTL keys, nothing may go: writes are refused.
        c.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"1"]);
        assert_eq!(surviving(&mut c, "keep", 200).len(), 200, "{policy}");
        assert_eq!(surviving(&mut c, "ttl", 200).len(), 0, "{policy}");
        let r = c.cmd(&[b"SET", b"new", b"v"]);
        assert!(
            r.starts_with(b"-OOM command not allowed"),
            "{policy}: {}",
            String::from_utf8_lossy(&r)
        );
    }
}

#[test]
fn volatile_ttl_evicts_the_nearest_expiry_first() {
    let (_s, mut c) = server("volatile-ttl");
    c.cmd(&[b"CONFIG", b"SET", b"maxmemory-samples", b"10"]);
    fill(&mut c, "ttl", 400, Some(1000));
    squeeze(&mut c, 150_000);
    let left: HashSet<usize> = surviving(&mut c, "ttl", 400).into_iter().collect();
    let evicted_low = (0..100).filter(|i| !left.contains(i)).count();
    let evicted_high = (300..400).filter(|i| !left.contains(i)).count();
    assert!(evicted_low >= 60, "nearest TTLs go first: {evicted_low} of the first 100 evicted");
    assert!(evicted_high <= 10, "farthest TTLs stay: {evicted_high} of the last 100 evicted");
}

#[test]
fn allkeys_lru_keeps_recently_touched_keys() {
    let (_s, mut c) = server("allkeys-lru");
    fill(&mut c, "k", 400, None);
    // The LRU clock counts seconds: let every key age, then touch the hot ones.
    std::thread::sleep(Duration::from_millis(2100));
    for i in 0..100 {
        c.cmd(&[b"GET", format!("k:{i}").as_bytes()]);
    }
    squeeze(&mut c, 200_000);
    let left = surviving(&mut c, "k", 400);
    let hot = left.iter().filter(|&&i| i < 100).count();
    let cold = left.len() - hot;
    assert!(left.len() < 300, "evicted: {} left", left.len());
    assert!(hot >= 90, "hot keys mostly kept: {hot} of 100 ({cold} cold kept)");
}

#[test]
fn allkeys_lfu_keeps_frequently_used_keys() {
    let (_s, mut c) = server("allkeys-lfu");
    c.cmd(&[b"CONFIG", b"SET", b"lfu-log-factor", b"0"]);
    fill(&mut c, "k", 400, None);
    for _ in 0..5 {
        for i in 0..100 {
            c.cmd(&[b"GET", format!("k:{i}").as_bytes()]);
        }
    }
    assert_eq!(int(&c.cmd(&[b"OBJECT", b"FREQ", b"k:0"])), 10);
    assert_eq!(int(&c.cmd(&[b"OBJECT", b"FREQ", b"k:399"])), 5);
    squeeze(&mut c, 200_000);
    let left = surviving(&mut c, "k", 400);
    let hot = left.iter().filter(|&&i| i < 100).count();
    assert!(left.len() < 300, "evicted: {} left", left.len());
    assert!(hot >= 90, "frequent keys mostly kept: {hot} of 100");
}

#[test]
fn allkeys_random_evicts_and_announces() {
    let (_s, mut c) = server("allkeys-random");
    let mut sub = Conn::new(_s.port);
    sub.cmd(&[b"SUBSCRIBE", b"__keyevent@0__:evicted"]);
    fill(&mut c, "k", 300, None);
    squeeze(&mut c, 100_000);
    let evicted = info_num(&mut c, "stats", "evicted_keys");
    let left = surviving(&mut c, "k", 300).len() as u64;
    assert!(evicted >= 50, "evicted {evicted}");
    assert_eq!(left + evicted, 300);
    let msg = String::from_utf8_lossy(&sub.read_reply().unwrap()).into_owned();
    assert!(msg.contains("__keyevent@0__:evicted") && msg.contains("k:"), "{msg}");
}

#[test]
fn noeviction_refuses_writes_and_loses_nothing() {
    let (_s, mut c) = server("noeviction");
    fill(&mut c, "k", 100, None);
    squeeze(&mut c, 50_000);
    assert_eq!(surviving(&mut c, "k", 100).len(), 100);
    let r = c.cmd(&[b"SET", b"new", b"v"]);
    assert_eq!(r, b"-OOM command not allowed when used memory > 'maxmemory'.\r\n");
    assert_eq!(c.cmd(&[b"GET", b"missing"]), b"$-1\r\n");
    // Freeing memory lets writes in again.
    for i in 0..100 {
        c.cmd(&[b"DEL", format!("k:{i}").as_bytes()]);
    }
    assert_eq!(c.cmd(&[b"SET", b"new", b"v"]), b"+OK\r\n");
    assert_eq!(info_num(&mut c, "stats", "evicted_keys"), 0);
}

/// Waits until the server's log has a line containing `needle`.
fn wait_log(s: &TestServer, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = std::fs::read_to_string(&s.log).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| l.contains(needle)) {
            return line.to_string();
        }
        assert!(Instant::now() < deadline, "no log line with {needle:?} in:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn warning_threshold_is_logged_both_ways_and_shown_in_info() {
    let s = start_keel(&["--maxmemory-warning-threshold", "50"]);
    wait_log(&s, "WARNING: maxmemory is not set");
    let mut c = Conn::new(s.port);
    fill(&mut c, "k", 100, None);
    let used = info_num(&mut c, "memory", "used_memory");
    // Used memory is 62% of this limit: over the threshold, under the limit.
    let limit = (used * 100 / 62).to_string();
    c.cmd(&[b"CONFIG", b"SET", b"maxmemory", limit.as_bytes()]);
    let line = wait_log(&s, "maxmemory-warning-threshold 50%");
    assert!(line.contains(" # WARNING: used memory "), "{line}");
    assert_eq!(info_num(&mut c, "memory", "maxmemory_warning_active"), 1);
    assert_eq!(info_num(&mut c, "memory", "maxmemory_warning_threshold"), 50);
    c.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"0"]);
    wait_log(&s, "is back under the maxmemory-warning-threshold");
    assert_eq!(info_num(&mut c, "memory", "maxmemory_warning_active"), 0);
}

#[test]
fn maxmemory_auto_takes_a_share_of_the_limit() {
    let s = start_keel(&["--maxmemory", "auto"]);
    let mut c = Conn::new(s.port);
    let r = String::from_utf8(c.cmd(&[b"CONFIG", b"GET", b"maxmemory"])).unwrap();
    let n: u64 = r.lines().nth(4).unwrap().parse().unwrap();
    assert!(n > 0, "{r}");
    let total = info_num(&mut c, "memory", "total_system_memory");
    assert!(n <= total * 3 / 4, "{n} vs {total}");
}

#[test]
fn lowering_maxmemory_under_noeviction_keeps_data_and_warns() {
    let s = start_keel(&[]);
    let mut c = Conn::new(s.port);
    fill(&mut c, "k", 50, None);
    c.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"1000"]);
    wait_log(&s, "WARNING: the new maxmemory value set via CONFIG SET (1000) is smaller than");
    assert_eq!(surviving(&mut c, "k", 50).len(), 50);
    assert!(c.cmd(&[b"LPUSH", b"l", b"x"]).starts_with(b"-OOM"));
    assert!(info_num(&mut c, "stats", "current_eviction_exceeded_time") < 60_000);
}

#[test]
fn lfu_counters_honour_client_no_touch() {
    let (_s, mut c) = server("allkeys-lfu");
    c.cmd(&[b"CONFIG", b"SET", b"lfu-log-factor", b"0"]);
    c.cmd(&[b"SET", b"k", b"v"]);
    assert_eq!(int(&c.cmd(&[b"OBJECT", b"FREQ", b"k"])), 5);
    assert_eq!(c.cmd(&[b"CLIENT", b"NO-TOUCH", b"ON"]), b"+OK\r\n");
    c.cmd(&[b"GET", b"k"]);
    c.cmd(&[b"APPEND", b"k", b"x"]);
    c.cmd(&[b"SET", b"k", b"v2"]);
    assert_eq!(int(&c.cmd(&[b"OBJECT", b"FREQ", b"k"])), 5, "no access counted");
    assert_eq!(int(&c.cmd(&[b"TOUCH", b"k"])), 1);
    assert_eq!(int(&c.cmd(&[b"OBJECT", b"FREQ", b"k"])), 6, "TOUCH still counts");
    c.cmd(&[b"CLIENT", b"NO-TOUCH", b"OFF"]);
    c.cmd(&[b"APPEND", b"k", b"x"]);
    assert_eq!(int(&c.cmd(&[b"OBJECT", b"FREQ", b"k"])), 7);
}

/// The AOF replay at start-up restores every key whatever `maxmemory` says; the limit
/// applies to clients afterwards.
#[test]
fn aof_replay_ignores_maxmemory() {
    let mut first = start_keel(&["--appendonly", "yes"]);
    let mut c = Conn::new(first.port);
    fill(&mut c, "k", 100, None);
    let _ = first.child.kill();
    let _ = first.child.wait();
    let dir = first.dir.path().display().to_string();
    let again = start_keel(&["--appendonly", "yes", "--dir", &dir, "--maxmemory", "1"]);
    let mut c = Conn::new(again.port);
    assert_eq!(c.cmd(&[b"DBSIZE"]), b":100\r\n");
    assert!(c.cmd(&[b"SET", b"new", b"v"]).starts_with(b"-OOM"));
}

/// The Lua heap is reported apart and left out of `used_memory`, as Redis does: a script
/// that builds a large table grows `used_memory_lua`, not `used_memory`.
#[test]
fn lua_heap_is_reported_apart() {
    let keel = start_keel(&[]);
    let mut c = Conn::new(keel.port);
    assert_eq!(info_num(&mut c, "memory", "used_memory_lua"), 0, "no VM yet");
    // Keep the table alive in a global-free way: return its size, leaving garbage behind.
    let script = b"local t = {} for i = 1, 200000 do t[i] = i end return #t";
    let before = info_num(&mut c, "memory", "used_memory");
    assert_eq!(c.cmd(&[b"EVAL", script, b"0"]), b":200000\r\n");
    let lua = info_num(&mut c, "memory", "used_memory_lua");
    let after = info_num(&mut c, "memory", "used_memory");
    assert!(lua > 1_000_000, "the garbage table is still in the heap: {lua}");
    assert!(after < before + 1_000_000, "{before} -> {after} with a Lua heap of {lua}");
}

/// With `maxmemory-eviction-tenacity 0` one call evicts a single batch of 16 keys; the rest
/// is evicted by later commands and the cron, and commands are not refused meanwhile.
#[test]
fn eviction_past_its_time_limit_goes_on_in_the_background() {
    let (_s, mut c) = server("allkeys-random");
    c.cmd(&[b"CONFIG", b"SET", b"maxmemory-eviction-tenacity", b"0"]);
    fill(&mut c, "k", 1000, None);
    squeeze(&mut c, 600_000);
    // CONFIG SET evicted one batch, and the INFO below one more before it ran.
    assert_eq!(info_num(&mut c, "stats", "evicted_keys"), 32);
    assert_eq!(c.cmd(&[b"SET", b"during", b"v"]), b"+OK\r\n", "not refused while evicting");
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_num(&mut c, "stats", "current_eviction_exceeded_time") > 0
        || info_num(&mut c, "stats", "evicted_keys") < 400
    {
        assert!(Instant::now() < deadline, "eviction did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
    let limit = info_num(&mut c, "memory", "maxmemory");
    assert!(info_num(&mut c, "memory", "used_memory") <= limit);
}

/// A memory cgroup of its own with a 2 GB limit, removed on drop (v1 where the memory
/// controller is mounted on its own, else v2).
struct Cgroup(std::path::PathBuf);

impl Cgroup {
    fn new() -> Cgroup {
        let name = format!("keel-test-{}-{}", std::process::id(), free_port());
        let (base, file) = if std::path::Path::new("/sys/fs/cgroup/memory").is_dir() {
            ("/sys/fs/cgroup/memory", "memory.limit_in_bytes")
        } else {
            ("/sys/fs/cgroup", "memory.max")
        };
        let dir = std::path::Path::new(base).join(name);
        std::fs::create_dir(&dir).expect("create a memory cgroup (tests run as root)");
        std::fs::write(dir.join(file), "2000000000").expect("set the cgroup memory limit");
        Cgroup(dir)
    }

    /// Starts keel-server inside the group; returns its log once it is ready, and the port.
    fn start(&self, args: &[&str]) -> (std::process::Child, u16, std::path::PathBuf) {
        let port = free_port();
        let log = self.0.with_extension("log");
        let log = std::env::temp_dir().join(log.file_name().unwrap());
        let _ = std::fs::remove_file(&log);
        let procs = self.0.join("cgroup.procs");
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!("echo $$ > {} && exec \"$0\" \"$@\"", procs.display()))
            .arg(keel_bin())
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--appendonly", "no"])
            .args(["--save", "", "--logfile", &log.display().to_string()])
            .args(args);
        let child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(&log).unwrap_or_default().contains("Ready to accept") {
            assert!(Instant::now() < deadline, "keel-server did not start in the cgroup");
            std::thread::sleep(Duration::from_millis(20));
        }
        (child, port, log)
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn cgroup_limit_is_detected_at_start_and_by_maxmemory_auto() {
    let group = Cgroup::new();
    let limit =
        std::fs::read_to_string(group.0.join(if group.0.starts_with("/sys/fs/cgroup/memory") {
            "memory.limit_in_bytes"
        } else {
            "memory.max"
        }))
        .unwrap()
        .trim()
        .to_string();
    let runs: [(&[&str], String); 3] = [
        (&[], format!("maxmemory is not set but this process runs under a cgroup memory limit of {limit} bytes")),
        (&["--maxmemory", "3gb"], format!("maxmemory (3221225472) is larger than the cgroup memory limit ({limit})")),
        (&["--maxmemory", "auto"], String::new()),
    ];
    for (args, expected) in runs {
        let (mut child, port, log) = group.start(args);
        let text = std::fs::read_to_string(&log).unwrap();
        if expected.is_empty() {
            assert!(!text.contains("WARNING: maxmemory"), "{text}");
            let mut c = Conn::new(port);
            let r = String::from_utf8(c.cmd(&[b"CONFIG", b"GET", b"maxmemory"])).unwrap();
            let n: u64 = r.lines().nth(4).unwrap().parse().unwrap();
            assert_eq!(n, limit.parse::<u64>().unwrap() / 100 * 75, "75% of the limit");
        } else {
            assert!(text.contains(&expected), "{expected:?} not in\n{text}");
        }
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_file(&log);
    }
}

#[test]
fn memory_doctor_judges_a_loaded_instance() {
    let keel = start_keel(&[]);
    let mut c = Conn::new(keel.port);
    let empty = String::from_utf8(c.cmd(&[b"MEMORY", b"DOCTOR"])).unwrap();
    assert!(empty.contains("this instance is empty or is using very little memory"), "{empty}");
    let value = vec![b'x'; 100_000];
    for i in 0..80 {
        c.cmd(&[b"SET", format!("big:{i}").as_bytes(), &value]);
    }
    let report = String::from_utf8(c.cmd(&[b"MEMORY", b"DOCTOR"])).unwrap();
    assert!(
        report.contains("Hi Sam, I can't find any memory issue in your instance.")
            || report
                .contains("Sam, I detected a few issues in this Redis instance memory implants:"),
        "{report}"
    );
}

/// Evicting and writing the AOF are timed as Redis's `eviction-cycle` and `aof-write`
/// latency events.
#[test]
fn eviction_and_aof_writes_are_latency_events() {
    // Tenacity 100 lets one eviction call run to the end (no time slices under 1 ms).
    let keel = start_keel(&[
        "--latency-monitor-threshold",
        "1",
        "--maxmemory-policy",
        "allkeys-random",
        "--maxmemory-eviction-tenacity",
        "100",
    ]);
    let mut c = Conn::new(keel.port);
    let value = "v".repeat(1000);
    // One pipelined burst of big writes: a long AOF write, then a long eviction.
    for i in 0..20_000 {
        c.send(&[b"SET", format!("k{i}").as_bytes(), value.as_bytes()]);
    }
    for _ in 0..20_000 {
        c.read_reply().expect("a reply");
    }
    // A 32 MB value: its AOF write alone takes well over a millisecond.
    let big = vec![b'x'; 32 << 20];
    c.cmd(&[b"SET", b"big", &big]);
    c.cmd_str("DEL big");
    c.cmd_str("CONFIG SET maxmemory 2mb");
    let latest = c.cmd_str("LATENCY LATEST");
    assert!(latest.contains("eviction-cycle"), "{latest}");
    assert!(latest.contains("aof-write"), "{latest}");
}

/// What a client leaves behind: names, channels, slow-log entries and stream consumers keep
/// copies of their arguments, not the read buffer those arguments arrived in. One 4 MB
/// pipeline carries each of them next to a big value; once the value is deleted and the
/// client gone, used_memory is back near where it started (before, every kept argument
/// pinned the whole buffer).
#[test]
fn kept_arguments_do_not_pin_the_read_buffer() {
    let keel = start_keel(&["--slowlog-log-slower-than", "0"]);
    let mut c = Conn::new(keel.port);
    c.cmd(&[b"XADD", b"s", b"*", b"f", b"v"]);
    c.cmd(&[b"XGROUP", b"CREATE", b"s", b"g0", b"0"]);
    let before = info_num(&mut c, "memory", "used_memory");
    let mut other = Conn::new(keel.port);
    let big = vec![b'x'; 4 << 20];
    let mut pipeline = Vec::new();
    for argv in [
        &[&b"SET"[..], b"big", &big][..],
        &[b"CLIENT", b"SETNAME", b"keeper"],
        &[b"CLIENT", b"SETINFO", b"LIB-NAME", b"lib"],
        &[b"XGROUP", b"CREATE", b"s", b"g1", b"0"],
        &[b"XREADGROUP", b"GROUP", b"g0", b"consumer", b"STREAMS", b"s", b">"],
        &[b"SUBSCRIBE", b"channel"],
    ] {
        pipeline.extend_from_slice(format!("*{}\r\n", argv.len()).as_bytes());
        for a in argv {
            pipeline.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            pipeline.extend_from_slice(a);
            pipeline.extend_from_slice(b"\r\n");
        }
    }
    other.send_raw(&pipeline);
    for _ in 0..6 {
        other.read_reply().expect("a reply");
    }
    assert_eq!(c.cmd(&[b"DEL", b"big"]), b":1\r\n");
    // The subscriber stays connected (its name and channel stay in use); the buffers the
    // client cron releases are released within a few seconds.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = info_num(&mut c, "memory", "used_memory");
        if now < before + (1 << 20) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "used_memory stayed {} bytes above: {}",
            now - before,
            String::from_utf8_lossy(&c.cmd(&[b"CLIENT", b"LIST"]))
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Adds key number `i` under the given name.
type AddKey = fn(&mut Conn, &str, usize);

/// MEMORY USAGE against what the allocator really handed out: 20,000 keys of one shape
/// (small strings, job-like hashes, short lists) grow used_memory by about N times one
/// key's MEMORY USAGE, the rest being the table's buckets (8 to 16 bytes a key).
#[test]
fn memory_usage_matches_the_allocation() {
    let keel = start_keel(&["--appendonly", "no"]);
    let mut c = Conn::new(keel.port);
    const N: usize = 20_000;
    let shapes: [(&str, AddKey); 3] = [
        ("str", |c, k, i| {
            c.cmd(&[b"SET", k.as_bytes(), format!("v-{i:08}").as_bytes()]);
        }),
        ("job", |c, k, i| {
            let data =
                format!("{{\"orderId\":\"ord-{i:08}\",\"email\":\"customer{i}@example.com\"}}");
            c.cmd(&[b"HSET", k.as_bytes(), b"name", b"send-invoice", b"data", data.as_bytes()]);
            c.cmd(&[b"HSET", k.as_bytes(), b"timestamp", b"1764370000000", b"delay", b"0"]);
        }),
        ("list", |c, k, i| {
            c.cmd(&[b"RPUSH", k.as_bytes(), i.to_string().as_bytes(), b"b", b"c"]);
        }),
    ];
    for (shape, add) in shapes {
        let before = info_num(&mut c, "memory", "used_memory");
        for i in 0..N {
            add(&mut c, &format!("{shape}:{i}"), i);
        }
        let grown = (info_num(&mut c, "memory", "used_memory") - before) as f64 / N as f64;
        let key = format!("{shape}:{}", N / 2);
        let usage = int(&c.cmd(&[b"MEMORY", b"USAGE", key.as_bytes()])) as f64;
        println!("{shape}: MEMORY USAGE {usage}, allocated {grown:.1} bytes per key");
        assert!(
            usage <= grown && grown <= usage + 24.0,
            "{shape}: MEMORY USAGE {usage} against {grown:.1} bytes per key allocated"
        );
    }
}

/// Reads keep nothing: 200,000 raw strings read by SAVE and then by GET leave used_memory
/// where it was (sharing each raw string's buffer once allocated its reference count for
/// good: 32 bytes a key, 6.4 MB here each time).
#[test]
fn reads_leave_no_memory_behind() {
    let keel = start_keel(&["--enable-debug-command", "yes", "--appendonly", "no"]);
    let mut c = Conn::new(keel.port);
    assert_eq!(c.cmd_str("DEBUG POPULATE 200000 key 100"), "+OK\r\n");
    let before = info_num(&mut c, "memory", "used_memory");
    assert_eq!(c.cmd_str("SAVE"), "+OK\r\n");
    let after = info_num(&mut c, "memory", "used_memory");
    assert!(after < before + (2 << 20), "SAVE left {} bytes behind", after.saturating_sub(before));
    let mut pipeline = Vec::new();
    for i in 0..200_000 {
        let key = format!("key:{i}");
        pipeline.extend_from_slice(
            format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).as_bytes(),
        );
    }
    c.send_raw(&pipeline);
    for _ in 0..200_000 {
        c.read_reply().expect("a reply");
    }
    // The output buffer the replies went through is released by the client cron.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let read = info_num(&mut c, "memory", "used_memory");
        if read < after + (2 << 20) {
            break;
        }
        assert!(Instant::now() < deadline, "GET left {} bytes behind", read - after);
        std::thread::sleep(Duration::from_millis(100));
    }
}
