//! Server-wide counters for `INFO stats`, `INFO commandstats` and `INFO errorstats`.

use std::collections::BTreeMap;

/// Per-command counters (`cmdstat_<name>:calls=..,usec=..,rejected_calls=..,failed_calls=..`).
#[derive(Default, Debug, Clone, Copy)]
pub struct CmdStat {
    /// Times the handler ran.
    pub calls: u64,
    /// Microseconds spent in the handler.
    pub usec: u64,
    /// Times the command was refused before running (arity, auth, OOM...).
    pub rejected_calls: u64,
    /// Times the handler ran and returned an error.
    pub failed_calls: u64,
}

/// Counters kept since start (or the last `CONFIG RESETSTAT`).
#[derive(Default, Debug)]
pub struct Stats {
    /// Commands processed (`total_commands_processed`).
    pub commands: u64,
    /// Connections accepted (`total_connections_received`).
    pub connections: u64,
    /// Connections refused at `maxclients` (`rejected_connections`).
    pub rejected_connections: u64,
    /// Bytes read from clients (`total_net_input_bytes`).
    pub net_input_bytes: u64,
    /// Bytes written to clients (`total_net_output_bytes`).
    pub net_output_bytes: u64,
    /// Error replies sent (`total_error_replies`).
    pub error_replies: u64,
    /// Errors refused before running a command (`unexpected_error_replies` is separate).
    pub rejected_calls: u64,
    /// Keys evicted for `maxmemory` (`evicted_keys`).
    pub evicted_keys: u64,
    /// Per command, keyed by full name (`get`, `client|list`).
    pub cmd: hashbrown::HashMap<String, CmdStat>,
    /// Per error code (`ERR`, `WRONGTYPE`...), sorted as INFO prints them.
    pub errors: BTreeMap<String, u64>,
}

/// Redis stops tracking new error codes past this many, to bound memory.
const MAX_ERROR_CODES: usize = 128;

impl Stats {
    /// Counts an error reply with `code`.
    pub fn count_error(&mut self, code: &str) {
        self.error_replies += 1;
        if let Some(n) = self.errors.get_mut(code) {
            *n += 1;
        } else if self.errors.len() < MAX_ERROR_CODES {
            self.errors.insert(code.to_string(), 1);
        }
    }

    /// The counters of command `name`.
    pub fn cmd_mut(&mut self, name: &str) -> &mut CmdStat {
        // entry_ref copies the name only the first time a command runs, not per call.
        self.cmd.entry_ref(name).or_default()
    }

    /// `CONFIG RESETSTAT`: zero every counter.
    pub fn reset(&mut self) {
        *self = Stats::default();
    }
}
