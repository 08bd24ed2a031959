//! The differential suite: the same command scripts against the real redis-server and
//! keel-server, raw replies compared byte for byte.
//!
//! Case files live in `cases/<family>.txt`:
//! ```text
//! # a comment
//! === name of a case            (a case: fresh connections, both servers FLUSHALL first)
//! SET k "hello world"           (a command, quoted like redis-cli / inline commands)
//! !sort SMEMBERS s              (compare after sorting the reply's array elements)
//! !sort-deep COMMAND INFO client (compare after sorting every array, at every depth)
//! !ignore DEBUG SLEEP 0         (run on both, compare nothing)
//! !shape TTL k                  (compare with every integer replaced by #)
//! !sleep 1100                   (pause the script, milliseconds)
//! !mask-ms                      (from here on, 13-digit millisecond times compare equal)
//! !mask-addr                    (from here on, 127.0.0.1:<port> addresses compare equal)
//! ```
//! Every case that differs fails the test, unless `divergences.txt` lists it as
//! `<file>: <case name> -- <reason>`; a listed case that no longer differs fails too, so the
//! list only ever holds real, explained differences.

// Test code may panic on unexpected failures: that is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod generated;

use common::{start_keel, start_redis, Conn, Read};
use std::collections::HashMap;

struct Case {
    name: String,
    lines: Vec<(usize, String)>,
}

fn parse_cases(text: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix("===") {
            cases.push(Case { name: name.trim().to_string(), lines: Vec::new() });
            continue;
        }
        if cases.is_empty() {
            cases.push(Case { name: "(top)".into(), lines: Vec::new() });
        }
        if let Some(c) = cases.last_mut() {
            c.lines.push((n + 1, line.to_string()));
        }
    }
    cases
}

fn divergences() -> HashMap<String, String> {
    let text = include_str!("divergences.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            l.split_once(" -- ").map(|(k, why)| (k.trim().to_string(), why.trim().to_string()))
        })
        .collect()
}

/// Sorts the elements of a top-level array reply (for unordered replies).
fn sort_reply(raw: &[u8]) -> Vec<u8> {
    match resp::reply::decode(raw) {
        Ok(Some((frame, _))) => {
            let mut items = match frame {
                resp::Frame::Array(v) | resp::Frame::Set(v) => v,
                other => return format!("{other:?}").into_bytes(),
            };
            let mut enc: Vec<Vec<u8>> = items
                .drain(..)
                .map(|f| {
                    let mut o = Vec::new();
                    resp::encode(&f, resp::Proto::Resp3, &mut o);
                    o
                })
                .collect();
            enc.sort();
            enc.concat()
        }
        _ => raw.to_vec(),
    }
}

/// Sorts the elements of every array and set of a reply, at every depth: for replies that
/// hold hash-ordered collections inside ordered ones (a container's subcommands in
/// `COMMAND INFO`).
fn sort_deep(raw: &[u8]) -> Vec<u8> {
    fn encoded(f: &resp::Frame) -> Vec<u8> {
        let mut o = Vec::new();
        resp::encode(f, resp::Proto::Resp3, &mut o);
        o
    }
    fn canon(f: resp::Frame) -> resp::Frame {
        let sorted = |v: Vec<resp::Frame>| {
            let mut v: Vec<resp::Frame> = v.into_iter().map(canon).collect();
            v.sort_by_cached_key(encoded);
            v
        };
        match f {
            resp::Frame::Array(v) => resp::Frame::Array(sorted(v)),
            resp::Frame::Set(v) => resp::Frame::Set(sorted(v)),
            other => other,
        }
    }
    match resp::reply::decode(raw) {
        Ok(Some((frame, _))) => encoded(&canon(frame)),
        _ => raw.to_vec(),
    }
}

fn mask_integers(raw: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::new();
    for line in text.split_inclusive("\r\n") {
        if line.starts_with(':') {
            out.push_str(":#\r\n");
        } else {
            out.push_str(line);
        }
    }
    out.into_bytes()
}

