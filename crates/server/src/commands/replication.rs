//! WAIT and WAITAOF: a client blocks until its earlier writes are safe.
//!
//! Keel has no replicas, so the replica side of both commands counts 0, and a client asking
//! for replicas waits for its timeout, as a Redis without replicas makes it wait. WAITAOF's
//! local side is real: a client's last write has a position in the AOF
//! (`Client::aof_woff`, recorded by the event loop after each command that fed the AOF),
//! and the command is satisfied once the fsync thread reports that position on disk
//! (`Propagation::fsynced`). A client that wrote nothing is satisfied at once while the
//! log is open.
//!
//! A waiting client is parked on no key (see `blocking.rs`): the event loop runs its
//! command again whenever the fsynced position changes (an fsync ended, the log was opened
//! or closed), so the command itself decides whether to answer, block on, or fail (AOF
//! turned off meanwhile). Each run refreshes the reply the client gets at its deadline.
//! Inside MULTI, or where blocking is impossible, the counts reached so far are the reply.

use super::spec::{acl, flags::*, CommandSpec, KeyPos};
use crate::args::Args;
use crate::blocking::{parse_timeout_ms, Deadline};
use crate::config::P;
use crate::error::CmdError;
use crate::server::Ctx;
use resp::Frame;

/// Tips both commands carry in Redis 7.2.
const TIPS: &[&str] = &["request_policy:all_shards", "response_policy:agg_min"];

/// The replication family's commands.
pub const COMMANDS: &[CommandSpec] = &[
    // Redis 7.2 dropped WAIT's `noscript` flag: from a script it answers at once.
    CommandSpec::new("wait", 3, 0, acl::CONNECTION, KeyPos::NONE, wait)
        .doc(
            "generic",
            "3.0.0",
            "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.",
            "O(1)",
        )
        .tips(TIPS),
    CommandSpec::new("waitaof", 4, NOSCRIPT, acl::CONNECTION, KeyPos::NONE, waitaof)
        .doc(
            "generic",
            "7.2.0",
            "Blocks until all of the preceding write commands sent by the connection are written to the append-only file of the master and/or replicas.",
            "O(1)",
        )
        .tips(TIPS),
];

/// Replicas that acknowledged a client's writes: Keel has none.
const REPLICAS_ACKED: i64 = 0;

/// Parks the caller until its wait is over or `deadline`, answering `reply` then (it is
/// refreshed by each later run). Returns the reply to send now when the client cannot
/// block (MULTI, scripts), as Redis answers with the counts reached so far.
fn block_or_reply(ctx: &mut Ctx<'_>, deadline: Deadline, reply: Frame) -> Frame {
    if ctx.block(Vec::new(), deadline, reply.clone()) {
        Frame::Null
    } else {
        reply
    }
}

/// `WAIT numreplicas timeout`: the number of replicas that acknowledged the caller's
/// writes, always 0 here. Asking for none answers at once; asking for more waits for the
/// timeout in milliseconds (0 = forever), as a Redis without replicas does.
fn wait(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let wanted = args.next_i64()?;
    let deadline = parse_timeout_ms(args.next_ref()?, ctx.now)?;
    let reply = Frame::Integer(REPLICAS_ACKED);
    if REPLICAS_ACKED >= wanted {
        return Ok(reply);
    }
    Ok(block_or_reply(ctx, deadline, reply))
}

/// `WAITAOF numlocal numreplicas timeout`: `[local, replicas]`, where local is 1 once the
/// caller's writes are fsynced to the local AOF. Blocks until `numlocal` (0 or 1) and
/// `numreplicas` are reached or the timeout in milliseconds passes (0 = forever).
fn waitaof(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let numlocal = args.next_i64()?;
    if !(0..=1).contains(&numlocal) {
        return Err(CmdError::Static("ERR value is out of range, value must between 0 and 1"));
    }
    let numreplicas = args.next_i64()?;
    if numreplicas < 0 {
        return Err(CmdError::MustBePositive);
    }
    let deadline = parse_timeout_ms(args.next_ref()?, ctx.now)?;
    if numlocal > 0 && !ctx.srv.config.bool(P::Appendonly) {
        return Err(CmdError::Static(
            "ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.",
        ));
    }
    let woff = ctx.client_ref().aof_woff;
    let local = i64::from(ctx.srv.propagation.fsynced().is_some_and(|done| done >= woff));
    let reply = Frame::Array(vec![Frame::Integer(local), Frame::Integer(REPLICAS_ACKED)]);
    if local >= numlocal && REPLICAS_ACKED >= numreplicas {
        return Ok(reply);
    }
    if local < numlocal {
        ctx.srv.propagation.want_fsync(woff);
    }
    Ok(block_or_reply(ctx, deadline, reply))
}
