//! TCP tests: blocking list commands. Each scenario runs against redis-server and keel-server
//! with several connections, and the transcripts of replies (raw RESP) must be equal: who
//! gets served, in which order, what a timeout replies.

use super::common::*;
use std::time::{Duration, Instant};

/// Three clients wait on one key; three single pushes serve them oldest first.
fn fifo_three_waiters(port: u16) -> Vec<String> {
    let mut ctl = Conn::new(port);
    let mut w: Vec<Conn> = (0..3).map(|_| Conn::new(port)).collect();
    for (i, c) in w.iter_mut().enumerate() {
        send(c, "BLPOP q 0");
        wait_blocked(&mut ctl, i as u64 + 1);
    }
    let mut t = Vec::new();
    for v in ["one", "two", "three"] {
        t.push(ctl.cmd_str(&format!("RPUSH q {v}")));
    }
    for c in &mut w {
        t.push(reply(c));
    }
    t.push(ctl.cmd_str("EXISTS q"));
    t
}

/// One push of several elements serves several waiters, and the rest stays in the list.
fn one_push_serves_many(port: u16) -> Vec<String> {
    let mut ctl = Conn::new(port);
    let mut a = Conn::new(port);
    let mut b = Conn::new(port);
    send(&mut a, "BRPOP q 0");
    wait_blocked(&mut ctl, 1);
    send(&mut b, "BLPOP q 0");
    wait_blocked(&mut ctl, 2);
    let mut t = vec![ctl.cmd_str("RPUSH q x y z")];
    t.push(reply(&mut a));
    t.push(reply(&mut b));
    t.push(ctl.cmd_str("LRANGE q 0 -1"));
    t.push(blocked_clients(&mut ctl).to_string());
    t
}

/// BLMOVE into a key another client waits on: the moved element reaches that client.
fn blmove_chain(port: u16) -> Vec<String> {
    let mut ctl = Conn::new(port);
    let mut mover = Conn::new(port);
    let mut sink = Conn::new(port);
    send(&mut mover, "BLMOVE src dst LEFT RIGHT 0");
    wait_blocked(&mut ctl, 1);
    send(&mut sink, "BLPOP dst 0");
    wait_blocked(&mut ctl, 2);
    let mut t = vec![ctl.cmd_str("RPUSH src hello")];
    t.push(reply(&mut mover));
    t.push(reply(&mut sink));
    t.push(ctl.cmd_str("EXISTS src dst"));
    t
}

/// Fractional timeouts expire with the null reply of each command.
fn fractional_timeouts(port: u16) -> Vec<String> {
    let mut c = Conn::new(port);
    let started = Instant::now();
    let mut t = vec![
        c.cmd_str("BLPOP nothing 0.2"),
        c.cmd_str("BRPOP a b 0.05"),
        c.cmd_str("BRPOPLPUSH nothing dst 0.05"),
        c.cmd_str("BLMOVE nothing dst LEFT LEFT 0.05"),
        c.cmd_str("BLMPOP 0.05 2 a b RIGHT COUNT 3"),
    ];
    let waited = started.elapsed();
    t.push((waited >= Duration::from_millis(400) && waited < Duration::from_secs(3)).to_string());
    t
}

/// Timeout 0 waits until a later push, however late.
fn zero_waits_forever(port: u16) -> Vec<String> {
    let mut ctl = Conn::new(port);
    let mut w = Conn::new(port);
    send(&mut w, "BLMPOP 0 2 a b LEFT COUNT 2");
    wait_blocked(&mut ctl, 1);
    std::thread::sleep(Duration::from_millis(300));
    let mut t = vec![blocked_clients(&mut ctl).to_string()];
    t.push(ctl.cmd_str("RPUSH b 1 2 3"));
    t.push(reply(&mut w));
    t.push(ctl.cmd_str("LRANGE b 0 -1"));
    t
}

/// BLPOP on several keys pops from the first non-empty one, in argument order; a waiter is
/// served by whichever key is pushed first.
fn first_non_empty_key(port: u16) -> Vec<String> {
    let mut ctl = Conn::new(port);
    let mut t = vec![ctl.cmd_str("RPUSH k2 a"), ctl.cmd_str("RPUSH k3 b")];
    t.push(ctl.cmd_str("BLPOP k1 k3 k2 0"));
    t.push(ctl.cmd_str("BLPOP k1 k2 k3 0"));
    let mut w = Conn::new(port);
    send(&mut w, "BRPOP k1 k2 k3 0");
    wait_blocked(&mut ctl, 1);
    t.push(ctl.cmd_str("LPUSH k3 c"));
    t.push(reply(&mut w));
    t
}

/// A waiter's key becoming a string does not wake it with an error: it keeps waiting, and
/// times out normally.
fn wrong_type_while_waiting(port: u16) -> Vec<String> {
    let mut ctl = Conn::new(port);
    let mut w = Conn::new(port);
    send(&mut w, "BLPOP k 0.5");
    wait_blocked(&mut ctl, 1);
    let mut t = vec![ctl.cmd_str("SET k str")];
    t.push(blocked_clients(&mut ctl).to_string());
    t.push(reply(&mut w));
    t.push(w.cmd_str("BLPOP k 0"));
    t
}

/// A blocked client's pipelined commands run after it is served.
fn pipelined_after_block(port: u16) -> Vec<String> {
    let mut ctl = Conn::new(port);
    let mut w = Conn::new(port);
    w.send_raw(b"BLPOP q 0\r\nLLEN q\r\nPING\r\n");
    wait_blocked(&mut ctl, 1);
    let mut t = vec![ctl.cmd_str("RPUSH q a b")];
    for _ in 0..3 {
        t.push(reply(&mut w));
    }
    t
}

#[test]
fn fifo_order_across_three_waiters() {
    same_on_both(fifo_three_waiters);
}

#[test]
fn one_push_serves_several_waiters() {
    same_on_both(one_push_serves_many);
}

#[test]
fn blmove_into_a_key_another_client_waits_on() {
    same_on_both(blmove_chain);
}

#[test]
fn fractional_timeouts_reply_null() {
    same_on_both(fractional_timeouts);
}

#[test]
fn timeout_zero_waits_for_a_late_push() {
    same_on_both(zero_waits_forever);
}

#[test]
fn blpop_chooses_the_first_non_empty_key() {
    same_on_both(first_non_empty_key);
}

#[test]
fn wrong_type_while_waiting_keeps_waiting() {
    same_on_both(wrong_type_while_waiting);
}

#[test]
fn pipelined_commands_wait_behind_a_blocked_one() {
    same_on_both(pipelined_after_block);
}
