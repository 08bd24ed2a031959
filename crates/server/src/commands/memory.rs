//! MEMORY: USAGE, STATS, DOCTOR, PURGE, MALLOC-STATS, HELP.
//!
//! The figures come from `memory/` (the allocator's counters and the process's RSS);
//! `MEMORY USAGE` estimates one key from the sizes of its parts rounded up to the
//! allocator's size classes, which is what a key really costs.

use super::spec::{acl, flags::*, unreachable_container, CommandSpec, KeyPos};
use crate::args::Args;
use crate::error::CmdError;
use crate::memory::Report;
use crate::server::Ctx;
use bytes::Bytes;
use resp::Frame;

/// Tips of the subcommands whose reply is a per-node report.
const REPORT_TIPS: &[&str] =
    &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"];

const SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("doctor", 2, 0, 0, KeyPos::NONE, doctor)
        .doc("server", "4.0.0", "Outputs a memory problems report.", "O(1)")
        .tips(REPORT_TIPS),
    CommandSpec::new("help", 2, LOADING | STALE, 0, KeyPos::NONE, help).doc(
        "server",
        "4.0.0",
        "Returns helpful text about the different subcommands.",
        "O(1)",
    ),
    CommandSpec::new("malloc-stats", 2, 0, 0, KeyPos::NONE, malloc_stats)
        .doc(
            "server",
            "4.0.0",
            "Returns the allocator statistics.",
            "Depends on how much memory is allocated, could be slow",
        )
        .tips(REPORT_TIPS),
    CommandSpec::new("purge", 2, 0, 0, KeyPos::NONE, purge)
        .doc(
            "server",
            "4.0.0",
            "Asks the allocator to release memory.",
            "Depends on how much memory is allocated, could be slow",
        )
        .tips(&["request_policy:all_shards", "response_policy:all_succeeded"]),
    CommandSpec::new("stats", 2, 0, 0, KeyPos::NONE, stats)
        .doc("server", "4.0.0", "Returns details about memory usage.", "O(1)")
        .tips(REPORT_TIPS),
    CommandSpec::new("usage", -3, READONLY, acl::READ, KeyPos::new(2, 2, 1), usage)
        .doc(
            "server",
            "4.0.0",
            "Estimates the memory usage of a key.",
            "O(N) where N is the number of samples.",
        )
        .key_flags(&["RO"]),
];

/// The MEMORY family's table.
pub const COMMANDS: &[CommandSpec] =
    &[CommandSpec::new("memory", -2, 0, 0, KeyPos::NONE, unreachable_container)
        .doc(
            "server",
            "4.0.0",
            "A container for memory diagnostics commands.",
            "Depends on subcommand.",
        )
        .subs(SUBCOMMANDS)];

/// `MEMORY USAGE key [SAMPLES count]`: the bytes the key and its value take, or null for a
/// missing key. The options are checked first; `SAMPLES` is accepted for compatibility
/// (Keel sizes every element, which its compact encodings make cheap enough).
fn usage(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    while args.remaining() > 0 {
        if args.remaining() >= 2 && args.eat("samples") {
            if args.next_i64()? < 0 {
                return Err(CmdError::Syntax);
            }
        } else {
            return Err(CmdError::Syntax);
        }
    }
    // Like Redis, the key is found without expiring it or counting an access.
    let db = ctx.db();
    let Some((k, entry)) = ctx.srv.ks.db(db).dict().get_key_value(&key) else {
        return Ok(Frame::Null);
    };
    // The table entry is one block: chain link, entry and key bytes.
    let node = crate::types::dict::Dict::<crate::keyspace::Entry>::entry_block(k.len());
    let bytes = size_class(node) + entry.value.heap_size();
    Ok(Frame::Integer(i64::try_from(bytes).unwrap_or(i64::MAX)))
}

