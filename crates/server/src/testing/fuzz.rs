//! Fuzz entry points: one function per target, each taking arbitrary bytes and required
//! never to panic (beyond the few round-trip assertions below, which are the targets'
//! oracles). The cargo-fuzz targets in `fuzz/`, the corpus replay test and the in-repo
//! random driver all call these same functions, so a crash found one way reproduces the
//! other ways.
//!
//! Everything runs in-process on a `Server` with a frozen clock and no sockets or threads.
//! What a target must not do is touch the process or the disk: the configuration used here
//! turns snapshots off, and inputs that would change the working directory or read other
//! files are neutralised (see [`config`] and [`DISPATCH_COMMANDS`]).

use crate::config::{self, Config};
use crate::server::Server;
use crate::testing::Harness;
use bytes::Bytes;

/// The frozen clock every target runs at (an arbitrary date in 2026, in Unix ms).
const NOW_MS: u64 = 1_790_000_000_000;

/// A configuration safe to fuzz with: no save points (FLUSHALL would otherwise write a
/// snapshot into the working directory) and a 1 MB bulk limit, so SETRANGE/SETBIT with a
/// random large offset cannot make the fuzzer allocate half a gigabyte per input.
fn fuzz_config() -> Config {
    let mut c = Config::default();
    for (name, value) in [("save", ""), ("proto-max-bulk-len", "1mb"), ("appendonly", "no")] {
        if let Some((i, _)) = config::find(name) {
            // Values from this fixed list are valid; a failure would only leave a default.
            let _ = c.set_text(i, value);
        }
    }
    c
}

/// A fresh server with [`fuzz_config`] and the frozen clock.
fn fuzz_server() -> Server {
    let mut srv = Server::new(fuzz_config());
    srv.fixed_clock = Some(NOW_MS);
    srv
}

/// Target `resp_request`: the RESP request decoder on a client's query buffer.
pub fn resp_request(data: &[u8]) {
    resp::fuzz_decode_request(data);
}

/// Target `config`: config-file text. Lines naming `include` or `dir` are dropped first:
/// they read other files or change the process's working directory, which no fuzz input
/// may do (both are plain file operations once the line has been parsed).
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let kept: Vec<&str> = text
        .split('\n')
        .filter(|line| {
            let first = resp::request::split_args(line.trim().as_bytes())
                .and_then(|argv| argv.into_iter().next());
            !first.is_some_and(|w| {
                w.eq_ignore_ascii_case(b"include") || w.eq_ignore_ascii_case(b"dir")
            })
        })
        .collect();
    let mut c = fuzz_config();
    let _ = config::load_text(&mut c, &kept.join("\n"));
}

/// Target `rdb`: a whole RDB file given to the loader on a fresh server.
pub fn rdb(data: &[u8]) {
    let mut srv = fuzz_server();
    let _ = crate::rdb::file::load_bytes(&mut srv, data, None);
}

/// Target `aof`: the AOF manifest parser and the reader of AOF command files. A manifest
/// that parses must render to text that parses back to the same manifest, unless quoting
/// made a line longer than the parser accepts (names with bytes that render as `\xNN`:
/// Redis has the same limit, and only a hand-edited manifest can hold such names).
pub fn aof(data: &[u8]) {
    if let Ok(m) = crate::aof::manifest::Manifest::parse(data) {
        match crate::aof::manifest::Manifest::parse(m.render().as_bytes()) {
            Ok(again) => assert_eq!(again, m, "a rendered manifest parses back different"),
            Err(e) => assert!(e.contains("too long line"), "a rendered manifest is refused: {e}"),
        }
    }
    crate::aof::load::fuzz_read_commands(data);
}

/// Runs one command on the harness's client, with binary arguments.
fn run(h: &mut Harness, argv: Vec<Bytes>) -> Option<resp::Frame> {
    crate::dispatch::execute(&mut h.srv, &mut h.clients, h.cid, argv)
}

/// Builds an argv from literal words and one binary argument placed after them.
fn argv_with(words: &[&str], tail: &[&[u8]]) -> Vec<Bytes> {
    let mut argv: Vec<Bytes> = words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect();
    argv.extend(tail.iter().map(|t| Bytes::copy_from_slice(t)));
    argv
}

