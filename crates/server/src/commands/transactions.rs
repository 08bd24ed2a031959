//! Transactions: MULTI EXEC DISCARD WATCH UNWATCH.
//!
//! Between MULTI and EXEC, dispatch queues commands instead of running them (replying
//! `+QUEUED`), after the generic checks: a command refused then (unknown, wrong arity, not
//! allowed in MULTI) marks the transaction aborted, and EXEC answers EXECABORT. EXEC runs the
//! queue through dispatch as one step of the command thread, so nothing else interleaves.
//! WATCHed keys (see `keyspace/watch.rs`) that changed make EXEC reply a null array.

use super::spec::{acl, flags::*, CommandSpec, KeyPos};
use crate::args::Args;
use crate::dispatch;
use crate::error::CmdError;
use crate::net::client::{Client, MultiState};
use crate::server::{Ctx, Server};
use resp::Frame;

/// The transactions family's table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "multi",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        acl::TRANSACTION,
        KeyPos::NONE,
        multi,
    )
    .doc("transactions", "1.2.0", "Starts a transaction.", "O(1)"),
    CommandSpec::new(
        "exec",
        1,
        NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG,
        acl::TRANSACTION,
        KeyPos::NONE,
        exec,
    )
    .doc(
        "transactions",
        "1.2.0",
        "Executes all commands in a transaction.",
        "Depends on commands in the transaction",
    ),
    CommandSpec::new(
        "discard",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        acl::TRANSACTION,
        KeyPos::NONE,
        discard,
    )
    .doc(
        "transactions",
        "2.0.0",
        "Discards a transaction.",
        "O(N), when N is the number of queued commands",
    ),
    CommandSpec::new(
        "watch",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        acl::TRANSACTION,
        KeyPos::ALL,
        watch,
    )
    .doc(
        "transactions",
        "2.2.0",
        "Monitors changes to keys to determine the execution of a transaction.",
        "O(1) for every key.",
    )
    .key_flags(&["RO"]),
    CommandSpec::new(
        "unwatch",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        acl::TRANSACTION,
        KeyPos::NONE,
        unwatch,
    )
    .doc("transactions", "2.2.0", "Forgets about watched keys of a transaction.", "O(1)"),
];

/// True for the commands that run at once inside MULTI instead of being queued.
pub fn runs_inside_multi(name: &str) -> bool {
    matches!(name, "exec" | "discard" | "multi" | "watch" | "quit" | "reset")
}

/// `MULTI`: +OK; commands are queued until EXEC or DISCARD.
fn multi(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    let c = ctx.client();
    if c.multi.is_some() {
        return Err(CmdError::Static("ERR MULTI calls can not be nested"));
    }
    c.multi = Some(MultiState::default());
    Ok(Frame::ok())
}

/// `EXEC`: the replies of the queued commands as an array; a null array when a watched key
/// changed; EXECABORT when a command could not be queued.
fn exec(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    let Some(state) = ctx.client().multi.take() else {
        return Err(CmdError::Static("ERR EXEC without MULTI"));
    };
    let expired = watched_key_expired(ctx);
    let dirty = ctx.srv.ks.watches.is_dirty(ctx.client_ref().id) || expired;
    unwatch_all(ctx);
    if state.aborted {
        return Err(CmdError::Static(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    if dirty {
        return Ok(Frame::NullArray);
    }
    ctx.client().in_exec = true;
    // The AOF replays the transaction's writes atomically (MULTI/EXEC around them).
    ctx.srv.propagation.begin_multi();
    let mut replies = Vec::with_capacity(state.queue.len());
    for argv in state.queue {
        let reply = dispatch::execute(ctx.srv, ctx.clients, ctx.cid, argv);
        replies.push(reply.unwrap_or(Frame::NullArray));
    }
    ctx.srv.propagation.end_multi();
    ctx.client().in_exec = false;
    Ok(Frame::Array(replies))
}

/// True if a watched key that existed unexpired at WATCH time has expired since (Redis 7
/// refuses the transaction even if nothing deleted the key yet).
fn watched_key_expired(ctx: &Ctx<'_>) -> bool {
    let c = ctx.client_ref();
    c.watched
        .iter()
        .any(|(db, key, was_expired)| !was_expired && ctx.srv.ks.is_expired(*db, key, ctx.now))
}

/// `DISCARD`: drops the queued commands.
fn discard(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    if ctx.client().multi.take().is_none() {
        return Err(CmdError::Static("ERR DISCARD without MULTI"));
    }
    unwatch_all(ctx);
    Ok(Frame::ok())
}

/// `WATCH key [key ...]`.
fn watch(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    if ctx.client_ref().multi.is_some() {
        return Err(CmdError::Static("ERR WATCH inside MULTI is not allowed"));
    }
    let db = ctx.db();
    let id = ctx.client_ref().id;
    while args.remaining() > 0 {
        let key = args.next_bytes()?;
        if ctx.client_ref().watched.iter().any(|(d, k, _)| *d == db && *k == key) {
            continue;
        }
        let expired = ctx.srv.ks.is_expired(db, &key, ctx.now);
        ctx.srv.ks.watches.watch(id, db, &key);
        ctx.client().watched.push((db, key, expired));
    }
    Ok(Frame::ok())
}

/// `UNWATCH`.
fn unwatch(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    unwatch_all(ctx);
    Ok(Frame::ok())
}

/// Forgets every key the calling client watches.
pub fn unwatch_all(ctx: &mut Ctx<'_>) {
    unwatch_client(ctx.srv, &mut ctx.clients[ctx.cid]);
}

/// Forgets every key `c` watches.
pub fn unwatch_client(srv: &mut Server, c: &mut Client) {
    let keys: Vec<(usize, bytes::Bytes)> = c.watched.drain(..).map(|(d, k, _)| (d, k)).collect();
    srv.ks.watches.unwatch_all(c.id, &keys);
}

/// Ends `c`'s transaction because its EXEC was refused before running (busy script, OOM,
/// arity...): Redis answers EXECABORT naming the refusal, without its `ERR ` code.
pub fn abort_exec(srv: &mut Server, c: &mut Client, refusal: &CmdError) -> CmdError {
    c.multi = None;
    unwatch_client(srv, c);
    let text = refusal.text();
    let reason = text.strip_prefix(b"ERR ").unwrap_or(&text);
    CmdError::dynamic([b"EXECABORT Transaction discarded because of: ".as_slice(), reason].concat())
}
