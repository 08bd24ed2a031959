//! In-process command tests: the real dispatch with a test clock, no sockets, no sleeping.

// Test code may panic on unexpected failures: that is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keel_server::testing::Harness;

const T0: u64 = 1_800_000_000_000;

#[test]
fn lazy_expiry_follows_the_test_clock() {
    let mut h = Harness::new(T0);
    assert_eq!(h.cmd(&["SET", "k", "v", "PX", "100"]), "+OK\r\n");
    assert_eq!(h.cmd(&["PTTL", "k"]), ":100\r\n");
    h.advance(99);
    assert_eq!(h.cmd(&["GET", "k"]), "$1\r\nv\r\n");
    h.advance(1);
    assert_eq!(h.cmd(&["GET", "k"]), "$-1\r\n");
    assert_eq!(h.cmd(&["TTL", "k"]), ":-2\r\n");
    assert_eq!(h.srv.ks.stats.expired, 1);
}

#[test]
fn ttl_rounds_like_redis() {
    let mut h = Harness::new(T0);
    h.cmd(&["SET", "k", "v", "EX", "10"]);
    h.advance(1);
    assert_eq!(h.cmd(&["TTL", "k"]), ":10\r\n");
    h.advance(500);
    assert_eq!(h.cmd(&["TTL", "k"]), ":9\r\n");
    assert_eq!(h.cmd(&["EXPIRETIME", "k"]), format!(":{}\r\n", T0 / 1000 + 10));
    assert_eq!(h.cmd(&["PERSIST", "k"]), ":1\r\n");
    assert_eq!(h.cmd(&["TTL", "k"]), ":-1\r\n");
}

#[test]
fn active_expiry_removes_untouched_keys() {
    let mut h = Harness::new(T0);
    for i in 0..500 {
        h.cmd(&["SET", &format!("k{i}"), "v", "PX", "50"]);
    }
    for i in 0..500 {
        h.cmd(&["SET", &format!("keep{i}"), "v"]);
    }
    h.advance(51);
    for _ in 0..200 {
        h.active_expire();
        if h.srv.ks.db(0).len() == 500 {
            break;
        }
    }
    assert_eq!(h.cmd(&["DBSIZE"]), ":500\r\n");
    assert_eq!(h.srv.ks.stats.expired, 500);
}

#[test]
fn expire_in_the_past_deletes() {
    let mut h = Harness::new(T0);
    h.cmd(&["SET", "k", "v"]);
    assert_eq!(h.cmd(&["PEXPIREAT", "k", &(T0 - 1).to_string()]), ":1\r\n");
    assert_eq!(h.cmd(&["EXISTS", "k"]), ":0\r\n");
}

#[test]
fn commandstats_and_errorstats_count() {
    let mut h = Harness::new(T0);
    h.cmd(&["SET", "k", "v"]);
    h.cmd(&["INCR", "k"]);
    h.cmd(&["GET"]);
    h.cmd(&["NOSUCH"]);
    let set = h.srv.stats.cmd["set"];
    assert_eq!(set.calls, 1);
    let incr = h.srv.stats.cmd["incr"];
    assert_eq!((incr.calls, incr.failed_calls), (1, 1));
    assert_eq!(h.srv.stats.cmd["get"].rejected_calls, 1);
    assert_eq!(h.srv.stats.errors["ERR"], 3);
}

#[test]
fn writes_are_handed_to_persistence_only_when_they_change_data() {
    let mut h = Harness::new(T0);
    h.cmd(&["SET", "k", "v"]);
    h.cmd(&["GET", "k"]);
    h.cmd(&["DEL", "nothing"]);
    h.cmd(&["SETNX", "k", "w"]);
    assert_eq!(h.srv.propagation.fed, 1);
}
