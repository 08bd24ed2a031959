//! Keyspace notifications on both servers: a script of commands runs on one connection
//! while another, subscribed in RESP2 to every `__keyspace@*__` and `__keyevent@*__`
//! channel, collects what each command announced. Replies and messages must match
//! redis-server's, command by command.
//!
//! Script lines are commands in redis-cli quoting; `?` before a command compares its
//! events but not its reply (random picks, or set orders that differ between 7.0 and 7.2
//! encodings); `!sleep ms` pauses; `#` starts a comment.

use super::common::*;
use std::time::Duration;

/// The scripted session.
const SCRIPT: &str = r#"
config set notify-keyspace-events KEAnm
set k v
set k v2
set k v ex 100
set k v keepttl
set k v nx
set k v xx get
set k2 v xx
setnx k v
setnx n1 v
setex k 100 v
psetex k 100 v
getset k v
getset g1 v
getdel k
getdel k
set k v
getex k
getex k ex 100
getex k persist
getex k persist
getex k pxat 1
getex k ex 100
set k v
get nokey
mget a b k
mset a 1 b 2
msetnx a 1 c 2
msetnx c 1 d 2
append a x
append new x
append new ""
setrange a 0 ""
setrange nn 0 ""
setrange a 0 z
setrange nn2 2 z
incr i
incrby i 0
decr i
decrby i 2
incrbyfloat f 1.5
incrbyfloat f 0
incr a
strlen nokey
lcs a nokey
set k v get
flushall
set k v
set k2 v
del k k2 k3
set k v
unlink k k
set a 1
set b 2
rename a b
rename b b
renamenx b c
set d 1
renamenx c d
rename zz d
expire d 100
pexpire d 100000
expireat d 99999999999
expire d 100 nx
expire d 100 gt
persist d
persist d
expire d -1
persist missing
set x 1
copy x y
copy x y
copy x y replace
copy x y db 1
copy missing y
move x 2
move y 1
set m 1
exists m nokey
type nokey
ttl nokey
touch nokey m
object encoding nokey
set e 1 px 100000
pexpireat e 1
set e 1
expire e 0
set e2 1 ex 100
rename e2 e3
hset h a 1 b 2
hset h a 1
hsetnx h a 2
hsetnx h c 3
hmset h d 4
hincrby h i 1
hincrbyfloat h f 1.5
hdel h zz
hdel h a b
hget nokey a
hget h zzz
hgetall nokey
hlen nokey
hexists nokey a
hmget nokey a
hkeys nokey
hvals nokey
hstrlen nokey a
hrandfield nokey
hscan nokey 0
hdel h c d i f
hincrby h2 x 1
hincrbyfloat h3 x 1
hsetnx h4 x 1
set s x
hset s a 1
flushall
sadd s a b c
sadd s a
srem s zz
srem s a
sismember nokey a
smismember nokey a
scard nokey
smembers nokey
srandmember nokey
sscan nokey 0
spop nokey
?spop s
sadd s x y z
?spop s 2
spop s 0
?spop s 10
sadd s a b
smove s t a
smove s t zz
smove s t b
sadd u a
smove u t a
sadd s1 a b c
sadd s2 b c d
sinterstore d1 s1 s2
sinterstore d1 s1 nokey
sunionstore d2 s1 s2
sdiffstore d3 s1 s2
sdiffstore d3 s1 s1
sinterstore d4 nokey1 nokey2
?sinter s1 nokey
?sunion s1 nokey
?sdiff nokey s1
sintercard 2 s1 nokey
sunionstore s1 s1 s2
sunionstore d5 nokey nokey2
set str x
sunionstore str s1
srem s1 a b c d
sadd one x
spop one
setbit b 7 1
setbit b 7 1
setbit b 7 0
setbit b 100 0
setbit nb 3 0
getbit nokey 1
bitcount nokey
bitpos nokey 1
bitfield nokey get u8 0
bitfield bf set u8 0 255
bitfield bf get u8 0
bitfield bf incrby u8 0 1
bitfield bf overflow fail incrby u8 0 255
bitfield bf overflow fail incrby u8 0 255
bitfield bf2 get u8 0
bitfield bf3 overflow fail incrby u8 0 300
bitfield_ro nokey get u8 0
set x1 abc
bitop and dest x1 nokey
bitop or dest x1 nokey
bitop and dest nokey nokey2
bitop not dest2 nokey
bitop or dest x1
pfadd p a b
pfadd p a
pfadd p2
pfadd p2
pfcount nokey
pfcount p nokey
pfmerge pm p nokey
pfmerge pm
pfmerge pm2
sadd l 3 1 2
sort l store sl
sort l store sl
sort nokey store sl
sort nokey store sl2
sort nokey
sort_ro nokey
sort l by nosort get nokey_* store sl3
swapdb 0 1
flushdb
flushall
flushall
# Lazy expiry: `expired` comes before the event of the command that found the key.
set t v px 20
!sleep 40
set t w
set t2 v px 20
!sleep 40
get t2
sadd t3 a
pexpire t3 20
!sleep 40
sadd t3 b
set t4 v px 20
!sleep 40
mset x4 1 t4 2
# Other databases are named in the channels.
select 3
set k v
move k 0
copy k k db 0
select 0
rename k k9
# A transaction's events come in the order its commands ran.
multi
set m1 a
incr m2
hset m3 f v
del m1 m9
exec
multi
set m1 a
lpush m1 x
exec
# Failing commands announce nothing.
set str x
incr str
hset str f v
sadd str a
append h x
setrange str -1 x
getex str ex 0
expire str abc
# Only the enabled classes.
config set notify-keyspace-events Kg
set c1 v
expire c1 100
del c1
config set notify-keyspace-events E$
set c1 v
incr c2
del c1
config set notify-keyspace-events Eh
hset c3 f v
set c4 v
config set notify-keyspace-events Es
sadd c5 a
hset c6 f v
config set notify-keyspace-events Ex
set c7 v px 20
!sleep 40
get c7
config set notify-keyspace-events Em
get c8
set c8 v
config set notify-keyspace-events En
set c9 v
set c9 w
config set notify-keyspace-events KEA
set c10 v
get c11
config set notify-keyspace-events Kn
set c12 v
config set notify-keyspace-events AKEmn
set c13 v
get c14
config set notify-keyspace-events g$
set c15 v
config set notify-keyspace-events ""
set c16 v
del c16
"#;

