//! The lists family (first version being written).

use super::spec::CommandSpec;

/// The lists family's table.
pub const COMMANDS: &[CommandSpec] = &[];
