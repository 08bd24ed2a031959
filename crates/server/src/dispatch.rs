//! Dispatch: from an argument vector to a reply.
//!
//! Every generic check happens here, in Redis's order, driven by the command table:
//! lookup (unknown command / subcommand), arity, authentication, ..., `-LOADING`, `-BUSY`.
//! Then the handler runs with one time snapshot; its duration and outcome feed
//! `INFO commandstats` and `INFO errorstats`; a write that changed the dataset is handed to
//! the persistence stage. Clients, EXEC, scripts and AOF replay all come through
//! [`execute`].

use crate::args::Args;
use crate::blocking::BlockedState;
use crate::commands::{self, pubsub, spec::flags, spec::CommandSpec, transactions};
use crate::error::CmdError;
use crate::net::client::Client;
use crate::server::{Ctx, Server};
use bytes::Bytes;
use resp::Frame;
use slab::Slab;
use std::borrow::Cow;

/// A resolved command: the table row that runs, and its container if it is a subcommand.
#[derive(Clone, Copy, Debug)]
pub struct Resolved {
    /// The container (`client` for `CLIENT LIST`), if any.
    pub parent: Option<&'static CommandSpec>,
    /// The row whose handler runs.
    pub spec: &'static CommandSpec,
}

impl Resolved {
    /// The name commandstats and `CLIENT LIST cmd=` use: `get`, or `client|list`.
    pub fn full_name(&self) -> Cow<'static, str> {
        match self.parent {
            Some(parent) => Cow::Owned(format!("{}|{}", parent.name, self.spec.name)),
            None => Cow::Borrowed(self.spec.name),
        }
    }
}

/// Looks up the table row for `argv`, descending into a subcommand. On failure returns the
/// error Redis gives for an unknown command or subcommand. Arity is checked separately
/// ([`check_arity`]), so a refused call can still be counted against its command.
pub fn lookup(argv: &[Bytes]) -> Result<Resolved, CmdError> {
    let name = &argv[0];
    let Some(spec) = crate::acl::command_named(name) else {
        return Err(CmdError::UnknownCommand {
            name: name.clone(),
            args: argv[1..].iter().take(64).cloned().collect(),
        });
    };
    // A container named alone runs as itself: that is an arity error for CLIENT (-2) but
    // a real command for COMMAND (-1).
    if spec.subcommands.is_empty() || argv.len() == 1 {
        return Ok(Resolved { parent: None, spec });
    }
    match commands::subcommand(spec, &argv[1]) {
        Some(sub) => Ok(Resolved { parent: Some(spec), spec: sub }),
        None => {
            Err(CmdError::UnknownSubcommand { sub: argv[1].clone(), cmd: spec.name.to_string() })
        }
    }
}

/// Redis's arity rule: `N` means exactly N arguments (name included), `-N` at least N.
pub fn check_arity(r: &Resolved, argc: usize) -> Result<(), CmdError> {
    let argc = argc as i32;
    let arity = r.spec.arity;
    if (arity > 0 && argc != arity) || argc < -arity {
        return Err(CmdError::WrongArity(r.full_name().into_owned()));
    }
    Ok(())
}

/// Lookup and arity check together.
pub fn resolve(argv: &[Bytes]) -> Result<Resolved, CmdError> {
    let r = lookup(argv)?;
    check_arity(&r, argv.len())?;
    Ok(r)
}

