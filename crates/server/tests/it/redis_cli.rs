//! The redis-cli toolbox against Keel: Debian's redis-cli runs each tool (--bigkeys,
//! --memkeys, --hotkeys, --stat, --latency, --latency-history, --scan, --pipe, -r/-i)
//! against keel-server and against redis-server, and the outputs must agree wherever they
//! are deterministic. Also COMMAND DOCS, whose argument trees drive redis-cli's hints.

use crate::common::{start_keel, start_redis, Conn};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs redis-cli against `port` with `args`, feeding `stdin`. With `run_for`, the tool is
/// one that never ends: it is stopped after that long (its output line-buffered through
/// stdbuf, so what it printed is kept).
fn cli(port: u16, args: &[&str], stdin: &[u8], run_for: Option<Duration>) -> String {
    let port = port.to_string();
    let mut cmd = if run_for.is_some() {
        let mut c = Command::new("stdbuf");
        c.args(["-oL", "redis-cli"]);
        c
    } else {
        Command::new("redis-cli")
    };
    cmd.args(["-p", &port]).args(args);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-cli is installed (apt-get install redis-tools)");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    drop(input);
    let deadline = Instant::now() + run_for.unwrap_or(Duration::from_secs(30));
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            assert!(run_for.is_some(), "redis-cli {args:?} did not finish");
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait().unwrap();
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    out + &err
}

/// Both servers, loaded by the same commands.
fn both(args: &[&str], setup: &[String]) -> [(crate::common::TestServer, u16); 2] {
    let servers = [start_redis(args), start_keel(args)];
    servers.map(|s| {
        let mut c = Conn::new(s.port);
        for line in setup {
            let words: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
            let reply = c.cmd(&words);
            assert!(!reply.starts_with(b"-"), "{line}: {}", String::from_utf8_lossy(&reply));
        }
        let port = s.port;
        (s, port)
    })
}

/// A dataset with one clear biggest key of each type, so scans in any order agree.
fn dataset() -> Vec<String> {
    let mut lines: Vec<String> = (0..50).map(|i| format!("SET key:{i} v{i}")).collect();
    lines.push("SET biggest-string 0123456789abcdefghij".into());
    lines.push("RPUSH list a b c d".into());
    lines.push("RPUSH list2 a".into());
    lines.push("HSET hash a 1 b 2 c 3".into());
    lines.push("SADD set a b".into());
    lines.push("ZADD zset 1 a 2 b 3 c 4 d 5 e".into());
    lines.push("XADD stream 1-1 a 1".into());
    lines.push("XADD stream 1-2 a 1".into());
    lines
}

/// The lines from the `-------- summary` marker on.
fn summary(out: &str) -> String {
    let at = out.find("-------- summary").unwrap_or_else(|| panic!("no summary in:\n{out}"));
    out[at..].to_string()
}

/// Every run of digits replaced by `#`.
fn mask_digits(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        if !ch.is_ascii_digit() {
            out.push(ch);
        } else if !out.ends_with('#') {
            out.push('#');
        }
    }
    out
}

#[test]
fn bigkeys_summary_matches_redis() {
    let [(_r, rp), (_k, kp)] = both(&[], &dataset());
    let want = summary(&cli(rp, &["--bigkeys"], b"", None));
    let got = summary(&cli(kp, &["--bigkeys"], b"", None));
    assert_eq!(got, want);
    assert!(got.contains("Biggest string found '\"biggest-string\"' has 20 bytes"), "{got}");
}

#[test]
fn memkeys_runs_with_redis_layout() {
    let [(_r, rp), (_k, kp)] = both(&[], &dataset());
    let want = summary(&cli(rp, &["--memkeys"], b"", None));
    let got = summary(&cli(kp, &["--memkeys"], b"", None));
    // Byte counts come from MEMORY USAGE, which is Keel's own estimate: only the layout
    // and key counts are compared.
    assert_eq!(mask_digits(&got), mask_digits(&want));
    assert!(got.contains("Sampled 57 keys in the keyspace!"), "{got}");
}

