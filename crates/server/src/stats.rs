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
    /// Clients closed for `maxmemory-clients` (`evicted_clients`).
    pub evicted_clients: u64,
    /// Per command, keyed by full name (`get`, `client|list`).
    pub cmd: hashbrown::HashMap<String, CmdStat>,
    /// Per error code (`ERR`, `WRONGTYPE`...), sorted as INFO prints them.
    pub errors: BTreeMap<String, u64>,
    /// Event loop iterations (`eventloop_cycles`).
    pub el_cycles: u64,
    /// Microseconds the event loop spent working, poll's wait excluded
    /// (`eventloop_duration_sum`).
    pub el_duration_us: u64,
    /// Microseconds of that spent running commands (`eventloop_duration_cmd_sum`).
    pub el_cmd_us: u64,
    /// The `instantaneous_*` rates, sampled by the cron.
    pub rates: Rates,
    /// The replication IDs (kept across `CONFIG RESETSTAT`).
    pub repl: ReplIds,
}

/// The replication history IDs of `INFO replication`: Keel is always a master without
/// replicas, so only `DEBUG CHANGE-REPL-ID` changes them.
#[derive(Debug)]
pub struct ReplIds {
    /// `master_replid`: 40 random hex digits chosen at start.
    pub id: String,
    /// `master_replid2`: the previous ID (all zeros: there was none).
    pub id2: String,
}

impl Default for ReplIds {
    fn default() -> Self {
        ReplIds { id: random_hex40(), id2: "0".repeat(40) }
    }
}

impl ReplIds {
    /// `DEBUG CHANGE-REPL-ID`: a new ID, and no previous one.
    pub fn change(&mut self) {
        *self = ReplIds::default();
    }
}

/// 40 random lowercase hex digits, as Redis's run and replication IDs.
fn random_hex40() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..40).map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)])).collect()
}

/// Samples kept per rate, as Redis's `STATS_METRIC_SAMPLES`.
const SAMPLES: usize = 16;
/// Milliseconds between samples (Redis samples every 100 ms in its cron).
pub const SAMPLE_PERIOD_MS: u64 = 100;

/// One rate: the last counter value and time, and a ring of per-second rates.
#[derive(Default, Debug, Clone, Copy)]
struct Ring {
    last_value: u64,
    last_ms: u64,
    samples: [f64; SAMPLES],
    at: usize,
}

impl Ring {
    /// Records the rate since the previous sample of `value` taken at `now_ms`.
    fn sample(&mut self, value: u64, now_ms: u64) {
        let dt = now_ms.saturating_sub(self.last_ms);
        let rate = if self.last_ms == 0 || dt == 0 {
            0.0
        } else {
            value.saturating_sub(self.last_value) as f64 * 1000.0 / dt as f64
        };
        self.samples[self.at] = rate;
        self.at = (self.at + 1) % SAMPLES;
        self.last_value = value;
        self.last_ms = now_ms;
    }

    /// The mean of the samples.
    fn mean(&self) -> f64 {
        self.samples.iter().sum::<f64>() / SAMPLES as f64
    }
}

/// The sampled rates behind `instantaneous_ops_per_sec` and the input/output kbps.
#[derive(Default, Debug)]
pub struct Rates {
    ops: Ring,
    net_in: Ring,
    net_out: Ring,
    el_cycles: Ring,
    el_duration: Ring,
    last_ms: u64,
}

impl Rates {
    /// Commands per second, averaged over the last samples.
    pub fn ops_per_sec(&self) -> u64 {
        self.ops.mean() as u64
    }

    /// Input kilobytes (1024 bytes) per second.
    pub fn input_kbps(&self) -> f64 {
        self.net_in.mean() / 1024.0
    }

    /// Output kilobytes (1024 bytes) per second.
    pub fn output_kbps(&self) -> f64 {
        self.net_out.mean() / 1024.0
    }

    /// Event loop iterations per second.
    pub fn eventloop_cycles_per_sec(&self) -> u64 {
        self.el_cycles.mean() as u64
    }

    /// Mean microseconds of work per event loop iteration over the sampled window.
    pub fn eventloop_duration_usec(&self) -> u64 {
        let cycles = self.el_cycles.mean();
        if cycles > 0.0 {
            (self.el_duration.mean() / cycles) as u64
        } else {
            0
        }
    }
}

/// Redis stops tracking new error codes past this many, to bound memory.
const MAX_ERROR_CODES: usize = 128;

impl Stats {
    /// Counts one event loop iteration that worked for `us` microseconds.
    pub fn count_cycle(&mut self, us: u64) {
        self.el_cycles += 1;
        self.el_duration_us += us;
    }

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

    /// Takes a rate sample when `SAMPLE_PERIOD_MS` has passed since the last one (called
    /// from the cron, which may run more often).
    pub fn sample(&mut self, now_ms: u64) {
        if now_ms.saturating_sub(self.rates.last_ms) < SAMPLE_PERIOD_MS {
            return;
        }
        self.rates.last_ms = now_ms;
        self.rates.ops.sample(self.commands, now_ms);
        self.rates.net_in.sample(self.net_input_bytes, now_ms);
        self.rates.net_out.sample(self.net_output_bytes, now_ms);
        self.rates.el_cycles.sample(self.el_cycles, now_ms);
        self.rates.el_duration.sample(self.el_duration_us, now_ms);
    }

    /// `CONFIG RESETSTAT`: zero every counter and rate (the replication IDs stay).
    pub fn reset(&mut self) {
        let repl = std::mem::take(&mut self.repl);
        *self = Stats { repl, ..Stats::default() };
    }
}
