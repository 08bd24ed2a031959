//! `INFO`: every section rendered with Redis's exact field names.
//!
//! Values Keel has are real; values of features Keel does not have (replication, forks,
//! defragmentation, threaded I/O, scripting) are the ones an idle Redis with that feature
//! unused reports. Memory figures come from the allocator (see `memory/`).

use crate::config::P;
use crate::server::Ctx;
use std::fmt::Write;

/// The sections in the order INFO prints them; `true` when part of `default`.
const SECTIONS: &[(&str, bool)] = &[
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("modules", true),
    ("commandstats", false),
    ("errorstats", true),
    ("latencystats", false),
    ("cluster", true),
    ("keyspace", true),
];

/// Renders the requested sections (`default` when none is named). Unknown section names are
/// skipped, so `INFO nosuch` is an empty text, as in Redis.
pub fn render(ctx: &mut Ctx<'_>, asked: &[Vec<u8>]) -> Vec<u8> {
    let is = |w: &str| asked.iter().any(|s| s == w.as_bytes());
    let all = is("all") || is("everything");
    let default = asked.is_empty() || is("default");
    let mut out = String::new();
    for &(name, in_default) in SECTIONS {
        if !(all || (default && in_default) || is(name)) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let title = match name {
            "cpu" => "CPU".to_string(),
            n => {
                let mut t = n.to_string();
                t[..1].make_ascii_uppercase();
                t
            }
        };
        let _ = write!(out, "# {title}\r\n");
        let body = match name {
            "server" => server(ctx),
            "clients" => clients(ctx),
            "memory" => memory(ctx),
            "persistence" => persistence(ctx),
            "stats" => stats(ctx),
            "replication" => replication(ctx),
            "cpu" => cpu(),
            "commandstats" => commandstats(ctx),
            "errorstats" => errorstats(ctx),
            "latencystats" => latencystats(ctx),
            "cluster" => "cluster_enabled:0\r\n".to_string(),
            "keyspace" => keyspace(ctx),
            _ => String::new(),
        };
        out.push_str(&body);
    }
    out.into_bytes()
}

/// Appends `name:value` lines.
fn fields(out: &mut String, list: &[(&str, String)]) {
    for (k, v) in list {
        let _ = write!(out, "{k}:{v}\r\n");
    }
}

fn server(ctx: &mut Ctx<'_>) -> String {
    let srv = &ctx.srv;
    let uptime = srv.start_instant.elapsed().as_secs();
    let hz = srv.config.int(P::Hz);
    let mut out = String::new();
    fields(
        &mut out,
        &[
            ("redis_version", crate::REDIS_VERSION.into()),
            ("keel_version", crate::KEEL_VERSION.into()),
            ("redis_git_sha1", "00000000".into()),
            ("redis_git_dirty", "0".into()),
            ("redis_build_id", "0".into()),
            ("redis_mode", "standalone".into()),
            ("os", os_name()),
            ("arch_bits", "64".into()),
            ("monotonic_clock", "POSIX clock_gettime".into()),
            ("multiplexing_api", "epoll".into()),
            ("atomicvar_api", "c11-builtin".into()),
            ("gcc_version", "0.0.0".into()),
            ("process_id", std::process::id().to_string()),
            ("process_supervised", "no".into()),
            ("run_id", srv.run_id.clone()),
            ("tcp_port", srv.port.to_string()),
            ("server_time_usec", crate::server::wall_us().to_string()),
            ("uptime_in_seconds", uptime.to_string()),
            ("uptime_in_days", (uptime / 86400).to_string()),
            ("hz", hz.to_string()),
            ("configured_hz", hz.to_string()),
            ("lru_clock", crate::keyspace::lru_clock(ctx.now).to_string()),
            ("executable", srv.executable.clone()),
            (
                "config_file",
                srv.config.file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            ),
            ("io_threads_active", "0".into()),
            (
                "listener0",
                format!(
                    "name=tcp,bind={},port={}",
                    srv.config.str(P::Bind).replace(' ', ",bind="),
                    srv.port
                ),
            ),
        ],
    );
    out
}

/// `Linux 6.1.0-13-amd64 x86_64`, as `uname -srm` prints it.
fn os_name() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut sys = std::env::consts::OS.to_string();
    sys[..1].make_ascii_uppercase();
    format!("{sys} {} {}", release.trim(), std::env::consts::ARCH)
}

