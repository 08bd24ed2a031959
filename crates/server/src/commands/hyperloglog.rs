//! The HyperLogLog family (first version being written).

use super::spec::CommandSpec;

/// The HyperLogLog family's table.
pub const COMMANDS: &[CommandSpec] = &[];
