//! Loading the dataset at start-up while clients are served.
//!
//! The listeners are bound before the RDB file or the AOF is read, so clients may connect
//! during a long load. As Redis does, the loaders call [`step`] after each key (RDB) or
//! command (AOF replay); every `loading-process-events-interval-bytes` of the file, or
//! every 100 ms whatever the bytes (Keel's addition, so a slow load of a small file still
//! answers), a round of the network service (`net/service.rs`) accepts, reads and answers
//! clients: the dispatch gate ([`gate`]) answers `-LOADING` to every command not flagged
//! `loading`, while INFO, CONFIG, CLIENT, AUTH, HELLO... run, and INFO persistence shows
//! `loading:1` with the progress. The clients are those of the event loop's table, so the
//! loop takes them over unchanged once the load ends.
//!
//! `key-load-delay` (Redis's testing knob) sleeps that many microseconds per key loaded,
//! and, in Keel, per command replayed from the AOF; a negative value `-n` sleeps one
//! microsecond once in `n` keys on average, as in Redis.

use crate::config::P;
use crate::error::CmdError;
use crate::net::client::Client;
use crate::server::Server;
use crate::stats::Stats;
use slab::Slab;
use std::time::{Duration, Instant};

/// Longest time between two service rounds, whatever the bytes loaded.
const ROUND_EVERY: Duration = Duration::from_millis(100);

/// Steps between two clock readings (a reading per key would slow a fast load).
const CLOCK_EVERY: u32 = 64;

/// Start-up loading state (all zero when no load is in progress).
#[derive(Default)]
pub struct Loading {
    /// A start-up load is in progress: clients are served and refused with `-LOADING`.
    pub active: bool,
    /// Unix seconds when it started (`loading_start_time`).
    start_secs: u64,
    /// Bytes of every file to load (`loading_total_bytes`).
    total_bytes: u64,
    /// The `used-mem` aux field of the RDB data being loaded (`loading_rdb_used_mem`).
    pub rdb_used_mem: u64,
    /// Bytes of the files already loaded completely (AOF BASE and INCR files).
    done_bytes: u64,
    /// Progress at the last round (`loading_loaded_bytes`), as Redis reports it.
    loaded_bytes: u64,
    /// When the last round ran.
    last_round: Option<Instant>,
    /// Steps since the clock was last read.
    steps: u32,
    /// During AOF replay: the clients' statistics, kept aside while the replay's own counts
    /// (which Redis does not make) go to the server's and are dropped at the end.
    aside: Option<Stats>,
}

/// Starts a load of `total_bytes`. With `replaying`, dispatch counts from now on are the
/// replay's, not the clients'.
pub fn begin(srv: &mut Server, total_bytes: u64, replaying: bool) {
    srv.loading = Loading {
        active: true,
        start_secs: srv.now_ms() / 1000,
        total_bytes,
        last_round: Some(Instant::now()),
        aside: replaying.then(|| std::mem::take(&mut srv.stats)),
        ..Loading::default()
    };
}

/// A file of `len` bytes is loaded: later offsets count from its end.
pub fn file_done(srv: &mut Server, len: usize) {
    srv.loading.done_bytes += len as u64;
}

/// The load is over: the clients' statistics are back, the replay's dropped.
pub fn end(srv: &mut Server) {
    if let Some(kept) = srv.loading.aside.take() {
        srv.stats = kept;
    }
    srv.loading = Loading::default();
}

/// After each key or replayed command: `key-load-delay`, then a service round when due.
/// `offset` is how far the current file has been read; `clients` is the event loop's
/// client table (None outside start-up, as in DEBUG RELOAD: nobody is served then).
pub fn step(srv: &mut Server, clients: Option<&mut Slab<Client>>, offset: usize) {
    key_load_delay(srv);
    let Some(clients) = clients.filter(|_| srv.loading.active) else { return };
    let l = &mut srv.loading;
    let loaded = l.done_bytes + offset as u64;
    let interval = srv.config.int(P::LoadingProcessEventsIntervalBytes).max(1) as u64;
    let mut due = loaded / interval > l.loaded_bytes / interval;
    l.steps += 1;
    if !due && l.steps >= CLOCK_EVERY {
        l.steps = 0;
        due = l.last_round.is_none_or(|t| t.elapsed() >= ROUND_EVERY);
    }
    if due {
        l.loaded_bytes = loaded;
        l.last_round = Some(Instant::now());
        round(srv, clients);
    }
}

/// One round of network service, the clients' statistics in place.
fn round(srv: &mut Server, clients: &mut Slab<Client>) {
    swap_stats(srv);
    crate::net::service::serve(srv, clients, None);
    swap_stats(srv);
    if srv.shutdown.is_some() {
        shutdown_now(srv);
    }
}

