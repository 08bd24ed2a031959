//! LATENCY: LATEST, HISTORY, RESET, GRAPH, DOCTOR, HISTOGRAM, HELP over the event series
//! and per-command histograms kept in `latency.rs`.

use super::client::help_reply;
use super::spec::{flags::*, unreachable_container, CommandSpec, KeyPos};
use crate::args::Args;
use crate::config::P;
use crate::error::{c_prefix, CmdError};
use crate::latency::{cumulative_buckets, Series};
use crate::server::Ctx;
use bytes::Bytes;
use resp::Frame;

/// Flags of the subcommands that read or change the data.
const ADMIN_SUB: u32 = ADMIN | NOSCRIPT | LOADING | STALE;
/// Tips of the subcommands whose reply is a per-node report.
const REPORT_TIPS: &[&str] =
    &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"];
/// Width of `LATENCY GRAPH`.
const GRAPH_COLS: usize = 80;
/// Height of `LATENCY GRAPH`'s bars, in rows.
const GRAPH_ROWS: usize = 4;

const SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("doctor", 2, ADMIN_SUB, 0, KeyPos::NONE, doctor)
        .doc("server", "2.8.13", "Returns a human-readable latency analysis report.", "O(1)")
        .tips(REPORT_TIPS),
    CommandSpec::new("graph", 3, ADMIN_SUB, 0, KeyPos::NONE, graph)
        .doc("server", "2.8.13", "Returns a latency graph for an event.", "O(1)")
        .tips(REPORT_TIPS),
    CommandSpec::new("help", 2, LOADING | STALE, 0, KeyPos::NONE, help).doc(
        "server",
        "2.8.13",
        "Returns helpful text about the different subcommands.",
        "O(1)",
    ),
    CommandSpec::new("histogram", -2, ADMIN_SUB, 0, KeyPos::NONE, histogram)
        .doc(
            "server",
            "7.0.0",
            "Returns the cumulative distribution of latencies of a subset or all commands.",
            "O(N) where N is the number of commands with latency information being retrieved.",
        )
        .tips(REPORT_TIPS),
    CommandSpec::new("history", 3, ADMIN_SUB, 0, KeyPos::NONE, history)
        .doc("server", "2.8.13", "Returns timestamp-latency samples for an event.", "O(1)")
        .tips(REPORT_TIPS),
    CommandSpec::new("latest", 2, ADMIN_SUB, 0, KeyPos::NONE, latest)
        .doc("server", "2.8.13", "Returns the latest latency samples for all events.", "O(1)")
        .tips(REPORT_TIPS),
    CommandSpec::new("reset", -2, ADMIN_SUB, 0, KeyPos::NONE, reset)
        .doc("server", "2.8.13", "Resets the latency data for one or more events.", "O(1)")
        .tips(&["request_policy:all_nodes", "response_policy:all_succeeded"]),
];

/// The LATENCY family's table.
pub const COMMANDS: &[CommandSpec] =
    &[CommandSpec::new("latency", -2, 0, 0, KeyPos::NONE, unreachable_container)
        .doc(
            "server",
            "2.8.13",
            "A container for latency diagnostics commands.",
            "Depends on subcommand.",
        )
        .subs(SUBCOMMANDS)];

/// `LATENCY LATEST`: per event `[name, time of the latest spike, its ms, all-time max ms]`.
fn latest(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    let rows = ctx
        .srv
        .latency
        .events
        .iter()
        .filter_map(|(name, s)| {
            let last = s.samples.back()?;
            Some(Frame::Array(vec![
                Frame::bulk(name.as_bytes()),
                Frame::Integer(last.time as i64),
                Frame::Integer(last.ms as i64),
                Frame::Integer(s.max as i64),
            ]))
        })
        .collect();
    Ok(Frame::Array(rows))
}

/// `LATENCY HISTORY event`: `[time, ms]` per recorded spike, oldest first; an unknown event
/// has none.
fn history(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let event = args.next_bytes()?;
    let rows = ctx.srv.latency.series(&event).map_or_else(Vec::new, |s| {
        s.samples
            .iter()
            .map(|p| Frame::Array(vec![Frame::Integer(p.time as i64), Frame::Integer(p.ms as i64)]))
            .collect()
    });
    Ok(Frame::Array(rows))
}

/// `LATENCY RESET [event ...]`: forgets the named events (all without names); the number of
/// series forgotten.
fn reset(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let l = &mut ctx.srv.latency;
    if args.remaining() == 0 {
        let n = l.events.len();
        l.events.clear();
        return Ok(Frame::Integer(n as i64));
    }
    let n = args.rest().iter().filter(|e| l.reset_event(e)).count();
    Ok(Frame::Integer(n as i64))
}

