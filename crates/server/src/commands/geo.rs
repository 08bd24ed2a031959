//! The geo family (first version being written).

use super::spec::CommandSpec;

/// The geo family's table.
pub const COMMANDS: &[CommandSpec] = &[];
