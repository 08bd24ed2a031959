//! TCP tests: blocking stream reads (XREAD BLOCK, XREADGROUP BLOCK). Each scenario runs
//! against redis-server and keel-server with several connections, and the transcripts of
//! replies (raw RESP) must be equal: who is served, with which entries, what a timeout
//! replies.

use super::common::*;
use std::time::{Duration, Instant};

/// XREAD with `$` on a missing key is woken when XADD creates the stream.
fn xread_woken_by_creation(port: u16) -> Vec<String> {
    let mut ctl = Conn::new(port);
    let mut a = Conn::new(port);
    send(&mut a, "XREAD BLOCK 0 STREAMS s $");
    wait_blocked(&mut ctl, 1);
    vec![ctl.cmd_str("XADD s 1-1 f v"), reply(&mut a), blocked_clients(&mut ctl).to_string()]
}

/// `$` means "after the last ID when I blocked": a transaction adding two entries to an
/// existing stream serves both, and entries older than the block are not returned.
fn xread_dollar_is_pinned(port: u16) -> Vec<String> {
    let mut ctl = Conn::new(port);
    let mut a = Conn::new(port);
    let mut t = vec![ctl.cmd_str("XADD s 1-1 old entry")];
    send(&mut a, "XREAD BLOCK 0 STREAMS s $");
    wait_blocked(&mut ctl, 1);
    t.push(ctl.cmd_str("MULTI"));
    t.push(ctl.cmd_str("XADD s 2-1 new one"));
    t.push(ctl.cmd_str("XADD s 2-2 new two"));
    t.push(ctl.cmd_str("EXEC"));
    t.push(reply(&mut a));
    t
}

/// Only the stream that got an entry is in the reply of a multi-stream XREAD.
fn xread_multiple_streams(port: u16) -> Vec<String> {
    let mut ctl = Conn::new(port);
    let mut a = Conn::new(port);
    let mut t = vec![ctl.cmd_str("XADD s1 1-1 f v"), ctl.cmd_str("XADD s2 1-1 f v")];
    send(&mut a, "XREAD COUNT 5 BLOCK 0 STREAMS s1 s2 $ $");
    wait_blocked(&mut ctl, 1);
    t.push(ctl.cmd_str("XADD s2 3-0 g w"));
    t.push(reply(&mut a));
    t
}

/// XREAD does not consume: one XADD serves every client waiting on the stream.
fn xread_serves_all_waiters(port: u16) -> Vec<String> {
    let mut ctl = Conn::new(port);
    let mut a = Conn::new(port);
    let mut b = Conn::new(port);
    let mut t = vec![ctl.cmd_str("XADD s 1-1 f v")];
    send(&mut a, "XREAD BLOCK 0 STREAMS s 1-1");
    wait_blocked(&mut ctl, 1);
    send(&mut b, "XREAD BLOCK 0 STREAMS s $");
    wait_blocked(&mut ctl, 2);
    t.push(ctl.cmd_str("XADD s 2-1 x y"));
    t.push(reply(&mut a));
    t.push(reply(&mut b));
    t
}

/// A blocking XREAD that times out replies a null array; a fresh key is not created.
fn xread_timeout(port: u16) -> Vec<String> {
    let mut ctl = Conn::new(port);
    let mut a = Conn::new(port);
    let started = Instant::now();
    let mut t = vec![a.cmd_str("XREAD BLOCK 150 STREAMS s $")];
    t.push((started.elapsed() >= Duration::from_millis(140)).to_string());
    t.push(ctl.cmd_str("EXISTS s"));
    t.push(a.cmd_str("XREAD BLOCK 50 STREAMS s 0"));
    t
}

