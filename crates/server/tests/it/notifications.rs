//! Keyspace notifications on both servers: a script of commands runs on one connection
//! while another, subscribed in RESP2 to every `__keyspace@*__` and `__keyevent@*__`
//! channel, collects what each command announced. Replies and messages must match
//! redis-server's, command by command.
//!
//! Script lines are commands in redis-cli quoting; `?` before a command compares its
//! events but not its reply (random picks, or set orders that differ between 7.0 and 7.2
//! encodings); `!sleep ms` pauses; `#` starts a comment. Where Redis 7.2 announces
//! something else than the 7.0 oracle (listed in tests/diff/divergences.txt), the line is
//! `%command => event@key ...`: replies are compared as usual, and Keel's messages must
//! be exactly those of the listed events (database 0, `K` and `E` enabled).

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
# Lists: pushes, edits and pops announce themselves; an emptied list adds `del`.
flushall
lpush l a b c
rpush l d
lpushx l e
rpushx l f
lpushx nol a
rpushx nol a
linsert l before a x
linsert l after zz y
linsert nol before a x
lset l 0 z
lset l 100 z
lset nol 0 z
lpop l
rpop l
lpop l 0
lpop l 2
rpop l 1
lpop nol
lpop nol 2
rpop nol 0
lrem l 0 zz
lrem l 1 a
lrem nol 1 a
ltrim l 0 -1
ltrim l 0 0
ltrim nol 0 1
rpush l2 a b c
ltrim l2 5 10
rpush l3 a a b
lrem l3 0 a
lrem l3 0 b
rpush src a b
lmove src dst left right
lmove src src left right
lmove src src right left
rpoplpush src dst
rpoplpush src dst
lmove nosrc dst left left
set str x
lmove dst str left left
lmove str dst left left
lpush str a
rpush one x
lpop one
rpush one x
rpop one 5
rpush m1 a b
lmpop 2 nol m1 left count 1
lmpop 2 nol m1 right count 10
lmpop 1 nol left
rpush b1 a b
blpop nol b1 0
brpop b1 0
rpush b2 x y
blmove b2 b3 right left 0
brpoplpush b2 b3 0
blmpop 0 2 nol b3 left count 5
llen nol
lrange nol 0 -1
lindex nol 0
lpos nol a
rpush "\x00\xff" "\x00"
rpop "\x00\xff"
# Sorted sets: `zadd`, `zincr` (ZINCRBY and ZADD INCR), removals, pops and stores.
flushall
zadd z 1 a 2 b 3 c
zadd z 1 a
zadd z nx 5 a
zadd z xx 5 zz
zadd z xx 5 a
zadd z ch 6 a
zadd z gt 1 a
zadd z lt 1 a
zadd z incr 1 a
zadd z incr nx 1 a
zadd z incr xx 0 a
zadd z2 xx 1 a
zadd z2 incr 1 a
zincrby z 1 b
zincrby z 0 b
zincrby z3 1 x
zadd z 1 d 1 e
zadd inf +inf x
zadd inf incr -inf x
zadd z 1 a nan b
zadd str 1 a
zrem z zz
zrem z a b
zrem noz a
zremrangebyscore z 100 200
zremrangebyscore z -inf +inf
zadd z 1 a 2 b 3 c 4 d
zremrangebyrank z 0 0
zremrangebyrank z 10 20
zremrangebyrank noz 0 -1
zadd zl 0 a 0 b 0 c
zremrangebylex zl [a [a
zremrangebylex zl - +
zremrangebylex noz - +
zpopmin z
zpopmax z 1
zpopmin z 0
zpopmin noz
zpopmax noz 2
zpopmax z 10
zadd z 1 a 2 b
bzpopmin noz z 0
bzpopmax z 0
zadd m1 1 a 2 b 3 c
zmpop 2 noz m1 min count 2
zmpop 1 m1 max
zmpop 1 noz min
zadd m2 1 a
bzmpop 0 1 m2 max count 3
zadd s1 1 a 2 b
zadd s2 2 b 3 c
zunionstore d1 2 s1 s2
zinterstore d2 2 s1 s2
zdiffstore d3 2 s1 s2
zinterstore d1 2 s1 noz
zinterstore d1 2 s1 noz
zdiffstore d3 2 s1 s1
zunionstore d4 1 noz
zrangestore d5 s1 0 -1
zrangestore d5 s1 10 20
zrangestore d5 noz 0 -1
zrangestore d6 s1 (1 +inf byscore limit 0 1
zrangestore d6 s1 0 -1 rev
zunion 2 s1 noz
zinter 2 s1 noz
zdiff 2 noz s1
zscore noz a
zcard noz
zrange noz 0 -1
zrangebyscore noz -inf +inf
zrevrange noz 0 -1
zrandmember noz
zscan noz 0
zrank noz a
zmscore noz a
zcount noz -inf +inf
zlexcount noz - +
zintercard 1 noz
sadd set a b
zunionstore d7 2 set s1
zunionstore str 1 s1
zadd "\x00\xff" 1 "\x00"
zpopmin "\x00\xff"
# Streams: one event per change, `xtrim` after `xadd` when XADD trimmed; consumers made
# on the fly announce `xgroup-createconsumer`.
flushall
xadd s 1-1 f v
xadd s 1-2 f v
xadd s 1-1 f v
xadd s nomkstream 2-1 f v
xadd nos nomkstream 1-1 f v
xadd s maxlen 2 3-1 f v
xadd s maxlen 10 3-2 f v
xadd s maxlen ~ 1 3-3 f v
xadd s minid 3-2 4-1 f v
xadd s maxlen = 0 4-2 f v
xadd s 5-1 f v
xtrim s maxlen 100
xtrim s minid 0
xtrim s maxlen 1
xtrim nos maxlen 0
xdel s 1-1
xdel s 5-1
xdel nos 1-1
xadd s 5-2 f v
xsetid s 10-1
xsetid s 1-1
xsetid nos 1-1
xsetid s 11-1 entriesadded 100 maxdeletedid 5-1
set str x
xadd str 1-1 f v
xgroup create s g 0
xgroup create s g 0
xgroup create nos g 0
xgroup create ns g $ mkstream
xgroup create ns g2 0 mkstream
xgroup setid s g 0
xgroup setid s g $ entriesread 1
xgroup setid s g 0
xgroup setid s nog 0
xgroup createconsumer s g c1
xgroup createconsumer s g c1
xgroup createconsumer s nog c1
xreadgroup group g c2 streams s >
%xreadgroup group g c3 streams s > => xgroup-createconsumer@s
xreadgroup group g c4 streams s 0
xreadgroup group g c2 streams s >
%xreadgroup group g c5 streams s ns > > => xgroup-createconsumer@s xgroup-createconsumer@ns
xreadgroup group g c5 streams nos >
xadd s 12-1 f v
xadd ns 1-1 f v
xreadgroup group g c6 count 1 streams s ns > >
%xreadgroup group g c7 noack streams ns > => xgroup-createconsumer@ns
xclaim s g c8 0 5-2
%xclaim s g c9 0 99-1 => xgroup-createconsumer@s
xclaim nos g c9 0 1-1
xclaim str g c9 0 1-1
xclaim s g c8 0 5-2 justid
xclaim s g c10 0 5-2 force
xclaim s nog c10 0 5-2
xautoclaim s g c11 0 0
%xautoclaim s g c12 0 99-1 => xgroup-createconsumer@s
xautoclaim nos g c12 0 0
xautoclaim str g c12 0 0
xautoclaim s g c11 0 0 count 1 justid
xack s g 5-2
xack s g 5-2
xgroup delconsumer s g c11
xgroup delconsumer s g nope
xgroup delconsumer s nog c1
xgroup destroy s g
xgroup destroy s g
xgroup destroy nos g
xrange nos - +
xrevrange nos + -
xlen nos
xread streams nos 0
xpending nos g
xinfo stream nos
xdel s 12-1
xtrim s maxlen 0
xadd "\x00\xff" 1-1 "\x00" ""
xtrim "\x00\xff" maxlen 0
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

/// The messages a subscriber to `__key*__:*` gets for `spec`, a list of `event@key` in
/// database 0 with both `K` and `E` on.
fn expected_messages(spec: &str) -> Vec<String> {
    let pmessage = |channel: &str, msg: &str| {
        format!(
            "*4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n${}\r\n{channel}\r\n${}\r\n{msg}\r\n",
            channel.len(),
            msg.len()
        )
    };
    let mut out = Vec::new();
    for item in spec.split_whitespace() {
        let (event, key) = item.split_once('@').expect("event@key");
        out.push(pmessage(&format!("__keyspace@0__:{key}"), event));
        out.push(pmessage(&format!("__keyevent@0__:{event}"), key));
    }
    out
}

/// Runs the script on the server at `port` and returns, per command, its reply and the
/// messages it caused, rendered for comparison. `oracle` tells whether it is redis-server,
/// whose messages are not checked on `%` lines.
fn run_script(port: u16, oracle: bool) -> Vec<String> {
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
        let (cmd, v72) = match cmd.strip_prefix('%') {
            Some(rest) => {
                let (cmd, spec) = rest.split_once(" =>").expect("`%command => events`");
                (cmd, Some(spec.trim()))
            }
            None => (cmd, None),
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
        let events = match v72 {
            None => format!("{events:?}"),
            Some(spec) if oracle || events == expected_messages(spec) => format!("7.2: [{spec}]"),
            Some(spec) => format!("{events:?}, while 7.2 announces [{spec}]"),
        };
        out.push(format!("{cmd}\n  reply: {reply:?}\n  events: {events}"));
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
    let r = run_script(redis.port, true);
    let k = run_script(keel.port, false);
    assert!(r.len() > 400, "the script runs {} commands", r.len());
    assert_eq!(r.len(), k.len());
    // Every differing command is reported, not just the first.
    let diffs: Vec<String> = r
        .iter()
        .zip(&k)
        .filter(|(r, k)| r != k)
        .map(|(r, k)| format!("redis: {r}\nkeel:  {k}"))
        .collect();
    assert!(diffs.is_empty(), "{} commands differ:\n{}", diffs.len(), diffs.join("\n\n"));
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

/// Blocking commands served when another client's write wakes them announce their pops,
/// moves and consumer creations right after the waking write's own events. Each step is
/// `(setup, blocking command, waking write)`; the transcript holds the blocked client's
/// reply and every message of the waking write and the served command.
#[test]
fn served_blocked_commands_announce_their_changes() {
    const STEPS: &[(&str, &str, &str)] = &[
        ("", "BLPOP l1 0", "RPUSH l1 a"),
        ("", "BRPOP l1 l2 0", "RPUSH l2 a b"),
        ("", "BLMOVE l3 l4 LEFT RIGHT 0", "LPUSH l3 a b"),
        ("", "BRPOPLPUSH l5 l5 0", "RPUSH l5 a"),
        ("", "BLMPOP 0 2 l6 l7 RIGHT COUNT 5", "RPUSH l7 a b"),
        ("", "BZPOPMIN z1 0", "ZADD z1 1 a"),
        ("", "BZPOPMAX z1 z2 0", "ZADD z2 1 a 2 b"),
        ("", "BZMPOP 0 1 z3 MAX COUNT 3", "ZADD z3 1 a 2 b"),
        ("", "XREAD BLOCK 0 STREAMS s $", "XADD s 2-1 f v"),
        // An existing consumer: Redis 7.2 creates a new one when the command first blocks,
        // 7.0 only once it is served (see `blocked_xreadgroup_creates_its_consumer_at_once`).
        ("XGROUP SETID s g $", "XREADGROUP GROUP g c BLOCK 0 STREAMS s >", "XADD s 3-1 f v"),
    ];
    same_on_both(|port| {
        let mut w = Conn::new(port);
        let mut blocked = Conn::new(port);
        let mut sub = Conn::new(port);
        w.cmd_str("CONFIG SET notify-keyspace-events KEA");
        w.cmd_str("XADD s 1-1 f v");
        w.cmd_str("XGROUP CREATE s g 0");
        w.cmd_str("XGROUP CREATECONSUMER s g c");
        sub.cmd(&[b"PSUBSCRIBE", b"__key*__:*"]);
        sub.cmd(&[b"SUBSCRIBE", MARKER]);
        let mut out = Vec::new();
        for (setup, wait, wake) in STEPS {
            if !setup.is_empty() {
                w.cmd_str(setup);
            }
            events_until_marker(&mut w, &mut sub);
            send(&mut blocked, wait);
            wait_blocked(&mut w, 1);
            out.push(format!("{wake}: {}", w.cmd_str(wake)));
            out.push(format!("{wait}: {}", reply(&mut blocked)));
            out.extend(events_until_marker(&mut w, &mut sub));
        }
        out
    });
}

/// Redis 7.2 creates the consumer an XREADGROUP names as soon as the command runs, so one
/// that then blocks has already announced `xgroup-createconsumer` (7.0 created it only
/// when served; listed in tests/diff/divergences.txt). Checked on Keel alone.
#[test]
fn blocked_xreadgroup_creates_its_consumer_at_once() {
    let keel = start_keel(&["--notify-keyspace-events", "KEA"]);
    let mut w = Conn::new(keel.port);
    let mut blocked = Conn::new(keel.port);
    let mut sub = Conn::new(keel.port);
    w.cmd_str("XGROUP CREATE s g $ MKSTREAM");
    sub.cmd(&[b"PSUBSCRIBE", b"__key*__:*"]);
    sub.cmd(&[b"SUBSCRIBE", MARKER]);
    send(&mut blocked, "XREADGROUP GROUP g fresh BLOCK 0 STREAMS s >");
    wait_blocked(&mut w, 1);
    assert_eq!(events_until_marker(&mut w, &mut sub), expected_messages("xgroup-createconsumer@s"));
    w.cmd_str("XADD s 1-1 f v");
    assert!(reply(&mut blocked).contains("1-1"));
    // Served later, the known consumer is not announced again.
    assert_eq!(events_until_marker(&mut w, &mut sub), expected_messages("xadd@s"));
}
