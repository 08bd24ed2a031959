//! TCP tests: the blocking sorted set pops (BZPOPMIN, BZPOPMAX, BZMPOP). Each scenario runs
//! on keel and on the real redis-server with several connections, and the replies every
//! connection receives must be the same bytes on both (and the ones written here).

use super::common::*;
use std::time::{Duration, Instant};

/// Runs `scenario` on both servers, checks they agree, and returns keel's recording.
fn both(scenario: fn(u16) -> Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    same_on_both(scenario).into_iter().map(String::into_bytes).collect()
}

/// Gives a just-sent blocking command time to reach the server and park.
fn settle() {
    std::thread::sleep(Duration::from_millis(100));
}

#[test]
fn tiny_fractional_timeout_like_bullmq() {
    let got = both(|port| {
        let mut c = Conn::new(port);
        let t = Instant::now();
        let r = c.cmd(&[b"BZPOPMIN", b"wait", b"0.001"]);
        assert!(t.elapsed() < Duration::from_secs(2), "0.001 s timeout took {:?}", t.elapsed());
        let after = c.cmd(&[b"PING"]);
        vec![r, after]
    });
    assert_eq!(got, vec![b"*-1\r\n".to_vec(), b"+PONG\r\n".to_vec()]);
}

#[test]
fn timeout_waits_about_as_long_as_asked() {
    let got = both(|port| {
        let mut c = Conn::new(port);
        let t = Instant::now();
        let r = c.cmd(&[b"BZPOPMAX", b"a", b"b", b"0.2"]);
        let waited = t.elapsed();
        assert!(waited >= Duration::from_millis(180), "returned after {waited:?}");
        assert!(waited < Duration::from_secs(3), "returned after {waited:?}");
        vec![r]
    });
    assert_eq!(got, vec![b"*-1\r\n".to_vec()]);
}

#[test]
fn waiters_are_served_first_come_first_served() {
    let got = both(|port| {
        let (mut a, mut b, mut w) = (Conn::new(port), Conn::new(port), Conn::new(port));
        a.send(&[b"BZPOPMIN", b"q", b"0"]);
        settle();
        b.send(&[b"BZPOPMIN", b"q", b"0"]);
        settle();
        let added = w.cmd(&[b"ZADD", b"q", b"2", b"second", b"1", b"first"]);
        let ra = a.read_reply().expect("first waiter served");
        let rb = b.read_reply().expect("second waiter served");
        let left = w.cmd(&[b"EXISTS", b"q"]);
        vec![added, ra, rb, left]
    });
    assert_eq!(
        got,
        vec![
            b":2\r\n".to_vec(),
            b"*3\r\n$1\r\nq\r\n$5\r\nfirst\r\n$1\r\n1\r\n".to_vec(),
            b"*3\r\n$1\r\nq\r\n$6\r\nsecond\r\n$1\r\n2\r\n".to_vec(),
            b":0\r\n".to_vec(),
        ]
    );
}

#[test]
fn one_element_serves_only_the_oldest_waiter() {
    let got = both(|port| {
        let (mut a, mut b, mut w) = (Conn::new(port), Conn::new(port), Conn::new(port));
        a.send(&[b"BZPOPMAX", b"q", b"0"]);
        settle();
        b.send(&[b"BZPOPMAX", b"q", b"0.5"]);
        settle();
        w.cmd(&[b"ZADD", b"q", b"7", b"only"]);
        let ra = a.read_reply().expect("oldest waiter served");
        // The second waiter keeps waiting and then times out.
        let rb = b.read_reply().expect("timeout reply");
        vec![ra, rb]
    });
    assert_eq!(
        got,
        vec![b"*3\r\n$1\r\nq\r\n$4\r\nonly\r\n$1\r\n7\r\n".to_vec(), b"*-1\r\n".to_vec()]
    );
}

#[test]
fn wakes_on_any_of_several_keys() {
    let got = both(|port| {
        let (mut a, mut w) = (Conn::new(port), Conn::new(port));
        a.send(&[b"BZPOPMIN", b"k1", b"k2", b"k3", b"5"]);
        settle();
        w.cmd(&[b"ZADD", b"k2", b"1.5", b"m"]);
        vec![a.read_reply().expect("served")]
    });
    assert_eq!(got, vec![b"*3\r\n$2\r\nk2\r\n$1\r\nm\r\n$3\r\n1.5\r\n".to_vec()]);
}

#[test]
fn bzmpop_is_served_with_count() {
    let got = both(|port| {
        let (mut a, mut w) = (Conn::new(port), Conn::new(port));
        a.send(&[b"BZMPOP", b"0", b"2", b"x", b"y", b"MAX", b"COUNT", b"2"]);
        settle();
        w.cmd(&[b"ZADD", b"y", b"1", b"a", b"2", b"b", b"3", b"c"]);
        let r = a.read_reply().expect("served");
        let rest = w.cmd(&[b"ZRANGE", b"y", b"0", b"-1"]);
        vec![r, rest]
    });
    assert_eq!(
        got,
        vec![
            b"*2\r\n$1\r\ny\r\n*2\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"
                .to_vec(),
            b"*1\r\n$1\r\na\r\n".to_vec(),
        ]
    );
}

#[test]
fn wrong_type_write_does_not_wake_and_later_zadd_does() {
    let got = both(|port| {
        let (mut a, mut w) = (Conn::new(port), Conn::new(port));
        a.send(&[b"BZPOPMIN", b"k", b"5"]);
        settle();
        w.cmd(&[b"SET", b"other", b"v"]);
        w.cmd(&[b"ZADD", b"k", b"4", b"m"]);
        vec![a.read_reply().expect("served")]
    });
    assert_eq!(got, vec![b"*3\r\n$1\r\nk\r\n$1\r\nm\r\n$1\r\n4\r\n".to_vec()]);
}