/// Commands that read (and, for the last few, modify) the key `k` whatever its type, so a
/// value RESTORE accepted is walked in full and converted between encodings.
const RESTORE_PROBES: &[&[&str]] = &[
    &["TYPE", "k"],
    &["OBJECT", "ENCODING", "k"],
    &["MEMORY", "USAGE", "k"],
    &["GET", "k"],
    &["STRLEN", "k"],
    &["PFCOUNT", "k"],
    &["LRANGE", "k", "0", "-1"],
    &["HGETALL", "k"],
    &["HRANDFIELD", "k", "-5", "WITHVALUES"],
    &["SMEMBERS", "k"],
    &["SRANDMEMBER", "k", "-5"],
    &["ZRANGE", "k", "0", "-1", "WITHSCORES"],
    &["ZRANGEBYLEX", "k", "-", "+"],
    &["XRANGE", "k", "-", "+"],
    &["XINFO", "STREAM", "k", "FULL"],
    &["XINFO", "GROUPS", "k"],
    &["XPENDING", "k", "g"],
    &["SCAN", "0"],
    &["HSCAN", "k", "0"],
    &["SSCAN", "k", "0"],
    &["ZSCAN", "k", "0"],
    &["PFADD", "k", "fuzz"],
    &["APPEND", "k", "fuzz"],
    &["LPUSH", "k", "fuzz"],
    &["HSET", "k", "fuzz", "1"],
    &["SADD", "k", "fuzz"],
    &["ZADD", "k", "1", "fuzz"],
    &["XADD", "k", "*", "f", "v"],
];

/// Target `restore`: DUMP payloads given to RESTORE through the real dispatch. An input
/// with a valid footer (a real DUMP payload) is used as it is; any other input is sealed
/// with a valid footer first, so the value decoder sees it rather than the checksum check
/// refusing it. A value RESTORE accepted must DUMP to a payload RESTORE accepts again.
pub fn restore(data: &[u8]) {
    let mut h = Harness::with_config(fuzz_config(), NOW_MS);
    let payload = match crate::rdb::open_payload(data) {
        Ok(_) => data.to_vec(),
        Err(_) => crate::rdb::seal_payload(data.to_vec()),
    };
    let accepted = run(&mut h, argv_with(&["RESTORE", "k", "0"], &[&payload]));
    if accepted.as_ref().is_none_or(|f| f.is_error()) {
        return;
    }
    if let Some(resp::Frame::Bulk(dump)) = run(&mut h, argv_with(&["DUMP", "k"], &[])) {
        let again = run(&mut h, argv_with(&["RESTORE", "copy", "0"], &[&dump]));
        assert!(
            again.as_ref().is_some_and(|f| !f.is_error()),
            "a restored value's DUMP is refused: {again:?}"
        );
    }
    for probe in RESTORE_PROBES {
        run(&mut h, argv_with(probe, &[]));
    }
}