/// A channel outside the notification pattern: a message on it marks the end of one
/// command's events in the subscriber's stream.
const MARKER: &[u8] = b"zz-end-of-command";

/// Runs the script on the server at `port` and returns, per command, its reply and the
/// messages it caused, rendered for comparison.
fn run_script(port: u16) -> Vec<String> {
    let mut sub = Conn::new(port);
    let mut writer = Conn::new(port);
    // Only lazy expiry, so `expired` events come at deterministic points.
    assert_eq!(writer.cmd(&[b"DEBUG", b"SET-ACTIVE-EXPIRE", b"0"]), b"+OK\r\n");
    sub.cmd(&[b"PSUBSCRIBE", b"__key*__:*"]);
    sub.cmd(&[b"SUBSCRIBE", MARKER]);
    let mut out = Vec::new();
    let mut in_multi = false;
    for line in SCRIPT.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if let Some(ms) = line.strip_prefix("!sleep ") {
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
            continue;
        }
        let (compare_reply, cmd) = match line.strip_prefix('?') {
            Some(rest) => (false, rest),
            None => (true, line),
        };
        let argv = resp::request::split_args(cmd.as_bytes()).expect("balanced quotes");
        let argv: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
        let reply = writer.cmd(&argv);
        // Queued commands run (and announce) at EXEC; the marker would be queued too.
        let word = argv[0].to_ascii_lowercase();
        if word == b"multi" {
            in_multi = true;
        } else if word == b"exec" || word == b"discard" {
            in_multi = false;
        }
        let events = if in_multi { Vec::new() } else { events_until_marker(&mut writer, &mut sub) };
        let reply =
            if compare_reply { String::from_utf8_lossy(&reply).into_owned() } else { "-".into() };
        out.push(format!("{cmd}\n  reply: {reply:?}\n  events: {events:?}"));
    }
    out
}

