//! INFO and DEBUG against redis-server: which sections each INFO form prints, the field
//! names of the traffic-dependent sections, the sampled rates, the replication IDs, and
//! DEBUG OBJECT's line (config.rs compares the field names of the fixed sections).

use crate::common::{start_keel, start_redis, Conn};
use std::time::{Duration, Instant};

/// The `# Title` lines of an INFO reply, in order.
fn titles(c: &mut Conn, line: &str) -> Vec<String> {
    let text = c.cmd_str(line);
    text.split("\r\n").filter_map(|l| l.strip_prefix("# ")).map(str::to_string).collect()
}

/// `name:value` of one INFO field.
fn field(c: &mut Conn, section: &str, name: &str) -> String {
    let text = c.cmd_str(&format!("INFO {section}"));
    let prefix = format!("{name}:");
    text.split("\r\n")
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name} in INFO {section}"))
        .to_string()
}

#[test]
fn info_forms_print_the_sections_redis_prints() {
    let redis = start_redis(&[]);
    let keel = start_keel(&[]);
    let mut r = Conn::new(redis.port);
    let mut k = Conn::new(keel.port);
    // Traffic first, so commandstats and errorstats have lines in both.
    for c in [&mut r, &mut k] {
        c.cmd_str("SET a 1");
        c.cmd_str("INCR nosuchkey-but-fine");
        c.cmd_str("LPUSH a x");
    }
    for line in [
        "INFO",
        "INFO default",
        "INFO all",
        "INFO everything",
        "INFO server clients",
        "INFO CPU",
        "INFO Commandstats",
        "INFO errorstats latencystats",
        "INFO keyspace server",
        "INFO default commandstats",
        "INFO all nosuch",
        "INFO nosuch",
    ] {
        assert_eq!(titles(&mut k, line), titles(&mut r, line), "sections of {line}");
    }
}

/// The names of the fields of `section` in `INFO everything`.
fn names(c: &mut Conn, section: &str) -> Vec<String> {
    let text = c.cmd_str(&format!("INFO {section}"));
    text.split("\r\n")
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, _)| k.to_string())
        .collect()
}

/// A value with every digit run replaced by `#`, to compare formats.
fn shape(v: &str) -> String {
    let mut out = String::new();
    for ch in v.chars() {
        if ch.is_ascii_digit() {
            if !out.ends_with('#') {
                out.push('#');
            }
        } else {
            out.push(ch);
        }
    }
    out
}

#[test]
fn traffic_sections_name_the_same_lines_in_the_same_format() {
    let redis = start_redis(&[]);
    let keel = start_keel(&[]);
    let script = [
        "SET a 1",
        "GET a",
        "GET a",
        "INCR a",
        "LPUSH a x",
        "NOSUCH",
        "GET",
        "CLIENT ID",
        "CONFIG GET maxmemory",
        "SELECT 5",
        "SET b 2 EX 1000",
        "SELECT 0",
    ];
    let mut out = Vec::new();
    for port in [redis.port, keel.port] {
        let mut c = Conn::new(port);
        c.cmd_str("CONFIG RESETSTAT");
        for line in script {
            c.cmd_str(line);
        }
        let mut seen = Vec::new();
        for section in ["commandstats", "errorstats", "keyspace"] {
            let text = c.cmd_str(&format!("INFO {section}"));
            for l in text.split("\r\n").filter(|l| l.contains(':')) {
                let (name, value) = l.split_once(':').unwrap();
                // avg_ttl and usec_per_call depend on timing: only their shape counts.
                seen.push(format!("{name}:{}", shape(value)));
            }
        }
        // Redis lists commands in its hash table's order.
        seen.sort();
        out.push(seen);
    }
    assert_eq!(out[1], out[0], "keel (left) and redis (right)");
    assert!(out[1].iter().any(|l| l.starts_with("cmdstat_config|get:")), "{:?}", out[1]);
}

#[test]
fn every_field_value_has_redis_format() {
    let redis = start_redis(&[]);
    let keel = start_keel(&[]);
    let mut r = Conn::new(redis.port);
    let mut k = Conn::new(keel.port);
    // Fields whose value is text whose form legitimately differs (paths, versions, names).
    let free = [
        "redis_version",
        "redis_git_sha1",
        "redis_build_id",
        "os",
        "gcc_version",
        "run_id",
        "executable",
        "config_file",
        "master_replid",
        "mem_allocator",
        "listener0",
        "maxmemory_policy",
    ];
    for section in ["server", "clients", "stats", "replication", "cpu", "persistence"] {
        let rn = names(&mut r, section);
        for name in names(&mut k, section) {
            if free.contains(&name.as_str()) || !rn.contains(&name) {
                continue;
            }
            let (kv, rv) = (field(&mut k, section, &name), field(&mut r, section, &name));
            // A number may be a decimal on one side only when it happens to be whole
            // (used_cpu_*); the rest must match in form.
            let norm = |s: &str| shape(s).replace("#.#", "#");
            assert_eq!(norm(&kv), norm(&rv), "format of {section} {name}: keel {kv}, redis {rv}");
        }
    }
}

