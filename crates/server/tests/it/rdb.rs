//! RDB interoperability: data moves between redis-server (7.0) and Keel through dump.rdb
//! files and DUMP/RESTORE payloads, in both directions, and every key reads back the same
//! on both sides; DEBUG RELOAD keeps everything; damaged files are refused.

use crate::common::{keel_bin, start_keel, start_redis};
use redis::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn connect(port: u16) -> redis::Connection {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    client.get_connection().unwrap()
}

fn q(con: &mut redis::Connection, args: &[&[u8]]) -> Value {
    let mut c = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(con).unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(&args.concat())))
}

fn qs(con: &mut redis::Connection, line: &str) -> Value {
    let words: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    q(con, &words)
}

/// Every type in its small and big encodings, binary data, expire times, several
/// databases, and streams with deleted entries, consumer groups, PELs and consumers.
fn fill(con: &mut redis::Connection) {
    for line in [
        "SET s:int 12345",
        "SET s:bigint 9223372036854775807",
        "SET s:neg -5",
        "SET s:small hello",
        "SET s:lead 0012",
        "SET s:ttl v",
        "PEXPIREAT s:ttl 4102444800123",
        "RPUSH l:small a b 1 2 -3 -70000 4294967296",
        "HSET h:small f1 v1 f2 2 f3 -1",
        "SADD set:int 1 2 3 -100 70000",
        "SADD set:str a b c",
        "ZADD z:small 1 a 2.5 b -inf c inf d 0 e",
        "ZADD z:int 1 1 2 2",
        "HSET h:ttl a b",
        "EXPIREAT h:ttl 4102444800",
    ] {
        qs(con, line);
    }
    q(con, &[b"SET", b"s:bin", b"\x00\xff\r\n"]);
    q(con, &[b"SET", b"s:empty", b""]);
    q(con, &[b"SET", b"s:long", "abc".repeat(100).as_bytes()]);
    let noise: Vec<u8> = (0..300u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    q(con, &[b"SET", b"s:noise", &noise]);
    q(con, &[b"RPUSH", b"l:small", b"\x00", b""]);
    for chunk in 0..3 {
        let items: Vec<String> = (0..1000).map(|i| format!("item{}", chunk * 1000 + i)).collect();
        let mut args: Vec<&[u8]> = vec![b"RPUSH", b"l:big"];
        args.extend(items.iter().map(|s| s.as_bytes()));
        q(con, &args);
    }
    let long = "x".repeat(5000);
    for _ in 0..5 {
        q(con, &[b"RPUSH", b"l:longitems", long.as_bytes(), b"short"]);
    }
    let fields: Vec<String> = (0..600).map(|i| format!("f{i}")).collect();
    let mut args: Vec<&[u8]> = vec![b"HSET", b"h:big"];
    for f in &fields {
        args.push(f.as_bytes());
        args.push(f.as_bytes());
    }
    q(con, &args);
    q(con, &[b"HSET", b"h:longval", b"f", "v".repeat(100).as_bytes()]);
    let ints: Vec<String> = (0..600).map(|i| (i * 3).to_string()).collect();
    let mut args: Vec<&[u8]> = vec![b"SADD", b"set:bigint"];
    args.extend(ints.iter().map(|s| s.as_bytes()));
    q(con, &args);
    let members: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    let mut args: Vec<&[u8]> = vec![b"SADD", b"set:big"];
    args.extend(members.iter().map(|s| s.as_bytes()));
    q(con, &args);
    let scores: Vec<String> = (0..200).map(|i| format!("{}", f64::from(i) / 3.0)).collect();
    let mut args: Vec<&[u8]> = vec![b"ZADD", b"z:big"];
    for (s, m) in scores.iter().zip(&members) {
        args.push(s.as_bytes());
        args.push(m.as_bytes());
    }
    q(con, &args);
    for i in 1..=300 {
        let id = format!("{}-{}", 1000 + i / 7, i % 7);
        if i % 50 == 0 {
            q(con, &[b"XADD", b"st", id.as_bytes(), b"other", b"shape", b"x", b"\x00\xff"]);
        } else {
            q(con, &[b"XADD", b"st", id.as_bytes(), b"f", i.to_string().as_bytes(), b"g", b"v"]);
        }
    }
    for line in [
        "XDEL st 1000-2 1001-3",
        "XGROUP CREATE st g1 0",
        "XREADGROUP GROUP g1 alice COUNT 5 STREAMS st >",
        "XREADGROUP GROUP g1 bob COUNT 3 STREAMS st >",
        "XACK st g1 1000-1",
        "XGROUP CREATE st g2 $",
        "XGROUP CREATECONSUMER st g2 carol",
        "XGROUP CREATE st 123 1005-0 ENTRIESREAD 30",
        "XADD st:empty MAXLEN 0 5-5 f v",
        "XGROUP CREATE st:empty g 0",
        "SELECT 1",
        "SET db1key x",
        "SELECT 3",
        "HSET h3 a b",
        "SELECT 0",
    ] {
        qs(con, line);
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => format!("{:?}", String::from_utf8_lossy(b)),
        Value::Array(a) | Value::Set(a) => {
            format!("[{}]", a.iter().map(text).collect::<Vec<_>>().join(","))
        }
        Value::Map(m) => format!(
            "{{{}}}",
            m.iter().map(|(k, v)| format!("{}:{}", text(k), text(v))).collect::<Vec<_>>().join(",")
        ),
        other => format!("{other:?}"),
    }
}

fn sorted(v: Value, chunk: usize) -> String {
    let Value::Array(items) = v else { return text(&v) };
    let mut groups: Vec<String> =
        items.chunks(chunk).map(|c| c.iter().map(text).collect()).collect();
    groups.sort();
    groups.join(",")
}

/// A ZRANGE WITHSCORES reply with scores compared as numbers: Redis 7.0 prints them with
/// `%.17g`, 7.2 (and Keel) in the shortest form that reads back the same.
fn zset_text(v: Value) -> String {
    let Value::Array(items) = v else { return text(&v) };
    items
        .chunks(2)
        .map(|p| match &p[1] {
            Value::BulkString(b) => {
                let score: f64 = String::from_utf8_lossy(b).parse().unwrap();
                format!("{}={score:?}", text(&p[0]))
            }
            other => text(other),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The named fields of an XINFO STREAM reply (those that do not depend on the radix tree's
/// internal shape).
fn stream_info(v: Value) -> String {
    let Value::Array(items) = v else { return text(&v) };
    let keep = [
        "length",
        "last-generated-id",
        "max-deleted-entry-id",
        "entries-added",
        "recorded-first-entry-id",
        "groups",
        "first-entry",
        "last-entry",
    ];
    items
        .chunks(2)
        .filter(|p| matches!(&p[0], Value::BulkString(k) if keep.contains(&&*String::from_utf8_lossy(k))))
        .map(|p| format!("{}={}", text(&p[0]), text(&p[1])))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A full read of every key in databases 0 to 3, as text lines.
fn state(port: u16) -> Vec<String> {
    let mut con = connect(port);
    let mut out = Vec::new();
    for db in 0..4 {
        qs(&mut con, &format!("SELECT {db}"));
        let Value::Array(keys) = qs(&mut con, "KEYS *") else { panic!("KEYS") };
        let mut keys: Vec<Vec<u8>> = keys
            .into_iter()
            .map(|k| match k {
                Value::BulkString(b) => b,
                _ => panic!("key"),
            })
            .collect();
        keys.sort();
        for k in keys {
            let k = &k[..];
            let Value::SimpleString(t) = q(&mut con, &[b"TYPE", k]) else { panic!("TYPE") };
            let body = match t.as_str() {
                "string" => text(&q(&mut con, &[b"GET", k])),
                "list" => text(&q(&mut con, &[b"LRANGE", k, b"0", b"-1"])),
                "hash" => sorted(q(&mut con, &[b"HGETALL", k]), 2),
                "set" => sorted(q(&mut con, &[b"SMEMBERS", k]), 1),
                "zset" => zset_text(q(&mut con, &[b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"])),
                "stream" => {
                    let mut s = text(&q(&mut con, &[b"XRANGE", k, b"-", b"+"]));
                    s += &stream_info(q(&mut con, &[b"XINFO", b"STREAM", k]));
                    let groups = q(&mut con, &[b"XINFO", b"GROUPS", k]);
                    s += &text(&groups);
                    if let Value::Array(gs) = groups {
                        for g in gs {
                            let Value::Array(fields) = g else { continue };
                            let name = match &fields[1] {
                                Value::BulkString(b) => b.clone(),
                                _ => continue,
                            };
                            s += &text(&q(&mut con, &[b"XPENDING", k, &name]));
                            // Entry ID, consumer and delivery count; the idle time moves.
                            if let Value::Array(pel) =
                                q(&mut con, &[b"XPENDING", k, &name, b"-", b"+", b"1000"])
                            {
                                for e in pel {
                                    if let Value::Array(f) = e {
                                        s += &format!(
                                            "{}{}{}",
                                            text(&f[0]),
                                            text(&f[1]),
                                            text(&f[3])
                                        );
                                    }
                                }
                            }
                            if let Value::Array(cs) =
                                q(&mut con, &[b"XINFO", b"CONSUMERS", k, &name])
                            {
                                for c in cs {
                                    if let Value::Array(f) = c {
                                        s += &format!("{}{}", text(&f[1]), text(&f[3]));
                                    }
                                }
                            }
                        }
                    }
                    s
                }
                other => panic!("type {other}"),
            };
            let enc = text(&q(&mut con, &[b"OBJECT", b"ENCODING", k]));
            // Lists and small sets have encodings Redis 7.0 lacks (listpack).
            let enc = if t == "list" || t == "set" { String::new() } else { enc };
            let exp = text(&q(&mut con, &[b"PEXPIRETIME", k]));
            out.push(format!("{db} {} {t} {enc} {exp} {body}", String::from_utf8_lossy(k)));
        }
    }
    out
}

fn save(port: u16) {
    let mut con = connect(port);
    assert_eq!(qs(&mut con, "SAVE"), Value::Okay);
}

/// A fresh directory holding a copy of the dump.rdb in `from`.
fn dir_with_dump(from: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(from.join("dump.rdb"), dir.path().join("dump.rdb")).unwrap();
    dir
}

fn dir_arg(dir: &tempfile::TempDir) -> String {
    dir.path().display().to_string()
}

fn assert_same(got: &[String], want: &[String]) {
    assert_eq!(got.len(), want.len(), "key count");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g, w);
    }
}

#[test]
fn keel_loads_a_redis_rdb_file() {
    let redis = start_redis(&[]);
    fill(&mut connect(redis.port));
    save(redis.port);
    let want = state(redis.port);
    let dir = dir_with_dump(redis.dir.path());
    let keel = start_keel(&["--appendonly", "no", "--dir", &dir_arg(&dir)]);
    assert_same(&state(keel.port), &want);
    let log = std::fs::read_to_string(&keel.log).unwrap();
    assert!(log.contains("DB loaded from disk"), "{log}");
}

#[test]
fn redis_loads_a_keel_rdb_file_of_version_10() {
    let keel = start_keel(&["--rdb-version", "10"]);
    fill(&mut connect(keel.port));
    save(keel.port);
    let want = state(keel.port);
    let dir = dir_with_dump(keel.dir.path());
    let redis = start_redis(&["--dir", &dir_arg(&dir)]);
    assert_same(&state(redis.port), &want);
    // And back: Keel loads what Redis wrote from Keel's file.
    save(redis.port);
    let dir2 = dir_with_dump(dir.path());
    let keel2 = start_keel(&["--appendonly", "no", "--dir", &dir_arg(&dir2)]);
    assert_same(&state(keel2.port), &want);
}

#[test]
fn keel_reads_back_its_own_version_11_file() {
    let keel = start_keel(&["--rdbcompression", "no"]);
    fill(&mut connect(keel.port));
    save(keel.port);
    let want = state(keel.port);
    let dir = dir_with_dump(keel.dir.path());
    let keel2 = start_keel(&["--appendonly", "no", "--dir", &dir_arg(&dir)]);
    assert_same(&state(keel2.port), &want);
}

/// Moves every key of `from` into `to` with DUMP and RESTORE (TTL kept as absolute time).
fn dump_restore_all(from: u16, to: u16) {
    let mut a = connect(from);
    let mut b = connect(to);
    for db in 0..4 {
        qs(&mut a, &format!("SELECT {db}"));
        qs(&mut b, &format!("SELECT {db}"));
        let Value::Array(keys) = qs(&mut a, "KEYS *") else { panic!("KEYS") };
        for k in keys {
            let Value::BulkString(k) = k else { panic!("key") };
            let Value::BulkString(payload) = q(&mut a, &[b"DUMP", &k]) else { panic!("DUMP") };
            let ttl = match q(&mut a, &[b"PEXPIRETIME", &k]) {
                Value::Int(t) if t > 0 => t.to_string(),
                _ => "0".to_string(),
            };
            let r = q(&mut b, &[b"RESTORE", &k, ttl.as_bytes(), &payload, b"ABSTTL"]);
            assert_eq!(r, Value::Okay);
        }
    }
}

#[test]
fn dump_and_restore_move_data_both_ways() {
    let redis = start_redis(&[]);
    fill(&mut connect(redis.port));
    let want = state(redis.port);
    let keel = start_keel(&["--rdb-version", "10"]);
    dump_restore_all(redis.port, keel.port);
    assert_same(&state(keel.port), &want);
    let redis2 = start_redis(&[]);
    dump_restore_all(keel.port, redis2.port);
    assert_same(&state(redis2.port), &want);
}

#[test]
fn debug_reload_keeps_everything() {
    let keel = start_keel(&["--enable-debug-command", "yes"]);
    let mut con = connect(keel.port);
    fill(&mut con);
    let before = state(keel.port);
    assert_eq!(qs(&mut con, "DEBUG RELOAD"), Value::Okay);
    assert_same(&state(keel.port), &before);
    let info = text(&qs(&mut con, "INFO persistence"));
    assert!(info.contains("rdb_changes_since_last_save:0"), "{info}");
    assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
}

#[test]
fn bgsave_and_lastsave() {
    let keel = start_keel(&[]);
    let mut con = connect(keel.port);
    fill(&mut con);
    let Value::Int(before) = qs(&mut con, "LASTSAVE") else { panic!("LASTSAVE") };
    assert_eq!(qs(&mut con, "BGSAVE"), Value::SimpleString("Background saving started".into()));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = text(&qs(&mut con, "INFO persistence"));
        if info.contains("rdb_bgsave_in_progress:0") && info.contains("rdb_saves:1") {
            assert!(info.contains("rdb_changes_since_last_save:0"), "{info}");
            break;
        }
        assert!(Instant::now() < deadline, "BGSAVE did not finish: {info}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let Value::Int(after) = qs(&mut con, "LASTSAVE") else { panic!("LASTSAVE") };
    assert!(after >= before);
    assert_eq!(
        qs(&mut con, "BGSAVE SCHEDULE"),
        Value::SimpleString("Background saving started".into())
    );
    let want = state(keel.port);
    std::thread::sleep(Duration::from_millis(300));
    let dir = dir_with_dump(keel.dir.path());
    let keel2 = start_keel(&["--appendonly", "no", "--dir", &dir_arg(&dir)]);
    assert_same(&state(keel2.port), &want);
}

#[test]
fn shutdown_saves_when_save_points_exist() {
    let keel = start_keel(&[]);
    let mut con = connect(keel.port);
    qs(&mut con, "SET k v");
    let _ = redis::cmd("SHUTDOWN").query::<Value>(&mut con);
    let path = keel.dir.path().join("dump.rdb");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !path.exists() {
        assert!(Instant::now() < deadline, "no dump.rdb after SHUTDOWN");
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = dir_with_dump(keel.dir.path());
    let keel2 = start_keel(&["--appendonly", "no", "--dir", &dir_arg(&dir), "--save", ""]);
    let mut con2 = connect(keel2.port);
    assert_eq!(qs(&mut con2, "GET k"), Value::BulkString(b"v".to_vec()));
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<Value>(&mut con2);
}

/// Starts keel-server on `dir` expecting it to refuse the data and exit; returns its log.
fn refused_start(dir: &Path) -> String {
    let log = dir.join("refused.log");
    let f = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(keel_bin())
        .args(["--port", "0", "--bind", "127.0.0.1", "--appendonly", "no", "--dir"])
        .arg(dir)
        .stdout(Stdio::from(f.try_clone().unwrap()))
        .stderr(Stdio::from(f))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success());
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("keel-server started on a damaged file");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::read_to_string(&log).unwrap()
}

#[test]
fn damaged_files_are_refused() {
    let keel = start_keel(&[]);
    fill(&mut connect(keel.port));
    save(keel.port);
    let good = std::fs::read(keel.dir.path().join("dump.rdb")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dump.rdb");
    for cut in [10, good.len() / 3, good.len() / 2, good.len() - 1] {
        std::fs::write(&path, &good[..cut]).unwrap();
        let log = refused_start(dir.path());
        assert!(log.contains("Fatal error loading the DB"), "{log}");
    }
    let mut flipped = good.clone();
    let mid = good.len() / 2;
    flipped[mid] ^= 0x20;
    std::fs::write(&path, &flipped).unwrap();
    let log = refused_start(dir.path());
    assert!(log.contains("Fatal error loading the DB"), "{log}");
    std::fs::write(&path, b"REDIS0012\xff").unwrap();
    let log = refused_start(dir.path());
    assert!(log.contains("Can't handle RDB format version"), "{log}");
}

/// A background save that fails (its directory is gone) turns on Redis's MISCONF refusal
/// of writes and PING, and SHUTDOWN refuses to exit without its save; both servers answer
/// the same way throughout.
#[test]
fn failed_bgsave_stops_writes_like_redis() {
    let scenario = |port: u16| -> Vec<String> {
        let mut con = connect(port);
        let gone = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        let mut run = |con: &mut redis::Connection, words: &[&str]| {
            let mut c = redis::cmd(words[0]);
            for w in &words[1..] {
                c.arg(*w);
            }
            let r: redis::RedisResult<Value> = c.query(con);
            out.push(match r {
                Ok(v) => text(&v),
                Err(e) => format!("{:?} {:?}", e.code(), e.detail()),
            });
        };
        let dir = gone.path().display().to_string();
        run(&mut con, &["CONFIG", "SET", "dir", &dir]);
        run(&mut con, &["CONFIG", "SET", "save", "3600 1"]);
        std::fs::remove_dir(gone.path()).unwrap();
        run(&mut con, &["SET", "a", "b"]);
        run(&mut con, &["SAVE"]);
        run(&mut con, &["BGSAVE"]);
        std::thread::sleep(Duration::from_millis(500));
        let info = text(&qs(&mut con, "INFO persistence"));
        assert!(info.contains("rdb_last_bgsave_status:err"), "{info}");
        for words in [
            &["SET", "a", "c"][..],
            &["PING"],
            &["GET", "a"],
            &["SHUTDOWN"],
            &["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"],
            &["SET", "a", "d"],
            &["CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"],
            &["SET", "a", "e"],
            &["CONFIG", "SET", "save", ""],
            &["SET", "a", "f"],
        ] {
            run(&mut con, words);
        }
        out
    };
    let args = ["--enable-protected-configs", "yes"];
    let redis = start_redis(&args);
    let keel = start_keel(&args);
    let want = scenario(redis.port);
    assert_eq!(scenario(keel.port), want);
}

/// Function libraries travel in RDB files both ways (opcode FUNCTION2).
#[test]
fn function_libraries_move_through_rdb_files() {
    let code = "#!lua name=rdblib\nredis.register_function('echo1', function(keys, args) return args[1] end)";
    let redis = start_redis(&[]);
    let mut con = connect(redis.port);
    assert_eq!(
        q(&mut con, &[b"FUNCTION", b"LOAD", code.as_bytes()]),
        Value::BulkString(b"rdblib".to_vec())
    );
    save(redis.port);
    let dir = dir_with_dump(redis.dir.path());
    let keel = start_keel(&["--appendonly", "no", "--rdb-version", "10", "--dir", &dir_arg(&dir)]);
    let mut kc = connect(keel.port);
    assert_eq!(qs(&mut kc, "FCALL echo1 0 hi"), Value::BulkString(b"hi".to_vec()));
    qs(&mut kc, "SET k v");
    save(keel.port);
    let dir2 = dir_with_dump(dir.path());
    let redis2 = start_redis(&["--dir", &dir_arg(&dir2)]);
    let mut rc = connect(redis2.port);
    assert_eq!(qs(&mut rc, "FCALL echo1 0 back"), Value::BulkString(b"back".to_vec()));
    assert_eq!(qs(&mut rc, "GET k"), Value::BulkString(b"v".to_vec()));
}

/// Under an LRU policy the idle time goes into the file (IDLE opcode) and comes back; under
/// LFU the counter does (FREQ opcode).
#[test]
fn access_history_survives_a_reload() {
    let keel = start_keel(&["--enable-debug-command", "yes", "--maxmemory-policy", "allkeys-lru"]);
    let mut con = connect(keel.port);
    qs(&mut con, "SET k v");
    let Value::BulkString(payload) = qs(&mut con, "DUMP k") else { panic!("DUMP") };
    q(&mut con, &[b"RESTORE", b"idle", b"0", &payload, b"IDLETIME", b"5000"]);
    assert_eq!(qs(&mut con, "DEBUG RELOAD"), Value::Okay);
    let Value::Int(idle) = qs(&mut con, "OBJECT IDLETIME idle") else { panic!("IDLETIME") };
    assert!((5000..5010).contains(&idle), "{idle}");
    qs(&mut con, "CONFIG SET maxmemory-policy allkeys-lfu");
    q(&mut con, &[b"RESTORE", b"hot", b"0", &payload, b"FREQ", b"200"]);
    assert_eq!(qs(&mut con, "DEBUG RELOAD"), Value::Okay);
    assert_eq!(qs(&mut con, "OBJECT FREQ hot"), Value::Int(200));
}

/// A reached `save` point starts a background save from the cron.
#[test]
fn save_points_trigger_a_background_save() {
    let keel = start_keel(&["--save", "1 2"]);
    let mut con = connect(keel.port);
    qs(&mut con, "SET a 1");
    std::thread::sleep(Duration::from_millis(2300));
    assert!(!keel.dir.path().join("dump.rdb").exists(), "one change is below the save point");
    qs(&mut con, "SET b 2");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !keel.dir.path().join("dump.rdb").exists() {
        assert!(Instant::now() < deadline, "no save after the save point was reached");
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(&keel.log).unwrap();
    assert!(log.contains("2 changes in 1 seconds. Saving..."), "{log}");
}

/// `rdb_changes_since_last_save` moves as in Redis: RESTORE REPLACE is one change.
#[test]
fn restore_counts_one_change() {
    let scenario = |port: u16| -> Vec<String> {
        let mut con = connect(port);
        qs(&mut con, "SET k v");
        let Value::BulkString(payload) = qs(&mut con, "DUMP k") else { panic!("DUMP") };
        qs(&mut con, "SAVE");
        q(&mut con, &[b"RESTORE", b"k", b"0", &payload, b"REPLACE"]);
        q(&mut con, &[b"RESTORE", b"k", b"1", &payload, b"REPLACE", b"ABSTTL"]);
        q(&mut con, &[b"RESTORE", b"n", b"0", &payload]);
        let info = text(&qs(&mut con, "INFO persistence"));
        info.split("\\r\\n")
            .filter(|l| l.starts_with("rdb_changes_since_last_save") || l.starts_with("rdb_saves"))
            .map(str::to_string)
            .collect()
    };
    let redis = start_redis(&[]);
    let keel = start_keel(&[]);
    let want = scenario(redis.port);
    assert_eq!(want.len(), 2, "{want:?}");
    assert_eq!(scenario(keel.port), want);
}
