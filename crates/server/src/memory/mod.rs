//! Memory accounting, the `maxmemory` limit and Keel's early warnings.
//!
//! **Accounting.** `used_memory` is what the allocator has handed out and not taken back,
//! read from jemalloc's per-thread `allocated`/`deallocated` counters of the command
//! thread: two loads through pointers cached once per thread, cheap enough for every
//! command (the global `stats.*` figures need an epoch advance, a lock-taking walk over
//! the arenas, so they are read only for INFO and MEMORY). The command thread is the only
//! thread that allocates for the server, so its counters are the server's usage. (The
//! library used in-process without jemalloc as the global allocator, as some tests do,
//! reads zero: no limit is ever reached there.)
//!
//! **Limit.** [`evict`] holds the eviction policies and the gate dispatch runs before each
//! command while `maxmemory` is set.
//!
//! **Warnings.** Keel-only: `maxmemory-warning-threshold` (percent of `maxmemory`) logs one
//! WARNING line when used memory crosses it, either way, checked from the cron; at start-up
//! Keel warns when `maxmemory` is unset or above the cgroup memory limit, where the kernel's
//! OOM killer would strike before `maxmemory` could protect the data.

pub mod defrag;
pub mod evict;

use crate::config::{Config, P};
use crate::server::Server;
use std::sync::atomic::{AtomicI64, Ordering};
use tikv_jemalloc_ctl::thread::{allocatedp, deallocatedp, ThreadLocal};

/// Share of the memory limit `maxmemory auto` takes, in percent: the rest is headroom for
/// what `maxmemory` does not bound (fragmentation, client buffers, the Lua heap).
pub const AUTO_PERCENT: u64 = 75;

thread_local! {
    /// jemalloc's counters of bytes allocated and freed by this thread, looked up once.
    static COUNTERS: Option<(ThreadLocal<u64>, ThreadLocal<u64>)> =
        allocatedp::read().ok().zip(deallocatedp::read().ok());
}

/// Net bytes of helper threads that have finished (see [`settle_thread`]): negative when
/// they freed memory the command thread had allocated and handed to them.
static SETTLED: AtomicI64 = AtomicI64::new(0);

/// Bytes allocated and not freed by the calling thread, which may be negative for a thread
/// that freed what another allocated.
fn thread_net() -> i64 {
    COUNTERS.with(|c| c.map(|(a, d)| a.get().wrapping_sub(d.get()) as i64).unwrap_or(0))
}

/// The server's `used_memory` when called from the command thread: its own net bytes plus
/// what finished helper threads settled.
pub fn used_memory() -> u64 {
    let net = thread_net().saturating_add(SETTLED.load(Ordering::Relaxed));
    u64::try_from(net).unwrap_or(0)
}

