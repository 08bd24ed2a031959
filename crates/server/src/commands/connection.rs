//! Connection commands: PING ECHO HELLO AUTH SELECT SWAPDB QUIT RESET.

use super::spec::{acl, flags::*, CommandSpec, KeyPos};
use crate::args::Args;
use crate::error::CmdError;
use crate::server::Ctx;
use resp::Frame;

/// The connection family's table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("ping", -1, FAST, acl::CONNECTION, KeyPos::NONE, ping)
        .doc("connection", "1.0.0", "Returns the server's liveliness response.", "O(1)")
        .tips(&["request_policy:all_shards", "response_policy:all_succeeded"]),
    CommandSpec::new("echo", 2, FAST, acl::CONNECTION, KeyPos::NONE, echo).doc(
        "connection",
        "1.0.0",
        "Returns the given string.",
        "O(1)",
    ),
    CommandSpec::new(
        "quit",
        -1,
        ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH,
        acl::CONNECTION,
        KeyPos::NONE,
        quit,
    )
    .doc("connection", "1.0.0", "Closes the connection.", "O(1)"),
];

/// `PING [message]`: PONG, or the message as a bulk string.
fn ping(_ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    match args.remaining() {
        0 => Ok(Frame::simple("PONG")),
        1 => Ok(Frame::Bulk(args.next_bytes()?)),
        _ => Err(CmdError::WrongArity("ping".into())),
    }
}

/// `ECHO message`.
fn echo(_ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    Ok(Frame::Bulk(args.next_bytes()?))
}

/// `QUIT`: OK, then the connection closes once the reply is written.
fn quit(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    ctx.client().close_after_reply = true;
    Ok(Frame::ok())
}
