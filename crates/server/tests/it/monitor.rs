//! MONITOR, and the CLIENT LIST fields of several connections, side by side on redis-server
//! and Keel: same transcript once timestamps, client ports and ids are masked.

use crate::common::{same_on_both, Conn};

/// Masks what legitimately differs between two servers: `<secs>.<micros>` timestamps at the
/// start of monitor lines, loopback client ports, and integer replies (client ids).
fn mask(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw).into_owned();
    let mut out = String::new();
    let mut rest = text.as_str();
    // A monitor line starts with `+<digits>.<6 digits> `.
    if let Some(after) = rest.strip_prefix('+') {
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits >= 9 && after[digits..].starts_with('.') {
            out.push_str("+<time>");
            rest = &after[digits + 7..];
        }
    }
    if rest.starts_with(':') && rest.ends_with("\r\n") {
        return "<integer>".into();
    }
    while let Some(i) = rest.find("127.0.0.1:") {
        out.push_str(&rest[..i]);
        out.push_str("<addr>");
        let tail = &rest[i + "127.0.0.1:".len()..];
        let port = tail.bytes().take_while(u8::is_ascii_digit).count();
        rest = &tail[port..];
    }
    out.push_str(rest);
    out
}

/// Sends `line` (space-separated words) and returns the masked reply.
fn run(c: &mut Conn, argv: &[&str]) -> String {
    let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
    mask(&c.cmd(&argv))
}

/// Reads monitor lines up to and including the one for `ECHO <marker>`.
fn feed_until(m: &mut Conn, marker: &str) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let line = mask(&m.read_reply().expect("a monitor line"));
        let done = line.contains(marker);
        lines.push(line);
        if done || lines.len() > 200 {
            return lines;
        }
    }
}

#[test]
fn monitor_shows_commands_as_redis_does() {
    same_on_both(|port| {
        let mut m = Conn::new(port);
        let mut c = Conn::new(port);
        let mut t = vec![run(&mut m, &["MONITOR"])];
        for argv in [
            &["SET", "k", "a\x00\u{7f}\" \\\n\r\t\x07\x08b"][..],
            &["SET", "", ""],
            &["SELECT", "1"],
            &["GET", "k"],
            &["SELECT", "0"],
            &["AUTH", "pw"],
            &["AUTH", "user", "pw"],
            &["AUTH", "a", "b", "c"],
            &["HELLO", "2", "AUTH", "default", "pw", "SETNAME", "n"],
            &["HELLO", "9", "AUTH", "default", "pw"],
            &["CLIENT", "SETNAME", "x"],
            &["CLIENT", "LIST"],
            &["CONFIG", "GET", "maxmemory"],
            &["MULTI"],
            &["SET", "a", "1"],
            &["INCR", "a"],
            &["EXEC"],
            &["EXEC"],
            &[
                "EVAL",
                "redis.call('set', KEYS[1], '1') return redis.call('get', KEYS[1])",
                "1",
                "z",
            ],
            &["EVAL", "return 1", "x"],
            &["BLPOP", "nokey", "0.01"],
            &["NOSUCH", "x"],
            &["GET"],
            &["SWAPDB", "0", "1"],
            &["SWAPDB", "0", "1"],
            &["ECHO", "end-of-feed"],
        ] {
            let reply = run(&mut c, argv);
            // HELLO's and CLIENT LIST's replies hold versions, ids and buffer sizes.
            t.push(if matches!(argv[0], "HELLO" | "CLIENT") { argv.join(" ") } else { reply });
        }
        t.extend(feed_until(&mut m, "end-of-feed"));
        t
    });
}

