//! Start-up loading: clients that connect while the dataset loads (made slow with
//! `key-load-delay`) get `-LOADING` for data commands, answers from INFO, CONFIG, CLIENT...,
//! and INFO persistence shows `loading:1` with the progress; once loaded, everything is
//! there. The RDB case is compared with redis-server 7.0 loading the same file the same way.

use crate::common::{free_port, keel_bin, redis_bin, start_keel, start_redis, Conn, TestServer};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Keys in the test datasets.
const KEYS: usize = 2000;

/// Starts `bin` on a new directory holding a copy of `data` (a file or a directory), and
/// returns as soon as the port accepts connections, without waiting for the load.
fn spawn_loading(bin: &Path, data: &Path, args: &[&str]) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    copy_into(data, dir.path());
    let log = dir.path().join("server.log");
    let logf = std::fs::File::create(&log).unwrap();
    let port = free_port();
    let child = Command::new(bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
        .arg("--dir")
        .arg(dir.path())
        .args(args)
        .stdout(Stdio::from(logf.try_clone().unwrap()))
        .stderr(Stdio::from(logf))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let srv = TestServer { child, port, dir, log };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not listen");
        std::thread::sleep(Duration::from_millis(5));
    }
    srv
}

fn copy_into(src: &Path, dir: &Path) {
    let to = dir.join(src.file_name().unwrap());
    if src.is_dir() {
        std::fs::create_dir(&to).unwrap();
        for e in std::fs::read_dir(src).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    } else {
        std::fs::copy(src, to).unwrap();
    }
}

/// Writes `n` string keys through `c` in one pipeline.
fn fill(c: &mut Conn, n: usize) {
    for i in 0..n {
        c.send(&[b"SET", format!("key:{i}").as_bytes(), format!("value{i}").as_bytes()]);
    }
    for _ in 0..n {
        assert_eq!(c.read_reply().unwrap(), b"+OK\r\n");
    }
}

/// A dump.rdb of `KEYS` keys written by redis-server (RDB 10, which both servers read),
/// in a directory kept alive by the returned handle.
fn redis_dump() -> (tempfile::TempDir, PathBuf) {
    let redis = start_redis(&[]);
    let mut c = Conn::new(redis.port);
    fill(&mut c, KEYS);
    assert_eq!(c.cmd_str("SAVE"), "+OK\r\n");
    let keep = tempfile::tempdir().unwrap();
    let path = keep.path().join("dump.rdb");
    std::fs::copy(redis.dir.path().join("dump.rdb"), &path).unwrap();
    (keep, path)
}

fn info_field(c: &mut Conn, field: &str) -> Option<String> {
    let info = c.cmd_str("INFO persistence");
    info.lines().find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
}

/// The names of the `loading_*` progress fields INFO persistence shows, in order.
fn progress_names(c: &mut Conn) -> Vec<String> {
    let info = c.cmd_str("INFO persistence");
    info.lines()
        .filter(|l| l.starts_with("loading_"))
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect()
}

