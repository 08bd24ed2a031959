//! The sorted sets family (first version being written).

use super::spec::CommandSpec;

/// The sorted sets family's table.
pub const COMMANDS: &[CommandSpec] = &[];
