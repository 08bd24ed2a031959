//! ACL over TCP: Redis 7.2's NOPERM texts (the 7.0 oracle words them differently), the ACL
//! log, the ACL file (SAVE/LOAD), users from the config file, `requirepass` as the default
//! user's password, DELUSER disconnecting clients, subscribers losing their channels,
//! `acl-pubsub-default`, and protected mode.

use super::common::*;

/// A restricted user `u` (nopass) with the given rules, and a connection logged in as it.
fn login(port: u16, rules: &str) -> Conn {
    let mut admin = Conn::new(port);
    assert_eq!(admin.cmd_str(&format!("ACL SETUSER u reset on nopass {rules}")), "+OK\r\n");
    let mut c = Conn::new(port);
    assert_eq!(c.cmd_str("AUTH u x"), "+OK\r\n");
    c
}

#[test]
fn noperm_texts_are_redis_7_2s() {
    let srv = start_keel(&[]);
    let mut c = login(
        srv.port,
        "~k* %R~r* &c* +get +set +copy +publish +subscribe +multi +exec +eval +acl|whoami",
    );
    assert_eq!(c.cmd_str("GET k1"), "$-1\r\n");
    assert_eq!(c.cmd_str("ACL WHOAMI"), "$1\r\nu\r\n");
    assert_eq!(
        c.cmd_str("HSET k1 a b"),
        "-NOPERM User u has no permissions to run the 'hset' command\r\n"
    );
    assert_eq!(
        c.cmd_str("CLIENT LIST"),
        "-NOPERM User u has no permissions to run the 'client|list' command\r\n"
    );
    assert_eq!(c.cmd_str("GET zz"), "-NOPERM No permissions to access a key\r\n");
    // %R~ allows reading only: COPY reads r1 but writes it too when it is the target.
    assert_eq!(c.cmd_str("SET r1 v"), "-NOPERM No permissions to access a key\r\n");
    assert_eq!(c.cmd_str("COPY r1 k2"), ":0\r\n");
    assert_eq!(c.cmd_str("COPY k2 r1"), "-NOPERM No permissions to access a key\r\n");
    assert_eq!(c.cmd_str("PUBLISH d1 m"), "-NOPERM No permissions to access a channel\r\n");
    assert_eq!(c.cmd_str("PUBLISH c1 m"), ":0\r\n");
    // Inside MULTI the refusal happens at queue time and dooms the transaction.
    assert_eq!(c.cmd_str("MULTI"), "+OK\r\n");
    assert_eq!(c.cmd_str("GET zz"), "-NOPERM No permissions to access a key\r\n");
    assert_eq!(
        c.cmd_str("EXEC"),
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    // Scripts: the script user's permissions apply to redis.call.
    assert_eq!(
        c.cmd(&[b"EVAL", b"return redis.pcall('get','zz')", b"0"]),
        b"-ERR ACL failure in script: No permissions to access a key\r\n"
    );
    let err = c.cmd(&[b"EVAL", b"return redis.call('hset','k','a','b')", b"0"]);
    let err = String::from_utf8_lossy(&err);
    assert!(
        err.starts_with(
            "-ERR ACL failure in script: User u has no permissions to run the 'hset' command"
        ),
        "{err}"
    );
    // Rules changed between queueing and EXEC: the command fails inside the transaction.
    assert_eq!(c.cmd_str("MULTI"), "+OK\r\n");
    assert_eq!(c.cmd_str("GET k1"), "+QUEUED\r\n");
    let mut admin = Conn::new(srv.port);
    assert_eq!(admin.cmd_str("ACL SETUSER u -get"), "+OK\r\n");
    assert_eq!(
        c.cmd_str("EXEC"),
        "*1\r\n-NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to execute the command or subcommand\r\n"
    );
    // DRYRUN explains in the verbose form.
    assert_eq!(
        admin.cmd_str("ACL DRYRUN u get k1"),
        "$50\r\nUser u has no permissions to run the 'get' command\r\n"
    );
    assert_eq!(
        admin.cmd_str("ACL DRYRUN u set zz v"),
        "$48\r\nUser u has no permissions to access the 'zz' key\r\n"
    );
    assert_eq!(
        admin.cmd_str("ACL DRYRUN u publish dd m"),
        "$52\r\nUser u has no permissions to access the 'dd' channel\r\n"
    );
    assert_eq!(admin.cmd_str("ACL DRYRUN u set k1 v"), "+OK\r\n");
    // Denials count as rejected calls and NOPERM errors.
    let info = admin.cmd_str("INFO errorstats");
    assert!(info.contains("errorstat_NOPERM:count="), "{info}");
    let info = admin.cmd_str("INFO stats");
    for line in [
        "acl_access_denied_auth:0",
        "acl_access_denied_cmd:4",
        "acl_access_denied_key:5",
        "acl_access_denied_channel:1",
    ] {
        assert!(info.contains(line), "{line} in {info}");
    }
}

#[test]
fn selectors_grant_alternatives() {
    let srv = start_keel(&[]);
    let mut c = login(srv.port, "+get ~a* (+set ~b*) (+get %R~c*)");
    assert_eq!(c.cmd_str("GET a1"), "$-1\r\n");
    assert_eq!(c.cmd_str("SET b1 v"), "+OK\r\n");
    assert_eq!(c.cmd_str("GET b1"), "-NOPERM No permissions to access a key\r\n");
    assert_eq!(c.cmd_str("GET c1"), "$-1\r\n");
    assert_eq!(c.cmd_str("SET a1 v"), "-NOPERM No permissions to access a key\r\n");
    assert_eq!(
        c.cmd_str("DEL a1"),
        "-NOPERM User u has no permissions to run the 'del' command\r\n"
    );
    // First arguments of a command without subcommands.
    let mut c = login(srv.port, "+select|0 +client|id");
    assert_eq!(c.cmd_str("SELECT 0"), "+OK\r\n");
    assert_eq!(
        c.cmd_str("SELECT 1"),
        "-NOPERM User u has no permissions to run the 'select' command\r\n"
    );
    assert!(c.cmd_str("CLIENT ID").starts_with(':'));
}

/// The fields of the newest ACL LOG entry, as (name, value) text pairs.
fn newest_entry(c: &mut Conn) -> Vec<(String, String)> {
    let raw = c.cmd_str("ACL LOG 1");
    let lines: Vec<&str> = raw.split("\r\n").collect();
    // *1, *20, then name/value pairs as bulk strings or integers.
    let mut values = Vec::new();
    let mut i = 2;
    while i < lines.len() {
        let l = lines[i];
        if let Some(n) = l.strip_prefix(':') {
            values.push(n.to_string());
            i += 1;
        } else if l.starts_with('$') {
            values.push(lines.get(i + 1).unwrap_or(&"").to_string());
            i += 2;
        } else {
            i += 1;
        }
    }
    values.chunks(2).map(|p| (p[0].clone(), p.get(1).cloned().unwrap_or_default())).collect()
}

fn field<'a>(entry: &'a [(String, String)], name: &str) -> &'a str {
    entry.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("<missing>")
}