#[test]
fn a_monitor_only_runs_what_redis_lets_it() {
    same_on_both(|port| {
        let mut m = Conn::new(port);
        let mut t = vec![run(&mut m, &["MONITOR"])];
        // Its own commands are shown after their replies.
        for argv in [&["PING"][..], &["CLIENT", "ID"], &["ECHO", "mine"]] {
            m.send(&argv.iter().map(|a| a.as_bytes()).collect::<Vec<_>>());
            t.push(mask(&m.read_reply().unwrap()));
            t.push(mask(&m.read_reply().unwrap()));
        }
        // Keyspace commands are refused and not shown; a second MONITOR gets no reply.
        t.push(run(&mut m, &["GET", "k"]));
        t.push(run(&mut m, &["SET", "k", "v"]));
        m.send(&[b"MONITOR"]);
        t.push(run(&mut m, &["RESET"]));
        t.push(run(&mut m, &["GET", "k"]));
        // After RESET it is an ordinary client again: nothing more is fed to it.
        let mut c = Conn::new(port);
        t.push(run(&mut c, &["SET", "k", "v"]));
        t.push(run(&mut m, &["GET", "k"]));
        t
    });
}

#[test]
fn monitor_in_resp3_and_inside_multi() {
    same_on_both(|port| {
        let mut m = Conn::new(port);
        m.cmd(&[b"HELLO", b"3"]);
        let mut t = vec![run(&mut m, &["MONITOR"])];
        let mut c = Conn::new(port);
        t.push(run(&mut c, &["MULTI"]));
        t.push(run(&mut c, &["MONITOR"]));
        t.push(run(&mut c, &["EXEC"]));
        t.push(run(&mut c, &["ECHO", "end-of-feed"]));
        t.extend(feed_until(&mut m, "end-of-feed"));
        t
    });
}

/// `name=value` pairs of one CLIENT LIST line.
fn fields(line: &str) -> Vec<(String, String)> {
    line.split(' ')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn client_list_fields_and_flags() {
    // Field values that do not depend on buffer sizes or timing (age and idle cross a
    // second boundary on a loaded machine).
    const STABLE: &[&str] = &[
        "name",
        "flags",
        "db",
        "sub",
        "psub",
        "ssub",
        "multi",
        "qbuf",
        "argv-mem",
        "multi-mem",
        "obl",
        "oll",
        "omem",
        "events",
        "cmd",
        "user",
        "redir",
        "resp",
    ];
    let keel = same_on_both(|port| {
        let mut m = Conn::new(port);
        m.cmd(&[b"MONITOR"]);
        let mut s = Conn::new(port);
        s.cmd(&[b"SUBSCRIBE", b"a", b"b"]);
        s.cmd(&[b"PSUBSCRIBE", b"p*"]);
        let mut x = Conn::new(port);
        x.cmd(&[b"SELECT", b"2"]);
        x.cmd(&[b"MULTI"]);
        x.cmd(&[b"SET", b"k", b"v"]);
        let mut w = Conn::new(port);
        w.cmd(&[b"WATCH", b"wk"]);
        let mut c = Conn::new(port);
        c.cmd(&[b"SET", b"wk", b"1"]);
        c.cmd(&[b"CLIENT", b"SETNAME", b"me"]);
        let raw = c.cmd(&[b"CLIENT", b"LIST"]);
        let text = String::from_utf8_lossy(&raw).into_owned();
        let mut t = Vec::new();
        for line in text.lines().filter(|l| l.starts_with("id=")) {
            let f = fields(line);
            // Redis 7.0 ends at `resp`; 7.2 adds lib-name and lib-ver, which Keel prints.
            let names: Vec<&str> =
                f.iter().map(|(k, _)| k.as_str()).filter(|k| !k.starts_with("lib-")).collect();
            t.push(names.join(" "));
            let stable: Vec<String> = f
                .iter()
                .filter(|(k, _)| STABLE.contains(&k.as_str()))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            t.push(stable.join(" "));
        }
        t.push(
            run(&mut c, &["CLIENT", "INFO"])
                .lines()
                .next()
                .map(|l| fields(l).len().to_string())
                .unwrap_or_default(),
        );
        t
    });
    assert!(keel.iter().any(|l| l.contains("flags=O ") && l.contains("cmd=monitor")));
}

#[test]
fn client_kill_filters() {
    same_on_both(|port| {
        let mut a = Conn::new(port);
        let mut b = Conn::new(port);
        let mut c = Conn::new(port);
        b.cmd(&[b"SUBSCRIBE", b"ch"]);
        let mut t = Vec::new();
        t.push(run(&mut a, &["CLIENT", "KILL", "TYPE", "pubsub"]));
        t.push(format!("{}", b.is_closed()));
        t.push(run(&mut a, &["CLIENT", "KILL", "TYPE", "replica"]));
        t.push(run(&mut a, &["CLIENT", "KILL", "TYPE", "master"]));
        t.push(run(&mut a, &["CLIENT", "KILL", "USER", "default", "SKIPME", "yes"]));
        t.push(format!("{}", c.is_closed()));
        t.push(run(&mut a, &["CLIENT", "KILL", "USER", "nobody"]));
        t.push(run(&mut a, &["CLIENT", "KILL", "LADDR", "127.0.0.1:1"]));
        t.push(run(&mut a, &["CLIENT", "KILL", "ADDR", "127.0.0.1:1"]));
        t.push(run(&mut a, &["CLIENT", "KILL", "127.0.0.1:1"]));
        t.push(run(&mut a, &["CLIENT", "KILL", "SKIPME", "no", "ID", "999999"]));
        t
    });
}

/// Replaces every run of digits with `#`: durations and times differ between servers.
fn mask_digits(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::new();
    let mut in_digits = false;
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
        } else {
            out.push(ch);
            in_digits = false;
        }
    }
    out
}

