//! The multi-part AOF against the real redis-server: the commands written for the same
//! writes, each server loading the other's directory, the old single-file layout, damaged
//! and truncated files, rewrites and turning the AOF on and off at run time.

use crate::common::{start_keel, start_redis, Conn, TestServer};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Reads the commands of an AOF file as lines of space-separated arguments.
fn commands(path: &Path) -> Vec<String> {
    let data = std::fs::read(path).unwrap_or_default();
    let mut out = Vec::new();
    let mut i = 0;
    let number = |i: &mut usize| -> usize {
        let end = data[*i..].iter().position(|&b| b == b'\r').unwrap() + *i;
        let n = std::str::from_utf8(&data[*i + 1..end]).unwrap().parse().unwrap();
        *i = end + 2;
        n
    };
    while i < data.len() {
        let argc = number(&mut i);
        let mut words = Vec::new();
        for _ in 0..argc {
            let len = number(&mut i);
            words.push(String::from_utf8_lossy(&data[i..i + len]).into_owned());
            i += len + 2;
        }
        out.push(words.join(" "));
    }
    out
}

/// Replaces Unix times in milliseconds (13 digits) by `<ms>`: the only part of the
/// propagated commands that depends on when they ran.
fn mask_times(line: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    for ch in line.chars().chain(std::iter::once(' ')) {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        if digits.len() == 13 {
            out.push_str("<ms>");
        } else {
            out.push_str(&digits);
        }
        digits.clear();
        out.push(ch);
    }
    out.pop();
    out
}

fn run(c: &mut Conn, line: &str) -> String {
    String::from_utf8_lossy(&c.cmd(&split(line))).into_owned()
}

fn split(line: &str) -> Vec<&[u8]> {
    line.split(' ').map(str::as_bytes).collect()
}

/// The INCR file the manifest of `dir` lists last.
fn last_incr(dir: &Path) -> PathBuf {
    let m = std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap();
    let line = m.lines().rev().find(|l| l.ends_with("type i")).unwrap().to_string();
    dir.join("appendonlydir").join(line.split(' ').nth(1).unwrap())
}

/// The write commands whose AOF form is compared. The first reply of each is discarded:
/// what matters here is the file.
const WRITES: &[&str] = &[
    "SET plain v",
    "set lower v",
    "SET ex v EX 100",
    "SET px v PX 100000 NX",
    "SET exat v EXAT 99999999999",
    "SET pxat v PXAT 99999999999000",
    "SET kt v KEEPTTL",
    "SETEX se 100 v",
    "PSETEX pse 100000 v",
    "SET n 1",
    "EXPIRE n 100",
    "EXPIRE n 200 GT",
    "PEXPIRE n 300000 XX",
    "EXPIREAT n 99999999999",
    "PEXPIREAT n 99999999999000",
    "GETEX n EX 50",
    "GETEX n PERSIST",
    "GETEX n PXAT 1",
    "SET gone v",
    "EXPIRE gone -1",
    "INCRBYFLOAT f 1.5",
    "INCRBYFLOAT f 0.1",
    "HSET h a 1",
    "HINCRBYFLOAT h a 0.25",
    "RPUSH l a b c d e f g h",
    "BLPOP l 1",
    "BRPOP l 1",
    "LMPOP 1 l LEFT COUNT 2",
    "BLMPOP 1 1 l right COUNT 10",
    "RPUSH l a b c",
    "BLMOVE l l2 left RIGHT 1",
    "BRPOPLPUSH l l2 1",
    "ZADD z 1 a 2 b 3 c 4 d",
    "BZPOPMIN z 1",
    "BZPOPMAX z 1",
    "ZMPOP 1 z MIN COUNT 1",
    "BZMPOP 1 1 z MAX COUNT 5",
    "XADD s 1-1 a 1",
    "XADD s MAXLEN ~ 1 2-1 a 2",
    "XTRIM s MAXLEN ~ 0",
    "XADD g 1-1 a 1",
    "XADD g 2-1 a 1",
    "XGROUP CREATE g grp 0",
    "XREADGROUP GROUP grp c COUNT 2 STREAMS g >",
    "XREADGROUP GROUP grp newc STREAMS g >",
    "XREADGROUP GROUP grp c STREAMS g 0",
    "XADD g 3-1 a 1",
    "XREADGROUP GROUP grp c3 NOACK STREAMS g >",
    "XCLAIM g grp c4 0 1-1 JUSTID",
    "XCLAIM g grp c5 0 2-1 IDLE 5 RETRYCOUNT 7",
    "XAUTOCLAIM g grp c6 0 0-0 COUNT 1",
    "XAUTOCLAIM g grp c7 0 0-0 JUSTID",
    "XACK g grp 1-1",
    "XGROUP CREATECONSUMER g grp zz",
    "XGROUP DELCONSUMER g grp zz",
    "XGROUP SETID g grp 0",
    "SADD one x",
    "SPOP one",
    "SADD two x y",
    "SPOP two 5",
    "MULTI",
    "SET m1 1",
    "SET m2 2",
    "EXEC",
    "MULTI",
    "SET m3 3",
    "EXEC",
    "MULTI",
    "GET m3",
    "EXEC",
    "DEL nosuchkey",
    "SELECT 3",
    "SET indb3 v",
    "SELECT 0",
    "SET back v",
    "SET cp x",
    "COPY cp cp2",
    "MOVE cp 3",
    "RENAME cp2 cp3",
    "SWAPDB 0 1",
    "SWAPDB 0 1",
];

