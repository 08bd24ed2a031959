//! The streams family (first version being written).

use super::spec::CommandSpec;

/// The streams family's table.
pub const COMMANDS: &[CommandSpec] = &[];