/// Replaces every run of exactly 13 digits (a Unix time in milliseconds) with `<ms>`.
fn mask_timestamps(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let run = raw[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if run == 13 && (i == 0 || !raw[i - 1].is_ascii_digit()) {
            out.extend_from_slice(b"<ms>");
            i += run;
        } else if run > 0 {
            out.extend_from_slice(&raw[i..i + run]);
            i += run;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

fn mask_ports(raw: &[u8]) -> Vec<u8> {
    const HOST: &[u8] = b"127.0.0.1:";
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i..].starts_with(HOST) {
            out.extend_from_slice(b"127.0.0.1:<port>");
            i += HOST.len();
            i += raw[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

fn outcome_bytes(r: Read) -> Vec<u8> {
    match r {
        Read::Reply(raw) => raw,
        Read::Closed => b"<connection closed>".to_vec(),
        Read::TimedOut => b"<no reply>".to_vec(),
    }
}

fn show(raw: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(raw))
}

/// Runs one case file against both servers; returns human-readable failures.
fn run_file(family: &str, text: &str) -> Vec<String> {
    // Both with the AOF on (Keel's default), so every case also runs the persistence path.
    // The debug family needs DEBUG, which both refuse by default.
    let extra: &[&str] = if family == "debug" { &["--enable-debug-command", "yes"] } else { &[] };
    let redis = start_redis(&[&["--appendonly", "yes"], extra].concat());
    let keel = start_keel(extra);
    let known = divergences();
    let mut failures = Vec::new();
    for case in parse_cases(text) {
        let key = format!("{family}: {}", case.name);
        let mut ra = Conn::new(redis.port);
        let mut ka = Conn::new(keel.port);
        ra.cmd(&[b"FLUSHALL"]);
        ka.cmd(&[b"FLUSHALL"]);
        let mut diffs = Vec::new();
        // Set by `!mask-ms`: millisecond timestamps (auto stream IDs) differ by a tick between
        // the two servers, so 13-digit numbers are compared as a placeholder.
        let mut mask_ms = false;
        // Set by `!mask-addr`: each side's connection has its own client port (SLOWLOG, CLIENT
        // LIST), so loopback addresses are compared as a placeholder.
        let mut mask_addr = false;
        for (lineno, line) in &case.lines {
            let (mode, cmd) = match line.strip_prefix('!') {
                Some(rest) => match rest.split_once(' ') {
                    Some((m, c)) => (m, c),
                    None => (rest, ""),
                },
                None => ("", line.as_str()),
            };
            if mode == "mask-ms" {
                mask_ms = true;
                continue;
            }
            if mode == "mask-addr" {
                mask_addr = true;
                continue;
            }
            if mode == "sleep" {
                std::thread::sleep(std::time::Duration::from_millis(
                    cmd.trim().parse().unwrap_or(0),
                ));
                continue;
            }
            let Some(argv) = resp::request::split_args(cmd.as_bytes()) else {
                failures.push(format!("{family}.txt:{lineno}: unbalanced quotes"));
                continue;
            };
            let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
            ra.send(&argv);
            ka.send(&argv);
            let (r, k) = match (ra.read_outcome(), ka.read_outcome()) {
                // Neither server answered (a command that blocks forever, say): the rest of
                // the case would compare stale replies, so the case itself is wrong.
                (Read::TimedOut, Read::TimedOut) => {
                    failures.push(format!(
                        "{family}.txt:{lineno}: no reply from either server to {cmd}"
                    ));
                    break;
                }
                (r, k) => (outcome_bytes(r), outcome_bytes(k)),
            };
            let (r, k) = match mode {
                "sort" => (sort_reply(&r), sort_reply(&k)),
                "sort-deep" => (sort_deep(&r), sort_deep(&k)),
                "shape" => (mask_integers(&r), mask_integers(&k)),
                "ignore" => (Vec::new(), Vec::new()),
                _ => (r, k),
            };
            let (r, k) = if mask_ms { (mask_timestamps(&r), mask_timestamps(&k)) } else { (r, k) };
            let (r, k) = if mask_addr { (mask_ports(&r), mask_ports(&k)) } else { (r, k) };
            if r != k {
                diffs.push(format!(
                    "  line {lineno}: {cmd}\n    redis: {}\n    keel:  {}",
                    show(&r),
                    show(&k)
                ));
            }
        }
        match (known.get(&key), diffs.is_empty()) {
            (None, false) => failures.push(format!("{key}\n{}", diffs.join("\n"))),
            (Some(_), true) => failures
                .push(format!("{key}: listed in divergences.txt but now matches; remove it")),
            (Some(why), false) => eprintln!("known divergence {key}: {why}"),
            (None, true) => {}
        }
    }
    failures
}

macro_rules! families {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let text = include_str!(concat!("cases/", stringify!($name), ".txt"));
                let failures = run_file(stringify!($name), text);
                assert!(failures.is_empty(), "{} case(s) differ from redis-server:\n{}", failures.len(), failures.join("\n"));
            }
        )*
    };
}

families!(
    acl,
    strings,
    keys,
    connection,
    client,
    server,
    config,
    command,
    expire,
    lists,
    hashes,
    sets,
    zsets,
    bitmaps,
    hll,
    geo,
    sort,
    transactions,
    pubsub,
    streams,
    tracking,
    notifications,
    scripting,
    functions,
    memory,
    dump,
    aof,
    debug,
    info,
    slowlog,
    latency,
    replication
);
