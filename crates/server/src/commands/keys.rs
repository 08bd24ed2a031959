//! Keyspace commands (Redis's `generic` group): DEL EXISTS EXPIRE TTL SCAN ...

use super::spec::{acl, flags::*, CommandSpec, KeyPos};
use crate::args::Args;
use crate::error::CmdError;
use crate::server::Ctx;
use resp::Frame;

/// The keyspace family's table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("del", -2, WRITE, acl::KEYSPACE, KeyPos::ALL, del)
        .doc("generic", "1.0.0", "Deletes one or more keys.", "O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1)."),
];

/// `DEL key [key ...]`: how many of the keys existed.
fn del(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let mut n = 0;
    while args.remaining() > 0 {
        let key = args.next_bytes()?;
        if ctx.delete(&key) {
            n += 1;
        }
    }
    Ok(Frame::Integer(n))
}