#[test]
fn latency_reports_after_a_spike() {
    same_on_both(|port| {
        let mut c = Conn::new(port);
        c.cmd(&[b"CONFIG", b"SET", b"latency-monitor-threshold", b"1"]);
        c.cmd(&[b"EVAL", b"local i = 0 while i < 3000000 do i = i + 1 end", b"0"]);
        let mut t = Vec::new();
        for argv in [
            &[&b"LATENCY"[..], b"GRAPH", b"command"][..],
            &[b"LATENCY", b"DOCTOR"],
            &[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"-1"],
            &[b"LATENCY", b"DOCTOR"],
            &[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"1000"],
            &[b"LATENCY", b"DOCTOR"],
        ] {
            t.push(mask_digits(&c.cmd(argv)));
        }
        t
    });
}

#[test]
fn latencystats_lines() {
    same_on_both(|port| {
        let mut c = Conn::new(port);
        let mut t = Vec::new();
        for percentiles in ["50 99 99.9", "0 100 99.99 12.5", ""] {
            c.cmd(&[
                b"CONFIG",
                b"SET",
                b"latency-tracking-info-percentiles",
                percentiles.as_bytes(),
            ]);
            c.cmd(&[b"CONFIG", b"RESETSTAT"]);
            c.cmd(&[b"SET", b"k", b"v"]);
            c.cmd(&[b"CLIENT", b"ID"]);
            // Redis lists commands in its command table's hash order: compare sorted lines.
            let info = mask_digits(&c.cmd(&[b"INFO", b"latencystats"]));
            let mut lines: Vec<&str> = info.split("\r\n").collect();
            lines.sort_unstable();
            t.push(lines.join("\n"));
        }
        t
    });
}

#[test]
fn a_slow_expire_cycle_is_a_latency_event() {
    let keel = same_on_both(|port| {
        let mut c = Conn::new(port);
        // Many keys expiring together keep the active expire cycle busy for milliseconds.
        c.cmd(&[
            b"EVAL",
            b"for i = 1, 200000 do redis.call('set', 'e' .. i, 'v', 'px', 1) end",
            b"0",
        ]);
        c.cmd(&[b"CONFIG", b"SET", b"latency-monitor-threshold", b"1"]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut seen = false;
        while !seen && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
            let history = c.cmd(&[b"LATENCY", b"HISTORY", b"expire-cycle"]);
            seen = history != b"*0\r\n";
        }
        vec![format!("expire-cycle recorded: {seen}")]
    });
    assert_eq!(keel, ["expire-cycle recorded: true"]);
}
