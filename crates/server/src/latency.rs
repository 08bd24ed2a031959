//! Latency instruments fed by dispatch after every command: the latency monitor's event
//! series (`LATENCY LATEST/HISTORY/GRAPH/DOCTOR`), per-command duration histograms
//! (`latency-tracking`: `LATENCY HISTOGRAM`, `INFO latencystats`) and the slow log
//! (`SLOWLOG`).
//!
//! Histograms use the same bounds and precision as Redis (1 ns to 1 s, two significant
//! digits) and are read with Redis's own walks over the buckets, so percentiles and bucket
//! edges come out as the same numbers. One shared `hdrhistogram` layout does the bucket
//! arithmetic; each command keeps only its non-empty buckets, a few dozen bytes instead of
//! the 24 KB of a full counts array, so a command's first call barely moves `used_memory`.

use crate::commands::spec::{flags, CommandSpec};
use crate::config::P;
use crate::net::client::Client;
use crate::server::Server;
use bytes::Bytes;
use hdrhistogram::Histogram;
use slab::Slab;
use std::collections::{BTreeMap, VecDeque};
use std::sync::OnceLock;

/// Samples kept per event (Redis keeps the last 160).
pub const SERIES_LEN: usize = 160;
/// Histogram bounds in nanoseconds, as Redis records durations.
const HIST_MIN: u64 = 1;
const HIST_MAX: u64 = 1_000_000_000;
/// A slow-log entry keeps at most this many arguments...
const SLOWLOG_MAX_ARGC: usize = 32;
/// ...and at most this many bytes of each.
const SLOWLOG_MAX_STRING: usize = 128;

/// One latency spike: when (Unix seconds) and how long (ms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Unix seconds.
    pub time: u64,
    /// Milliseconds.
    pub ms: u64,
}

/// The recent spikes of one event and its all-time maximum.
#[derive(Debug, Default)]
pub struct Series {
    /// Oldest first; spikes in the same second merge into one sample (the larger wins).
    pub samples: VecDeque<Sample>,
    /// Largest spike since the series was created or reset.
    pub max: u64,
}

/// One slow-log entry.
#[derive(Debug, Clone)]
pub struct SlowEntry {
    /// Increasing id, kept across `SLOWLOG RESET`.
    pub id: u64,
    /// Unix seconds when logged.
    pub time: u64,
    /// Execution time in microseconds.
    pub usec: u64,
    /// The arguments, trimmed (see [`trim_argv`]).
    pub argv: Vec<Bytes>,
    /// Client address (`ip:port`), `?:0` for a script's commands.
    pub addr: String,
    /// Client name, empty when unnamed.
    pub name: Bytes,
}

/// One command's durations: the count of each non-empty bucket of the shared layout.
#[derive(Debug, Default, Clone)]
pub struct CmdHistogram {
    /// Lowest value (ns) of a bucket → calls that fell in it.
    counts: BTreeMap<u64, u64>,
    /// Calls recorded.
    pub total: u64,
}

/// The bucket layout Redis uses (1 ns to 1 s, two significant digits), built once.
fn layout() -> Option<&'static Histogram<u64>> {
    static LAYOUT: OnceLock<Option<Histogram<u64>>> = OnceLock::new();
    LAYOUT.get_or_init(|| Histogram::new_with_bounds(HIST_MIN, HIST_MAX, 2).ok()).as_ref()
}

/// Everything this module keeps, owned by `Server`.
#[derive(Default)]
pub struct Latency {
    /// Event name → series, in creation order (LATEST lists them in that order).
    pub events: Vec<(&'static str, Series)>,
    /// Full command name → duration histogram (ns), created at a command's first call.
    pub histograms: hashbrown::HashMap<String, CmdHistogram>,
    /// Newest first.
    pub slowlog: VecDeque<SlowEntry>,
    /// Id of the next slow-log entry.
    pub slowlog_next_id: u64,
}

impl Latency {
    /// Records a spike of `event` if it reaches `latency-monitor-threshold` (0 = off).
    pub fn add_sample_if_needed(
        &mut self,
        threshold: i64,
        event: &'static str,
        now_s: u64,
        ms: u64,
    ) {
        if threshold > 0 && ms >= threshold as u64 {
            self.add_sample(event, now_s, ms);
        }
    }

    /// Records a spike of `event`.
    pub fn add_sample(&mut self, event: &'static str, now_s: u64, ms: u64) {
        let i = match self.events.iter().position(|(n, _)| *n == event) {
            Some(i) => i,
            None => {
                self.events.push((event, Series::default()));
                self.events.len() - 1
            }
        };
        let s = &mut self.events[i].1;
        s.max = s.max.max(ms);
        if let Some(last) = s.samples.back_mut().filter(|l| l.time == now_s) {
            last.ms = last.ms.max(ms);
            return;
        }
        if s.samples.len() == SERIES_LEN {
            s.samples.pop_front();
        }
        s.samples.push_back(Sample { time: now_s, ms });
    }