/// `LATENCY HISTOGRAM [command ...]`: per command with recorded calls, its call count and
/// cumulative counts by microsecond bucket. A container name stands for its subcommands;
/// unknown names are skipped.
fn histogram(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let names: Vec<String> = if args.remaining() == 0 {
        let mut all: Vec<String> = ctx.srv.latency.histograms.keys().cloned().collect();
        all.sort();
        all
    } else {
        args.rest().iter().flat_map(|raw| command_names(raw)).collect()
    };
    let hists = &ctx.srv.latency.histograms;
    let mut out = Vec::new();
    for name in names {
        let Some(h) = hists.get(&name) else { continue };
        let buckets = cumulative_buckets(h)
            .into_iter()
            .map(|(us, n)| (Frame::Integer(us as i64), Frame::Integer(n as i64)))
            .collect();
        out.push((
            Frame::Bulk(Bytes::from(name)),
            Frame::Map(vec![
                (Frame::bulk(b"calls"), Frame::Integer(h.total as i64)),
                (Frame::bulk(b"histogram_usec"), Frame::Map(buckets)),
            ]),
        ));
    }
    Ok(Frame::Map(out))
}

/// The full names `LATENCY HISTOGRAM` reports for one argument: `get`, `client|list`, or
/// every subcommand of a container (`client`).
fn command_names(raw: &[u8]) -> Vec<String> {
    let (name, sub) = match raw.iter().position(|&b| b == b'|') {
        Some(i) => (&raw[..i], Some(&raw[i + 1..])),
        None => (raw, None),
    };
    let Some(spec) = super::table().get(name) else { return Vec::new() };
    match sub {
        Some(sub) => super::subcommand(spec, sub)
            .map(|s| vec![format!("{}|{}", spec.name, s.name)])
            .unwrap_or_default(),
        None => std::iter::once(spec.name.to_string())
            .chain(spec.subcommands.iter().map(|s| format!("{}|{}", spec.name, s.name)))
            .collect(),
    }
}

/// `LATENCY GRAPH event`: an ASCII chart of the event's spikes, labelled with how long ago
/// each happened.
fn graph(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let event = args.next_bytes()?;
    let Some(s) = ctx.srv.latency.series(&event) else {
        let mut text = b"ERR No samples available for event '".to_vec();
        text.extend_from_slice(c_prefix(&event, usize::MAX));
        text.push(b'\'');
        return Err(CmdError::dynamic(text));
    };
    let now_s = ctx.now / 1000;
    let low = s.samples.iter().map(|p| p.ms).min().unwrap_or(0);
    let high = s.samples.iter().map(|p| p.ms).max().unwrap_or(0);
    let mut out = format!(
        "{} - high {high} ms, low {low} ms (all time high {} ms)\n{}\n",
        String::from_utf8_lossy(&event),
        s.max,
        "-".repeat(GRAPH_COLS)
    );
    let points: Vec<(u64, String)> =
        s.samples.iter().map(|p| (p.ms, ago(now_s.saturating_sub(p.time)))).collect();
    for (i, chunk) in points.chunks(GRAPH_COLS).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        sparkline(&mut out, chunk, low, high);
    }
    Ok(Frame::Verbatim("txt", Bytes::from(out)))
}

