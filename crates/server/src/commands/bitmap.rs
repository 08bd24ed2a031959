//! The bitmaps family (first version being written).

use super::spec::CommandSpec;

/// The bitmaps family's table.
pub const COMMANDS: &[CommandSpec] = &[];
