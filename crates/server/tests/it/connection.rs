//! TCP tests of the connection commands: the parts the differential suite cannot compare
//! byte for byte (CLIENT LIST lines, HELLO's server description, effects on other
//! connections, authentication with a password, CLIENT REPLY on a pipeline).

use super::common::*;
use std::time::{Duration, Instant};

/// The field names of a `CLIENT LIST`/`CLIENT INFO` line, in order.
fn field_names(line: &str) -> Vec<String> {
    line.split_whitespace().map(|f| f.split_once('=').map_or(f, |(k, _)| k).to_string()).collect()
}

/// The value of `field` in a `CLIENT LIST` line.
fn field<'a>(line: &'a str, field: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(field).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {field} in {line}"))
}

/// The text of a bulk-string reply.
fn bulk_text(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw).into_owned();
    let body = text.split_once("\r\n").map_or("", |(_, body)| body);
    body.trim_end_matches("\r\n").to_string()
}

/// Runs `lines` on a fresh connection to each server and returns both reply streams.
fn both(redis: &TestServer, keel: &TestServer, lines: &[&str]) -> (Vec<String>, Vec<String>) {
    let run = |port| {
        let mut c = Conn::new(port);
        lines.iter().map(|l| c.cmd_str(l)).collect::<Vec<_>>()
    };
    (run(redis.port), run(keel.port))
}

#[test]
fn client_list_fields_are_redis_7_2s_in_order() {
    const FIELDS_7_2: &[&str] = &[
        "id",
        "addr",
        "laddr",
        "fd",
        "name",
        "age",
        "idle",
        "flags",
        "db",
        "sub",
        "psub",
        "ssub",
        "multi",
        "qbuf",
        "qbuf-free",
        "argv-mem",
        "multi-mem",
        "rbs",
        "rbp",
        "obl",
        "oll",
        "omem",
        "tot-mem",
        "events",
        "cmd",
        "user",
        "redir",
        "resp",
        "lib-name",
        "lib-ver",
    ];
    let keel = start_keel(&[]);
    let redis = start_redis(&[]);
    let mut k = Conn::new(keel.port);
    let mut r = Conn::new(redis.port);
    let kline = bulk_text(&k.cmd(&[b"CLIENT", b"INFO"]));
    let rline = bulk_text(&r.cmd(&[b"CLIENT", b"INFO"]));
    assert_eq!(field_names(&kline), FIELDS_7_2, "{kline}");
    // 7.0 lacks only the two library fields 7.2 appended.
    assert_eq!(field_names(&rline), FIELDS_7_2[..FIELDS_7_2.len() - 2], "{rline}");
    // The values Keel knows must look like Redis's for the same fresh connection.
    for f in ["name", "age", "idle", "flags", "db", "sub", "psub", "multi", "cmd", "user"] {
        assert_eq!(field(&kline, f), field(&rline, f), "field {f}");
    }
    assert_eq!(field(&kline, "redir"), "-1");
    assert_eq!(field(&kline, "resp"), "2");
    assert!(kline.ends_with('\n') || kline.ends_with("\\n"));
}