/// Publishes the marker and returns every message the subscriber got before it.
fn events_until_marker(writer: &mut Conn, sub: &mut Conn) -> Vec<String> {
    writer.cmd(&[b"PUBLISH", MARKER, b"-"]);
    let mut events = Vec::new();
    loop {
        let msg = sub.read_reply().expect("a message");
        if msg.windows(MARKER.len()).any(|w| w == MARKER) {
            return events;
        }
        events.push(String::from_utf8_lossy(&msg).into_owned());
    }
}

#[test]
fn commands_announce_what_redis_announces() {
    let redis = start_redis(&["--enable-debug-command", "yes"]);
    let keel = start_keel(&["--enable-debug-command", "yes"]);
    let r = run_script(redis.port);
    let k = run_script(keel.port);
    assert!(r.len() > 150, "the script runs {} commands", r.len());
    for (r, k) in r.iter().zip(&k) {
        assert_eq!(r, k);
    }
    assert_eq!(r.len(), k.len());
}

/// Reads frames from `conn` until `n` have arrived, as text.
fn read_n(conn: &mut Conn, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| String::from_utf8_lossy(&conn.read_reply().expect("a frame")).into_owned())
        .collect()
}

/// A RESP3 client subscribed to its own keys' events gets its reply first and the events
/// after it (Redis 7.2 holds back pushes to the running client until its reply; 7.0 sent
/// them first, so this is checked on Keel alone). In a transaction the events follow the
/// whole EXEC reply.
#[test]
fn own_events_follow_the_reply() {
    let keel = start_keel(&["--notify-keyspace-events", "KEA"]);
    let mut c = Conn::new(keel.port);
    c.cmd(&[b"HELLO", b"3"]);
    c.cmd(&[b"SUBSCRIBE", b"__keyevent@0__:set", b"__keyspace@0__:k"]);
    c.read_reply().unwrap();
    c.send(&[b"SET", b"k", b"v"]);
    assert_eq!(
        read_n(&mut c, 3),
        [
            "+OK\r\n",
            ">3\r\n$7\r\nmessage\r\n$16\r\n__keyspace@0__:k\r\n$3\r\nset\r\n",
            ">3\r\n$7\r\nmessage\r\n$18\r\n__keyevent@0__:set\r\n$1\r\nk\r\n",
        ]
    );
    c.cmd(&[b"MULTI"]);
    c.cmd(&[b"SET", b"a", b"1"]);
    c.cmd(&[b"DEL", b"k"]);
    c.send(&[b"EXEC"]);
    assert_eq!(
        read_n(&mut c, 3),
        [
            "*2\r\n+OK\r\n:1\r\n",
            ">3\r\n$7\r\nmessage\r\n$18\r\n__keyevent@0__:set\r\n$1\r\na\r\n",
            ">3\r\n$7\r\nmessage\r\n$16\r\n__keyspace@0__:k\r\n$3\r\ndel\r\n",
        ]
    );
    // Nothing else is pending: the next reply is PING's.
    assert_eq!(c.cmd(&[b"PING"]), b"+PONG\r\n");
}

/// `n` cannot be read back once `A` is printed (CONFIG GET shows `AKE`, as Redis does),
/// yet new-key events stay on.
#[test]
fn new_key_events_survive_the_a_shorthand() {
    let redis = start_redis(&[]);
    let keel = start_keel(&[]);
    for port in [redis.port, keel.port] {
        let mut w = Conn::new(port);
        let mut sub = Conn::new(port);
        w.cmd(&[b"CONFIG", b"SET", b"notify-keyspace-events", b"KEAn"]);
        assert_eq!(
            w.cmd(&[b"CONFIG", b"GET", b"notify-keyspace-events"]),
            b"*2\r\n$22\r\nnotify-keyspace-events\r\n$3\r\nAKE\r\n"
        );
        sub.cmd(&[b"SUBSCRIBE", b"__keyevent@0__:new"]);
        w.cmd(&[b"SET", b"fresh", b"v"]);
        assert_eq!(
            String::from_utf8_lossy(&sub.read_reply().unwrap()),
            "*3\r\n$7\r\nmessage\r\n$18\r\n__keyevent@0__:new\r\n$5\r\nfresh\r\n",
            "port {port}"
        );
    }
}