/// RESTORE takes a binary payload: DUMP it from a key, then restore it with a relative
/// TTL (written with ABSTTL), no TTL, and REPLACE/IDLETIME.
fn restores(c: &mut Conn) {
    run(c, "SET src v");
    let raw = c.cmd(&[b"DUMP", b"src"]);
    let start = raw.iter().position(|&b| b == b'\n').unwrap() + 1;
    let payload = &raw[start..raw.len() - 2];
    c.cmd(&[b"RESTORE", b"r1", b"100000", payload]);
    c.cmd(&[b"RESTORE", b"r2", b"0", payload]);
    c.cmd(&[b"RESTORE", b"r1", b"5000", payload, b"REPLACE", b"IDLETIME", b"10"]);
}

#[test]
fn propagated_commands_match_redis() {
    let redis = start_redis(&["--appendonly", "yes", "--aof-use-rdb-preamble", "no"]);
    // DUMP payloads carry the RDB version: 10 is what Redis 7.0 writes.
    let keel = start_keel(&["--aof-use-rdb-preamble", "no", "--rdb-version", "10"]);
    let mut files = Vec::new();
    for srv in [&redis, &keel] {
        let mut c = Conn::new(srv.port);
        for line in WRITES {
            run(&mut c, line);
        }
        restores(&mut c);
        scripts(&mut c);
        files.push(commands(&last_incr(srv.dir.path())));
    }
    let masked: Vec<Vec<String>> =
        files.iter().map(|f| f.iter().map(|l| mask_times(l)).collect()).collect();
    assert!(masked[0].len() > 30, "redis wrote {:?}", masked[0]);
    assert!(masked[0].iter().any(|l| l.contains("fkb")), "the function's writes are logged");
    assert_eq!(masked[1], masked[0], "keel (left) and redis (right) AOF commands");
}

/// Scripts and functions reach the AOF as the commands they ran, several wrapped in
/// MULTI/EXEC, relative times made absolute.
fn scripts(c: &mut Conn) {
    let library = "#!lua name=lib\nredis.register_function('f', function(k) \
                   redis.call('set', k[1], '1') redis.call('set', k[1] .. 'b', '2') end)";
    let calls: &[&[&[u8]]] = &[
        &[
            b"EVAL",
            b"redis.call('set', KEYS[1], 'a') redis.call('incr', 'cnt') return 1",
            b"1",
            b"sk",
        ],
        &[b"EVAL", b"return redis.call('set', 'one', 'x')", b"0"],
        &[b"EVAL", b"return redis.call('get', 'one')", b"0"],
        &[
            b"EVAL",
            b"redis.call('set', 'e', 'v', 'EX', '100') redis.call('expire', 'one', 50)",
            b"0",
        ],
        &[b"EVAL", b"redis.call('set', 'w', '1') redis.call('del', 'w') error('boom')", b"0"],
        &[b"FUNCTION", b"LOAD", library.as_bytes()],
        &[b"FCALL", b"f", b"1", b"fk"],
    ];
    for argv in calls {
        c.cmd(argv);
    }
}