    /// The series of `event`, if it has one.
    pub fn series(&self, event: &[u8]) -> Option<&Series> {
        self.events.iter().find(|(n, _)| n.as_bytes() == event).map(|(_, s)| s)
    }

    /// Forgets the series of `event`; true if it existed.
    pub fn reset_event(&mut self, event: &[u8]) -> bool {
        let before = self.events.len();
        self.events.retain(|(n, _)| n.as_bytes() != event);
        self.events.len() != before
    }

    /// Records one call of `name` lasting `usec` microseconds.
    fn record_duration(&mut self, name: &str, usec: u64) {
        let Some(layout) = layout() else { return };
        let ns = usec.saturating_mul(1000).clamp(HIST_MIN, HIST_MAX);
        let bucket = layout.lowest_equivalent(ns);
        let h = match self.histograms.get_mut(name) {
            Some(h) => h,
            None => self.histograms.entry(name.to_string()).or_default(),
        };
        *h.counts.entry(bucket).or_default() += 1;
        h.total += 1;
    }

    /// `CONFIG RESETSTAT`: histograms start over (the event series and the slow log stay,
    /// as in Redis).
    pub fn reset_stats(&mut self) {
        self.histograms.clear();
    }
}

/// After a command's handler ran (refused commands never get here): shows it to monitors,
/// then, unless it parked its client (it is measured when it finally runs), feeds the
/// latency monitor, the slow log and the command's histogram. A command called by a script
/// is logged under the script's client, as Redis logs it (address `?:0`, no name).
#[allow(clippy::too_many_arguments)]
pub fn after_command(
    srv: &mut Server,
    clients: &Slab<Client>,
    cid: usize,
    spec: &CommandSpec,
    name: &str,
    argv: &[Bytes],
    usec: u64,
    parked: bool,
) {
    crate::monitor::feed(srv, clients, cid, spec, argv, false);
    if parked {
        return;
    }
    let Some(client) = clients.get(cid) else { return };
    let now_s = srv.now_ms() / 1000;
    let event = if spec.has(flags::FAST) { "fast-command" } else { "command" };
    let threshold = srv.config.int(P::LatencyMonitorThreshold);
    srv.latency.add_sample_if_needed(threshold, event, now_s, usec / 1000);
    let slower = srv.config.int(P::SlowlogLogSlowerThan);
    if slower >= 0 && usec >= slower as u64 && !spec.has(flags::SKIP_SLOWLOG) {
        let in_script = crate::monitor::in_script(srv, cid);
        let entry = SlowEntry {
            id: srv.latency.slowlog_next_id,
            time: now_s,
            usec,
            argv: trim_argv(&crate::monitor::redacted(spec, argv)),
            addr: if in_script { "?:0".to_string() } else { client.addr.clone() },
            name: if in_script { Bytes::new() } else { client.name.clone().unwrap_or_default() },
        };
        let l = &mut srv.latency;
        l.slowlog_next_id += 1;
        l.slowlog.push_front(entry);
        let max = usize::try_from(srv.config.int(P::SlowlogMaxLen)).unwrap_or(usize::MAX);
        l.slowlog.truncate(max);
    }
    if srv.config.bool(P::LatencyTracking) {
        srv.latency.record_duration(name, usec);
    }
}

/// Runs `work` and records it as a spike of `event` if it took at least
/// `latency-monitor-threshold` ms (cron work such as the active expire cycle).
pub fn timed<T>(srv: &mut Server, event: &'static str, work: impl FnOnce(&mut Server) -> T) -> T {
    let started = crate::clock::Stamp::now();
    let out = work(srv);
    let ms = started.elapsed_us() / 1000;
    let threshold = srv.config.int(P::LatencyMonitorThreshold);
    let now_s = srv.now_ms() / 1000;
    srv.latency.add_sample_if_needed(threshold, event, now_s, ms);
    out
}

/// Redis's slow-log trimming: past 32 arguments the 32nd says how many more there were,
/// and an argument past 128 bytes keeps 128 and says how many more bytes it had.
fn trim_argv(argv: &[Bytes]) -> Vec<Bytes> {
    let kept = argv.len().min(SLOWLOG_MAX_ARGC);
    let mut out = Vec::with_capacity(kept);
    for (i, a) in argv.iter().take(kept).enumerate() {
        if kept < argv.len() && i == kept - 1 {
            let more = argv.len() - i;
            out.push(Bytes::from(format!("... ({more} more arguments)")));
        } else if a.len() > SLOWLOG_MAX_STRING {
            let mut v = a[..SLOWLOG_MAX_STRING].to_vec();
            v.extend_from_slice(
                format!("... ({} more bytes)", a.len() - SLOWLOG_MAX_STRING).as_bytes(),
            );
            out.push(Bytes::from(v));
        } else {
            // A copy: the argument shares the client's read buffer, which the entry would
            // otherwise keep alive for as long as it stays in the log.
            out.push(Bytes::copy_from_slice(a));
        }
    }
    out
}

/// The value at `percentile` the way Redis's HdrHistogram computes it: the bucket where the
/// running count first reaches the rounded target, reported as its highest equivalent value
/// (its lowest for the 0th percentile).
pub fn value_at_percentile(h: &CmdHistogram, percentile: f64) -> u64 {
    let Some(layout) = layout() else { return 0 };
    let p = percentile.min(100.0);
    let target = (((p / 100.0) * h.total as f64 + 0.5) as u64).max(1);
    let mut running = 0;
    let mut found = 0;
    for (&v, &n) in &h.counts {
        running += n;
        found = v;
        if running >= target {
            break;
        }
    }
    if percentile == 0.0 {
        layout.lowest_equivalent(found)
    } else {
        layout.highest_equivalent(found)
    }
}

/// `LATENCY HISTOGRAM`'s buckets. Redis walks the histogram with a logarithmic iterator:
/// levels 1024 ns, 2048 ns, ... up to the last bucket of the layout; at each level it has
/// counted every bucket up to and including the level's own, and reports the level's bucket
/// top (µs) with that running count, skipping levels that added nothing.
pub fn cumulative_buckets(h: &CmdHistogram) -> Vec<(u64, u64)> {
    let Some(layout) = layout() else { return Vec::new() };
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut counts = h.counts.iter().peekable();
    let (mut running, mut reported) = (0, 0);
    let mut level: u64 = 1024;
    while reported < h.total {
        let low = layout.lowest_equivalent(level);
        if low > HIST_MAX {
            break;
        }
        while let Some((&v, &n)) = counts.peek() {
            if v > low {
                break;
            }
            running += n;
            counts.next();
        }
        if running > reported {
            out.push((layout.highest_equivalent(low) / 1000, running));
            reported = running;
        }
        level = level.saturating_mul(2);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values_us: &[u64]) -> CmdHistogram {
        let mut l = Latency::default();
        for &us in values_us {
            l.record_duration("x", us);
        }
        l.histograms.remove("x").unwrap()
    }

    #[test]
    fn percentiles_match_redis_figures() {
        // A call under a microsecond is recorded as 1 ns, one of 1 µs as 1000 ns, and INFO
        // shows them as 0.001 and 1.003 (the bucket's highest value).
        assert_eq!(value_at_percentile(&hist(&[0]), 50.0), 1);
        assert_eq!(value_at_percentile(&hist(&[1]), 99.9), 1003);
        let h = hist(&[1, 1, 1, 100]);
        assert_eq!(value_at_percentile(&h, 50.0), 1003);
        let layout = layout().unwrap();
        assert_eq!(value_at_percentile(&h, 99.0), layout.highest_equivalent(100_000));
        assert_eq!(value_at_percentile(&h, 0.0), layout.lowest_equivalent(1000));
    }

    #[test]
    fn histogram_buckets_are_redis_log_levels() {
        // Levels 1024, 2048, 4096 ns... reported as their bucket's top in µs: 1, 2, 4, ...
        assert_eq!(cumulative_buckets(&hist(&[0])), vec![(1, 1)]);
        assert_eq!(cumulative_buckets(&hist(&[2, 3, 3])), vec![(2, 1), (4, 3)]);
        assert_eq!(cumulative_buckets(&hist(&[20, 40])), vec![(33, 1), (66, 2)]);
        // Past the 1 s bound durations are clamped to it; Redis's iterator stops before the
        // next level (2^30 ns), so such a call is counted but falls in no reported bucket.
        let h = hist(&[5_000_000]);
        assert_eq!(h.total, 1);
        assert_eq!(cumulative_buckets(&h), vec![]);
        assert_eq!(cumulative_buckets(&hist(&[5_000_000, 1])), vec![(1, 1)]);
    }

    #[test]
    fn samples_in_one_second_merge() {
        let mut l = Latency::default();
        l.add_sample_if_needed(0, "command", 10, 50);
        assert!(l.events.is_empty());
        l.add_sample_if_needed(5, "command", 10, 4);
        assert!(l.events.is_empty());
        l.add_sample_if_needed(5, "command", 10, 7);
        l.add_sample_if_needed(5, "command", 10, 6);
        l.add_sample_if_needed(5, "command", 11, 5);
        let s = l.series(b"command").unwrap();
        assert_eq!(s.samples, [Sample { time: 10, ms: 7 }, Sample { time: 11, ms: 5 }]);
        assert_eq!(s.max, 7);
        for t in 0..200 {
            l.add_sample("command", 100 + t, 1);
        }
        assert_eq!(l.series(b"command").unwrap().samples.len(), SERIES_LEN);
        assert!(l.reset_event(b"command"));
        assert!(!l.reset_event(b"command"));
    }

    #[test]
    fn slowlog_trimming() {
        let args: Vec<Bytes> = (0..40).map(|i| Bytes::from(format!("a{i}"))).collect();
        let t = trim_argv(&args);
        assert_eq!(t.len(), 32);
        assert_eq!(t[31], "... (9 more arguments)");
        let long = vec![Bytes::from(vec![b'x'; 130])];
        assert_eq!(trim_argv(&long)[0].len(), 128 + "... (2 more bytes)".len());
    }
}