fn swap_stats(srv: &mut Server) {
    if let Some(kept) = srv.loading.aside.as_mut() {
        std::mem::swap(&mut srv.stats, kept);
    }
}

/// SHUTDOWN (or SHUTDOWN SAVE) during the load: Redis exits at once without saving (a
/// partial dataset must not replace the file being loaded), and so does Keel.
fn shutdown_now(srv: &mut Server) -> ! {
    srv.log.warning("User requested shutdown...");
    let unix = srv.config.str(P::Unixsocket).to_string();
    crate::event_loop::remove_runtime_files(srv, (!unix.is_empty()).then_some(unix.as_str()));
    srv.log.warning("Redis is now ready to exit, bye bye...");
    std::process::exit(0)
}

/// `key-load-delay`: microseconds to sleep per key; `-n` sleeps 1 µs with odds 1 in n.
fn key_load_delay(srv: &mut Server) {
    let delay = srv.config.int(P::KeyLoadDelay);
    let usec = match delay {
        0 => return,
        d if d > 0 => d as u64,
        d => u64::from(rand::Rng::random_range(&mut srv.rng, 0..d.unsigned_abs()) == 0),
    };
    if usec > 0 {
        std::thread::sleep(Duration::from_micros(usec));
    }
}

/// The dispatch gate: while the start-up load runs, a client's commands not flagged
/// `loading` are refused. The AOF replay's own client has no socket and is never refused.
pub fn gate(srv: &Server, client: &Client, allowed: bool) -> Result<(), CmdError> {
    if srv.loading.active && !allowed && client.sock.is_some() {
        return Err(CmdError::Loading);
    }
    Ok(())
}

/// The progress fields INFO persistence adds while loading, computed as Redis does (the
/// `+ 1`s keep an empty file from dividing by zero).
pub fn info_fields(srv: &Server) -> Vec<(&'static str, String)> {
    let l = &srv.loading;
    if !l.active {
        return Vec::new();
    }
    let perc = l.loaded_bytes as f64 / (l.total_bytes + 1) as f64 * 100.0;
    let elapsed = (srv.now_ms() / 1000).saturating_sub(l.start_secs);
    let remaining = l.total_bytes.saturating_sub(l.loaded_bytes);
    // Redis's fake figure when less than a second has passed.
    let eta = if elapsed == 0 { 1 } else { elapsed * remaining / (l.loaded_bytes + 1) };
    vec![
        ("loading_start_time", l.start_secs.to_string()),
        ("loading_total_bytes", l.total_bytes.to_string()),
        ("loading_rdb_used_mem", l.rdb_used_mem.to_string()),
        ("loading_loaded_bytes", l.loaded_bytes.to_string()),
        ("loading_loaded_perc", format!("{perc:.2}")),
        ("loading_eta_seconds", eta.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::Config;

    #[test]
    fn progress_fields_follow_redis_arithmetic() {
        let mut srv = Server::new(Config::default());
        assert!(info_fields(&srv).is_empty());
        srv.fixed_clock = Some(1_000_000);
        begin(&mut srv, 37881, false);
        srv.loading.loaded_bytes = 13308;
        srv.loading.rdb_used_mem = 1139200;
        let fields = info_fields(&srv);
        let get = |k: &str| fields.iter().find(|(n, _)| *n == k).unwrap().1.clone();
        assert_eq!(get("loading_start_time"), "1000");
        assert_eq!(get("loading_loaded_perc"), "35.13");
        // Less than a second in: Redis's fake one-second figure.
        assert_eq!(get("loading_eta_seconds"), "1");
        srv.fixed_clock = Some(1_002_000);
        // Two seconds for 13308 bytes: 24573 bytes to go take 2 * 24573 / 13309 seconds.
        let fields = info_fields(&srv);
        assert_eq!(fields[5], ("loading_eta_seconds", "3".to_string()));
        end(&mut srv);
        assert!(info_fields(&srv).is_empty() && !srv.loading.active);
    }

    #[test]
    fn replay_counts_are_dropped_and_client_counts_kept() {
        let mut srv = Server::new(Config::default());
        srv.stats.connections = 7;
        begin(&mut srv, 0, true);
        srv.stats.commands = 2000; // the replay's
        swap_stats(&mut srv);
        srv.stats.commands += 1; // a client's, during a round
        swap_stats(&mut srv);
        end(&mut srv);
        assert_eq!((srv.stats.connections, srv.stats.commands), (7, 1));
    }
}
