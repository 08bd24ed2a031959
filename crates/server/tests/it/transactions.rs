//! Transactions across connections: WATCH broken by another client, on both servers.

use super::common::*;

/// Runs the same two-client scenario on redis-server and keel-server and returns the
/// replies of each.
fn scenario(port: u16) -> Vec<Vec<u8>> {
    let mut a = Conn::new(port);
    let mut b = Conn::new(port);
    let mut out = vec![a.cmd(&[b"FLUSHALL"])];
    out.push(a.cmd(&[b"SET", b"k", b"1"]));
    out.push(a.cmd(&[b"WATCH", b"k", b"other"]));
    out.push(b.cmd(&[b"INCR", b"k"]));
    out.push(a.cmd(&[b"MULTI"]));
    out.push(a.cmd(&[b"SET", b"k", b"100"]));
    out.push(a.cmd(&[b"EXEC"]));
    out.push(a.cmd(&[b"GET", b"k"]));
    // Another client's no-op write does not break the transaction.
    out.push(a.cmd(&[b"WATCH", b"k"]));
    out.push(b.cmd(&[b"SETNX", b"k", b"x"]));
    out.push(a.cmd(&[b"MULTI"]));
    out.push(a.cmd(&[b"SET", b"k", b"200"]));
    out.push(a.cmd(&[b"EXEC"]));
    // A blocking command inside MULTI behaves as its non-blocking form.
    out.push(a.cmd(&[b"MULTI"]));
    out.push(a.cmd(&[b"BLPOP", b"nolist", b"0"]));
    out.push(a.cmd(&[b"EXEC"]));
    // DEL by another client of a watched key.
    out.push(a.cmd(&[b"WATCH", b"k"]));
    out.push(b.cmd(&[b"DEL", b"k"]));
    out.push(a.cmd(&[b"MULTI"]));
    out.push(a.cmd(&[b"GET", b"k"]));
    out.push(a.cmd(&[b"EXEC"]));
    out
}

#[test]
fn watch_across_clients_matches_redis() {
    same_on_both(scenario);
}