#[test]
fn client_list_shows_names_ids_and_library() {
    let keel = start_keel(&[]);
    let mut a = Conn::new(keel.port);
    let mut b = Conn::new(keel.port);
    assert_eq!(a.cmd_str("CLIENT SETNAME alpha"), "+OK\r\n");
    assert_eq!(a.cmd_str("CLIENT SETINFO LIB-NAME keel-test"), "+OK\r\n");
    assert_eq!(a.cmd_str("CLIENT SETINFO LIB-VER 1.0"), "+OK\r\n");
    assert_eq!(a.cmd_str("SELECT 3"), "+OK\r\n");
    let a_id = a.cmd_str("CLIENT ID").trim_start_matches(':').trim().to_string();
    let b_id = b.cmd_str("CLIENT ID").trim_start_matches(':').trim().to_string();
    let all = bulk_text(&b.cmd(&[b"CLIENT", b"LIST"]));
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 2, "{all}");
    let a_line = lines.iter().find(|l| field(l, "id") == a_id).expect("a listed");
    assert_eq!(field(a_line, "name"), "alpha");
    assert_eq!(field(a_line, "db"), "3");
    assert_eq!(field(a_line, "lib-name"), "keel-test");
    assert_eq!(field(a_line, "lib-ver"), "1.0");
    assert_eq!(field(a_line, "cmd"), "client|id");
    let b_line = lines.iter().find(|l| field(l, "id") == b_id).expect("b listed");
    assert_eq!(field(b_line, "cmd"), "client|list");
    let only_a = bulk_text(&b.cmd(&[b"CLIENT", b"LIST", b"ID", a_id.as_bytes(), b"999999"]));
    assert_eq!(only_a.lines().count(), 1);
    assert_eq!(field(&only_a, "id"), a_id);
    let normal = bulk_text(&b.cmd(&[b"CLIENT", b"LIST", b"TYPE", b"normal"]));
    assert_eq!(normal.lines().count(), 2);
    // RESP3 gets a verbatim string.
    a.cmd_str("HELLO 3");
    let raw = String::from_utf8_lossy(&a.cmd(&[b"CLIENT", b"INFO"])).into_owned();
    assert!(raw.starts_with('=') && raw.contains("\r\ntxt:id="), "{raw}");
    assert_eq!(field(&raw, "resp"), "3");
}

#[test]
fn hello_describes_the_server_and_switches_protocol() {
    let keel = start_keel(&[]);
    let mut c = Conn::new(keel.port);
    let id = c.cmd_str("CLIENT ID");
    let id = id.trim_start_matches(':').trim();
    let three = c.cmd_str("HELLO 3");
    let expected = format!(
        "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.4\r\n$5\r\nproto\r\n\
         :3\r\n$2\r\nid\r\n:{id}\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\n\
         master\r\n$7\r\nmodules\r\n*0\r\n"
    );
    assert_eq!(three, expected);
    assert_eq!(c.cmd_str("GET missing"), "_\r\n");
    let two = c.cmd_str("HELLO 2");
    assert!(two.starts_with("*14\r\n") && two.contains("proto\r\n:2\r\n"), "{two}");
    assert_eq!(c.cmd_str("GET missing"), "$-1\r\n");
}

#[test]
fn password_protected_server_matches_redis() {
    let redis = start_redis(&["--requirepass", "s3cret"]);
    let keel = start_keel(&["--requirepass", "s3cret"]);
    let script = [
        "PING",
        "GET k",
        "CLIENT ID",
        "HELLO 2",
        "HELLO 3 AUTH default wrong",
        "HELLO 2 AUTH nobody s3cret",
        "AUTH wrong",
        "AUTH default wrong",
        "AUTH nobody s3cret",
        "PING",
        "AUTH s3cret",
        "PING",
        "AUTH wrong",
        "PING",
        "RESET",
        "PING",
        "AUTH default s3cret",
        "SET k v",
        "GET k",
        "RESET",
        "GET k",
    ];
    let (r, k) = both(&redis, &keel, &script);
    for ((line, r), k) in script.iter().zip(&r).zip(&k) {
        if *line == "HELLO 2" {
            // Redis 7.2 added `<proto>` to this text; the 7.0 oracle lacks it.
            assert_eq!(r.replace("HELLO AUTH", "HELLO <proto> AUTH"), *k);
        } else {
            assert_eq!(r, k, "{line}");
        }
    }
    // HELLO with AUTH logs in and answers with the server description.
    let mut c = Conn::new(keel.port);
    assert!(c.cmd_str("PING").starts_with("-NOAUTH"));
    assert!(c.cmd_str("HELLO 3 AUTH default s3cret").starts_with("%7\r\n"));
    assert_eq!(c.cmd_str("PING"), "+PONG\r\n");
}