/// `n` rounded up to the allocator's size class (jemalloc's small classes: 8, then steps
/// of 16 up to 128, then four classes per doubling).
fn size_class(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    if n <= 8 {
        return 8;
    }
    let step = if n <= 128 { 16 } else { n.next_power_of_two() / 8 };
    n.div_ceil(step) * step
}

/// `MEMORY STATS`: the figures of INFO memory as a map, with each database's table overhead.
fn stats(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    let rep = Report::gather(ctx.srv, ctx.clients);
    let int = |n: u64| Frame::Integer(i64::try_from(n).unwrap_or(i64::MAX));
    // Redis computes these ratios in single precision.
    let ratio = |r: f64| Frame::Double(f64::from(r as f32));
    let [alloc_frag, alloc_rss, rss_overhead, frag] = rep.ratios();
    let mut map: Vec<(Frame, Frame)> = vec![
        (Frame::bulk(b"peak.allocated"), int(rep.peak)),
        (Frame::bulk(b"total.allocated"), int(rep.used)),
        (Frame::bulk(b"startup.allocated"), int(rep.startup)),
        (Frame::bulk(b"replication.backlog"), int(0)),
        (Frame::bulk(b"clients.slaves"), int(0)),
        (Frame::bulk(b"clients.normal"), int(rep.clients)),
        (Frame::bulk(b"cluster.links"), int(0)),
        (Frame::bulk(b"aof.buffer"), int(rep.aof)),
        (Frame::bulk(b"lua.caches"), int(0)),
        (Frame::bulk(b"functions.caches"), int(0)),
    ];
    for &(db, main, expires) in &rep.dbs {
        map.push((
            Frame::Bulk(Bytes::from(format!("db.{db}"))),
            Frame::Map(vec![
                (Frame::bulk(b"overhead.hashtable.main"), int(main)),
                (Frame::bulk(b"overhead.hashtable.expires"), int(expires)),
            ]),
        ));
    }
    let net = rep.used.saturating_sub(rep.startup);
    let per_key = net.checked_div(rep.keys).unwrap_or(0);
    map.extend([
        (Frame::bulk(b"overhead.total"), int(rep.overhead)),
        (Frame::bulk(b"keys.count"), int(rep.keys)),
        (Frame::bulk(b"keys.bytes-per-key"), int(per_key)),
        (Frame::bulk(b"dataset.bytes"), int(rep.dataset)),
        (Frame::bulk(b"dataset.percentage"), ratio(rep.dataset_perc())),
        (Frame::bulk(b"peak.percentage"), ratio(rep.peak_perc())),
        (Frame::bulk(b"allocator.allocated"), int(rep.alloc.allocated)),
        (Frame::bulk(b"allocator.active"), int(rep.alloc.active)),
        (Frame::bulk(b"allocator.resident"), int(rep.alloc.resident)),
        (Frame::bulk(b"allocator-fragmentation.ratio"), ratio(alloc_frag.0)),
        (Frame::bulk(b"allocator-fragmentation.bytes"), Frame::Integer(alloc_frag.1)),
        (Frame::bulk(b"allocator-rss.ratio"), ratio(alloc_rss.0)),
        (Frame::bulk(b"allocator-rss.bytes"), Frame::Integer(alloc_rss.1)),
        (Frame::bulk(b"rss-overhead.ratio"), ratio(rss_overhead.0)),
        (Frame::bulk(b"rss-overhead.bytes"), Frame::Integer(rss_overhead.1)),
        (Frame::bulk(b"fragmentation"), ratio(frag.0)),
        (Frame::bulk(b"fragmentation.bytes"), Frame::Integer(frag.1)),
    ]);
    Ok(Frame::Map(map))
}

/// Below this much allocated memory the doctor declines to judge (Redis's threshold).
const DOCTOR_MIN_BYTES: u64 = 5 * 1024 * 1024;

