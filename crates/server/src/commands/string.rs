//! String commands: GET SET and the rest of Redis's `string` group.

use super::spec::{acl, flags::*, CommandSpec, KeyPos};
use crate::args::Args;
use crate::error::CmdError;
use crate::server::Ctx;
use crate::types::{StrValue, Value};
use resp::Frame;

/// The string family's table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", 2, READONLY | FAST, acl::STRING, KeyPos::ONE, get)
        .doc("string", "1.0.0", "Returns the string value of a key.", "O(1)"),
    CommandSpec::new("set", -3, WRITE | DENYOOM, acl::STRING, KeyPos::ONE, set).doc(
        "string",
        "1.0.0",
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        "O(1)",
    ),
];

/// `GET key`: the value, or null.
fn get(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    Ok(match ctx.read_str(&key)? {
        Some(s) => Frame::Bulk(s.to_bytes()),
        None => Frame::Null,
    })
}

/// `SET key value`: minimal form; options come with the strings work.
fn set(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let value = args.next_bytes()?;
    if args.remaining() > 0 {
        return Err(CmdError::Syntax);
    }
    ctx.set_value(&key, Value::Str(StrValue::from_bytes(&value)), false);
    Ok(Frame::ok())
}