#[test]
fn client_reply_modes_match_redis_on_a_pipeline() {
    let redis = start_redis(&[]);
    let keel = start_keel(&[]);
    let pipeline: &[&[&[u8]]] = &[
        &[b"PING", b"a"],
        &[b"CLIENT", b"REPLY", b"SKIP"],
        &[b"PING", b"skipped"],
        &[b"PING", b"b"],
        &[b"CLIENT", b"REPLY", b"OFF"],
        &[b"PING", b"off"],
        &[b"CLIENT", b"REPLY", b"SKIP"],
        &[b"CLIENT", b"REPLY", b"bad"],
        &[b"CLIENT", b"REPLY", b"ON"],
        &[b"PING", b"c"],
        &[b"CLIENT", b"REPLY", b"SKIP"],
        &[b"CLIENT", b"REPLY", b"ON"],
        &[b"PING", b"d"],
    ];
    let run = |port| {
        let mut c = Conn::new(port);
        for argv in pipeline {
            c.send(argv);
        }
        let mut got = Vec::new();
        while got.len() < 6 {
            got.push(String::from_utf8_lossy(&c.read_reply().expect("reply")).into_owned());
        }
        got
    };
    let r = run(redis.port);
    assert_eq!(r, run(keel.port));
    // Only the two CLIENT REPLY ON commands and four PINGs are answered.
    let want = ["$1\r\na\r\n", "$1\r\nb\r\n", "+OK\r\n", "$1\r\nc\r\n", "+OK\r\n", "$1\r\nd\r\n"];
    assert_eq!(r, want);
}

#[test]
fn client_kill_closes_other_connections() {
    let keel = start_keel(&[]);
    let mut a = Conn::new(keel.port);
    let mut b = Conn::new(keel.port);
    let mut c = Conn::new(keel.port);
    let b_id = b.cmd_str("CLIENT ID").trim_start_matches(':').trim().to_string();
    assert_eq!(a.cmd_str(&format!("CLIENT KILL ID {b_id}")), ":1\r\n");
    assert!(b.is_closed());
    // The old form by address.
    let info = bulk_text(&c.cmd(&[b"CLIENT", b"INFO"]));
    let addr = field(&info, "addr").to_string();
    assert_eq!(a.cmd_str(&format!("CLIENT KILL {addr}")), "+OK\r\n");
    assert!(c.is_closed());
    assert_eq!(a.cmd_str(&format!("CLIENT KILL {addr}")), "-ERR No such client\r\n");
    // SKIPME defaults to yes: the caller survives a kill of every normal client.
    let mut d = Conn::new(keel.port);
    assert_eq!(a.cmd_str("CLIENT KILL TYPE normal"), ":1\r\n");
    assert!(d.is_closed());
    assert_eq!(a.cmd_str("PING"), "+PONG\r\n");
}

#[test]
fn client_pause_holds_commands_until_it_ends() {
    let keel = start_keel(&[]);
    let mut a = Conn::new(keel.port);
    let mut b = Conn::new(keel.port);
    assert_eq!(a.cmd_str("CLIENT PAUSE 400 WRITE"), "+OK\r\n");
    let started = Instant::now();
    assert_eq!(b.cmd_str("GET k"), "$-1\r\n");
    assert!(started.elapsed() < Duration::from_millis(300), "reads pass a WRITE pause");
    assert_eq!(b.cmd_str("SET k v"), "+OK\r\n");
    assert!(started.elapsed() >= Duration::from_millis(350), "writes wait");
    assert_eq!(a.cmd_str("CLIENT PAUSE 300 ALL"), "+OK\r\n");
    let started = Instant::now();
    assert_eq!(b.cmd_str("PING"), "+PONG\r\n");
    assert!(started.elapsed() >= Duration::from_millis(250), "ALL holds every command");
}

#[test]
fn reset_turns_replies_back_on_and_quit_closes() {
    let keel = start_keel(&[]);
    let mut c = Conn::new(keel.port);
    assert_eq!(c.cmd_str("CLIENT SETNAME n"), "+OK\r\n");
    // No reply to CLIENT REPLY OFF; RESET answers anyway and turns replies back on.
    c.send(&[b"CLIENT", b"REPLY", b"OFF"]);
    c.send(&[b"PING"]);
    assert_eq!(c.cmd_str("RESET"), "+RESET\r\n");
    assert_eq!(c.cmd_str("CLIENT GETNAME"), "$-1\r\n");
    assert_eq!(c.cmd_str("QUIT"), "+OK\r\n");
    assert!(c.is_closed());
}