#[test]
fn hotkeys_under_an_lfu_policy() {
    let mut setup = dataset();
    setup.extend((0..30).map(|_| "GET key:7".to_string()));
    // lfu-log-factor 0 makes every access count (the counters otherwise grow by chance,
    // and another key could come out hottest on either server).
    let lfu = ["--maxmemory-policy", "allkeys-lfu", "--lfu-log-factor", "0"];
    let [(_r, rp), (_k, kp)] = both(&lfu, &setup);
    let want = summary(&cli(rp, &["--hotkeys"], b"", None));
    let got = summary(&cli(kp, &["--hotkeys"], b"", None));
    // The hottest key comes first; keys tied below it may come in any order, so the line
    // count and the first line (counter masked) are compared.
    assert_eq!(got.lines().count(), want.lines().count(), "{got}\n{want}");
    let hottest = |s: &str| mask_digits(s.lines().nth(3).unwrap_or(""));
    assert_eq!(hottest(&got), hottest(&want));
    assert!(got.lines().nth(3).unwrap_or("").ends_with("keyname: \"key:7\""), "{got}");
}

#[test]
fn hotkeys_without_lfu_fails_as_with_redis() {
    let [(_r, rp), (_k, kp)] = both(&[], &dataset());
    let want = cli(rp, &["--hotkeys"], b"", None);
    let got = cli(kp, &["--hotkeys"], b"", None);
    let tail =
        |s: &str| s.lines().filter(|l| l.starts_with("Error")).collect::<Vec<_>>().join("\n");
    assert!(!tail(&want).is_empty(), "{want}");
    assert_eq!(tail(&got), tail(&want));
}

#[test]
fn stat_prints_rows_under_redis_header() {
    let [(_r, rp), (_k, kp)] = both(&[], &dataset());
    let run = Some(Duration::from_millis(900));
    let want = cli(rp, &["--stat", "-i", "0.2"], b"", run);
    let got = cli(kp, &["--stat", "-i", "0.2"], b"", run);
    let head = |s: &str| s.lines().take(2).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(head(&got), head(&want));
    let rows: Vec<&str> = got.lines().skip(2).collect();
    assert!(rows.len() >= 2, "{got}");
    // keys, memory, clients, blocked, requests (+delta), connections.
    let cols: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!(cols[0], "57", "{got}");
    assert_eq!(cols[2], "1", "{got}");
    assert!(cols[4].parse::<u64>().is_ok() && cols[5].starts_with("(+"), "{got}");
}

/// The numbers of a `min max avg samples` latency line.
fn latency_numbers(line: &str) -> Vec<f64> {
    line.split_whitespace().filter_map(|w| w.parse().ok()).collect()
}

#[test]
fn latency_and_latency_history() {
    let keel = start_keel(&[]);
    let out = cli(keel.port, &["--latency", "-i", "0.3"], b"", Some(Duration::from_millis(1200)));
    let line = out.lines().find(|l| !l.trim().is_empty()).unwrap_or_else(|| panic!("{out:?}"));
    let n = latency_numbers(line);
    assert_eq!(n.len(), 4, "{line}");
    assert!(n[0] <= n[2] && n[2] <= n[1] && n[3] >= 1.0, "min avg max samples: {line}");
    let out =
        cli(keel.port, &["--latency-history", "-i", "1"], b"", Some(Duration::from_millis(2600)));
    let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 2, "{out}");
    // Samples as they come, and at each interval's end the range it covered.
    let ranges = lines.iter().filter(|l| l.ends_with("seconds range")).count();
    assert!(ranges >= 2, "{out}");
    let odd: Vec<&&str> = lines
        .iter()
        .filter(|l| !l.ends_with("seconds range") && latency_numbers(l).len() != 4)
        .collect();
    assert!(odd.is_empty(), "{odd:?}");
}

#[test]
fn scan_with_a_pattern_lists_what_redis_lists() {
    let [(_r, rp), (_k, kp)] = both(&[], &dataset());
    for pattern in ["key:1*", "*", "nothing*", "*[st]*"] {
        let sorted = |s: String| {
            let mut v: Vec<String> = s.lines().map(str::to_string).collect();
            v.sort();
            v
        };
        let want = sorted(cli(rp, &["--scan", "--pattern", pattern], b"", None));
        let got = sorted(cli(kp, &["--scan", "--pattern", pattern], b"", None));
        assert_eq!(got, want, "pattern {pattern}");
    }
}