/// Runs one command for client `cid` and returns its reply, or `None` when a blocking
/// command parked the client (its reply comes later, see `blocking.rs`).
pub fn execute(
    srv: &mut Server,
    clients: &mut Slab<Client>,
    cid: usize,
    argv: Vec<Bytes>,
) -> Option<Frame> {
    let now = srv.now_ms();
    srv.stats.commands += 1;
    {
        let c = &mut clients[cid];
        c.last_interaction = now;
        c.commands += 1;
    }
    let resolved = lookup(&argv);
    // `CLIENT LIST cmd=` names the client's last command as Redis does: set at lookup (a
    // queued or refused command counts, an unknown one clears it), and only for commands
    // the client sent itself, not those EXEC or a script run for it.
    if !clients[cid].in_exec && !crate::monitor::in_script(srv, cid) {
        clients[cid].last_cmd = resolved.as_ref().ok().copied();
    }
    let resolved = match resolved {
        Ok(r) => r,
        Err(e) => {
            abort_multi(&mut clients[cid]);
            return Some(error_reply(srv, e));
        }
    };
    let name = resolved.full_name();
    let refused = check_arity(&resolved, argv.len()).and_then(|()| {
        if !clients[cid].authenticated && !resolved.spec.has(flags::NO_AUTH) {
            Err(CmdError::NoAuth)
        } else {
            Ok(())
        }
    });
    // A monitor is a kind of replica to Redis: it may not touch the keyspace.
    let refused = refused.and_then(|()| crate::monitor::gate(srv, &clients[cid], resolved.spec));
    let refused = refused.and_then(|()| {
        let c = &clients[cid];
        if c.proto == resp::Proto::Resp2
            && c.is_subscriber()
            && !pubsub::allowed_in_subscriber_mode(resolved.spec.name)
        {
            Err(CmdError::dynamic(format!(
                "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
            )))
        } else {
            Ok(())
        }
    });
    let in_multi =
        clients[cid].multi.is_some() && !transactions::runs_inside_multi(resolved.spec.name);
    let refused = refused.and_then(|()| {
        if in_multi && resolved.spec.has(flags::NO_MULTI) {
            Err(CmdError::Static("ERR Command not allowed inside a transaction"))
        } else {
            Ok(())
        }
    });
    let refused = refused.and_then(|()| crate::acl::gate(srv, clients, cid, &resolved, &argv));
    // While the dataset loads at start-up, clients only reach commands flagged `loading`
    // (INFO, CONFIG, CLIENT, AUTH, ...); Redis checks this just before the busy gate.
    let refused = refused
        .and_then(|()| crate::loading::gate(srv, &clients[cid], resolved.spec.has(flags::LOADING)));
    // While a script is past busy-reply-threshold, other clients only reach allow_busy
    // commands (SCRIPT KILL, SHUTDOWN NOSAVE, AUTH, ...).
    let refused = refused.and_then(|()| srv.busy.refuse(cid, resolved.spec.has(flags::ALLOW_BUSY)));
    let refused = refused.and_then(|()| {
        crate::rdb::save::refuse_write(srv, resolved.spec.has(flags::WRITE), resolved.spec.name)
    });
    // Over maxmemory: evict by policy, else refuse what may grow memory (not while a busy
    // script is running: nothing may change under it; nor while loading, as in Redis).
    let refused = refused.and_then(|()| {
        if srv.busy.running.is_some() || srv.loading.active {
            return Ok(());
        }
        crate::memory::evict::gate(srv, clients, cid, &resolved, &argv, now)
    });
    if let Err(e) = refused {
        srv.stats.cmd_mut(&name).rejected_calls += 1;
        let c = &mut clients[cid];
        let e = if resolved.spec.name == "exec" && c.multi.is_some() {
            transactions::abort_exec(srv, c, &e)
        } else {
            abort_multi(c);
            e
        };
        return Some(error_reply(srv, e));
    }
    if in_multi {
        if let Some(m) = clients[cid].multi.as_mut() {
            m.queue.push(argv);
        }
        return Some(Frame::simple("QUEUED"));
    }
    let spec = resolved.spec;
    let dirty_before = srv.ks.dirty;
    let db = clients[cid].db;
    // CLIENT NO-TOUCH spares write lookups too; TOUCH itself still touches.
    srv.ks.no_touch = clients[cid].no_touch && spec.name != "touch";
    // Scripts are shown to monitors before the commands they call.
    crate::monitor::feed(srv, clients, cid, spec, &argv, true);
    let started = crate::clock::Stamp::now();
    let mut args = Args::new(argv);
    if resolved.parent.is_some() {
        // A subcommand's handler reads its own arguments, after the subcommand name.
        args.seek(2);
    }
    let result = {
        let mut ctx = Ctx { srv, clients, cid, now, spec };
        (spec.handler)(&mut ctx, &mut args)
    };
    let usec = started.elapsed_us();
    // Taken whatever the outcome, so a form set by a command that then blocked or failed
    // cannot stand in for the next command's.
    let rewrite = srv.propagation.rewrite.take();
    // Keys the command found expired reach the AOF as DELs before the command itself; the
    // command is propagated only if it changed more than that.
    let expired_now = srv.ks.expired_keys.len() as u64;
    if expired_now > 0 {
        srv.propagation.feed_expired(&mut srv.ks);
    }
    srv.ks.settle(srv.ks.dirty != dirty_before);
    crate::notify::flush_queued(srv, Some(cid));
    if srv.ks.tracking_on {
        after_tracking(srv, clients, cid, spec, &args);
    }
    let parked = result.is_ok() && srv.blocking.request.is_some();
    crate::latency::after_command(srv, clients, cid, spec, &name, args.argv(), usec, parked);
    // A command inside EXEC or a script is part of the outer command's time already.
    if !clients.get(cid).is_some_and(|c| c.in_exec) && !crate::monitor::in_script(srv, cid) {
        srv.stats.el_cmd_us += usec;
    }
    let stat = srv.stats.cmd_mut(&name);
    stat.calls += 1;
    stat.usec += usec;
    if let Some(req) = srv.blocking.request.take() {
        if result.is_ok() && srv.blocking.retrying {
            srv.blocking.reblocked = true;
            return None;
        }
        if result.is_ok() {
            let state = BlockedState {
                db,
                keys: req.keys,
                deadline: req.deadline,
                on_timeout: req.on_timeout,
                argv: args.into_argv(),
            };
            srv.blocking.park(cid, &state);
            srv.ks.track_ready = true;
            clients[cid].blocked = Some(state);
            return None;
        }
    }
    Some(match result {
        Ok(frame) => {
            if spec.has(flags::WRITE) && srv.ks.dirty > dirty_before + expired_now {
                match rewrite {
                    // Several commands for one (SPOP with a count) replay as one unit.
                    Some(commands) => {
                        srv.propagation.begin_multi();
                        commands.iter().for_each(|argv| srv.propagation.feed(db, argv));
                        srv.propagation.end_multi();
                    }
                    None => srv.propagation.feed(db, args.argv()),
                }
            }
            frame
        }
        Err(e) => {
            stat.failed_calls += 1;
            error_reply(srv, e)
        }
    })
}