/// Reads that show a dataset: every key with its type and content.
const READS: &[&str] = &[
    "DBSIZE",
    "GET s1",
    "LRANGE l1 0 -1",
    "HGETALL h1",
    "SMEMBERS st1",
    "ZRANGE z1 0 -1 WITHSCORES",
    "XRANGE x1 - +",
    "XINFO GROUPS x1",
    "XPENDING x1 g",
    "PTTL s1",
    "EXPIRETIME ttl1",
    "GET after",
    "GET m1",
    "SELECT 2",
    "GET in2",
    "SELECT 0",
];

const DATASET: &[&str] = &[
    "SET s1 hello",
    "RPUSH l1 a b c",
    "HSET h1 f v g w",
    "SADD st1 only",
    "ZADD z1 1.5 a 2 b",
    "XADD x1 1-1 f v",
    "XADD x1 2-1 f w",
    "XGROUP CREATE x1 g 0",
    "XREADGROUP GROUP g c COUNT 1 STREAMS x1 >",
    "SET ttl1 v EX 5000",
    "SELECT 2",
    "SET in2 yes",
    "SELECT 0",
];

fn apply(port: u16, lines: &[&str]) -> Vec<String> {
    let mut c = Conn::new(port);
    lines.iter().map(|l| run(&mut c, l)).collect()
}

/// Stops a server the hard way (no shutdown work), keeping its directory.
fn kill(srv: &mut TestServer) {
    let _ = srv.child.kill();
    let _ = srv.child.wait();
}

fn dir_arg(srv: &TestServer) -> String {
    srv.dir.path().display().to_string()
}