/// XREADGROUP with `>` is served by a new entry, which becomes pending for that consumer;
/// two waiting consumers are served one entry each, oldest waiter first.
fn xreadgroup_new_entries(port: u16) -> Vec<String> {
    let mut ctl = Conn::new(port);
    let mut a = Conn::new(port);
    let mut b = Conn::new(port);
    let mut t = vec![ctl.cmd_str("XGROUP CREATE s g $ MKSTREAM")];
    send(&mut a, "XREADGROUP GROUP g alice BLOCK 0 STREAMS s >");
    wait_blocked(&mut ctl, 1);
    send(&mut b, "XREADGROUP GROUP g bob BLOCK 0 STREAMS s >");
    wait_blocked(&mut ctl, 2);
    t.push(ctl.cmd_str("XADD s 1-1 job 1"));
    t.push(reply(&mut a));
    t.push(blocked_clients(&mut ctl).to_string());
    t.push(ctl.cmd_str("XADD s 1-2 job 2"));
    t.push(reply(&mut b));
    t.push(ctl.cmd_str("XPENDING s g"));
    t
}

/// A stream deleted (or flushed away) under clients blocked in XREADGROUP unblocks them with
/// an error; plain XREAD and BLPOP waiters keep waiting.
fn xreadgroup_stream_deleted(port: u16) -> Vec<String> {
    let mut ctl = Conn::new(port);
    let mut group = Conn::new(port);
    let mut plain = Conn::new(port);
    let mut t = vec![ctl.cmd_str("XGROUP CREATE s g $ MKSTREAM")];
    send(&mut group, "XREADGROUP GROUP g alice BLOCK 0 STREAMS s >");
    wait_blocked(&mut ctl, 1);
    send(&mut plain, "XREAD BLOCK 0 STREAMS s $");
    wait_blocked(&mut ctl, 2);
    t.push(ctl.cmd_str("DEL s"));
    t.push(reply(&mut group));
    t.push(blocked_clients(&mut ctl).to_string());
    t.push(ctl.cmd_str("XADD s 5-1 f v"));
    t.push(reply(&mut plain));
    t.push(ctl.cmd_str("XGROUP CREATE s g2 $"));
    send(&mut group, "XREADGROUP GROUP g2 bob BLOCK 0 STREAMS s >");
    wait_blocked(&mut ctl, 1);
    t.push(ctl.cmd_str("FLUSHALL"));
    t.push(reply(&mut group));
    t.push(blocked_clients(&mut ctl).to_string());
    t
}

/// XREADGROUP BLOCK with NOACK and COUNT, then a timeout when nothing new arrives.
fn xreadgroup_noack_and_timeout(port: u16) -> Vec<String> {
    let mut ctl = Conn::new(port);
    let mut a = Conn::new(port);
    let mut t = vec![ctl.cmd_str("XGROUP CREATE s g $ MKSTREAM")];
    send(&mut a, "XREADGROUP GROUP g alice COUNT 1 BLOCK 0 NOACK STREAMS s >");
    wait_blocked(&mut ctl, 1);
    t.push(ctl.cmd_str("MULTI"));
    t.push(ctl.cmd_str("XADD s 1-1 job 1"));
    t.push(ctl.cmd_str("XADD s 1-2 job 2"));
    t.push(ctl.cmd_str("EXEC"));
    t.push(reply(&mut a));
    t.push(ctl.cmd_str("XPENDING s g"));
    t.push(a.cmd_str("XREADGROUP GROUP g alice COUNT 5 BLOCK 100 STREAMS s >"));
    t.push(a.cmd_str("XREADGROUP GROUP g alice BLOCK 100 STREAMS s >"));
    t
}

#[test]
fn stream_xread_woken_by_creation() {
    same_on_both(xread_woken_by_creation);
}

#[test]
fn stream_xread_dollar_is_pinned() {
    same_on_both(xread_dollar_is_pinned);
}

#[test]
fn stream_xread_multiple_streams() {
    same_on_both(xread_multiple_streams);
}

#[test]
fn stream_xread_serves_all_waiters() {
    same_on_both(xread_serves_all_waiters);
}

#[test]
fn stream_xread_timeout() {
    same_on_both(xread_timeout);
}

#[test]
fn stream_xreadgroup_new_entries() {
    same_on_both(xreadgroup_new_entries);
}

#[test]
fn stream_xreadgroup_noack_and_timeout() {
    same_on_both(xreadgroup_noack_and_timeout);
}

#[test]
fn xreadgroup_unblocked_when_its_stream_is_deleted() {
    same_on_both(xreadgroup_stream_deleted);
}
