//! The command table: every family's rows, concatenated, and the name lookup.
//!
//! Each family file (`string.rs`, `keys.rs`, ...) exports `COMMANDS: &[CommandSpec]` with the
//! handlers of one Redis command group. Dispatch, `COMMAND`, `INFO commandstats` and the
//! tests all read this one table.

pub mod acl;
pub mod bitmap;
pub mod client;
pub mod connection;
pub mod dump;
pub mod function;
pub mod geo;
pub mod hash;
pub mod hyperloglog;
pub mod introspection;
pub mod keys;
pub mod latency;
pub mod list;
pub mod memory;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod set;
pub mod slowlog;
pub mod sort;
pub mod spec;
pub mod stream;
pub mod string;
pub mod transactions;
pub mod zset;

use spec::CommandSpec;
use std::sync::OnceLock;

/// Every family's table, in the order `COMMAND` lists them.
const FAMILIES: &[&[CommandSpec]] = &[
    string::COMMANDS,
    keys::COMMANDS,
    list::COMMANDS,
    hash::COMMANDS,
    set::COMMANDS,
    zset::COMMANDS,
    bitmap::COMMANDS,
    hyperloglog::COMMANDS,
    geo::COMMANDS,
    sort::COMMANDS,
    transactions::COMMANDS,
    pubsub::COMMANDS,
    scripting::COMMANDS,
    function::COMMANDS,
    stream::COMMANDS,
    connection::COMMANDS,
    client::COMMANDS,
    server::COMMANDS,
    replication::COMMANDS,
    memory::COMMANDS,
    dump::COMMANDS,
    introspection::COMMANDS,
    slowlog::COMMANDS,
    latency::COMMANDS,
    crate::monitor::COMMANDS,
    acl::COMMANDS,
];

/// The lookup map from lowercase name to table row, built once.
pub struct Table {
    by_name: foldhash::HashMap<&'static str, &'static CommandSpec>,
}

impl Table {
    /// The command named `name` (any letter case).
    pub fn get(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        let mut buf = [0u8; 32];
        if name.len() > buf.len() {
            return None;
        }
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        let s = std::str::from_utf8(lower).ok()?;
        self.by_name.get(s).copied()
    }

    /// All top-level commands.
    pub fn all(&self) -> impl Iterator<Item = &'static CommandSpec> + '_ {
        FAMILIES.iter().flat_map(|f| f.iter())
    }

    /// Number of top-level commands.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// True if the table is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// Finds a subcommand of `parent` by name (any letter case).
pub fn subcommand(parent: &'static CommandSpec, name: &[u8]) -> Option<&'static CommandSpec> {
    parent.subcommands.iter().find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
}

/// The command table.
pub fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut by_name = foldhash::HashMap::default();
        for family in FAMILIES {
            for spec in family.iter() {
                by_name.insert(spec.name, spec);
            }
        }
        Table { by_name }
    })
}

#[cfg(test)]
mod tests {
    use super::spec::flags;
    use super::*;

    #[test]
    fn table_invariants() {
        let mut seen = std::collections::HashSet::new();
        for spec in table().all() {
            assert!(seen.insert(spec.name), "duplicate command {}", spec.name);
            assert_eq!(spec.name, spec.name.to_lowercase());
            assert_ne!(spec.arity, 0, "{}", spec.name);
            assert!(!(spec.has(flags::WRITE) && spec.has(flags::READONLY)), "{}", spec.name);
            if spec.keys.first > 0 && spec.arity > 0 {
                assert!(spec.keys.first < spec.arity, "{}", spec.name);
            }
            for sub in spec.subcommands {
                assert_eq!(sub.name, sub.name.to_lowercase());
                assert_ne!(sub.arity, 0);
            }
        }
    }
}