thread_local! {
    /// What this thread has settled so far, so [`settle_thread`] adds only the change.
    static SETTLED_HERE: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

/// Called by a helper thread after dropping what it was given (as its last act, or after
/// each piece for a long-running one such as a snapshot writer): adds its net bytes since
/// its previous call to the server's count. Without it, memory allocated on the command
/// thread and freed on the helper (a snapshot's chunks) would look in use until the end.
pub fn settle_thread() {
    let net = thread_net();
    let before = SETTLED_HERE.with(|c| c.replace(net));
    SETTLED.fetch_add(net - before, Ordering::Relaxed);
}

/// Memory state the server keeps beside the keyspace.
#[derive(Debug)]
pub struct Memory {
    /// `used_memory` once the server was set up (`used_memory_startup`).
    pub startup: u64,
    /// Highest `used_memory` seen (`used_memory_peak`).
    pub peak: u64,
    /// True while used memory is above the warning threshold.
    pub warning_active: bool,
    /// What the OOM gate found before the running top-level command: over `maxmemory`
    /// with nothing left to evict (Redis's `script_oom`). Commands run by a script or EXEC
    /// do not pass the gate, so a script reads here the state at its start, and refuses
    /// its first `denyoom` write when it is set, unless it has already written.
    pub over_limit: bool,
    /// The eviction pool and the state of an eviction cut short by its time limit.
    pub eviction: evict::Eviction,
    /// The active defragmenter's cycle and counters.
    pub defrag: defrag::Defrag,
}

impl Memory {
    /// The state at start-up: what is allocated now counts as the startup baseline.
    pub fn new() -> Memory {
        let now = used_memory();
        Memory {
            startup: now,
            peak: now,
            warning_active: false,
            over_limit: false,
            eviction: evict::Eviction::default(),
            defrag: defrag::Defrag::default(),
        }
    }
}

impl Default for Memory {
    fn default() -> Self {
        Memory::new()
    }
}

/// `used_memory` as Redis counts it: the command thread's net bytes less the Lua heap
/// (Redis's Lua allocates outside its accounting, and a heap that shrinks at each garbage
/// collection would make the limit flicker). Raises the peak if needed.
pub fn used(srv: &mut Server) -> u64 {
    let used = used_memory().saturating_sub(srv.scripting.used_memory() as u64);
    srv.memory.peak = srv.memory.peak.max(used);
    used
}

/// Makes the keyspace record accesses the way the configuration asks (LRU clock or LFU
/// counter, with the LFU tuning). Called at start and when one of those parameters changes.
pub fn configure(ks: &mut crate::keyspace::Keyspace, config: &Config) {
    let a = &mut ks.access;
    a.lfu = config.word(P::MaxmemoryPolicy).ends_with("-lfu");
    a.log_factor = u32::try_from(config.int(P::LfuLogFactor)).unwrap_or(u32::MAX);
    a.decay_minutes = u32::try_from(config.int(P::LfuDecayTime)).unwrap_or(u32::MAX);
}

/// After CONFIG SET changed parameter number `i`: the access tuning follows at once, and a
/// lower `maxmemory` evicts down to it right away (or, under `noeviction`, leaves writes
/// refused until memory is freed), warning as Redis does when usage is above the new limit.
pub fn config_changed(srv: &mut Server, i: usize) {
    if [P::MaxmemoryPolicy, P::LfuLogFactor, P::LfuDecayTime].iter().any(|p| *p as usize == i) {
        configure(&mut srv.ks, &srv.config);
    }
    if i == P::Maxmemory as usize {
        let max = srv.config.int(P::Maxmemory).max(0) as u64;
        let used = used(srv);
        if max > 0 && max < used {
            srv.log.warning(&format!("WARNING: the new maxmemory value set via CONFIG SET ({max}) is smaller than the current memory usage ({used}). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy."));
        }
        let now = srv.now_ms();
        evict::perform(srv, now);
    }
}

/// The cron's share: finishes an eviction cut short by its time limit, keeps the peak, and
/// logs crossings of the warning threshold.
pub fn cron(srv: &mut Server) {
    if srv.memory.eviction.running {
        let now = srv.now_ms();
        evict::perform(srv, now);
    }
    let used = used(srv);
    let max = srv.config.int(P::Maxmemory).max(0) as u64;
    let threshold = srv.config.int(P::MaxmemoryWarningThreshold).max(0) as u64;
    let active =
        max > 0 && threshold > 0 && used.saturating_mul(100) >= max.saturating_mul(threshold);
    if active == srv.memory.warning_active {
        return;
    }
    srv.memory.warning_active = active;
    let pct = if max > 0 { used as f64 * 100.0 / max as f64 } else { 0.0 };
    let msg = if active {
        format!(
            "WARNING: used memory {} is {pct:.1}% of maxmemory {} (maxmemory-warning-threshold {threshold}%): under policy {} writes will soon {}.",
            human(used),
            human(max),
            srv.config.word(P::MaxmemoryPolicy),
            if srv.config.word(P::MaxmemoryPolicy) == "noeviction" {
                "be refused"
            } else {
                "evict keys"
            }
        )
    } else if max == 0 {
        format!(
            "Used memory {} is back under the maxmemory-warning-threshold: maxmemory is now 0 (no limit).",
            human(used)
        )
    } else {
        format!(
            "Used memory {} is back under the maxmemory-warning-threshold ({pct:.1}% of maxmemory {}, threshold {threshold}%).",
            human(used),
            human(max)
        )
    };
    srv.log.warning(&msg);
}

/// Start-up advice: warns when `maxmemory` is unset, or set above the memory limit of the
/// cgroup Keel runs in (the kernel would kill the process before `maxmemory` protects the
/// data), and names `maxmemory auto` as the remedy.
pub fn startup_checks(srv: &Server) {
    let max = srv.config.int(P::Maxmemory).max(0) as u64;
    let limit = cgroup_limit();
    match (max, limit) {
        (0, Some(limit)) => srv.log.warning(&format!(
            "WARNING: maxmemory is not set but this process runs under a cgroup memory limit of {limit} bytes: the kernel may kill Keel before any write is refused. Set maxmemory, or 'maxmemory auto' ({AUTO_PERCENT}% of the limit)."
        )),
        (0, None) => srv.log.warning(
            "WARNING: maxmemory is not set: Keel will use memory without limit. Set maxmemory (or 'maxmemory auto') so that writes are refused, or keys evicted, before the system runs out of memory.",
        ),
        (max, Some(limit)) if max > limit => srv.log.warning(&format!(
            "WARNING: maxmemory ({max}) is larger than the cgroup memory limit ({limit}): the kernel would kill Keel before maxmemory protects the data. Lower it, or use 'maxmemory auto' ({AUTO_PERCENT}% of the limit)."
        )),
        _ => {}
    }
}

/// What `maxmemory auto` means: [`AUTO_PERCENT`] of the cgroup memory limit, or of the
/// machine's memory when no cgroup limit applies.
pub fn auto_maxmemory() -> i64 {
    let base = cgroup_limit().unwrap_or_else(total_system_memory);
    (base / 100 * AUTO_PERCENT) as i64
}

/// The memory limit of the cgroup this process runs in, if one is set: the smallest
/// `memory.max` (cgroup v2) or `memory.limit_in_bytes` (v1) of the process's own group and
/// its ancestors, as `/proc/self/cgroup` names them. A "limit" at or above the machine's
/// memory (v1 writes a huge number for none) is no limit.
pub fn cgroup_limit() -> Option<u64> {
    let groups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut files = Vec::new();
    for line in groups.lines() {
        let (dir, file, path) = if let Some(p) = line.strip_prefix("0::") {
            ("/sys/fs/cgroup", "memory.max", p)
        } else if let Some((_, p)) = line.split_once(":memory:") {
            ("/sys/fs/cgroup/memory", "memory.limit_in_bytes", p)
        } else {
            continue;
        };
        // The group itself, then each ancestor up to the root of the mount.
        let mut at = path.trim().trim_end_matches('/').to_string();
        loop {
            files.push(format!("{dir}{at}/{file}"));
            match at.rfind('/') {
                Some(cut) => at.truncate(cut),
                None => break,
            }
        }
    }
    let total = total_system_memory();
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok()?.trim().parse::<u64>().ok())
        .filter(|&n| total == 0 || n < total)
        .min()
}

