//! Keyspace notifications of the geo commands, compared with redis-server: GEOADD announces
//! `zadd`, GEOSEARCHSTORE `geosearchstore`, GEORADIUS[BYMEMBER] ... STORE `georadiusstore`,
//! and an empty stored result deletes the target with `del`.

use super::common::*;

/// Commands run one by one; after each, everything the subscriber received is recorded.
const SCRIPT: &[&str] = &[
    "CONFIG SET notify-keyspace-events KEA",
    "GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
    "GEOADD Sicily 13.361389 38.115556 Palermo",
    "GEOADD Sicily XX 1 1 Nowhere",
    "GEOADD Sicily 200 1 Bad",
    "GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 km",
    "GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST",
    "GEORADIUS Sicily 15 37 200 km STORE dst2",
    "GEORADIUSBYMEMBER Sicily Palermo 10 km STOREDIST dst3",
    "GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 1 m",
    "GEORADIUS nokey 15 37 200 km STORE dst2",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km",
];

/// Everything the subscriber received before the reply to a PING sent now: the command
/// before it has been answered, so its messages were sent ahead of that reply.
fn drain(sub: &mut Conn) -> Vec<Vec<u8>> {
    sub.send(&[b"PING"]);
    let mut got = Vec::new();
    loop {
        let m = sub.read_reply().expect("a message or the PING reply");
        if m.windows(4).any(|w| w == b"pong") {
            return got;
        }
        got.push(m);
    }
}

#[test]
fn geo_commands_announce_like_redis() {
    let transcript = same_on_both(|port| {
        let mut sub = Conn::new(port);
        let mut c = Conn::new(port);
        let mut out = vec![sub.cmd(&[b"PSUBSCRIBE", b"__key*__:*"])];
        for line in SCRIPT {
            let words: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
            out.push(c.cmd(&words));
            out.extend(drain(&mut sub));
        }
        out
    });
    let text = transcript.join("");
    for event in ["zadd", "geosearchstore", "georadiusstore", "del"] {
        assert!(text.contains(event), "no {event} event in {text}");
    }
}