#[test]
fn acl_log_entries_and_grouping() {
    let srv = start_keel(&[]);
    let mut admin = Conn::new(srv.port);
    assert_eq!(admin.cmd_str("ACL SETUSER lg on >pw ~k* +get +multi +discard +eval"), "+OK\r\n");
    let mut c = Conn::new(srv.port);
    assert_eq!(
        c.cmd_str("AUTH lg wrong"),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    let e = newest_entry(&mut admin);
    let names: Vec<&str> = e.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "count",
            "reason",
            "context",
            "object",
            "username",
            "age-seconds",
            "client-info",
            "entry-id",
            "timestamp-created",
            "timestamp-last-updated"
        ]
    );
    assert_eq!(field(&e, "reason"), "auth");
    assert_eq!(field(&e, "object"), "AUTH");
    assert_eq!(field(&e, "username"), "lg");
    assert_eq!(field(&e, "context"), "toplevel");
    assert_eq!(field(&e, "entry-id"), "0");
    assert!(field(&e, "client-info").contains(" cmd=auth user=default "), "{e:?}");
    assert_eq!(c.cmd_str("AUTH lg pw"), "+OK\r\n");
    c.cmd_str("GET zz");
    c.cmd_str("GET zz");
    let e = newest_entry(&mut admin);
    assert_eq!(field(&e, "count"), "2");
    assert_eq!(field(&e, "reason"), "key");
    assert_eq!(field(&e, "object"), "zz");
    assert_eq!(field(&e, "entry-id"), "1");
    assert!(field(&e, "timestamp-created") <= field(&e, "timestamp-last-updated"));
    c.cmd_str("MULTI");
    c.cmd_str("HSET k a b");
    let e = newest_entry(&mut admin);
    assert_eq!((field(&e, "reason"), field(&e, "context")), ("command", "multi"));
    assert_eq!(field(&e, "object"), "hset");
    c.cmd_str("DISCARD");
    c.cmd(&[b"EVAL", b"return redis.pcall('get','yy')", b"0"]);
    let e = newest_entry(&mut admin);
    assert_eq!((field(&e, "reason"), field(&e, "context")), ("key", "lua"));
    assert_eq!(field(&e, "object"), "yy");
    // HELLO AUTH failures are logged under the command as typed.
    let mut h = Conn::new(srv.port);
    h.cmd_str("hello 2 AUTH nosuch pw");
    let e = newest_entry(&mut admin);
    assert_eq!((field(&e, "object"), field(&e, "username")), ("hello", "nosuch"));
    assert_eq!(admin.cmd_str("ACL LOG 0"), "*0\r\n");
    assert_eq!(admin.cmd_str("ACL LOG RESET"), "+OK\r\n");
    assert_eq!(admin.cmd_str("ACL LOG"), "*0\r\n");
    // acllog-max-len bounds the log.
    assert_eq!(admin.cmd_str("CONFIG SET acllog-max-len 2"), "+OK\r\n");
    for user in ["a", "b", "c"] {
        h.cmd_str(&format!("AUTH {user} x"));
    }
    assert!(admin.cmd_str("ACL LOG").starts_with("*2\r\n"));
}