#[test]
fn instantaneous_rates_follow_the_load() {
    let keel = start_keel(&[]);
    let mut c = Conn::new(keel.port);
    assert_eq!(field(&mut c, "stats", "instantaneous_ops_per_sec"), "0");
    let until = Instant::now() + Duration::from_millis(800);
    let value = vec![b'x'; 2048];
    while Instant::now() < until {
        c.cmd(&[b"SET", b"k", &value]);
    }
    let ops: u64 = field(&mut c, "stats", "instantaneous_ops_per_sec").parse().unwrap();
    let kin: f64 = field(&mut c, "stats", "instantaneous_input_kbps").parse().unwrap();
    let kout: f64 = field(&mut c, "stats", "instantaneous_output_kbps").parse().unwrap();
    assert!(ops > 0, "ops {ops}");
    assert!(kin > 1.0, "input kbps {kin}");
    assert!(kout > 0.0, "output kbps {kout}");
    assert_eq!(field(&mut c, "stats", "instantaneous_input_repl_kbps"), "0.00");
    // CONFIG RESETSTAT clears the samples, as in Redis.
    c.cmd_str("CONFIG RESETSTAT");
    assert_eq!(field(&mut c, "stats", "instantaneous_ops_per_sec"), "0");
}

#[test]
fn replication_ids_are_stable_until_debug_change_repl_id() {
    let keel = start_keel(&["--enable-debug-command", "yes"]);
    let mut c = Conn::new(keel.port);
    let id = field(&mut c, "replication", "master_replid");
    assert_eq!(id.len(), 40);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{id}");
    assert_ne!(id, field(&mut c, "server", "run_id"));
    c.cmd_str("CONFIG RESETSTAT");
    assert_eq!(field(&mut c, "replication", "master_replid"), id);
    assert_eq!(c.cmd_str("DEBUG CHANGE-REPL-ID"), "+OK\r\n");
    let new = field(&mut c, "replication", "master_replid");
    assert_ne!(new, id);
    assert_eq!(new.len(), 40);
    assert_eq!(field(&mut c, "replication", "master_replid2"), "0".repeat(40));
    assert_eq!(field(&mut c, "replication", "role"), "master");
}

/// DEBUG OBJECT's line with the address and the access clock masked.
fn debug_object(c: &mut Conn, key: &str) -> String {
    let line = c.cmd_str(&format!("DEBUG OBJECT {key}"));
    line.split(' ')
        .map(|w| match w.split_once(':') {
            Some(("at" | "lru" | "lru_seconds_idle", _)) => "#",
            _ => w,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn debug_object_describes_values_as_redis() {
    let args = ["--enable-debug-command", "yes"];
    let redis = start_redis(&args);
    let keel = start_keel(&args);
    let mut lines = Vec::new();
    // 1000 elements outgrow one listpack, so the list is a quicklist on both servers.
    let many: String = (0..1000).map(|i| format!(" element-{i}")).collect();
    let script = [
        "SET s hello".to_string(),
        "SET n 42".into(),
        "SET big 123456789".into(),
        "SET raw 0123456789012345678901234567890123456789012345678901234567890".into(),
        "HSET h a 1 b 2".into(),
        "SADD is 1 2 3".into(),
        "SADD ss a b c".into(),
        "ZADD z 1 a 2 b".into(),
        format!("RPUSH l{many}"),
        format!("HSET bh{}", (0..200).map(|i| format!(" f{i} v{i}")).collect::<String>()),
        format!("SADD bs{many}"),
    ];
    for port in [redis.port, keel.port] {
        let mut c = Conn::new(port);
        for line in &script {
            c.cmd_str(line);
        }
        let keys = ["s", "n", "big", "raw", "h", "is", "z", "l", "bh", "bs"];
        lines.push(keys.iter().map(|k| debug_object(&mut c, k)).collect::<Vec<_>>());
    }
    assert_eq!(lines[1], lines[0], "keel (left) and redis (right)");
    assert!(lines[1][7].contains(" ql_nodes:2 "), "{}", lines[1][7]);
}

/// Redis 7.2's event loop figures: cycles and their working time, the part of it spent in
/// commands (a slow DEBUG SLEEP shows in both), and the sampled per-second rates.
#[test]
fn eventloop_figures_are_real() {
    let keel = start_keel(&["--enable-debug-command", "yes"]);
    let mut c = Conn::new(keel.port);
    let num = |c: &mut Conn, name: &str| field(c, "stats", name).parse::<u64>().unwrap();
    let cycles0 = num(&mut c, "eventloop_cycles");
    assert_eq!(c.cmd_str("DEBUG SLEEP 0.2"), "+OK\r\n");
    for i in 0..50 {
        c.cmd_str(&format!("SET k{i} v"));
    }
    assert!(num(&mut c, "eventloop_cycles") >= cycles0 + 50);
    let cmd = num(&mut c, "eventloop_duration_cmd_sum");
    let total = num(&mut c, "eventloop_duration_sum");
    assert!(cmd >= 200_000, "commands took {cmd} us, DEBUG SLEEP 0.2 alone 200000");
    assert!(total >= cmd, "event loop {total} us, of which commands {cmd} us");
    // The rates are sampled every 100 ms over the last 1.6 s; keep the loop busy meanwhile.
    let until = Instant::now() + Duration::from_millis(1200);
    while Instant::now() < until {
        c.cmd_str("PING");
    }
    assert!(num(&mut c, "instantaneous_eventloop_cycles_per_sec") > 0);
    assert!(num(&mut c, "instantaneous_eventloop_duration_usec") > 0);
}