fn clients(ctx: &mut Ctx<'_>) -> String {
    let connected = ctx.clients.iter().filter(|(_, c)| c.sock.is_some()).count();
    let max_in = ctx.clients.iter().map(|(_, c)| c.query.len()).max().unwrap_or(0);
    let max_out = ctx.clients.iter().map(|(_, c)| c.pending_out()).max().unwrap_or(0);
    let mut out = String::new();
    fields(
        &mut out,
        &[
            ("connected_clients", connected.to_string()),
            ("cluster_connections", "0".into()),
            ("maxclients", ctx.srv.config.int(P::Maxclients).to_string()),
            ("client_recent_max_input_buffer", max_in.to_string()),
            ("client_recent_max_output_buffer", max_out.to_string()),
            ("blocked_clients", ctx.srv.blocking.count.to_string()),
            ("tracking_clients", ctx.srv.tracking.clients.to_string()),
            ("pubsub_clients", "0".into()),
            ("watching_clients", "0".into()),
            ("clients_in_timeout_table", "0".into()),
            ("total_watched_keys", "0".into()),
            ("total_blocking_keys", ctx.srv.blocking.keys_count.to_string()),
            ("total_blocking_keys_on_nokey", "0".into()),
        ],
    );
    out
}

fn memory(ctx: &mut Ctx<'_>) -> String {
    use crate::memory::human;
    let rep = crate::memory::Report::gather(ctx.srv, ctx.clients);
    let config = &ctx.srv.config;
    let maxmemory = config.int(P::Maxmemory).max(0) as u64;
    let sys = crate::memory::total_system_memory();
    let lua = ctx.srv.scripting.used_memory() as u64;
    const FUNCTIONS_VM: u64 = 32768;
    let [alloc_frag, alloc_rss, rss_overhead, frag] = rep.ratios();
    let ratio = |r: (f64, i64)| format!("{:.2}", r.0);
    let bytes = |r: (f64, i64)| r.1.to_string();
    let mut out = String::new();
    let zero = || "0".to_string();
    fields(
        &mut out,
        &[
            ("used_memory", rep.used.to_string()),
            ("used_memory_human", human(rep.used)),
            ("used_memory_rss", rep.rss.to_string()),
            ("used_memory_rss_human", human(rep.rss)),
            ("used_memory_peak", rep.peak.to_string()),
            ("used_memory_peak_human", human(rep.peak)),
            ("used_memory_peak_perc", format!("{:.2}%", rep.peak_perc())),
            ("used_memory_overhead", rep.overhead.to_string()),
            ("used_memory_startup", rep.startup.to_string()),
            ("used_memory_dataset", rep.dataset.to_string()),
            ("used_memory_dataset_perc", format!("{:.2}%", rep.dataset_perc())),
            ("allocator_allocated", rep.alloc.allocated.to_string()),
            ("allocator_active", rep.alloc.active.to_string()),
            ("allocator_resident", rep.alloc.resident.to_string()),
            ("total_system_memory", sys.to_string()),
            ("total_system_memory_human", human(sys)),
            ("used_memory_lua", lua.to_string()),
            ("used_memory_vm_eval", lua.to_string()),
            ("used_memory_lua_human", human(lua)),
            ("used_memory_scripts_eval", zero()),
            ("number_of_cached_scripts", ctx.srv.scripting.cached_scripts().to_string()),
            ("number_of_functions", ctx.srv.scripting.functions.function_count().to_string()),
            ("number_of_libraries", ctx.srv.scripting.functions.library_count().to_string()),
            // The functions VM is not measured yet: an idle VM's figure.
            ("used_memory_vm_functions", FUNCTIONS_VM.to_string()),
            ("used_memory_vm_total", (lua + FUNCTIONS_VM).to_string()),
            ("used_memory_vm_total_human", human(lua + FUNCTIONS_VM)),
            ("used_memory_functions", zero()),
            ("used_memory_scripts", zero()),
            ("used_memory_scripts_human", "0B".into()),
            ("maxmemory", maxmemory.to_string()),
            ("maxmemory_human", human(maxmemory)),
            ("maxmemory_policy", config.word(P::MaxmemoryPolicy).into()),
            // Keel's own early warning (maxmemory-warning-threshold).
            ("maxmemory_warning_threshold", config.int(P::MaxmemoryWarningThreshold).to_string()),
            ("maxmemory_warning_active", u8::from(ctx.srv.memory.warning_active).to_string()),
            ("allocator_frag_ratio", ratio(alloc_frag)),
            ("allocator_frag_bytes", bytes(alloc_frag)),
            ("allocator_rss_ratio", ratio(alloc_rss)),
            ("allocator_rss_bytes", bytes(alloc_rss)),
            ("rss_overhead_ratio", ratio(rss_overhead)),
            ("rss_overhead_bytes", bytes(rss_overhead)),
            ("mem_fragmentation_ratio", ratio(frag)),
            ("mem_fragmentation_bytes", bytes(frag)),
            ("mem_not_counted_for_evict", rep.aof.to_string()),
            ("mem_replication_backlog", zero()),
            ("mem_total_replication_buffers", zero()),
            ("mem_clients_slaves", zero()),
            ("mem_clients_normal", rep.clients.to_string()),
            ("mem_cluster_links", zero()),
            ("mem_aof_buffer", rep.aof.to_string()),
            ("mem_allocator", crate::memory::allocator_name()),
            ("active_defrag_running", ctx.srv.memory.defrag.running.to_string()),
            ("lazyfree_pending_objects", zero()),
            ("lazyfreed_objects", zero()),
        ],
    );
    out
}