/// Client-side caching after a command: remember what a tracking client read, and send
/// invalidations for what the command changed.
fn after_tracking(
    srv: &mut Server,
    clients: &mut Slab<Client>,
    cid: usize,
    spec: &CommandSpec,
    args: &Args,
) {
    let id = clients[cid].id;
    if let Some(opts) = clients[cid].tracking.as_mut() {
        // CLIENT CACHING sets the answer for the command after it.
        let caching = if spec.name == "caching" { None } else { opts.caching.take() };
        let wanted = !opts.bcast
            && ((opts.optin && caching == Some(true))
                || (opts.optout && caching != Some(false))
                || (!opts.optin && !opts.optout));
        if wanted && spec.has(flags::READONLY) {
            for key in commands::introspection::command_keys(spec, args.argv()) {
                srv.tracking.remember(id, &key);
            }
        }
    }
    let keys = std::mem::take(&mut srv.ks.invalidated);
    if !keys.is_empty() {
        crate::tracking::invalidate(srv, clients, Some(keys), Some(id));
    }
    if std::mem::take(&mut srv.ks.flushed) {
        crate::tracking::invalidate(srv, clients, None, Some(id));
    }
}

/// A command refused while queueing makes the whole transaction fail at EXEC.
fn abort_multi(client: &mut Client) {
    if let Some(m) = client.multi.as_mut() {
        m.aborted = true;
    }
}

/// Counts an error in errorstats and renders it.
fn error_reply(srv: &mut Server, e: CmdError) -> Frame {
    srv.stats.count_error(&e.code());
    Frame::Error(Bytes::from(e.text()))
}