/// A dataset written by `writer` (with a rewrite in the middle), read back by `reader`
/// started on the same directory, gives the same reads as on the writer.
fn cross_load(writer_is_keel: bool, preamble: &str) {
    let mut writer = if writer_is_keel {
        start_keel(&["--aof-use-rdb-preamble", preamble, "--rdb-version", "10"])
    } else {
        start_redis(&["--appendonly", "yes", "--aof-use-rdb-preamble", preamble])
    };
    apply(writer.port, DATASET);
    let mut c = Conn::new(writer.port);
    // Redis may still be finishing the rewrite that created its first BASE at start-up:
    // wait for this BGREWRITEAOF's own completion, or later writes could land in an INCR
    // file the manifest does not list yet when the writer is killed.
    let done = info_field(&mut c, "aof_rewrites") + 1;
    while !run(&mut c, "BGREWRITEAOF").contains("started") {
        std::thread::sleep(Duration::from_millis(20));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&mut c, "aof_rewrites") < done
        || info_field(&mut c, "aof_rewrite_in_progress") != 0
    {
        assert!(Instant::now() < deadline, "the rewrite did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    apply(writer.port, &["SET after rewrite", "MULTI", "SET m1 x", "INCR m1x", "EXEC"]);
    let want = apply(writer.port, READS);
    kill(&mut writer);
    let d = dir_arg(&writer);
    let reader = if writer_is_keel {
        start_redis(&["--appendonly", "yes", "--dir", &d])
    } else {
        start_keel(&["--dir", &d])
    };
    let got = apply(reader.port, READS);
    assert_eq!(got, want, "reader (left) and writer (right), writer_is_keel={writer_is_keel}");
}

/// A numeric field of INFO persistence.
fn info_field(c: &mut Conn, name: &str) -> u64 {
    let info = run(c, "INFO persistence");
    let prefix = format!("{name}:");
    info.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in {info}"))
}

fn wait_rewrite(c: &mut Conn) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = run(c, "INFO persistence");
        if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrites:1")
            || info.contains("aof_rewrite_in_progress:0") && !info.contains("aof_rewrites:0")
        {
            return;
        }
        assert!(Instant::now() < deadline, "rewrite did not finish: {info}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn keel_loads_a_directory_redis_wrote_with_an_rdb_base() {
    cross_load(false, "yes");
}

#[test]
fn keel_loads_a_directory_redis_wrote_with_a_resp_base() {
    cross_load(false, "no");
}

#[test]
fn redis_loads_a_directory_keel_wrote_with_an_rdb_base() {
    cross_load(true, "yes");
}

#[test]
fn redis_loads_a_directory_keel_wrote_with_a_resp_base() {
    cross_load(true, "no");
}

#[test]
fn the_layout_and_manifest_are_redis_7s() {
    let keel = start_keel(&["--aof-use-rdb-preamble", "no"]);
    let dir = keel.dir.path().join("appendonlydir");
    let manifest = std::fs::read_to_string(dir.join("appendonly.aof.manifest")).unwrap();
    assert_eq!(
        manifest,
        "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    );
    let mut c = Conn::new(keel.port);
    run(&mut c, "SET k v");
    assert_eq!(run(&mut c, "BGREWRITEAOF"), "+Background append only file rewriting started\r\n");
    wait_rewrite(&mut c);
    let manifest = std::fs::read_to_string(dir.join("appendonly.aof.manifest")).unwrap();
    assert_eq!(
        manifest,
        "file appendonly.aof.2.base.aof seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["appendonly.aof.2.base.aof", "appendonly.aof.2.incr.aof", "appendonly.aof.manifest"]
    );
    assert_eq!(commands(&dir.join("appendonly.aof.2.base.aof")), ["SELECT 0", "SET k v"]);
    let info = run(&mut c, "INFO persistence");
    for field in
        ["aof_enabled:1", "aof_rewrites:1", "aof_last_bgrewrite_status:ok", "aof_buffer_length:0"]
    {
        assert!(info.contains(field), "{field} in {info}");
    }
}

#[test]
fn an_old_single_file_is_moved_into_a_directory() {
    let first = start_keel(&["--appendonly", "no"]);
    let d = dir_arg(&first);
    drop(Conn::new(first.port));
    std::fs::write(
        first.dir.path().join("appendonly.aof"),
        "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$3\r\nold\r\n$5\r\nstyle\r\n",
    )
    .unwrap();
    let keel = start_keel(&["--dir", &d]);
    let mut c = Conn::new(keel.port);
    assert_eq!(run(&mut c, "GET old"), "$5\r\nstyle\r\n");
    let dir = first.dir.path().join("appendonlydir");
    let manifest = std::fs::read_to_string(dir.join("appendonly.aof.manifest")).unwrap();
    assert_eq!(
        manifest,
        "file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    );
    assert!(!first.dir.path().join("appendonly.aof").exists());
}

/// Starts keel on `dir` and returns whether it came up, with its log.
fn try_start(dir: &str, extra: &[&str]) -> (bool, String) {
    let log = format!("{dir}/try.log");
    let out = std::process::Command::new(crate::common::keel_bin())
        .args(["--port", &crate::common::free_port().to_string(), "--dir", dir])
        .args(["--logfile", &log, "--daemonize", "no"])
        .args(extra)
        .spawn();
    let mut child = out.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("Ready to accept connections") {
            let _ = child.kill();
            let _ = child.wait();
            return (true, text);
        }
        if let Ok(Some(_)) = child.try_wait() {
            return (false, text);
        }
        assert!(Instant::now() < deadline, "neither started nor failed: {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_truncated_tail_is_cut_when_allowed_and_fatal_otherwise() {
    let mut keel = start_keel(&[]);
    apply(keel.port, &["SET a 1", "SET b 2"]);
    kill(&mut keel);
    let incr = last_incr(keel.dir.path());
    let whole = std::fs::metadata(&incr).unwrap().len();
    let mut data = std::fs::read(&incr).unwrap();
    data.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1");
    std::fs::write(&incr, &data).unwrap();
    let d = dir_arg(&keel);
    let (up, log) = try_start(&d, &["--aof-load-truncated", "no"]);
    assert!(!up, "started on a truncated AOF with aof-load-truncated no: {log}");
    assert!(log.contains("Unexpected end of file"), "{log}");
    let (up, log) = try_start(&d, &[]);
    assert!(up, "{log}");
    assert!(log.contains("!!! Warning: short read while loading the AOF file"), "{log}");
    assert!(log.contains("loaded anyway because aof-load-truncated is enabled"), "{log}");
    assert_eq!(std::fs::metadata(&incr).unwrap().len(), whole);
    // A transaction cut short is reverted to before its MULTI.
    let mut data = std::fs::read(&incr).unwrap();
    data.extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1\r\n3\r\n");
    std::fs::write(&incr, &data).unwrap();
    let keel2 = start_keel(&["--dir", &d]);
    let got = apply(keel2.port, &["GET a", "GET b", "GET c"]);
    assert_eq!(got, ["$1\r\n1\r\n", "$1\r\n2\r\n", "$-1\r\n"]);
    let log = std::fs::read_to_string(&keel2.log).unwrap();
    assert!(log.contains("Revert incomplete MULTI/EXEC transaction"), "{log}");
}

#[test]
fn damage_in_the_middle_stops_start_up() {
    let mut keel = start_keel(&[]);
    apply(keel.port, &["SET a 1"]);
    kill(&mut keel);
    let incr = last_incr(keel.dir.path());
    let mut data = b"garbage\r\n".to_vec();
    data.extend_from_slice(&std::fs::read(&incr).unwrap());
    std::fs::write(&incr, &data).unwrap();
    let (up, log) = try_start(&dir_arg(&keel), &[]);
    assert!(!up);
    assert!(log.contains("Bad file format reading the append only file"), "{log}");
}

#[test]
fn timestamp_annotations_are_skipped() {
    let mut keel = start_keel(&[]);
    apply(keel.port, &["SET a 1"]);
    kill(&mut keel);
    let incr = last_incr(keel.dir.path());
    let mut data = std::fs::read(&incr).unwrap();
    data.extend_from_slice(b"#TS:1700000000\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n");
    std::fs::write(&incr, &data).unwrap();
    let keel2 = start_keel(&["--dir", &dir_arg(&keel)]);
    assert_eq!(apply(keel2.port, &["MGET a b"]), ["*2\r\n$1\r\n1\r\n$1\r\n2\r\n"]);
}

#[test]
fn appendonly_can_be_turned_on_and_off_at_run_time() {
    let mut keel = start_keel(&["--appendonly", "no"]);
    let dir = keel.dir.path().join("appendonlydir");
    apply(keel.port, &["SET before on"]);
    assert!(!dir.exists());
    let mut c = Conn::new(keel.port);
    assert_eq!(run(&mut c, "CONFIG SET appendonly yes"), "+OK\r\n");
    wait_rewrite(&mut c);
    apply(keel.port, &["SET while on"]);
    assert_eq!(run(&mut c, "CONFIG SET appendonly no"), "+OK\r\n");
    apply(keel.port, &["SET after off"]);
    assert!(run(&mut c, "INFO persistence").contains("aof_enabled:0"));
    kill(&mut keel);
    let keel2 = start_keel(&["--dir", &dir_arg(&keel)]);
    let got = apply(keel2.port, &["GET before", "GET while", "GET after"]);
    assert_eq!(got, ["$2\r\non\r\n", "$2\r\non\r\n", "$-1\r\n"]);
}

#[test]
fn an_rdb_snapshot_seeds_the_first_aof() {
    let mut first = start_keel(&["--appendonly", "no"]);
    apply(first.port, &["SET from rdb", "SAVE"]);
    kill(&mut first);
    let keel = start_keel(&["--dir", &dir_arg(&first)]);
    assert_eq!(apply(keel.port, &["GET from"]), ["$3\r\nrdb\r\n"]);
}

/// A random write over a few keys of every type (fixed seed: the same script every run).
/// Each type has its own keys (`s0`, `l1`, ...), so most commands do something.
fn random_command(rng: &mut impl rand::Rng) -> String {
    let i = rng.random_range(0..3);
    let v = ["a", "b", "17", "-3", "x y", "", "3.5"][rng.random_range(0..7)];
    let n = rng.random_range(1..5);
    let any = ["s", "l", "h", "t", "z", "x"][rng.random_range(0..6)];
    let t = [
        format!("SET s{i} {v}"),
        format!("APPEND s{i} {v}"),
        format!("INCRBYFLOAT f{i} 1.5"),
        format!("SET s{i} {v} EX {}", 1000 + n),
        format!("EXPIRE {any}{i} {}", 2000 + n),
        format!("PERSIST {any}{i}"),
        format!("DEL {any}{i}"),
        format!("RPUSH l{i} {v} {n}"),
        format!("LPOP l{i} {n}"),
        format!("LMOVE l{i} l0 LEFT RIGHT"),
        format!("HSET h{i} f{n} {v}"),
        format!("HINCRBYFLOAT h{i} g{n} 0.5"),
        format!("HDEL h{i} f{n}"),
        format!("SADD t{i} m{n} {v}"),
        format!("SPOP t{i}"),
        format!("SREM t{i} m{n}"),
        format!("ZADD z{i} {n}.5 m{n}"),
        format!("ZINCRBY z{i} 2 m{n}"),
        format!("ZPOPMIN z{i}"),
        format!("XADD x{i} * f {v}"),
        format!("XADD x{i} MAXLEN ~ 3 * f {n}"),
        format!("XGROUP CREATE x{i} g 0 MKSTREAM"),
        format!("XREADGROUP GROUP g c{n} COUNT 2 STREAMS x{i} >"),
        format!("XACK x{i} g 0-1"),
        format!("XAUTOCLAIM x{i} g c9 0 0-0 COUNT 1"),
    ];
    t[rng.random_range(0..t.len())].clone()
}

/// The dataset of database 0 in a form to compare: each key's type, content and expiry.
fn dataset(c: &mut Conn) -> Vec<String> {
    let sorted = |raw: Vec<u8>| -> String {
        match resp::reply::decode(&raw) {
            Ok(Some((resp::Frame::Array(items), _))) => {
                let mut v: Vec<String> = items.iter().map(|f| format!("{f:?}")).collect();
                v.sort();
                v.join(",")
            }
            other => format!("{other:?}"),
        }
    };
    let mut keys: Vec<String> = run(c, "KEYS *")
        .split("\r\n")
        .filter(|w| !w.is_empty() && !w.starts_with(['*', '$']))
        .map(String::from)
        .collect();
    keys.sort();
    let mut out = vec![keys.join(",")];
    for k in keys {
        let ty = run(c, &format!("TYPE {k}"));
        let read = match ty.trim() {
            "+string" => run(c, &format!("GET {k}")),
            "+list" => run(c, &format!("LRANGE {k} 0 -1")),
            "+hash" => sorted(c.cmd(&split(&format!("HGETALL {k}")))),
            "+set" => sorted(c.cmd(&split(&format!("SMEMBERS {k}")))),
            "+zset" => run(c, &format!("ZRANGE {k} 0 -1 WITHSCORES")),
            // Idle times depend on when the replay ran, and the AOF forms Redis writes for
            // group reads carry neither entries-read nor consumers that got nothing (Redis
            // loses both on reload as well): compare the entries, the group's position and
            // the pending entries with their owners.
            "+stream" => {
                let groups = run(c, &format!("XINFO GROUPS {k}"));
                let position = groups
                    .split("last-delivered-id\r\n")
                    .nth(1)
                    .and_then(|rest| rest.split("\r\n").nth(1))
                    .unwrap_or("")
                    .to_string();
                let pending = run(c, &format!("XPENDING {k} g"));
                format!("{} {position} {pending}", run(c, &format!("XRANGE {k} - +")))
            }
            _ => String::new(),
        };
        out.push(format!("{k} {ty} {read} {}", run(c, &format!("PEXPIRETIME {k}"))));
    }
    out
}

/// Replaying the AOF (with a rewrite in the middle or not) rebuilds exactly the dataset the
/// commands built.
fn replay_rebuilds(rewrite_at: Option<usize>, preamble: &str) {
    use rand::SeedableRng;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    let mut keel = start_keel(&["--aof-use-rdb-preamble", preamble]);
    let mut c = Conn::new(keel.port);
    for i in 0..1500 {
        if Some(i) == rewrite_at {
            run(&mut c, "BGREWRITEAOF");
        }
        if i % 100 == 50 {
            run(&mut c, "MULTI");
            run(&mut c, &random_command(&mut rng));
            run(&mut c, &random_command(&mut rng));
            run(&mut c, "EXEC");
        }
        run(&mut c, &random_command(&mut rng));
    }
    if rewrite_at.is_some() {
        wait_rewrite(&mut c);
    }
    let before = dataset(&mut c);
    kill(&mut keel);
    let again = start_keel(&["--dir", &dir_arg(&keel)]);
    let after = dataset(&mut Conn::new(again.port));
    assert_eq!(after, before, "rewrite_at={rewrite_at:?} preamble={preamble}");
}

#[test]
fn replaying_the_incr_file_rebuilds_the_dataset() {
    replay_rebuilds(None, "yes");
}

#[test]
fn replaying_after_a_rewrite_rebuilds_the_dataset() {
    replay_rebuilds(Some(700), "yes");
    replay_rebuilds(Some(700), "no");
}