#[test]
fn aclfile_save_and_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.acl");
    std::fs::write(&path, "user default on nopass ~* &* +@all\nuser alice on #f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a ~k* +get\n").unwrap();
    let p = path.display().to_string();
    let srv = start_keel(&["--aclfile", &p]);
    let mut c = Conn::new(srv.port);
    let alice = "user alice on #f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a \
                 ~k* resetchannels -@all +get";
    assert_eq!(
        c.cmd_str("ACL LIST"),
        format!(
            "*2\r\n${}\r\n{alice}\r\n$34\r\nuser default on nopass ~* &* +@all\r\n",
            alice.len()
        )
    );
    let mut a = Conn::new(srv.port);
    assert_eq!(a.cmd_str("AUTH alice p1"), "+OK\r\n");
    assert_eq!(c.cmd_str("ACL SETUSER bob on >pw (+set ~b*) +@hash -hset"), "+OK\r\n");
    assert_eq!(c.cmd_str("ACL SAVE"), "+OK\r\n");
    let saved = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        saved,
        "user alice on #f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a ~k* resetchannels -@all +get\n\
         user bob on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 resetchannels -@all +@hash -hset (~b* resetchannels -@all +set)\n\
         user default on nopass ~* &* +@all\n"
    );
    // A bad file changes nothing and names every problem.
    std::fs::write(&path, "user carol on +nosuch\nfoo bar\nuser carol\nuser dave ~a* allkeys ~b\n")
        .unwrap();
    let err = c.cmd_str("ACL LOAD");
    assert_eq!(
        err,
        format!(
            "-ERR {p}:1: Error in applying operation '+nosuch': Unknown command or category name in ACL. \
             {p}:2 should start with user keyword followed by the username. \
             WARNING: Duplicate user 'carol' found on line 3. \
             {p}:4: Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns. \
             WARNING: ACL errors detected, no change to the previously active ACL rules was performed\r\n"
        )
    );
    assert!(c.cmd_str("ACL USERS").contains("bob"));
    // A good file replaces the users (default comes back if missing) and disconnects the
    // clients of the old ones.
    std::fs::write(&path, "user zed on nopass +@all ~*\n").unwrap();
    assert_eq!(c.cmd_str("ACL LOAD"), "+OK\r\n");
    assert_eq!(c.cmd_str("ACL USERS"), "*2\r\n$7\r\ndefault\r\n$3\r\nzed\r\n");
    assert!(a.is_closed());
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        c.cmd_str("ACL LOAD"),
        format!("-ERR Error loading ACLs, opening file '{p}': No such file or directory\r\n")
    );
}

