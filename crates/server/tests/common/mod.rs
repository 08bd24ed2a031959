//! Shared test support: start keel-server or the redis-server oracle on a free loopback
//! port in a temporary directory, and talk raw RESP to it.
// Each test binary (diff, it) uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{Read as _, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process, killed on drop.
pub struct TestServer {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().unwrap().port()
}

/// Path of the keel-server binary built for these tests.
pub fn keel_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_keel-server"))
}

/// Path of redis-server, or None when it is not installed (CI installs it).
pub fn redis_bin() -> Option<PathBuf> {
    for dir in ["/usr/bin", "/usr/local/bin"] {
        let p = Path::new(dir).join("redis-server");
        if p.exists() {
            return Some(p);
        }
    }
    None
}

/// Starts keel-server with `args` added to `--port <free> --bind 127.0.0.1`.
pub fn start_keel(args: &[&str]) -> TestServer {
    start(&keel_bin(), args)
}

/// Starts the redis-server oracle with persistence off.
pub fn start_redis(args: &[&str]) -> TestServer {
    let bin = redis_bin()
        .expect("redis-server is not installed: run .ci/run or apt-get install redis-server");
    let mut all = vec!["--save", "", "--appendonly", "no"];
    all.extend_from_slice(args);
    start(&bin, &all)
}

fn start(bin: &Path, args: &[&str]) -> TestServer {
    let custom_log = args
        .iter()
        .position(|a| *a == "--logfile")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    for _attempt in 0..5 {
        let port = free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("server.log");
        let logf = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(bin);
        cmd.arg("--port").arg(port.to_string()).arg("--bind").arg("127.0.0.1");
        cmd.arg("--dir").arg(dir.path());
        cmd.args(args);
        cmd.stdout(Stdio::from(logf.try_clone().unwrap()))
            .stderr(Stdio::from(logf))
            .stdin(Stdio::null());
        let child = cmd.spawn().expect("spawn server");
        let mut srv = TestServer { child, port, dir, log };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            // Wait for the log line rather than probing with a connection, so tests that
            // count clients (maxclients, CLIENT LIST) see only their own.
            let log = std::fs::read_to_string(&srv.log).unwrap_or_default();
            let custom = custom_log
                .as_ref()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .unwrap_or_default();
            if log.contains("Ready to accept connections")
                || custom.contains("Ready to accept connections")
            {
                return srv;
            }
            // At loglevel warning the ready line is filtered out; "Server initialized" is a
            // warning and is written once the sockets listen.
            if custom.contains("Server initialized") {
                return srv;
            }
            if let Ok(Some(_)) = srv.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = srv.child.kill();
    }
    panic!("server {} did not start", bin.display());
}

/// What one read of a reply found.
pub enum Read {
    /// A complete reply, raw.
    Reply(Vec<u8>),
    /// The server closed the connection.
    Closed,
    /// Nothing arrived within the read timeout.
    TimedOut,
}

/// A raw RESP connection: sends commands, returns reply bytes exactly as received.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn new(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn { stream, buf: Vec::new() }
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends one command as a multibulk.
    pub fn send(&mut self, argv: &[&[u8]]) {
        let mut out = format!("*{}\r\n", argv.len()).into_bytes();
        for a in argv {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.send_raw(&out);
    }

    /// Reads exactly one complete reply and returns its raw bytes (None on EOF/timeout).
    pub fn read_reply(&mut self) -> Option<Vec<u8>> {
        match self.read_outcome() {
            Read::Reply(r) => Some(r),
            Read::Closed | Read::TimedOut => None,
        }
    }

    /// Reads one reply, telling a closed connection from a server that stays silent.
    pub fn read_outcome(&mut self) -> Read {
        loop {
            if let Ok(Some((_, used))) = resp::reply::decode(&self.buf) {
                let raw: Vec<u8> = self.buf.drain(..used).collect();
                return Read::Reply(raw);
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Read::Closed,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Read::TimedOut
                }
                Err(_) => return Read::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Sends a command and returns the raw reply.
    pub fn cmd(&mut self, argv: &[&[u8]]) -> Vec<u8> {
        self.send(argv);
        self.read_reply().expect("a reply")
    }

    /// Sends a command given as one string of space-separated words.
    pub fn cmd_str(&mut self, line: &str) -> String {
        let parts: Vec<&[u8]> = line.split(' ').map(|s| s.as_bytes()).collect();
        String::from_utf8_lossy(&self.cmd(&parts)).into_owned()
    }

    /// True once the server has closed the connection.
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        self.stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        matches!(self.stream.read(&mut b), Ok(0) | Err(_))
    }
}

/// `blocked_clients` from `INFO clients`.
pub fn blocked_clients(c: &mut Conn) -> u64 {
    let info = String::from_utf8(c.cmd(&[b"INFO", b"clients"])).expect("utf-8 INFO");
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .expect("blocked_clients in INFO")
        .trim()
        .parse()
        .expect("a number")
}

/// Waits until `n` clients are blocked, so a scenario's next step happens after the server
/// parked them (and in the order they were sent).
pub fn wait_blocked(c: &mut Conn, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while blocked_clients(c) != n {
        assert!(Instant::now() < deadline, "expected {n} blocked clients");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends a command given as space-separated words without reading its reply (the client
/// is expected to block).
pub fn send(c: &mut Conn, line: &str) {
    let words: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    c.send(&words);
}

/// Reads one reply as text for a transcript.
pub fn reply(c: &mut Conn) -> String {
    String::from_utf8_lossy(&c.read_reply().expect("a reply")).into_owned()
}

/// Runs `scenario` on a fresh redis-server and a fresh keel-server and asserts that the two
/// transcripts (replies as text, in order) are equal. Returns keel's transcript.
pub fn same_on_both<T: AsRef<[u8]>>(scenario: impl Fn(u16) -> Vec<T>) -> Vec<String> {
    let text = |v: Vec<T>| {
        v.iter().map(|b| String::from_utf8_lossy(b.as_ref()).into_owned()).collect::<Vec<_>>()
    };
    let redis = start_redis(&[]);
    let keel = start_keel(&[]);
    let want = text(scenario(redis.port));
    let got = text(scenario(keel.port));
    assert_eq!(got, want, "keel (left) differs from redis-server (right)");
    got
}
