//! Snapshots to `dir`/`dbfilename`: SAVE, BGSAVE (also scheduled, and triggered by the
//! `save` points from the cron), the save on shutdown, loading at start-up and the
//! `rdb_*` state INFO reports.
//!
//! Keel has no fork: a background save is a snapshot walk (`keyspace/snapshot.rs`) that
//! serializes the dataset in slices between commands, copying a key early when a command
//! is about to change it, so the file is the dataset at the start while commands go on; a
//! thread writes, fsyncs and renames the file. Only one walk runs at a time: BGSAVE waits
//! for (or refuses, as Redis does with a fork child) a running AOF rewrite.

use super::file::{self, LoadInfo};
use crate::config::P;
use crate::error::CmdError;
use crate::keyspace::snapshot::{Owner, Writer};
use crate::net::client::Client;
use crate::server::{Server, ShutdownMode};
use slab::Slab;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Redis waits this long after a failed background save before the save points may start
/// another (`CONFIG_BGSAVE_RETRY_DELAY`).
const RETRY_DELAY_SECS: u64 = 5;

/// A background save whose file is being written.
#[derive(Debug)]
struct Running {
    started: Instant,
    /// The change counter when the snapshot was taken: what the file holds.
    dirty: u64,
    writer: Writer,
}

/// The snapshot state INFO persistence reports.
#[derive(Debug)]
pub struct Persistence {
    /// Saves started since start, foreground and background, whatever their outcome
    /// (`rdb_saves`, counted as Redis counts it).
    pub saves: u64,
    /// Outcome of the last save (`rdb_last_bgsave_status`).
    pub last_ok: bool,
    /// Seconds the last background save took, -1 if none ran.
    pub last_bgsave_secs: i64,
    /// The keyspace change counter at the last successful save.
    pub saved_dirty: u64,
    /// Unix seconds of the last background save attempt.
    pub last_try: u64,
    /// A BGSAVE SCHEDULE waiting for the running save to finish.
    pub scheduled: bool,
    /// Keys loaded and expired-at-load by the last load (`rdb_last_load_keys_*`).
    pub last_load: (u64, u64),
    /// Set once the shutdown save ran, so a SHUTDOWN command and the event loop's exit path
    /// do not save twice.
    pub shutdown_saved: bool,
    running: Option<Running>,
}

impl Default for Persistence {
    fn default() -> Self {
        Persistence {
            saves: 0,
            last_ok: true,
            last_bgsave_secs: -1,
            saved_dirty: 0,
            last_try: 0,
            scheduled: false,
            last_load: (0, 0),
            shutdown_saved: false,
            running: None,
        }
    }
}

impl Persistence {
    /// True while a background save is writing (`rdb_bgsave_in_progress`).
    pub fn in_progress(&self) -> bool {
        self.running.is_some()
    }

    /// Seconds the running background save has taken so far, -1 if none runs.
    pub fn current_secs(&self) -> i64 {
        self.running.as_ref().map_or(-1, |r| r.started.elapsed().as_secs() as i64)
    }
}

/// Changes since the last successful save (`rdb_changes_since_last_save`).
pub fn changes_since_save(srv: &Server) -> u64 {
    srv.ks.dirty.saturating_sub(srv.rdb.saved_dirty)
}

/// The RDB file's path (relative to `dir`, the working directory).
pub fn rdb_path(srv: &Server) -> PathBuf {
    PathBuf::from(srv.config.str(P::Dbfilename))
}

fn unix_secs(srv: &Server) -> u64 {
    srv.now_ms() / 1000
}

/// Records a finished save of the dataset as it was at change count `dirty`.
fn saved(srv: &mut Server, dirty: u64) {
    srv.rdb.saved_dirty = dirty;
    srv.rdb.last_ok = true;
    srv.lastsave = unix_secs(srv);
}

/// The temporary file a save writes before renaming it over `dbfilename` (in the same
/// directory, so the rename is atomic).
fn temp_path(srv: &Server) -> PathBuf {
    let path = rdb_path(srv);
    let name = format!("temp-{}.rdb", std::process::id());
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => dir.join(name),
        None => PathBuf::from(name),
    }
}

/// `SAVE`: writes the snapshot now, on this thread. A failure is reported to the caller
/// only: as in Redis, it leaves `rdb_last_bgsave_status` alone.
pub fn save_now(srv: &mut Server) -> Result<(), String> {
    srv.rdb.saves += 1;
    let (tmp, path) = (temp_path(srv), rdb_path(srv));
    let written = file::start_snapshot(srv, Owner::Rdb, false, tmp, Some(path))
        .and_then(|writer| file::finish_now(srv, writer));
    match written {
        Ok(_) => {
            srv.log.notice("DB saved on disk");
            saved(srv, srv.ks.dirty);
            Ok(())
        }
        Err(e) => {
            let dir = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
            let msg = format!(
                "Failed opening the temp RDB file temp-{}.rdb (in server root dir {dir}) for saving: {e}",
                std::process::id()
            );
            srv.log.warning(&msg);
            Err(msg)
        }
    }
}

