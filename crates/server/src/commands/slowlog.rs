//! SLOWLOG: GET, LEN, RESET, HELP over the entries `latency.rs` records after each command
//! slower than `slowlog-log-slower-than` microseconds.

use super::client::help_reply;
use super::spec::{flags::*, unreachable_container, CommandSpec, KeyPos};
use crate::args::Args;
use crate::error::CmdError;
use crate::server::Ctx;
use crate::types::num;
use bytes::Bytes;
use resp::Frame;

/// Flags of the subcommands that read or change the log.
const ADMIN_SUB: u32 = ADMIN | LOADING | STALE;

const SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", -2, ADMIN_SUB, 0, KeyPos::NONE, get)
        .doc(
            "server",
            "2.2.12",
            "Returns the slow log's entries.",
            "O(N) where N is the number of entries returned",
        )
        .tips(&["request_policy:all_nodes", "nondeterministic_output"]),
    CommandSpec::new("help", 2, LOADING | STALE, 0, KeyPos::NONE, help).doc(
        "server",
        "6.2.0",
        "Returns helpful text about the different subcommands.",
        "O(1)",
    ),
    CommandSpec::new("len", 2, ADMIN_SUB, 0, KeyPos::NONE, len)
        .doc("server", "2.2.12", "Returns the number of entries in the slow log.", "O(1)")
        .tips(&["request_policy:all_nodes", "response_policy:agg_sum", "nondeterministic_output"]),
    CommandSpec::new("reset", 2, ADMIN_SUB, 0, KeyPos::NONE, reset)
        .doc(
            "server",
            "2.2.12",
            "Clears all entries from the slow log.",
            "O(N) where N is the number of entries in the slowlog",
        )
        .tips(&["request_policy:all_nodes", "response_policy:all_succeeded"]),
];

/// The SLOWLOG family's table.
pub const COMMANDS: &[CommandSpec] =
    &[CommandSpec::new("slowlog", -2, 0, 0, KeyPos::NONE, unreachable_container)
        .doc("server", "2.2.12", "A container for slow log commands.", "Depends on subcommand.")
        .subs(SUBCOMMANDS)];

/// `SLOWLOG GET [count]`: the newest `count` entries (10 by default, -1 for all), each
/// `[id, unix time, microseconds, argv, client address, client name]`.
fn get(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let log = &ctx.srv.latency.slowlog;
    if args.remaining() > 1 {
        return Err(args.subcommand_syntax("SLOWLOG"));
    }
    let count = if args.remaining() == 0 {
        10
    } else {
        // Redis gives the same error for a non-integer as for a count below -1.
        match num::parse_i64(args.next_ref()?) {
            Some(-1) => log.len(),
            Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => return Err(CmdError::Static("ERR count should be greater than or equal to -1")),
        }
    };
    let entries = log
        .iter()
        .take(count)
        .map(|e| {
            Frame::Array(vec![
                Frame::Integer(e.id as i64),
                Frame::Integer(e.time as i64),
                Frame::Integer(e.usec as i64),
                Frame::Array(e.argv.iter().cloned().map(Frame::Bulk).collect()),
                Frame::Bulk(Bytes::from(e.addr.clone())),
                Frame::Bulk(e.name.clone()),
            ])
        })
        .collect();
    Ok(Frame::Array(entries))
}

/// `SLOWLOG LEN`.
fn len(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(Frame::Integer(ctx.srv.latency.slowlog.len() as i64))
}

/// `SLOWLOG RESET`: empties the log; ids keep increasing.
fn reset(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    ctx.srv.latency.slowlog.clear();
    Ok(Frame::ok())
}

/// The lines of `SLOWLOG HELP`.
const HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
];

/// `SLOWLOG HELP`.
fn help(_ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(help_reply(HELP))
}
