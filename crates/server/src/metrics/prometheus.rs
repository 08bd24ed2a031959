//! The Prometheus text exposition format (version 0.0.4) of a [`Snapshot`].
//!
//! Series shared with the widely used redis_exporter keep its names and labels (`db="db0"`,
//! `cmd="get"`, `err="ERR"`), so its dashboards and alert rules work unchanged; Keel's own
//! series start with `keel_`.

use super::bullmq::STATES;
use super::Snapshot;
use std::fmt::Write;

/// One metric family: HELP and TYPE lines, then its samples.
struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &'static str, kind: &str, help: &str) -> Family<'a> {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
        Family { out, name }
    }

    /// A sample without labels.
    fn value(self, v: impl Into<f64>) {
        let _ = writeln!(self.out, "{} {}", self.name, number(v.into()));
    }

    /// A sample with labels, given as (name, raw value) pairs.
    fn labelled(&mut self, labels: &[(&str, &[u8])], v: impl Into<f64>) {
        let mut text = String::new();
        for (i, (k, val)) in labels.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            let _ = write!(text, "{k}=\"{}\"", escape(val));
        }
        let _ = writeln!(self.out, "{}{{{text}}} {}", self.name, number(v.into()));
    }
}

/// A sample value: integers without a fraction, others in Rust's shortest form.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v}")
    }
}