/// Starts a background save: the snapshot walk begins now, a thread writes the file.
pub fn start_bgsave(srv: &mut Server) {
    srv.rdb.last_try = unix_secs(srv);
    srv.rdb.saves += 1;
    let (tmp, path) = (temp_path(srv), rdb_path(srv));
    let dirty = srv.ks.dirty;
    match file::start_snapshot(srv, Owner::Rdb, false, tmp, Some(path)) {
        Ok(writer) => {
            srv.log.notice(&format!("Background saving started by pid {}", std::process::id()));
            srv.rdb.running = Some(Running { started: Instant::now(), dirty, writer });
        }
        Err(e) => {
            srv.log.warning(&format!("Can't save in background: thread failed: {e}"));
            srv.rdb.last_ok = false;
        }
    }
}

/// `BGSAVE [SCHEDULE]`: the reply text, or Redis's refusal. Inside EXEC (`in_exec`) the
/// save is only scheduled, as in Redis, so the transaction's effects land in it together;
/// while an AOF rewrite walks the dataset it is scheduled with SCHEDULE, refused without.
pub fn bgsave(srv: &mut Server, in_exec: bool, schedule: bool) -> Result<&'static str, CmdError> {
    if srv.rdb.in_progress() {
        return Err(CmdError::Static("ERR Background save already in progress"));
    }
    let busy = srv.propagation.rewrite_in_progress();
    if busy && !schedule && !in_exec {
        return Err(CmdError::Static("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."));
    }
    if busy || in_exec {
        srv.rdb.scheduled = true;
        return Ok("Background saving scheduled");
    }
    start_bgsave(srv);
    Ok("Background saving started")
}

/// Waits for a running background save to end and records its outcome (SAVE, DEBUG
/// RELOAD and shutdown must not race the writer thread for the same file): its walk is
/// finished on this thread first.
pub fn wait_bgsave(srv: &mut Server) {
    if let Some(r) = srv.rdb.running.take() {
        if srv.ks.snapshot_owner() == Some(Owner::Rdb) {
            srv.ks.finish_snapshot_now();
        }
        finish_bgsave(srv, r);
    }
}

fn finish_bgsave(srv: &mut Server, r: Running) {
    srv.rdb.last_bgsave_secs = r.started.elapsed().as_secs() as i64;
    let result =
        r.writer.join().unwrap_or_else(|_| Err(std::io::Error::other("save thread ended")));
    match result {
        Ok(_) => {
            srv.log.notice("Background saving terminated with success");
            saved(srv, r.dirty);
        }
        Err(e) => {
            srv.log.warning(&format!("Background saving error: {e}"));
            srv.rdb.last_ok = false;
        }
    }
}

/// Called from the server cron: collects a finished background save, starts a scheduled
/// one, and starts one when a `save` point is reached.
pub fn cron(srv: &mut Server) {
    if let Some(r) = srv.rdb.running.take() {
        if !r.writer.is_finished() {
            srv.rdb.running = Some(r);
            return;
        }
        // A writer that stopped before the walk ended failed (disk full...): the walk
        // has nowhere to go.
        if srv.ks.snapshot_owner() == Some(Owner::Rdb) {
            srv.ks.abort_snapshot();
        }
        finish_bgsave(srv, r);
    }
    // A fork child would be busy with the rewrite: nothing starts until it is done.
    if srv.propagation.rewrite_in_progress() {
        return;
    }
    if std::mem::take(&mut srv.rdb.scheduled) {
        start_bgsave(srv);
        return;
    }
    let now = unix_secs(srv);
    let changes = changes_since_save(srv);
    let retry_ok = srv.rdb.last_ok || now.saturating_sub(srv.rdb.last_try) > RETRY_DELAY_SECS;
    for (secs, min_changes) in save_points(srv) {
        if changes >= min_changes && now.saturating_sub(srv.lastsave) > secs && retry_ok {
            srv.log.notice(&format!("{min_changes} changes in {secs} seconds. Saving..."));
            start_bgsave(srv);
            return;
        }
    }
}

/// The `save` points as (seconds, changes) pairs.
fn save_points(srv: &Server) -> Vec<(u64, u64)> {
    let nums: Vec<u64> =
        srv.config.str(P::Save).split_whitespace().filter_map(|w| w.parse().ok()).collect();
    nums.chunks_exact(2).map(|p| (p[0], p[1])).collect()
}

