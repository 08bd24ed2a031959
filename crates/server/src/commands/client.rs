//! `CLIENT` and its subcommands.

use super::spec::{acl, flags::*, unreachable_container, CommandSpec, KeyPos};
use crate::args::Args;
use crate::error::CmdError;
use crate::server::Ctx;
use resp::Frame;

const SUBCOMMANDS: &[CommandSpec] =
    &[CommandSpec::new("id", 2, NOSCRIPT | LOADING | STALE, acl::CONNECTION, KeyPos::NONE, id)
        .doc("connection", "5.0.0", "Returns the unique client ID of the connection.", "O(1)")];

/// The CLIENT family's table.
pub const COMMANDS: &[CommandSpec] =
    &[CommandSpec::new("client", -2, 0, 0, KeyPos::NONE, unreachable_container)
        .doc(
            "connection",
            "2.4.0",
            "A container for client connection commands.",
            "Depends on subcommand.",
        )
        .subs(SUBCOMMANDS)];

/// `CLIENT ID`.
fn id(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(Frame::Integer(ctx.client_ref().id as i64))
}