#[test]
fn users_from_the_config_and_requirepass() {
    let srv =
        start_keel(&["--user", "alice", "on", ">secret", "~a*", "+get", "--requirepass", "top"]);
    let mut c = Conn::new(srv.port);
    assert_eq!(c.cmd_str("GET a"), "-NOAUTH Authentication required.\r\n");
    assert_eq!(c.cmd_str("AUTH alice secret"), "+OK\r\n");
    assert_eq!(c.cmd_str("GET a1"), "$-1\r\n");
    assert_eq!(c.cmd_str("AUTH top"), "+OK\r\n");
    assert_eq!(c.cmd_str("ACL WHOAMI"), "$7\r\ndefault\r\n");
    let list = c.cmd_str("ACL LIST");
    assert!(list.contains("user alice on #2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b ~a* resetchannels -@all +get"), "{list}");
    // requirepass is the default user's password, and follows CONFIG SET.
    assert_eq!(c.cmd_str("CONFIG SET requirepass other"), "+OK\r\n");
    let mut d = Conn::new(srv.port);
    assert_eq!(
        d.cmd_str("AUTH top"),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(d.cmd_str("AUTH default other"), "+OK\r\n");
    assert_eq!(c.cmd(&[b"CONFIG", b"SET", b"requirepass", b""]), b"+OK\r\n");
    let mut e = Conn::new(srv.port);
    assert_eq!(e.cmd_str("ACL WHOAMI"), "$7\r\ndefault\r\n");
    // Both users in the config and an ACL file: refused at startup.
    let out = std::process::Command::new(keel_bin())
        .args(["--port", "0", "--aclfile", "/nonexistent", "--user", "x", "on"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn deluser_disconnects_its_clients() {
    let srv = start_keel(&[]);
    let mut c = login(srv.port, "+@all ~*");
    let mut admin = Conn::new(srv.port);
    assert_eq!(admin.cmd_str("ACL DELUSER u"), ":1\r\n");
    assert!(c.is_closed());
    let mut me = login(srv.port, "+@all ~*");
    assert_eq!(me.cmd_str("ACL DELUSER u"), ":1\r\n");
    assert!(me.is_closed());
}

/// A connection to `port` on 127.0.0.1 from the local address 127.0.0.2: loopback to the
/// kernel, but not one of the two addresses Redis's protected mode calls local.
fn from_other_address(port: u16) -> std::net::TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: std::net::SocketAddr = "127.0.0.2:0".parse().unwrap();
    sock.bind(&local.into()).unwrap();
    let remote: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    sock.connect(&remote.into()).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(1))).unwrap();
    sock.into()
}

fn first_words(port: u16) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = from_other_address(port);
    let _ = s.write_all(b"PING\r\n");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

#[test]
fn protected_mode_refuses_outside_connections() {
    let keel = start_keel(&["--protected-mode", "yes"]);
    let redis = start_redis(&["--protected-mode", "yes"]);
    let k = first_words(keel.port);
    let r = first_words(redis.port);
    // Identical up to the fourth remedy, whose wording Redis 7.2 corrected ("Setup a an"
    // in the 7.0 oracle); then closed.
    let cut = |b: &[u8]| b.windows(4).position(|w| w == b" 4) ").map(|i| b[..i].to_vec());
    assert!(cut(&k).is_some());
    assert_eq!(cut(&k), cut(&r));
    assert!(k.starts_with(b"-DENIED Redis is running in protected mode"), "{k:?}");
    assert!(k.ends_with(
        b" 4) Set up an authentication password for the default user. NOTE: You only need to do \
          one of the above things in order for the server to start accepting connections from \
          the outside.\r\n"
    ));
    // Loopback itself is fine; so is any address once the default user has a password.
    assert_eq!(Conn::new(keel.port).cmd_str("PING"), "+PONG\r\n");
    let keel = start_keel(&["--protected-mode", "yes", "--requirepass", "pw"]);
    assert_eq!(first_words(keel.port), b"-NOAUTH Authentication required.\r\n");
    let keel = start_keel(&["--protected-mode", "no"]);
    assert_eq!(first_words(keel.port), b"+PONG\r\n");
}

#[test]
fn rename_command_from_the_config() {
    let srv = start_keel(&["--rename-command", "get", "fetch", "--rename-command", "flushall", ""]);
    let mut c = Conn::new(srv.port);
    assert_eq!(c.cmd_str("SET k v"), "+OK\r\n");
    assert_eq!(c.cmd_str("FETCH k"), "$1\r\nv\r\n");
    assert_eq!(
        c.cmd_str("GET k"),
        "-ERR unknown command 'GET', with args beginning with: 'k' \r\n"
    );
    assert_eq!(
        c.cmd_str("FLUSHALL"),
        "-ERR unknown command 'FLUSHALL', with args beginning with: \r\n"
    );
    // ACL rules keep naming the original command.
    assert_eq!(c.cmd_str("ACL SETUSER u on nopass ~* +get"), "+OK\r\n");
    assert_eq!(c.cmd_str("ACL DRYRUN u fetch k"), "+OK\r\n");
    // Renaming a command that does not exist is a fatal configuration error.
    let out = std::process::Command::new(keel_bin())
        .args(["--port", "0", "--rename-command", "nosuch", "x"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("No such command in rename-command"), "{err}");
}

#[test]
fn aof_replay_is_not_subject_to_acls() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    {
        let first = start_keel(&["--appendonly", "yes", "--dir", &d]);
        assert_eq!(Conn::new(first.port).cmd_str("SET b1 v"), "+OK\r\n");
    }
    // The default user may now only read a*: replaying the AOF still restores b1.
    let srv = start_keel(&[
        "--appendonly",
        "yes",
        "--dir",
        &d,
        "--user",
        "default",
        "on",
        "nopass",
        "~a*",
        "+get",
        "+auth",
        "--user",
        "admin",
        "on",
        "nopass",
        "~*",
        "+@all",
    ]);
    let mut c = Conn::new(srv.port);
    assert_eq!(c.cmd_str("GET b1"), "-NOPERM No permissions to access a key\r\n");
    assert_eq!(c.cmd_str("AUTH admin x"), "+OK\r\n");
    assert_eq!(c.cmd_str("GET b1"), "$1\r\nv\r\n");
    // Redefining `default` in the config starts from a reset user (sanitize-payload on).
    assert_eq!(
        c.cmd_str("ACL LIST"),
        "*2\r\n$43\r\nuser admin on nopass ~* resetchannels +@all\r\n\
         $74\r\nuser default on nopass sanitize-payload ~a* resetchannels -@all +get +auth\r\n"
    );
}

/// What a connection that is expected to be gone, or still alive, shows: `closed` once the
/// server dropped it, else the reply to a PING (in subscribed mode, a `pong` message).
fn fate(c: &mut Conn) -> String {
    c.send(&[b"PING"]);
    match c.read_outcome() {
        Read::Reply(r) => String::from_utf8_lossy(&r).into_owned(),
        Read::Closed => "closed".into(),
        Read::TimedOut => "silent".into(),
    }
}

/// A connection logged in as `user` (a nopass user) that ran `subscribe` (e.g.
/// `SUBSCRIBE news`); the transcript gets the replies.
fn subscriber(port: u16, user: &str, subscribe: &str, out: &mut Vec<String>) -> Conn {
    let mut c = Conn::new(port);
    if user != "default" {
        out.push(c.cmd_str(&format!("AUTH {user} x")));
    }
    send(&mut c, subscribe);
    for _ in 1..subscribe.split(' ').count() {
        out.push(reply(&mut c));
    }
    c
}

/// How many connections `CLIENT LIST` shows logged in as `user`.
fn clients_of(admin: &mut Conn, user: &str) -> String {
    let list = admin.cmd_str("CLIENT LIST");
    let n = list.lines().filter(|l| l.contains(&format!(" user={user} "))).count();
    format!("{user}: {n} clients")
}

#[test]
fn setuser_disconnects_subscribers_to_revoked_channels() {
    same_on_both(|port| {
        let mut out = Vec::new();
        let mut admin = Conn::new(port);
        out.push(admin.cmd_str("ACL SETUSER u on nopass +@all &news &other &sh*"));
        let mut news = subscriber(port, "u", "SUBSCRIBE news", &mut out);
        let mut other = subscriber(port, "u", "SUBSCRIBE other", &mut out);
        let mut both = subscriber(port, "u", "SUBSCRIBE other news", &mut out);
        let mut shard = subscriber(port, "u", "SSUBSCRIBE sh1", &mut out);
        let mut gone = subscriber(port, "u", "SUBSCRIBE news", &mut out);
        gone.cmd_str("UNSUBSCRIBE");
        let mut plain = Conn::new(port);
        out.push(plain.cmd_str("AUTH u x"));
        // Adding a channel revokes nothing: nobody is checked.
        out.push(admin.cmd_str("ACL SETUSER u &more"));
        out.push(clients_of(&mut admin, "u"));
        // Taking `news` away closes its subscribers, and only them.
        out.push(admin.cmd_str("ACL SETUSER u resetchannels &other &more &sh*"));
        for c in [&mut news, &mut other, &mut both, &mut shard, &mut gone, &mut plain] {
            out.push(fate(c));
        }
        out.push(clients_of(&mut admin, "u"));
        // Shard channels count too; a pattern rule covers a shard channel by matching.
        out.push(admin.cmd_str("ACL SETUSER u resetchannels &other"));
        out.push(fate(&mut shard));
        out.push(fate(&mut other));
        out.push(clients_of(&mut admin, "u"));
        // `&*` (any selector) keeps everyone.
        out.push(admin.cmd_str("ACL SETUSER u allchannels"));
        out.push(fate(&mut other));
        out.push(admin.cmd_str("ACL DELUSER u"));
        out.push(fate(&mut other));
        out.push(fate(&mut plain));
        out.push(clients_of(&mut admin, "u"));
        out
    });
}

#[test]
fn pattern_subscriptions_need_the_pattern_itself() {
    same_on_both(|port| {
        let mut out = Vec::new();
        let mut admin = Conn::new(port);
        out.push(admin.cmd_str("ACL SETUSER p on nopass +@all &n* &x"));
        let mut star = subscriber(port, "p", "PSUBSCRIBE n*", &mut out);
        let mut x = subscriber(port, "p", "PSUBSCRIBE x", &mut out);
        let mut news = subscriber(port, "p", "SUBSCRIBE news", &mut out);
        // `x` goes: the pattern subscription to `x` with it; `n*` is still there literally.
        out.push(admin.cmd_str("ACL SETUSER p resetchannels &n* &news"));
        out.push(fate(&mut star));
        out.push(fate(&mut x));
        out.push(fate(&mut news));
        // `n*` replaced by narrower rules that would match every channel it names: the
        // pattern subscription still goes, the channel one stays.
        out.push(admin.cmd_str("ACL SETUSER p resetchannels &news &n?"));
        out.push(fate(&mut star));
        out.push(fate(&mut news));
        out.push(clients_of(&mut admin, "p"));
        out
    });
}

#[test]
fn revoking_allchannels_and_selectors() {
    same_on_both(|port| {
        let mut out = Vec::new();
        let mut admin = Conn::new(port);
        out.push(admin.cmd_str("ACL SETUSER s on nopass +@all allchannels"));
        let mut a = subscriber(port, "s", "PSUBSCRIBE a*", &mut out);
        let mut b = subscriber(port, "s", "SUBSCRIBE b", &mut out);
        let mut c = subscriber(port, "s", "SUBSCRIBE c", &mut out);
        // The channels of every selector count together.
        admin.send(&[b"ACL", b"SETUSER", b"s", b"resetchannels", b"&a*", b"(+get &b)"]);
        out.push(reply(&mut admin));
        out.push(fate(&mut a));
        out.push(fate(&mut b));
        out.push(fate(&mut c));
        out.push(admin.cmd_str("ACL SETUSER s clearselectors"));
        out.push(fate(&mut a));
        out.push(fate(&mut b));
        out.push(clients_of(&mut admin, "s"));
        out
    });
}

#[test]
fn the_default_users_subscribers_too() {
    same_on_both(|port| {
        let mut out = Vec::new();
        let mut admin = Conn::new(port);
        let mut news = subscriber(port, "default", "SUBSCRIBE news", &mut out);
        let mut other = subscriber(port, "default", "SUBSCRIBE other", &mut out);
        out.push(admin.cmd_str("ACL SETUSER default resetchannels &other"));
        out.push(fate(&mut news));
        out.push(fate(&mut other));
        out.push(admin.cmd_str("ACL SETUSER default reset on nopass ~* &* +@all"));
        out.push(fate(&mut other));
        out.push(clients_of(&mut admin, "default"));
        out
    });
}

/// A RESP3 client may run commands while subscribed: revoking its own channel answers,
/// then closes the connection (Keel only: the 7.0 oracle crashes on this, freeing the client
/// that is running the command; later Redis versions close it after the reply, as here).
#[test]
fn a_resp3_subscriber_revoking_its_own_channel() {
    let srv = start_keel(&[]);
    let mut admin = Conn::new(srv.port);
    assert_eq!(admin.cmd_str("ACL SETUSER me on nopass +@all &news &other"), "+OK\r\n");
    let mut c = Conn::new(srv.port);
    assert!(c.cmd_str("HELLO 3 AUTH me x").starts_with("%7\r\n"));
    assert_eq!(c.cmd_str("SUBSCRIBE news"), ">3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
    assert_eq!(c.cmd_str("ACL SETUSER me resetchannels &news"), "+OK\r\n");
    assert_eq!(fate(&mut c), "+PONG\r\n");
    assert_eq!(c.cmd_str("ACL SETUSER me resetchannels"), "+OK\r\n");
    assert_eq!(fate(&mut c), "closed");
    assert_eq!(clients_of(&mut admin, "me"), "me: 0 clients");
}

/// ACL LIST on a server started with `args`, after `ACL SETUSER fresh` and `... reset`.
fn users_under(srv: &TestServer) -> Vec<String> {
    let mut c = Conn::new(srv.port);
    let mut out = vec![c.cmd_str("CONFIG GET acl-pubsub-default"), c.cmd_str("ACL LIST")];
    out.push(c.cmd_str("ACL SETUSER fresh"));
    out.push(c.cmd_str("ACL SETUSER cu reset"));
    out.push(c.cmd_str("ACL LIST"));
    out
}

#[test]
fn acl_pubsub_default_at_startup() {
    // `user` lines of the configuration, and the redefined default user.
    let args = [
        "--acl-pubsub-default",
        "allchannels",
        "--user",
        "cu",
        "on",
        "nopass",
        "+get",
        "--user",
        "default",
        "on",
        "nopass",
        "~*",
        "+@all",
    ];
    let want = users_under(&start_redis(&args));
    assert_eq!(users_under(&start_keel(&args)), want);
    assert!(want[1].contains("user cu on nopass &* -@all +get"), "{want:?}");
    // An ACL file's users, at startup and on ACL LOAD.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.acl");
    std::fs::write(&path, "user cu on nopass +get\n").unwrap();
    let p = path.display().to_string();
    let run = |srv: TestServer| {
        let mut out = users_under(&srv);
        let mut c = Conn::new(srv.port);
        out.push(c.cmd_str("CONFIG SET acl-pubsub-default resetchannels"));
        out.push(c.cmd_str("ACL LOAD"));
        out.push(c.cmd_str("ACL LIST"));
        out
    };
    let args = ["--acl-pubsub-default", "allchannels", "--aclfile", &p];
    let want = run(start_redis(&args));
    assert_eq!(run(start_keel(&args)), want);
}

#[test]
fn acl_load_keeps_the_default_users_subscribers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.acl");
    let before = "user default on nopass ~* &* +@all\nuser u on nopass &a +@all\n";
    // The reloaded file takes `news` away from the default user and changes nothing for u.
    let after = "user default on nopass ~* resetchannels &a +@all\nuser u on nopass &a +@all\n";
    let p = path.display().to_string();
    let run = |srv: TestServer| {
        let mut out = Vec::new();
        let mut admin = Conn::new(srv.port);
        let mut d = subscriber(srv.port, "default", "SUBSCRIBE news", &mut out);
        let mut u = subscriber(srv.port, "u", "SUBSCRIBE a", &mut out);
        std::fs::write(&path, after).unwrap();
        out.push(admin.cmd_str("ACL LOAD"));
        out.push(fate(&mut d));
        out.push(fate(&mut u));
        out.push(admin.cmd_str("ACL LIST"));
        out
    };
    std::fs::write(&path, before).unwrap();
    let want = run(start_redis(&["--aclfile", &p]));
    std::fs::write(&path, before).unwrap();
    assert_eq!(run(start_keel(&["--aclfile", &p])), want);
}