/// Waits (at most 30 s) for the load to end.
fn wait_loaded(c: &mut Conn) -> Duration {
    let start = Instant::now();
    while info_field(c, "loading").as_deref() != Some("0") {
        assert!(start.elapsed() < Duration::from_secs(30), "still loading");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

/// Commands sent in one pipeline while loading, with replies that do not depend on timing.
const DURING: &[&str] = &[
    "PING",
    "GET key:1",
    "SET a b",
    "DBSIZE",
    "FLUSHALL",
    "EVAL return 1 0",
    "ECHO hello",
    "SELECT 1",
    "SELECT 0",
    "CLIENT SETNAME loader",
    "CLIENT GETNAME",
    "CONFIG GET key-load-delay",
    "CONFIG SET maxmemory-policy allkeys-lru",
    "AUTH nobody pass",
    "MULTI",
    "GET key:1",
    "EXEC",
    "NOSUCHCOMMAND x",
    "GET",
    "CONFIG NOSUCH",
    "COMMAND COUNT",
];

/// The replies to [`DURING`], as text, plus whether the server was still loading after
/// them, the progress field names, and the data once loaded.
fn rdb_scenario(bin: &Path, dump: &Path) -> (Vec<String>, Vec<String>, Duration) {
    let srv = spawn_loading(
        bin,
        dump,
        &["--key-load-delay", "1000", "--loading-process-events-interval-bytes", "1024"],
    );
    let mut c = Conn::new(srv.port);
    for line in DURING {
        let words: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        c.send(&words);
    }
    let mut out: Vec<String> = DURING
        .iter()
        .map(|line| {
            let r = String::from_utf8_lossy(&c.read_reply().unwrap()).into_owned();
            // The command count differs between 7.0 and 7.2: only its type is compared.
            if *line == "COMMAND COUNT" {
                r[..1].to_string()
            } else {
                r
            }
        })
        .collect();
    assert_eq!(info_field(&mut c, "loading").as_deref(), Some("1"), "the load ended too soon");
    let total = std::fs::metadata(dump).unwrap().len().to_string();
    assert_eq!(info_field(&mut c, "loading_total_bytes"), Some(total));
    let loaded: u64 = info_field(&mut c, "loading_loaded_bytes").unwrap().parse().unwrap();
    assert!(loaded > 0 && loaded < std::fs::metadata(dump).unwrap().len(), "{loaded}");
    let perc = info_field(&mut c, "loading_loaded_perc").unwrap();
    assert!(perc.parse::<f64>().unwrap() > 0.0 && perc.split('.').nth(1).unwrap().len() == 2);
    let names = progress_names(&mut c);
    // Another client connecting in the middle of the load is served too.
    let mut late = Conn::new(srv.port);
    out.push(late.cmd_str("GET key:1"));
    let took = wait_loaded(&mut c);
    for line in ["GET key:1", "DBSIZE", "CLIENT GETNAME", "GET a", "CONFIG GET maxmemory-policy"] {
        out.push(c.cmd_str(line));
    }
    out.push(late.cmd_str("GET key:1999"));
    (out, names, took)
}

#[test]
fn rdb_load_answers_loading_like_redis() {
    if redis_bin().is_none() {
        panic!("redis-server is not installed: run .ci/run or apt-get install redis-server");
    }
    let (_keep, dump) = redis_dump();
    let (want, want_names, _) = rdb_scenario(&redis_bin().unwrap(), &dump);
    let (got, got_names, took) = rdb_scenario(&keel_bin(), &dump);
    assert_eq!(got, want, "keel (left) differs from redis-server (right)");
    assert_eq!(got_names, want_names);
    assert_eq!(
        got_names,
        [
            "loading_start_time",
            "loading_total_bytes",
            "loading_rdb_used_mem",
            "loading_loaded_bytes",
            "loading_loaded_perc",
            "loading_eta_seconds"
        ]
    );
    assert!(got[1].starts_with("-LOADING Redis is loading the dataset in memory"));
    assert!(got.last().unwrap().contains("value1999"));
    assert!(took > Duration::from_millis(200), "loading took only {took:?}");
}

#[test]
fn aof_replay_answers_loading_and_keeps_client_stats() {
    // An AOF of KEYS commands, written by Keel itself.
    let first = start_keel(&["--appendonly", "yes"]);
    let mut c = Conn::new(first.port);
    fill(&mut c, KEYS);
    let aof = first.dir.path().join("appendonlydir");
    // The default loading-process-events-interval-bytes (2 MB) is more than the whole AOF:
    // the clients are served by the 100 ms rule.
    let srv = spawn_loading(&keel_bin(), &aof, &["--appendonly", "yes", "--key-load-delay", "500"]);
    drop(first);
    let mut c = Conn::new(srv.port);
    let started = Instant::now();
    assert_eq!(c.cmd_str("GET key:1"), "-LOADING Redis is loading the dataset in memory\r\n");
    assert_eq!(c.cmd_str("SET x y"), "-LOADING Redis is loading the dataset in memory\r\n");
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    assert_eq!(info_field(&mut c, "loading").as_deref(), Some("1"));
    let loaded: u64 = info_field(&mut c, "loading_loaded_bytes").unwrap().parse().unwrap();
    let total: u64 = info_field(&mut c, "loading_total_bytes").unwrap().parse().unwrap();
    assert!(loaded < total, "{loaded} {total}");
    // The BASE is an RDB preamble: its used-mem aux field.
    let used: u64 = info_field(&mut c, "loading_rdb_used_mem").unwrap().parse().unwrap();
    assert!(used > 0);
    wait_loaded(&mut c);
    assert_eq!(c.cmd_str("DBSIZE"), ":2000\r\n");
    assert_eq!(c.cmd_str("GET key:1999"), "$9\r\nvalue1999\r\n");
    // The replayed SETs are not the clients' calls; the refusals are.
    let stats = c.cmd_str("INFO commandstats");
    assert!(!stats.contains("cmdstat_set:calls=2000"), "{stats}");
    assert!(stats.contains("cmdstat_set:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1"));
    assert!(c.cmd_str("INFO errorstats").contains("errorstat_LOADING:count=2"));
    // The server goes on as usual, appending to its AOF.
    assert_eq!(c.cmd_str("SET x y"), "+OK\r\n");
}

#[test]
fn shutdown_while_loading_exits_without_saving() {
    let (_keep, dump) = redis_dump();
    let before = std::fs::read(&dump).unwrap();
    let mut srv = spawn_loading(
        &keel_bin(),
        &dump,
        &[
            "--save",
            "3600 1",
            "--key-load-delay",
            "1000",
            "--loading-process-events-interval-bytes",
            "1024",
        ],
    );
    let mut c = Conn::new(srv.port);
    assert_eq!(c.cmd_str("GET key:1"), "-LOADING Redis is loading the dataset in memory\r\n");
    c.send(&[b"SHUTDOWN"]);
    assert!(c.is_closed());
    let status = srv.child.wait().unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read(srv.dir.path().join("dump.rdb")).unwrap(), before);
    let log = std::fs::read_to_string(&srv.log).unwrap();
    assert!(log.contains("User requested shutdown..."), "{log}");
    assert!(!log.contains("DB loaded from disk"), "{log}");
}

/// Sends `lines` in one pipeline and returns the replies as text.
fn pipeline(c: &mut Conn, lines: &[&str]) -> Vec<String> {
    for line in lines {
        let words: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        c.send(&words);
    }
    lines.iter().map(|_| String::from_utf8_lossy(&c.read_reply().unwrap()).into_owned()).collect()
}

/// Field names of an INFO reply, in order.
fn names(info: &str) -> Vec<&str> {
    info.lines().filter_map(|l| l.split_once(':').map(|(k, _)| k)).collect()
}

/// AOF replay of `dir`: the replies to [`DURING`] (COMMAND COUNT left out) and INFO
/// persistence in the same pipeline, then replies once loaded.
fn aof_scenario(bin: &Path, dir: &Path) -> (Vec<String>, String) {
    let srv = spawn_loading(bin, dir, &["--appendonly", "yes", "--key-load-delay", "500"]);
    let mut c = Conn::new(srv.port);
    let mut lines: Vec<&str> = DURING.iter().copied().filter(|l| *l != "COMMAND COUNT").collect();
    lines.push("INFO persistence");
    let mut out = pipeline(&mut c, &lines);
    let info = out.pop().unwrap();
    wait_loaded(&mut c);
    out.extend(pipeline(&mut c, &["GET key:1", "DBSIZE", "CLIENT GETNAME", "GET key:3999"]));
    (out, info)
}

#[test]
fn aof_load_answers_loading_like_redis() {
    // Redis 7.0 writes a multi-part AOF (RDB BASE, then an INCR of commands) that Keel
    // reads; 7.0 also slows AOF loading with key-load-delay, per command, and serves
    // clients every 1024 commands: 4000 commands give it rounds to answer in.
    let first = start_redis(&["--appendonly", "yes"]);
    let mut c = Conn::new(first.port);
    fill(&mut c, 4000);
    let aof = first.dir.path().join("appendonlydir");
    let (want, want_info) = aof_scenario(&redis_bin().unwrap(), &aof);
    let (got, got_info) = aof_scenario(&keel_bin(), &aof);
    drop(first);
    assert_eq!(got, want, "keel (left) differs from redis-server (right)");
    assert_eq!(names(&got_info), names(&want_info), "{got_info}\n{want_info}");
    for info in [&got_info, &want_info] {
        assert!(info.contains("\r\nloading:1\r\n") && info.contains("\r\naof_enabled:0\r\n"));
    }
    assert!(got.last().unwrap().contains("value3999"));
}