/// `MEMORY DOCTOR`: a short report of memory problems, in the voice of Redis's doctor
/// (clients and tools match its fixed sentences for the empty and healthy cases).
fn doctor(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    let rep = Report::gather(ctx.srv, ctx.clients);
    let text = if rep.used < DOCTOR_MIN_BYTES {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".to_string()
    } else {
        let connected = ctx.clients.iter().filter(|(_, c)| c.sock.is_some()).count().max(1);
        let issues = diagnose(&rep, connected as u64);
        if issues.is_empty() {
            "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".to_string()
        } else {
            let mut s = "Sam, I detected a few issues in this Redis instance memory implants:\n\n"
                .to_string();
            for issue in issues {
                s.push_str(" * ");
                s.push_str(&issue);
                s.push_str("\n\n");
            }
            s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
            s
        }
    };
    Ok(Frame::Verbatim("txt", Bytes::from(text)))
}

/// The problems the doctor looks for, each as one paragraph of advice.
fn diagnose(rep: &Report, connected: u64) -> Vec<String> {
    let [alloc_frag, alloc_rss, rss_overhead, frag] = rep.ratios();
    let mut out = Vec::new();
    if rep.peak as f64 > rep.used as f64 * 1.5 {
        out.push(format!("Peak memory: the peak ({} bytes) is more than 1.5 times the current usage ({} bytes). Allocators rarely give freed memory back, so RSS may stay high; fragmentation figures are less meaningful after such a peak.", rep.peak, rep.used));
    }
    if frag.0 > 1.4 && frag.1 > 10 << 20 {
        out.push(format!("High total RSS: the resident set is {:.2} times the used memory ({} bytes more). Frequent allocation patterns or a past peak are the usual causes; MEMORY PURGE may help.", frag.0, frag.1));
    }
    if alloc_frag.0 > 1.1 && alloc_frag.1 > 10 << 20 {
        out.push(format!("High allocator fragmentation: active pages hold {:.2} times the allocated bytes ({} bytes more). Setting 'activedefrag yes' lets Keel move values out of sparsely used pages.", alloc_frag.0, alloc_frag.1));
    }
    if alloc_rss.0 > 1.1 && alloc_rss.1 > 10 << 20 {
        out.push(format!("High allocator RSS overhead: resident pages are {:.2} times the active ones ({} bytes more); MEMORY PURGE may return them.", alloc_rss.0, alloc_rss.1));
    }
    if rss_overhead.0 > 1.1 && rss_overhead.1 > 10 << 20 {
        out.push(format!("High process RSS overhead: the process holds {:.2} times what the allocator has resident ({} bytes more), outside the allocator.", rss_overhead.0, rss_overhead.1));
    }
    if rep.clients / connected > 200 * 1024 {
        out.push(format!("Big client buffers: clients use {} bytes on average for their buffers; some client may be slow to read its replies or may send huge pipelines.", rep.clients / connected));
    }
    out
}

/// `MEMORY MALLOC-STATS`: jemalloc's own statistics report.
fn malloc_stats(_ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    let mut text = Vec::new();
    if tikv_jemalloc_ctl::stats_print::stats_print(&mut text, Default::default()).is_err() {
        text = b"Stats not supported for the current allocator".to_vec();
    }
    Ok(Frame::Verbatim("txt", Bytes::from(text)))
}

/// `MEMORY PURGE`: has jemalloc return the unused dirty pages of every arena to the system
/// now rather than on its decay schedule, and replies +OK.
fn purge(_ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    crate::memory::defrag::purge();
    Ok(Frame::ok())
}

/// `MEMORY HELP`: the subcommand summary, one status line each.
fn help(_ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    const LINES: &[&str] = &[
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DOCTOR",
        "    Return memory problems reports.",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator.",
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
        "HELP",
        "    Prints this help.",
    ];
    Ok(Frame::Array(LINES.iter().map(|l| Frame::simple(l)).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes() {
        assert_eq!(size_class(1), 8);
        assert_eq!(size_class(9), 16);
        assert_eq!(size_class(100), 112);
        assert_eq!(size_class(129), 160);
        assert_eq!(size_class(1000), 1024);
        assert_eq!(size_class(1025), 1280);
    }
}