/// The save a shutdown makes: always with `SAVE`, never with `NOSAVE`, otherwise when save
/// points are configured. Runs once; an error means the shutdown must not proceed.
pub fn save_on_shutdown(srv: &mut Server, mode: ShutdownMode) -> Result<(), CmdError> {
    if srv.rdb.shutdown_saved {
        return Ok(());
    }
    wait_bgsave(srv);
    let wanted = match mode {
        // As in Redis, a shutdown while the dataset loads never saves: the file would
        // lose what is not loaded yet.
        _ if srv.loading.active => false,
        ShutdownMode::Save => true,
        ShutdownMode::NoSave => false,
        ShutdownMode::Default => !save_points(srv).is_empty(),
    };
    if wanted {
        srv.log.notice("Saving the final RDB snapshot before exiting.");
        if save_now(srv).is_err() {
            srv.log.warning("Error trying to save the DB, can't exit.");
            return Err(CmdError::ShutdownFailed);
        }
    }
    srv.rdb.shutdown_saved = true;
    Ok(())
}

/// Redis's MISCONF refusals of write commands (and PING): while the last save failed,
/// save points exist and `stop-writes-on-bgsave-error` is on; else while the AOF cannot be
/// written (its last write or fsync failed), naming the error.
pub fn refuse_write(srv: &Server, is_write: bool, name: &str) -> Result<(), CmdError> {
    if !(is_write || name == "ping") {
        return Ok(());
    }
    let aof = &srv.propagation;
    if srv.rdb.last_ok
        || !srv.config.bool(P::StopWritesOnBgsaveError)
        || save_points(srv).is_empty()
    {
        if aof.log.is_some() && !aof.stats.last_write_ok {
            let text =
                format!("MISCONF Errors writing to the AOF file: {}", aof.stats.last_write_error);
            return Err(CmdError::dynamic(text.into_bytes()));
        }
        return Ok(());
    }
    Err(CmdError::Static("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error."))
}

/// Loads `dbfilename` at start-up (when `appendonly` is off; the AOF, when on, holds the
/// data instead), serving `clients` meanwhile (`-LOADING`, see `loading.rs`). A missing
/// file is an empty start; a damaged one stops the server.
pub fn load_at_startup(srv: &mut Server, clients: &mut Slab<Client>) -> Result<(), String> {
    if srv.config.bool(P::Appendonly) {
        return Ok(());
    }
    let path = rdb_path(srv);
    if !path.exists() {
        return Ok(());
    }
    let info = load_serving(srv, &path, clients)?;
    srv.log.notice(&format!("DB loaded from disk: {:.3} seconds", info.elapsed.as_secs_f64()));
    Ok(())
}

/// Loads the RDB file at `path` at start-up, in a loading state that serves `clients`,
/// and logs what it found.
pub fn load_serving(
    srv: &mut Server,
    path: &Path,
    clients: &mut Slab<Client>,
) -> Result<LoadInfo, String> {
    let total = std::fs::metadata(path).map_or(0, |m| m.len());
    crate::loading::begin(srv, total, false);
    let loaded = file::load_file(srv, path, Some(clients));
    crate::loading::end(srv);
    let info = loaded?;
    log_load(srv, &info);
    Ok(info)
}

/// Logs what a load found, as Redis does, and records it for INFO.
pub fn log_load(srv: &mut Server, info: &LoadInfo) {
    if let Some(v) = &info.redis_ver {
        srv.log.notice(&format!("Loading RDB produced by version {v}"));
    }
    if let Some(ctime) = info.ctime {
        let age = (unix_secs(srv) as i64).saturating_sub(ctime);
        srv.log.notice(&format!("RDB age {age} seconds"));
    }
    if let Some(mem) = info.used_mem {
        srv.log.notice(&format!(
            "RDB memory usage when created {:.2} Mb",
            mem as f64 / (1024.0 * 1024.0)
        ));
    }
    let skipped = match info.empty_keys_skipped {
        0 => String::new(),
        n => format!(", empty keys skipped: {n}"),
    };
    srv.log.notice(&format!(
        "Done loading RDB, keys loaded: {}, keys expired: {}{skipped}.",
        info.keys_loaded, info.keys_expired
    ));
    srv.rdb.last_load = (info.keys_loaded, info.keys_expired);
}

/// `DEBUG RELOAD`: save, empty the dataset, load the file back.
pub fn debug_reload(srv: &mut Server) -> Result<(), CmdError> {
    wait_bgsave(srv);
    save_now(srv).map_err(|_| CmdError::Static("ERR Error trying to save the DB"))?;
    let path = rdb_path(srv);
    let dirty = srv.ks.dirty;
    srv.ks.flush_all();
    srv.ks.dirty = dirty;
    srv.scripting.functions.flush();
    match file::load_file(srv, &path, None) {
        Ok(info) => {
            log_load(srv, &info);
            srv.log.notice("DB reloaded by DEBUG RELOAD");
            Ok(())
        }
        Err(e) => {
            srv.log.warning(&format!("Error trying to load the RDB dump: {e}"));
            Err(CmdError::Static("ERR Error trying to load the RDB dump, check server logs."))
        }
    }
}
