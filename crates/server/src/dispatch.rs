//! Dispatch: from an argument vector to a reply.
//!
//! Every generic check happens here, in Redis's order, driven by the command table:
//! lookup (unknown command / subcommand), arity, authentication. Then the handler runs with
//! one time snapshot; its duration and outcome feed `INFO commandstats` and
//! `INFO errorstats`; a write that changed the dataset is handed to the persistence stage.
//! Clients, EXEC, scripts and AOF replay all come through [`execute`].

use crate::args::Args;
use crate::commands::{self, spec::flags, spec::CommandSpec};
use crate::error::CmdError;
use crate::net::client::Client;
use crate::server::{Ctx, Server};
use bytes::Bytes;
use resp::Frame;
use slab::Slab;
use std::time::Instant;

/// Looks up the table row for `argv`, descending into a subcommand. On failure returns the
/// error Redis gives for an unknown command, unknown subcommand or wrong arity.
pub fn resolve(argv: &[Bytes]) -> Result<&'static CommandSpec, CmdError> {
    let name = &argv[0];
    let Some(spec) = commands::table().get(name) else {
        return Err(CmdError::UnknownCommand {
            name: name.clone(),
            args: argv[1..].iter().take(64).cloned().collect(),
        });
    };
    // A container named alone runs as itself: that is an arity error for CLIENT (-2) but
    // a real command for COMMAND (-1).
    let (spec, fullname) = if spec.subcommands.is_empty() || argv.len() == 1 {
        (spec, None)
    } else {
        match commands::subcommand(spec, &argv[1]) {
            Some(sub) => (sub, Some(spec.name)),
            None => {
                return Err(CmdError::UnknownSubcommand {
                    sub: argv[1].clone(),
                    cmd: spec.name.to_string(),
                })
            }
        }
    };
    let argc = argv.len() as i32;
    if (spec.arity > 0 && argc != spec.arity) || argc < -spec.arity {
        let name = match fullname {
            Some(parent) => format!("{parent}|{}", spec.name),
            None => spec.name.to_string(),
        };
        return Err(CmdError::WrongArity(name));
    }
    Ok(spec)
}

/// The name commandstats and `CLIENT LIST cmd=` use: `get`, or `client|list`.
pub fn full_name(argv: &[Bytes], spec: &'static CommandSpec) -> String {
    match commands::table().get(&argv[0]) {
        Some(parent) if !std::ptr::eq(parent, spec) => format!("{}|{}", parent.name, spec.name),
        _ => spec.name.to_string(),
    }
}

/// Runs one command for client `cid` and returns its reply.
pub fn execute(
    srv: &mut Server,
    clients: &mut Slab<Client>,
    cid: usize,
    argv: Vec<Bytes>,
) -> Frame {
    let now = srv.now_ms();
    srv.stats.commands += 1;
    {
        let c = &mut clients[cid];
        c.last_interaction = now;
        c.commands += 1;
    }
    let spec = match resolve(&argv) {
        Ok(spec) => spec,
        Err(e) => {
            if let CmdError::WrongArity(name) = &e {
                srv.stats.cmd_mut(name).rejected_calls += 1;
            }
            return error_reply(srv, e);
        }
    };
    let name = full_name(&argv, spec);
    if !clients[cid].authenticated && !spec.has(flags::NO_AUTH) {
        srv.stats.cmd_mut(&name).rejected_calls += 1;
        return error_reply(srv, CmdError::NoAuth);
    }
    clients[cid].last_cmd = name.clone();
    let dirty_before = srv.ks.dirty;
    let db = clients[cid].db;
    let started = Instant::now();
    let mut args = Args::new(argv);
    if name.contains('|') {
        // A subcommand's handler reads its own arguments, after the subcommand name.
        args.seek(2);
    }
    let result = {
        let mut ctx = Ctx { srv, clients, cid, now, spec };
        (spec.handler)(&mut ctx, &mut args)
    };
    let usec = started.elapsed().as_micros() as u64;
    let stat = srv.stats.cmd_mut(&name);
    stat.calls += 1;
    stat.usec += usec;
    match result {
        Ok(frame) => {
            if spec.has(flags::WRITE) && srv.ks.dirty != dirty_before {
                srv.propagation.feed(db, args.argv());
            }
            frame
        }
        Err(e) => {
            srv.stats.cmd_mut(&name).failed_calls += 1;
            error_reply(srv, e)
        }
    }
}

/// Counts an error in errorstats and renders it.
fn error_reply(srv: &mut Server, e: CmdError) -> Frame {
    srv.stats.count_error(&e.code());
    Frame::Error(Bytes::from(e.text()))
}
