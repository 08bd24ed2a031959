//! Client-side caching across connections (RESP2 redirect), on both servers.

use super::common::*;

fn scenario(port: u16) -> Vec<Vec<u8>> {
    let mut listener = Conn::new(port);
    let mut cache = Conn::new(port);
    let mut writer = Conn::new(port);
    let id_reply = listener.cmd(&[b"CLIENT", b"ID"]);
    let id = String::from_utf8_lossy(&id_reply[1..id_reply.len() - 2]).into_owned();
    let mut out = vec![listener.cmd(&[b"SUBSCRIBE", b"__redis__:invalidate"])];
    out.push(cache.cmd(&[b"CLIENT", b"TRACKING", b"on", b"REDIRECT", id.as_bytes()]));
    out.push(cache.cmd(&[b"GET", b"job:1"]));
    out.push(cache.cmd(&[b"MGET", b"job:2", b"job:3"]));
    out.push(writer.cmd(&[b"SET", b"job:1", b"done"]));
    out.push(listener.read_reply().unwrap());
    out.push(writer.cmd(&[b"MSET", b"job:2", b"a", b"job:3", b"b"]));
    out.push(listener.read_reply().unwrap());
    out.push(listener.read_reply().unwrap());
    // Once invalidated, a key is forgotten until read again.
    out.push(writer.cmd(&[b"SET", b"job:1", b"again"]));
    out.push(writer.cmd(&[b"FLUSHALL"]));
    out.push(listener.read_reply().unwrap());
    let info = cache.cmd(&[b"CLIENT", b"TRACKINGINFO"]);
    out.push(String::from_utf8_lossy(&info).replace(&format!(":{id}\r\n"), ":ID\r\n").into_bytes());
    out
}

#[test]
fn redirected_invalidations_match_redis() {
    same_on_both(scenario);
}