/// Physical memory of the machine (`MemTotal` of `/proc/meminfo`), in bytes.
pub fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Resident set size in bytes, from `/proc/self/statm`.
pub fn rss() -> u64 {
    // statm counts 4 KiB pages on the architectures Keel targets.
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// The allocator's own global figures (`allocator_*` in INFO), refreshed on each call.
#[derive(Debug, Default, Clone, Copy)]
pub struct AllocatorStats {
    /// Bytes handed out to the application (`stats.allocated`).
    pub allocated: u64,
    /// Bytes in active pages (`stats.active`).
    pub active: u64,
    /// Bytes in physically resident pages (`stats.resident`).
    pub resident: u64,
}

/// Reads jemalloc's global statistics after advancing its epoch (the figures are cached
/// until then). Costly compared with [`used_memory`]: for INFO and MEMORY only.
pub fn allocator_stats() -> AllocatorStats {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    let read = |r: tikv_jemalloc_ctl::Result<usize>| r.map(|n| n as u64).unwrap_or(0);
    AllocatorStats {
        allocated: read(tikv_jemalloc_ctl::stats::allocated::read()),
        active: read(tikv_jemalloc_ctl::stats::active::read()),
        resident: read(tikv_jemalloc_ctl::stats::resident::read()),
    }
}

/// `jemalloc-5.3.0`, as `mem_allocator` names the allocator and its version.
pub fn allocator_name() -> String {
    let version = tikv_jemalloc_ctl::version::read().unwrap_or("unknown");
    format!("jemalloc-{}", version.split('-').next().unwrap_or(version))
}

/// Bytes as Redis's `bytesToHuman` prints them (`1.50M`, `0B`).
pub fn human(n: u64) -> String {
    const UNITS: [(&str, u64); 6] = [
        ("K", 1 << 10),
        ("M", 1 << 20),
        ("G", 1 << 30),
        ("T", 1 << 40),
        ("P", 1 << 50),
        ("E", 1 << 60),
    ];
    if n < 1024 {
        return format!("{n}B");
    }
    let (unit, size) = UNITS.iter().rev().find(|(_, s)| n >= *s).copied().unwrap_or(("K", 1 << 10));
    format!("{:.2}{unit}", n as f64 / size as f64)
}

/// The figures INFO memory and MEMORY STATS share, computed once per call.
#[derive(Debug, Clone)]
pub struct Report {
    /// `used_memory`.
    pub used: u64,
    /// `used_memory_peak`.
    pub peak: u64,
    /// `used_memory_startup`.
    pub startup: u64,
    /// `used_memory_rss`.
    pub rss: u64,
    /// Client buffers and state (`mem_clients_normal`).
    pub clients: u64,
    /// The AOF buffer (`mem_aof_buffer`).
    pub aof: u64,
    /// Hash table overhead of each non-empty database: (db, main, expires).
    pub dbs: Vec<(usize, u64, u64)>,
    /// `used_memory_overhead`.
    pub overhead: u64,
    /// `used_memory_dataset`.
    pub dataset: u64,
    /// Keys in all databases.
    pub keys: u64,
    /// The allocator's figures.
    pub alloc: AllocatorStats,
}

impl Report {
    /// Gathers the figures.
    pub fn gather(srv: &mut Server, clients: &slab::Slab<crate::net::client::Client>) -> Report {
        let used = used(srv);
        let client_bytes: u64 = clients
            .iter()
            .map(|(_, c)| {
                (std::mem::size_of::<crate::net::client::Client>()
                    + c.query.capacity()
                    + c.out.capacity()) as u64
            })
            .sum();
        let aof = srv.propagation.buffered() as u64;
        let mut keys = 0u64;
        let dbs: Vec<(usize, u64, u64)> = srv
            .ks
            .dbs()
            .iter()
            .enumerate()
            .filter(|(_, d)| !d.is_empty())
            .map(|(i, d)| {
                keys += d.len() as u64;
                (i, d.dict().overhead_bytes() as u64, d.expires().overhead_bytes() as u64)
            })
            .collect();
        let tables: u64 = dbs.iter().map(|(_, m, e)| m + e).sum();
        let overhead = srv.memory.startup + client_bytes + aof + tables;
        Report {
            used,
            peak: srv.memory.peak,
            startup: srv.memory.startup,
            rss: rss(),
            clients: client_bytes,
            aof,
            dbs,
            overhead,
            dataset: used.saturating_sub(overhead),
            keys,
            alloc: allocator_stats(),
        }
    }

    /// `used_memory_dataset_perc`: the dataset's share of what was allocated after start.
    pub fn dataset_perc(&self) -> f64 {
        let net = self.used.saturating_sub(self.startup).max(1);
        self.dataset as f64 * 100.0 / net as f64
    }

    /// `used_memory_peak_perc`.
    pub fn peak_perc(&self) -> f64 {
        self.used as f64 * 100.0 / self.peak.max(1) as f64
    }

    /// (ratio, bytes) pairs for allocator fragmentation, allocator RSS overhead, process RSS
    /// overhead, and overall fragmentation, in INFO's order.
    pub fn ratios(&self) -> [(f64, i64); 4] {
        let a = &self.alloc;
        let pair = |num: u64, den: u64| (num as f64 / den.max(1) as f64, num as i64 - den as i64);
        [
            pair(a.active, a.allocated),
            pair(a.resident, a.active),
            pair(self.rss, a.resident),
            pair(self.rss, self.used),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The binary installs jemalloc (main.rs); this test binary must too, or the counters
    // it reads stay at zero.
    #[global_allocator]
    static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

    #[test]
    fn human_sizes() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(1023), "1023B");
        assert_eq!(human(1536), "1.50K");
        assert_eq!(human(3 << 20), "3.00M");
        assert_eq!(human(1_073_741_824), "1.00G");
    }

    // These read this thread's own counters: the process-wide figure also moves with every
    // other test thread (and with snapshot writers settling), so it cannot be asserted on.
    #[test]
    fn counters_follow_allocations() {
        let before = thread_net();
        let block = vec![1u8; 1 << 20];
        let during = thread_net();
        assert!(during >= before + (1 << 20), "{before} -> {during}");
        drop(block);
        assert!(thread_net() <= during - (1 << 20), "freed");
    }

    #[test]
    fn helper_threads_settle_what_they_free() {
        let data = vec![7u8; 1 << 20];
        let settled = std::thread::spawn(move || {
            drop(data);
            settle_thread();
            // What this thread added to the server's count: the block it freed.
            SETTLED_HERE.with(|c| c.get())
        })
        .join()
        .unwrap();
        assert!(settled <= -(1 << 20), "freed on another thread: {settled}");
    }

    #[test]
    fn allocator_name_has_a_version() {
        assert!(allocator_name().starts_with("jemalloc-5."), "{}", allocator_name());
    }
}