fn persistence(ctx: &mut Ctx<'_>) -> String {
    let mut out = String::new();
    let aof = &ctx.srv.propagation;
    let status = |good: bool| if good { "ok" } else { "err" }.to_string();
    let z = || "0".to_string();
    let ok = || "ok".to_string();
    fields(
        &mut out,
        &[
            ("loading", u8::from(ctx.srv.loading.active).to_string()),
            ("async_loading", z()),
            ("current_cow_peak", z()),
            ("current_cow_size", z()),
            ("current_cow_size_age", z()),
            ("current_fork_perc", "0.00".into()),
            ("current_save_keys_processed", z()),
            ("current_save_keys_total", z()),
            (
                "rdb_changes_since_last_save",
                crate::rdb::save::changes_since_save(ctx.srv).to_string(),
            ),
            ("rdb_bgsave_in_progress", u8::from(ctx.srv.rdb.in_progress()).to_string()),
            ("rdb_last_save_time", ctx.srv.lastsave.to_string()),
            ("rdb_last_bgsave_status", if ctx.srv.rdb.last_ok { ok() } else { "err".into() }),
            ("rdb_last_bgsave_time_sec", ctx.srv.rdb.last_bgsave_secs.to_string()),
            ("rdb_current_bgsave_time_sec", ctx.srv.rdb.current_secs().to_string()),
            ("rdb_saves", ctx.srv.rdb.saves.to_string()),
            ("rdb_last_cow_size", z()),
            ("rdb_last_load_keys_expired", ctx.srv.rdb.last_load.1.to_string()),
            ("rdb_last_load_keys_loaded", ctx.srv.rdb.last_load.0.to_string()),
            ("aof_enabled", u8::from(aof.log.is_some()).to_string()),
            ("aof_rewrite_in_progress", u8::from(aof.rewrite_job.is_some()).to_string()),
            ("aof_rewrite_scheduled", u8::from(aof.stats.rewrite_scheduled).to_string()),
            ("aof_last_rewrite_time_sec", aof.stats.last_rewrite_secs.to_string()),
            (
                "aof_current_rewrite_time_sec",
                aof.rewrite_job.as_ref().map_or(-1, |j| j.elapsed_secs() as i64).to_string(),
            ),
            ("aof_last_bgrewrite_status", status(aof.stats.last_rewrite_ok)),
            ("aof_rewrites", aof.stats.rewrites.to_string()),
            ("aof_rewrites_consecutive_failures", aof.stats.consecutive_failures.to_string()),
            ("aof_last_write_status", status(aof.stats.last_write_ok)),
            ("aof_last_cow_size", z()),
            ("module_fork_in_progress", z()),
            ("module_fork_last_cow_size", z()),
        ],
    );
    // While the AOF loads it is not open yet (aof_enabled:0), but Redis already shows its
    // sizes, from the configuration.
    let aof_configured = ctx.srv.loading.active && ctx.srv.config.bool(P::Appendonly);
    if aof.log.is_some() || aof_configured {
        fields(
            &mut out,
            &[
                ("aof_current_size", aof.stats.current_size.to_string()),
                ("aof_base_size", aof.stats.base_size.to_string()),
                ("aof_pending_rewrite", u8::from(aof.stats.rewrite_scheduled).to_string()),
                ("aof_buffer_length", aof.buffered().to_string()),
                ("aof_pending_bio_fsync", u8::from(aof.fsync_pending()).to_string()),
                ("aof_delayed_fsync", aof.stats.delayed_fsync.to_string()),
            ],
        );
    }
    // The start-up load's progress, after the AOF fields as in Redis.
    fields(&mut out, &crate::loading::info_fields(ctx.srv));
    out
}