/// `argv` as one RESP command.
fn resp(argv: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", argv.len()).into_bytes();
    for a in argv {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

#[test]
fn pipe_mass_insert() {
    let [(_r, rp), (_k, kp)] = both(&[], &[]);
    let mut input = Vec::new();
    for i in 0..5000 {
        input.extend(resp(&["SET", &format!("k{i}"), &format!("value {i}")]));
    }
    input.extend(resp(&["RPUSH", "l", "a", "b"]));
    // One failing command: --pipe counts it and prints its error.
    input.extend(resp(&["INCR", "l"]));
    let want = cli(rp, &["--pipe"], &input, None);
    let got = cli(kp, &["--pipe"], &input, None);
    assert_eq!(got, want);
    assert!(got.contains("\nerrors: 1, replies: 5002\n"), "{got}");
    assert_eq!(Conn::new(kp).cmd_str("DBSIZE"), ":5001\r\n");
}

#[test]
fn repeat_with_interval() {
    let [(_r, rp), (_k, kp)] = both(&[], &[]);
    let args = ["-r", "3", "-i", "0.1", "INCR", "counter"];
    let want = cli(rp, &args, b"", None);
    let got = cli(kp, &args, b"", None);
    assert_eq!(got, want);
    assert_eq!(got, "1\n2\n3\n");
}

/// A parsed RESP3 reply, enough for COMMAND DOCS.
#[derive(Debug, PartialEq, Clone)]
enum R {
    Text(String),
    Int(i64),
    List(Vec<R>),
    Map(Vec<(String, R)>),
}

fn parse(raw: &[u8], at: &mut usize) -> R {
    let end = *at + raw[*at..].windows(2).position(|w| w == b"\r\n").unwrap();
    let line = String::from_utf8_lossy(&raw[*at + 1..end]).into_owned();
    let tag = raw[*at];
    *at = end + 2;
    let n = || line.parse::<usize>().unwrap();
    match tag {
        b'$' => {
            let text = String::from_utf8_lossy(&raw[*at..*at + n()]).into_owned();
            *at += n() + 2;
            R::Text(text)
        }
        b'+' => R::Text(line),
        b':' => R::Int(line.parse().unwrap()),
        b'*' | b'~' => R::List((0..n()).map(|_| parse(raw, at)).collect()),
        b'%' => R::Map(
            (0..n())
                .map(|_| match parse(raw, at) {
                    R::Text(k) => (k, parse(raw, at)),
                    other => panic!("map key {other:?}"),
                })
                .collect(),
        ),
        other => panic!("unexpected RESP type {}", other as char),
    }
}

/// COMMAND DOCS of every command, flattened to `name -> fields`, subcommands included.
fn all_docs(port: u16) -> std::collections::BTreeMap<String, Vec<(String, R)>> {
    let mut c = Conn::new(port);
    c.cmd_str("HELLO 3");
    let raw = c.cmd(&[b"COMMAND", b"DOCS"]);
    let mut out = std::collections::BTreeMap::new();
    fn walk(out: &mut std::collections::BTreeMap<String, Vec<(String, R)>>, name: String, doc: R) {
        let R::Map(fields) = doc else { panic!("{name}: not a map") };
        for (k, v) in &fields {
            if let (true, R::Map(subs)) = (k == "subcommands", v) {
                for (sub, d) in subs {
                    walk(out, sub.clone(), d.clone());
                }
            }
        }
        out.insert(name, fields);
    }
    let R::Map(cmds) = parse(&raw, &mut 0) else { panic!("not a map") };
    for (name, doc) in cmds {
        walk(&mut out, name, doc);
    }
    out
}

/// COMMAND DOCS gives every command redis-server has the same arguments, history, doc
/// flags and deprecation as redis-server (summaries and complexities follow Redis 7.2's
/// wording in Keel's table, so they are not compared), except where Redis 7.2 changed them.
#[test]
fn command_docs_match_redis() {
    let redis = start_redis(&[]);
    let keel = start_keel(&[]);
    let want = all_docs(redis.port);
    let got = all_docs(keel.port);
    let changed_in_7_2 = ["zrank", "zrevrank", "client|list", "client|info"];
    let compared = ["doc_flags", "deprecated_since", "replaced_by", "history", "arguments"];
    let pick = |fields: &[(String, R)]| -> Vec<(String, R)> {
        fields.iter().filter(|(k, _)| compared.contains(&k.as_str())).cloned().collect()
    };
    let mut checked = 0;
    for (name, fields) in &got {
        let Some(theirs) = want.get(name) else { continue };
        if changed_in_7_2.contains(&name.as_str()) {
            continue;
        }
        assert_eq!(pick(fields), pick(theirs), "COMMAND DOCS {name}");
        checked += 1;
    }
    assert!(checked > 200, "only {checked} commands compared");
    // The 7.2 additions are there.
    let zrank = format!("{:?}", got["zrank"]);
    assert!(zrank.contains("WITHSCORE") && zrank.contains("7.2.0"), "{zrank}");
    assert!(format!("{:?}", got["client|setinfo"]).contains("LIB-NAME"));
}