/// A label value: backslash, double quote and newline escaped, other bytes as UTF-8 (lossy:
/// the format is UTF-8 text).
fn escape(raw: &[u8]) -> String {
    let mut s = String::new();
    for ch in String::from_utf8_lossy(raw).chars() {
        match ch {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Counts as f64: Prometheus samples are doubles.
fn f(n: u64) -> f64 {
    n as f64
}

/// Renders every series.
pub fn render(s: &Snapshot) -> String {
    let mut out = String::new();
    let o = &mut out;
    Family::new(o, "redis_up", "gauge", "Whether the server answered (always 1).").value(1.0);
    Family::new(o, "redis_uptime_in_seconds", "gauge", "Seconds since the server started.")
        .value(f(s.uptime));
    Family::new(o, "redis_memory_used_bytes", "gauge", "Bytes allocated (used_memory).")
        .value(f(s.used));
    Family::new(o, "redis_memory_max_bytes", "gauge", "The maxmemory limit, 0 for none.")
        .value(f(s.maxmemory));
    Family::new(o, "redis_memory_used_rss_bytes", "gauge", "Resident set size of the process.")
        .value(f(s.rss));
    Family::new(o, "redis_mem_fragmentation_ratio", "gauge", "RSS divided by used memory.")
        .value(s.frag);
    Family::new(o, "redis_connected_clients", "gauge", "Client connections open.")
        .value(f(s.clients));
    Family::new(o, "redis_blocked_clients", "gauge", "Clients waiting in a blocking command.")
        .value(f(s.blocked));
    Family::new(o, "redis_commands_processed_total", "counter", "Commands processed.")
        .value(f(s.commands));
    let mut fam = Family::new(o, "redis_commands_total", "counter", "Calls per command.");
    for (name, calls, _) in &s.per_command {
        fam.labelled(&[("cmd", name.as_bytes())], f(*calls));
    }
    let mut fam = Family::new(
        o,
        "redis_commands_duration_seconds_total",
        "counter",
        "Seconds spent running each command.",
    );
    for (name, _, usec) in &s.per_command {
        fam.labelled(&[("cmd", name.as_bytes())], f(*usec) / 1e6);
    }
    let mut fam = Family::new(o, "redis_errors_total", "counter", "Error replies per code.");
    for (code, n) in &s.errors {
        fam.labelled(&[("err", code.as_bytes())], f(*n));
    }
    Family::new(o, "redis_keyspace_hits_total", "counter", "Key lookups that found the key.")
        .value(f(s.hits));
    Family::new(o, "redis_keyspace_misses_total", "counter", "Key lookups that missed.")
        .value(f(s.misses));
    Family::new(o, "redis_expired_keys_total", "counter", "Keys deleted because they expired.")
        .value(f(s.expired));
    Family::new(o, "redis_evicted_keys_total", "counter", "Keys evicted for maxmemory.")
        .value(f(s.evicted));
    let mut fam = Family::new(o, "redis_db_keys", "gauge", "Keys per database.");
    for (db, keys, _) in &s.dbs {
        fam.labelled(&[("db", format!("db{db}").as_bytes())], f(*keys));
    }
    let mut fam =
        Family::new(o, "redis_db_keys_expiring", "gauge", "Keys with an expire time per database.");
    for (db, _, expiring) in &s.dbs {
        fam.labelled(&[("db", format!("db{db}").as_bytes())], f(*expiring));
    }
    Family::new(o, "redis_aof_enabled", "gauge", "Whether the append-only file is on.")
        .value(flag(s.aof_enabled));
    Family::new(o, "redis_aof_last_write_status", "gauge", "1 if the last AOF write succeeded.")
        .value(flag(s.aof_write_ok));
    Family::new(o, "redis_aof_last_bgrewrite_status", "gauge", "1 if the last rewrite succeeded.")
        .value(flag(s.aof_rewrite_ok));
    Family::new(o, "redis_aof_rewrite_in_progress", "gauge", "1 while an AOF rewrite runs.")
        .value(flag(s.aof_rewriting));
    Family::new(o, "redis_rdb_last_bgsave_status", "gauge", "1 if the last RDB save succeeded.")
        .value(flag(s.rdb_ok));
    Family::new(o, "redis_rdb_bgsave_in_progress", "gauge", "1 while an RDB save runs.")
        .value(flag(s.rdb_saving));
    Family::new(o, "redis_rdb_changes_since_last_save", "gauge", "Writes since the last save.")
        .value(f(s.rdb_changes));
    Family::new(
        o,
        "redis_rdb_last_save_timestamp_seconds",
        "gauge",
        "Unix time of the last successful save.",
    )
    .value(f(s.last_save));
    Family::new(o, "redis_net_input_bytes_total", "counter", "Bytes read from clients.")
        .value(f(s.net_in));
    Family::new(o, "redis_net_output_bytes_total", "counter", "Bytes written to clients.")
        .value(f(s.net_out));
    let mut fam = Family::new(o, "keel_bullmq_jobs", "gauge", "BullMQ jobs per queue and state.");
    for q in &s.queues {
        let db = q.db.to_string();
        for (state, n) in STATES.iter().zip(q.counts) {
            let labels: [(&str, &[u8]); 3] =
                [("db", db.as_bytes()), ("queue", &q.name), ("state", state.as_bytes())];
            fam.labelled(&labels, f(n));
        }
    }
    let mut fam = Family::new(
        o,
        "keel_bullmq_queue_memory_bytes",
        "gauge",
        "Estimated bytes of a BullMQ queue's keys and jobs (sampled).",
    );
    for q in &s.queues {
        let db = q.db.to_string();
        fam.labelled(&[("db", db.as_bytes()), ("queue", &q.name)], f(q.memory));
    }
    Family::new(
        o,
        "keel_bullmq_queues_truncated",
        "gauge",
        "1 when more queues exist than metrics-max-queues lets through.",
    )
    .value(flag(s.queues_truncated));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_escapes() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(1e20), "100000000000000000000");
        assert_eq!(escape(b"a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(escape(b"\xff"), "\u{fffd}");
    }

    #[test]
    fn families_have_help_type_and_labels() {
        let mut out = String::new();
        let mut fam = Family::new(&mut out, "x_total", "counter", "Things.");
        fam.labelled(&[("a", b"1"), ("b", b"q\"")], 2.0);
        assert_eq!(
            out,
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"1\",b=\"q\\\"\"} 2\n"
        );
    }
}
