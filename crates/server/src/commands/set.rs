//! The sets family (first version being written).

use super::spec::CommandSpec;

/// The sets family's table.
pub const COMMANDS: &[CommandSpec] = &[];
