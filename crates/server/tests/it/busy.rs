//! Scripts past `busy-reply-threshold`: other clients get -BUSY, SCRIPT KILL stops a script
//! that has not written, SHUTDOWN NOSAVE stops the server. Each scenario runs on
//! redis-server and keel-server and the transcripts must match.

use crate::common::{reply, same_on_both, send, Conn};
use std::time::Duration;

/// Starts `script` on a new connection and waits until it is past the threshold.
fn start_busy(port: u16, script: &str) -> Conn {
    let mut admin = Conn::new(port);
    admin.cmd_str("CONFIG SET busy-reply-threshold 100");
    let mut runner = Conn::new(port);
    runner.send(&[b"EVAL", script.as_bytes(), b"0"]);
    std::thread::sleep(Duration::from_millis(400));
    runner
}

#[test]
fn a_busy_script_is_answered_busy_and_can_be_killed() {
    same_on_both(|port| {
        let mut out = Vec::new();
        let mut runner = start_busy(port, "local i = 0 while true do i = i + 1 end");
        let mut other = Conn::new(port);
        for line in ["GET x", "FUNCTION KILL", "SHUTDOWN", "MULTI", "GET x", "EXEC", "DISCARD"] {
            out.push(other.cmd_str(line));
        }
        // A connection opened while the script runs is served too.
        let mut late = Conn::new(port);
        out.push(late.cmd_str("PING"));
        out.push(late.cmd_str("SCRIPT KILL"));
        out.push(reply(&mut runner));
        out.push(other.cmd_str("SET x 1"));
        out.push(runner.cmd_str("GET x"));
        out.push(late.cmd_str("SCRIPT KILL"));
        out
    });
}

#[test]
fn pcall_cannot_swallow_a_kill() {
    same_on_both(|port| {
        let mut runner =
            start_busy(port, "while true do pcall(function() while true do end end) end");
        let mut other = Conn::new(port);
        vec![other.cmd_str("SCRIPT KILL"), reply(&mut runner), other.cmd_str("PING")]
    });
}

#[test]
fn a_script_that_wrote_is_unkillable_but_shutdown_nosave_works() {
    same_on_both(|port| {
        let mut runner = start_busy(port, "redis.call('SET', 'k', 'v') while true do end");
        let mut other = Conn::new(port);
        let mut out = vec![other.cmd_str("SCRIPT KILL"), other.cmd_str("GET k")];
        send(&mut other, "SHUTDOWN NOSAVE");
        out.push(format!("closed: {}", other.is_closed()));
        out.push(format!("runner closed: {}", runner.is_closed()));
        out
    });
}

/// A busy function: FUNCTION STATS shows it, SCRIPT KILL is refused, FUNCTION KILL works.
#[test]
fn a_busy_function_is_shown_and_killed_with_function_kill() {
    same_on_both(|port| {
        let mut admin = Conn::new(port);
        admin.cmd_str("CONFIG SET busy-reply-threshold 100");
        admin.cmd(&[
            b"FUNCTION",
            b"LOAD",
            b"#!lua name=l\nredis.register_function('spin', function(k, a) while true do end end)",
        ]);
        let mut runner = Conn::new(port);
        runner.send(&[b"fcall", b"spin", b"1", b"kk", b"arg1"]);
        std::thread::sleep(Duration::from_millis(400));
        let stats = String::from_utf8_lossy(&admin.cmd(&[b"FUNCTION", b"STATS"])).into_owned();
        // The running time varies: keep everything but its digits.
        let (head, tail) = stats.split_once("duration_ms\r\n:").expect("a running script");
        let masked = format!("{head}duration_ms\r\n:N{}", &tail[tail.find('\r').unwrap()..]);
        vec![
            masked,
            admin.cmd_str("GET x"),
            admin.cmd_str("SCRIPT KILL"),
            admin.cmd_str("FUNCTION KILL"),
            reply(&mut runner),
            admin.cmd_str("FUNCTION STATS"),
        ]
    });
}