/// A label for `secs` ago: seconds, minutes, hours or days.
fn ago(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Draws filled bars for `points` (value, label) scaled between `low` and `high` over
/// [`GRAPH_ROWS`] rows of three levels each, then one blank row and the labels written
/// vertically, as Redis's sparkline renderer does.
fn sparkline(out: &mut String, points: &[(u64, String)], low: u64, high: u64) {
    const LEVELS: [char; 3] = ['_', 'o', '#'];
    let range = if high == low { 1.0 } else { (high - low) as f64 };
    let steps = (LEVELS.len() * GRAPH_ROWS) as f64;
    let step_of = |v: u64| {
        let s = (((v - low) as f64 * steps).trunc() / range) as usize;
        s.min(LEVELS.len() * GRAPH_ROWS - 1)
    };
    for row in 0..GRAPH_ROWS {
        let floor = (GRAPH_ROWS - row - 1) * LEVELS.len();
        for &(v, _) in points {
            let step = step_of(v);
            out.push(match step.checked_sub(floor) {
                None => ' ',
                Some(i) => LEVELS.get(i).copied().unwrap_or('|'),
            });
        }
        out.push('\n');
    }
    out.push_str(&" ".repeat(points.len()));
    out.push('\n');
    let tallest = points.iter().map(|(_, l)| l.len()).max().unwrap_or(0);
    for i in 0..tallest {
        for (_, label) in points {
            out.push(label.as_bytes().get(i).map_or(' ', |&b| char::from(b)));
        }
        out.push('\n');
    }
}

/// Mean, mean absolute deviation and time span of an event's recorded spikes.
struct Analysis {
    samples: u64,
    avg: u64,
    mad: u64,
    period: u64,
}

fn analyze(s: &Series, now_s: u64) -> Analysis {
    let n = s.samples.len() as u64;
    if n == 0 {
        return Analysis { samples: 0, avg: 0, mad: 0, period: 0 };
    }
    let avg = s.samples.iter().map(|p| p.ms).sum::<u64>() / n;
    let oldest = s.samples.iter().map(|p| p.time).min().unwrap_or(now_s);
    let period = now_s.saturating_sub(oldest).max(1);
    let mad = s.samples.iter().map(|p| p.ms.abs_diff(avg)).sum::<u64>() / n;
    Analysis { samples: n, avg, mad, period }
}

/// Advice the doctor can give, in the order it gives them.
#[derive(Default)]
struct Advice {
    slowlog_enabled: bool,
    slowlog_tuning: bool,
    slowlog_inspect: bool,
    scheduler: bool,
    relax_fsync: bool,
    hz: bool,
    large_objects: bool,
    count: usize,
}

/// `LATENCY DOCTOR`: a report on each event's spikes with advice, in Redis's words.
fn doctor(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    let threshold = ctx.srv.config.int(P::LatencyMonitorThreshold);
    let l = &ctx.srv.latency;
    if l.events.is_empty() && threshold == 0 {
        return Ok(verbatim("I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".to_string()));
    }
    let slower = ctx.srv.config.int(P::SlowlogLogSlowerThan);
    let now_s = ctx.now / 1000;
    let mut report = String::new();
    let mut a = Advice::default();
    for (i, (event, s)) in l.events.iter().enumerate() {
        if i == 0 {
            report.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        }
        let st = analyze(s, now_s);
        report.push_str(&format!(
            "{}. {event}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.",
            i + 1,
            st.samples,
            st.avg,
            st.mad,
            st.period as f64 / st.samples.max(1) as f64,
            s.max
        ));
        match *event {
            "command" => {
                if slower < 0 {
                    a.slowlog_enabled = true;
                    a.count += 1;
                } else if slower / 1000 > threshold {
                    a.slowlog_tuning = true;
                    a.count += 1;
                }
                a.slowlog_inspect = true;
                a.large_objects = true;
                a.count += 2;
            }
            "fast-command" => {
                a.scheduler = true;
                a.count += 1;
            }
            "aof-fsync-always" => {
                a.relax_fsync = true;
                a.count += 1;
            }
            "expire-cycle" => {
                a.hz = true;
                a.large_objects = true;
                a.count += 2;
            }
            "eviction-cycle" => {
                a.large_objects = true;
                a.count += 1;
            }
            _ => {}
        }
        report.push('\n');
    }
    if l.events.is_empty() {
        report.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
    } else if a.count == 0 {
        report.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
    } else {
        advise(&mut report, &a, ctx);
    }
    Ok(verbatim(report))
}

/// The advice part of the doctor's report.
fn advise(report: &mut String, a: &Advice, ctx: &Ctx<'_>) {
    let threshold_us = ctx.srv.config.int(P::LatencyMonitorThreshold).saturating_mul(1000);
    report.push_str("\nI have a few advices for you:\n\n");
    if a.slowlog_enabled {
        report.push_str(&format!("- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {threshold_us}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n"));
    }
    if a.slowlog_tuning {
        report.push_str(&format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {threshold_us}'.\n"));
    }
    if a.slowlog_inspect {
        report.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
    }
    if a.scheduler {
        report.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
    }
    if a.relax_fsync && ctx.srv.config.word(P::Appendfsync) == "always" {
        report.push_str("- Your fsync policy is set to 'always'. It is very hard to get good performances with such a setup, if possible try to relax the fsync policy to 'onesec'.\n");
    }
    if a.hz && ctx.srv.config.int(P::Hz) < 100 {
        report.push_str("- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n");
    }
    if a.large_objects {
        report.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
    }
}

/// A text report: verbatim in RESP3, a bulk string in RESP2.
fn verbatim(text: String) -> Frame {
    Frame::Verbatim("txt", Bytes::from(text))
}

/// The lines of `LATENCY HELP`.
const HELP: &[&str] = &[
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
];

/// `LATENCY HELP`.
fn help(_ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(help_reply(HELP))
}
