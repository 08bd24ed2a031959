//! The SORT family (first version being written).

use super::spec::CommandSpec;

/// The SORT family's table.
pub const COMMANDS: &[CommandSpec] = &[];