fn stats(ctx: &mut Ctx<'_>) -> String {
    let st = &ctx.srv.stats;
    let ks = &ctx.srv.ks.stats;
    let defrag = &ctx.srv.memory.defrag;
    let z = || "0".to_string();
    let mut out = String::new();
    fields(
        &mut out,
        &[
            ("total_connections_received", st.connections.to_string()),
            ("total_commands_processed", st.commands.to_string()),
            ("instantaneous_ops_per_sec", st.rates.ops_per_sec().to_string()),
            ("total_net_input_bytes", st.net_input_bytes.to_string()),
            ("total_net_output_bytes", st.net_output_bytes.to_string()),
            ("total_net_repl_input_bytes", z()),
            ("total_net_repl_output_bytes", z()),
            ("instantaneous_input_kbps", format!("{:.2}", st.rates.input_kbps())),
            ("instantaneous_output_kbps", format!("{:.2}", st.rates.output_kbps())),
            ("instantaneous_input_repl_kbps", "0.00".into()),
            ("instantaneous_output_repl_kbps", "0.00".into()),
            ("rejected_connections", st.rejected_connections.to_string()),
            ("sync_full", z()),
            ("sync_partial_ok", z()),
            ("sync_partial_err", z()),
            ("expired_keys", ks.expired.to_string()),
            ("expired_stale_perc", format!("{:.2}", ks.expired_stale_perc * 100.0)),
            ("expired_time_cap_reached_count", ks.expired_time_cap_reached.to_string()),
            ("expire_cycle_cpu_milliseconds", (ks.expire_cycle_time_used / 1000).to_string()),
            ("evicted_keys", st.evicted_keys.to_string()),
            ("evicted_clients", st.evicted_clients.to_string()),
            (
                "total_eviction_exceeded_time",
                ctx.srv.memory.eviction.exceeded_total().as_millis().to_string(),
            ),
            (
                "current_eviction_exceeded_time",
                ctx.srv.memory.eviction.exceeded_current().as_millis().to_string(),
            ),
            ("keyspace_hits", ks.hits.to_string()),
            ("keyspace_misses", ks.misses.to_string()),
            ("pubsub_channels", ctx.srv.pubsub.len(crate::pubsub::Kind::Channel).to_string()),
            ("pubsub_patterns", ctx.srv.pubsub.len(crate::pubsub::Kind::Pattern).to_string()),
            ("pubsubshard_channels", ctx.srv.pubsub.len(crate::pubsub::Kind::Shard).to_string()),
            ("latest_fork_usec", z()),
            ("total_forks", z()),
            ("migrate_cached_sockets", z()),
            ("slave_expires_tracked_keys", z()),
            ("active_defrag_hits", defrag.stats.hits.to_string()),
            ("active_defrag_misses", defrag.stats.misses.to_string()),
            ("active_defrag_key_hits", defrag.stats.key_hits.to_string()),
            ("active_defrag_key_misses", defrag.stats.key_misses.to_string()),
            ("total_active_defrag_time", defrag.total().as_millis().to_string()),
            ("current_active_defrag_time", defrag.current().as_millis().to_string()),
            ("tracking_total_keys", ctx.srv.tracking.total_keys().to_string()),
            ("tracking_total_items", z()),
            ("tracking_total_prefixes", z()),
            ("unexpected_error_replies", z()),
            ("total_error_replies", st.error_replies.to_string()),
            ("dump_payload_sanitizations", z()),
            ("total_reads_processed", z()),
            ("total_writes_processed", z()),
            ("io_threaded_reads_processed", z()),
            ("io_threaded_writes_processed", z()),
            ("reply_buffer_shrinks", z()),
            ("reply_buffer_expands", z()),
            ("eventloop_cycles", ctx.srv.stats.el_cycles.to_string()),
            ("eventloop_duration_sum", ctx.srv.stats.el_duration_us.to_string()),
            ("eventloop_duration_cmd_sum", ctx.srv.stats.el_cmd_us.to_string()),
            (
                "instantaneous_eventloop_cycles_per_sec",
                ctx.srv.stats.rates.eventloop_cycles_per_sec().to_string(),
            ),
            (
                "instantaneous_eventloop_duration_usec",
                ctx.srv.stats.rates.eventloop_duration_usec().to_string(),
            ),
            ("acl_access_denied_auth", ctx.srv.acl.log.counters.auth.to_string()),
            ("acl_access_denied_cmd", ctx.srv.acl.log.counters.command.to_string()),
            ("acl_access_denied_key", ctx.srv.acl.log.counters.key.to_string()),
            ("acl_access_denied_channel", ctx.srv.acl.log.counters.channel.to_string()),
        ],
    );
    out
}

