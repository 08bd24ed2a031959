//! The hashes family (first version being written).

use super::spec::CommandSpec;

/// The hashes family's table.
pub const COMMANDS: &[CommandSpec] = &[];