/// The commands the `dispatch` target may run: the data commands of every type plus
/// transactions and keyspace commands. Left out on purpose: commands that touch the disk,
/// the process or the network (SHUTDOWN, SAVE, BGSAVE, BGREWRITEAOF, CONFIG, DEBUG, ACL,
/// REPLICAOF, MIGRATE, FAILOVER), CLIENT (PAUSE/KILL act on connections the harness lacks),
/// scripts and functions (a random script may loop forever) and blocking commands (a
/// blocked client sends nothing more; the target stops at the first command that blocks
/// anyway, for XREAD BLOCK and the like).
pub const DISPATCH_COMMANDS: &[&str] = &[
    // strings and bits
    "get",
    "set",
    "setnx",
    "setex",
    "psetex",
    "getset",
    "getdel",
    "getex",
    "mget",
    "mset",
    "msetnx",
    "append",
    "strlen",
    "incr",
    "decr",
    "incrby",
    "decrby",
    "incrbyfloat",
    "getrange",
    "setrange",
    "substr",
    "lcs",
    "setbit",
    "getbit",
    "bitcount",
    "bitpos",
    "bitop",
    "bitfield",
    "bitfield_ro",
    // keys
    "del",
    "unlink",
    "exists",
    "type",
    "expire",
    "pexpire",
    "expireat",
    "pexpireat",
    "ttl",
    "pttl",
    "expiretime",
    "pexpiretime",
    "persist",
    "rename",
    "renamenx",
    "copy",
    "move",
    "object",
    "randomkey",
    "scan",
    "keys",
    "dbsize",
    "touch",
    "sort",
    "sort_ro",
    "dump",
    "restore",
    "select",
    "swapdb",
    "flushdb",
    "flushall",
    // lists
    "lpush",
    "rpush",
    "lpushx",
    "rpushx",
    "lpop",
    "rpop",
    "llen",
    "lrange",
    "lindex",
    "lset",
    "linsert",
    "lrem",
    "ltrim",
    "lpos",
    "lmove",
    "rpoplpush",
    "lmpop",
    // hashes
    "hset",
    "hsetnx",
    "hget",
    "hmget",
    "hmset",
    "hdel",
    "hlen",
    "hstrlen",
    "hexists",
    "hkeys",
    "hvals",
    "hgetall",
    "hincrby",
    "hincrbyfloat",
    "hrandfield",
    "hscan",
    // sets
    "sadd",
    "srem",
    "smembers",
    "sismember",
    "smismember",
    "scard",
    "spop",
    "srandmember",
    "smove",
    "sinter",
    "sinterstore",
    "sintercard",
    "sunion",
    "sunionstore",
    "sdiff",
    "sdiffstore",
    "sscan",
    // sorted sets
    "zadd",
    "zincrby",
    "zrem",
    "zcard",
    "zcount",
    "zlexcount",
    "zrange",
    "zrangestore",
    "zrangebyscore",
    "zrevrangebyscore",
    "zrangebylex",
    "zrevrangebylex",
    "zrevrange",
    "zrank",
    "zrevrank",
    "zscore",
    "zmscore",
    "zpopmin",
    "zpopmax",
    "zmpop",
    "zrandmember",
    "zremrangebyrank",
    "zremrangebyscore",
    "zremrangebylex",
    "zunion",
    "zunionstore",
    "zinter",
    "zinterstore",
    "zintercard",
    "zdiff",
    "zdiffstore",
    "zscan",
    // streams
    "xadd",
    "xlen",
    "xrange",
    "xrevrange",
    "xdel",
    "xtrim",
    "xread",
    "xgroup",
    "xreadgroup",
    "xack",
    "xpending",
    "xclaim",
    "xautoclaim",
    "xinfo",
    "xsetid",
    // hyperloglog and geo
    "pfadd",
    "pfcount",
    "pfmerge",
    "geoadd",
    "geopos",
    "geodist",
    "geohash",
    "geosearch",
    "geosearchstore",
    "georadius",
    "georadiusbymember",
    // transactions and connection
    "multi",
    "exec",
    "discard",
    "watch",
    "unwatch",
    "ping",
    "echo",
    "time",
    "memory",
];

/// The most commands one `dispatch` input runs (keeps each execution short).
const MAX_COMMANDS: usize = 64;

/// Target `dispatch`: random argv against a live keyspace. The input is text, one command
/// a line in redis-cli quoting (`"\x00"` escapes work); a line whose first word is not in
/// [`DISPATCH_COMMANDS`] runs the command that the word's first byte picks from that list,
/// with the rest of the line as its arguments. Lines with unbalanced quotes are skipped.
pub fn dispatch(data: &[u8]) {
    let mut h = Harness::with_config(fuzz_config(), NOW_MS);
    for line in data.split(|&b| b == b'\n').take(MAX_COMMANDS) {
        let Some(words) = resp::request::split_args(line) else { continue };
        let Some(first) = words.first() else { continue };
        let known = DISPATCH_COMMANDS.iter().any(|c| first.eq_ignore_ascii_case(c.as_bytes()));
        let mut argv: Vec<Bytes> = Vec::with_capacity(words.len());
        if !known {
            let pick = usize::from(first.first().copied().unwrap_or(0)) % DISPATCH_COMMANDS.len();
            argv.push(Bytes::from_static(DISPATCH_COMMANDS[pick].as_bytes()));
        }
        argv.extend(
            words
                .into_iter()
                .enumerate()
                .filter(|(i, _)| known || *i > 0)
                .map(|(_, w)| Bytes::from(w)),
        );
        if run(&mut h, argv).is_none() {
            return;
        }
        // Time moves a little between commands so expiries can fire.
        h.advance(7);
    }
}

/// A fuzz entry point.
pub type Target = fn(&[u8]);

/// Every target by name, for the corpus replay test and the random driver.
pub const TARGETS: &[(&str, Target)] = &[
    ("resp_request", resp_request),
    ("config", config),
    ("rdb", rdb),
    ("aof", aof),
    ("restore", restore),
    ("dispatch", dispatch),
];