fn replication(ctx: &mut Ctx<'_>) -> String {
    let mut out = String::new();
    fields(
        &mut out,
        &[
            ("role", "master".into()),
            ("connected_slaves", "0".into()),
            ("master_failover_state", "no-failover".into()),
            ("master_replid", ctx.srv.stats.repl.id.clone()),
            ("master_replid2", ctx.srv.stats.repl.id2.clone()),
            ("master_repl_offset", "0".into()),
            ("second_repl_offset", "-1".into()),
            ("repl_backlog_active", "0".into()),
            ("repl_backlog_size", ctx.srv.config.int(P::ReplBacklogSize).to_string()),
            ("repl_backlog_first_byte_offset", "0".into()),
            ("repl_backlog_histlen", "0".into()),
        ],
    );
    out
}

/// User and system CPU seconds from a `/proc/.../stat` file (fields 14-17, in clock ticks
/// of 1/100 s on Linux): (user, sys, children user, children sys).
fn cpu_times(path: &str) -> [f64; 4] {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // The command name (field 2) may hold spaces; the fields after it start past the ')'.
    let after = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = after.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    let at = |i: usize| f.get(i).copied().unwrap_or(0.0) / 100.0;
    // After ')' the first field is field 3 (state), so field N is at index N - 3.
    [at(11), at(12), at(13), at(14)]
}

fn cpu() -> String {
    let [user, sys, cuser, csys] = cpu_times("/proc/self/stat");
    let [tuser, tsys, _, _] = cpu_times("/proc/thread-self/stat");
    let mut out = String::new();
    fields(
        &mut out,
        &[
            ("used_cpu_sys", format!("{sys:.6}")),
            ("used_cpu_user", format!("{user:.6}")),
            ("used_cpu_sys_children", format!("{csys:.6}")),
            ("used_cpu_user_children", format!("{cuser:.6}")),
            ("used_cpu_sys_main_thread", format!("{tsys:.6}")),
            ("used_cpu_user_main_thread", format!("{tuser:.6}")),
        ],
    );
    out
}

fn commandstats(ctx: &mut Ctx<'_>) -> String {
    let mut names: Vec<&String> = ctx.srv.stats.cmd.keys().collect();
    names.sort();
    let mut out = String::new();
    for name in names {
        let s = ctx.srv.stats.cmd[name];
        let per = if s.calls == 0 { 0.0 } else { s.usec as f64 / s.calls as f64 };
        let _ = write!(
            out,
            "cmdstat_{name}:calls={},usec={},usec_per_call={per:.2},rejected_calls={},failed_calls={}\r\n",
            s.calls, s.usec, s.rejected_calls, s.failed_calls
        );
    }
    out
}

/// `latency_percentiles_usec_<command>:p50=..,p99=..,p99.9=..` for each command with
/// recorded calls, at the percentiles of `latency-tracking-info-percentiles`.
fn latencystats(ctx: &mut Ctx<'_>) -> String {
    let percentiles: Vec<f64> = ctx
        .srv
        .config
        .str(P::LatencyTrackingInfoPercentiles)
        .split_ascii_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    // With tracking off the section is empty, even if histograms were kept before.
    if !ctx.srv.config.bool(P::LatencyTracking) {
        return String::new();
    }
    let hists = &ctx.srv.latency.histograms;
    let mut names: Vec<&String> = hists.keys().collect();
    names.sort();
    let mut out = String::new();
    for name in names {
        let h = &hists[name];
        let _ = write!(out, "latency_percentiles_usec_{name}:");
        for (i, &p) in percentiles.iter().enumerate() {
            // Redis prints the percentile with %f and trims the trailing zeros.
            let label = format!("{p:.6}");
            let label = label.trim_end_matches('0').trim_end_matches('.');
            let value = crate::latency::value_at_percentile(h, p) as f64 / 1000.0;
            let sep = if i + 1 < percentiles.len() { "," } else { "" };
            let _ = write!(out, "p{label}={value:.3}{sep}");
        }
        out.push_str("\r\n");
    }
    out
}

fn errorstats(ctx: &mut Ctx<'_>) -> String {
    let mut out = String::new();
    for (code, n) in &ctx.srv.stats.errors {
        let _ = write!(out, "errorstat_{code}:count={n}\r\n");
    }
    out
}

fn keyspace(ctx: &mut Ctx<'_>) -> String {
    let mut out = String::new();
    for (i, db) in ctx.srv.ks.dbs().iter().enumerate() {
        if !db.is_empty() {
            let _ = write!(
                out,
                "db{i}:keys={},expires={},avg_ttl={}\r\n",
                db.len(),
                db.expires_len(),
                db.avg_ttl
            );
        }
    }
    out
}
