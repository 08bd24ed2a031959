//! Server commands: INFO CONFIG DBSIZE FLUSHDB FLUSHALL TIME LASTSAVE SHUTDOWN DEBUG.

use super::spec::{acl, flags::*, CommandSpec, KeyPos};
use crate::args::Args;
use crate::error::CmdError;
use crate::server::{Ctx, ShutdownMode};
use resp::Frame;

/// The server family's table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("dbsize", 1, READONLY | FAST, acl::KEYSPACE, KeyPos::NONE, dbsize)
        .doc("server", "1.0.0", "Returns the number of keys in the database.", "O(1)"),
    CommandSpec::new("info", -1, LOADING | STALE, acl::DANGEROUS, KeyPos::NONE, info)
        .doc("server", "1.0.0", "Returns information and statistics about the server.", "O(1)"),
    CommandSpec::new("shutdown", -1, ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY, 0, KeyPos::NONE, shutdown)
        .doc("server", "1.0.0", "Synchronously saves the database(s) to disk and shuts down the Redis server.", "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)"),
];

/// `DBSIZE`.
fn dbsize(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(Frame::Integer(ctx.srv.ks.db(ctx.db()).len() as i64))
}

/// `INFO [section ...]`.
fn info(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let sections: Vec<Vec<u8>> = args.rest().iter().map(|s| s.to_ascii_lowercase()).collect();
    let text = crate::info::render(ctx, &sections);
    Ok(Frame::Verbatim("txt", text.into()))
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`: on success nothing is replied; the
/// connection closes as the server exits.
fn shutdown(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let mut mode = ShutdownMode::Default;
    while args.remaining() > 0 {
        if args.eat("nosave") {
            mode = ShutdownMode::NoSave;
        } else if args.eat("save") {
            mode = ShutdownMode::Save;
        } else if args.eat("now") || args.eat("force") {
        } else {
            return Err(CmdError::Syntax);
        }
    }
    ctx.srv.shutdown = Some(mode);
    ctx.client().close_asap = true;
    Ok(Frame::ok())
}
