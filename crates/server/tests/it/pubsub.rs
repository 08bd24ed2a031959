//! Pub/sub across connections, on both servers: messages, patterns, counts, disconnects.

use super::common::*;

fn scenario(port: u16) -> Vec<Vec<u8>> {
    let mut sub = Conn::new(port);
    let mut psub = Conn::new(port);
    let mut publisher = Conn::new(port);
    let mut out = vec![sub.cmd(&[b"SUBSCRIBE", b"jobs", b"events"])];
    out.push(sub.read_reply().unwrap());
    out.push(psub.cmd(&[b"PSUBSCRIBE", b"job*"]));
    out.push(publisher.cmd(&[b"PUBLISH", b"jobs", b"job-1"]));
    out.push(sub.read_reply().unwrap());
    out.push(psub.read_reply().unwrap());
    out.push(publisher.cmd(&[b"PUBLISH", b"events", b"e\x00\xff"]));
    out.push(sub.read_reply().unwrap());
    out.push(publisher.cmd(&[b"PUBSUB", b"NUMSUB", b"jobs", b"events", b"none"]));
    out.push(publisher.cmd(&[b"PUBSUB", b"NUMPAT"]));
    out.push(sub.cmd(&[b"UNSUBSCRIBE", b"jobs"]));
    out.push(publisher.cmd(&[b"PUBLISH", b"jobs", b"job-2"]));
    out.push(psub.read_reply().unwrap());
    drop(sub);
    std::thread::sleep(std::time::Duration::from_millis(50));
    out.push(publisher.cmd(&[b"PUBLISH", b"events", b"nobody"]));
    out
}

#[test]
fn messages_reach_subscribers_like_redis() {
    same_on_both(scenario);
}

/// A subscriber that never reads is disconnected at the pubsub hard limit instead of
/// growing the server's memory.
#[test]
fn slow_subscriber_is_disconnected() {
    let keel = start_keel(&["--client-output-buffer-limit", "pubsub 2mb 1mb 60"]);
    let mut sub = Conn::new(keel.port);
    sub.cmd(&[b"SUBSCRIBE", b"flood"]);
    let mut publisher = Conn::new(keel.port);
    let payload = vec![b'x'; 64 * 1024];
    let mut receivers = Vec::new();
    for _ in 0..400 {
        receivers.push(publisher.cmd(&[b"PUBLISH", b"flood", &payload]));
    }
    assert!(receivers.first().is_some_and(|r| r == b":1\r\n"));
    assert_eq!(
        receivers.last().map(|r| r.as_slice()),
        Some(&b":0\r\n"[..]),
        "the slow subscriber is still subscribed"
    );
}
