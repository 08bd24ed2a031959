//! The append-only file, in Redis 7's multi-part layout, and the persistence stage of the
//! event loop.
//!
//! Dispatch feeds every write command that changed the dataset to [`Propagation::feed`]
//! (in the absolute form a handler chose with `Ctx::propagate_as`); the event loop calls
//! [`Propagation::before_replies`] after executing an iteration's commands and before
//! writing any reply. That call `write()`s the buffered commands to the current INCR file
//! and says whether the iteration's replies may leave now or must wait (see `event_loop.rs`
//! for the holding of replies):
//! - `appendfsync always`: they wait for the fsync of that write, which runs on the fsync
//!   thread while the loop executes the next batch (group commit);
//! - `everysec`: they leave at once (the data is in the kernel, so a kill -9 loses
//!   nothing); the thread fsyncs once a second. While an fsync is still running the write
//!   is postponed up to 2 seconds, as Redis does, and then the replies wait for the write;
//! - `no`: they leave at once; the kernel flushes when it likes.
//!
//! A failed write (disk full, I/O error) under `always` stops the server, as in Redis,
//! rather than acknowledge what is not on disk. Under `everysec` and `no` the buffer stays
//! for the next attempt (every iteration) and the replies waiting for it stay held: unlike
//! Redis, which answers such a batch from memory, Keel acknowledges nothing that is not in
//! the file. Meanwhile write commands are refused with Redis's `-MISCONF Errors writing to
//! the AOF file: <error>` (`aof_last_write_status:err`) until a write, or after a failed
//! fsync a retried fsync, succeeds.
//!
//! Submodules: [`manifest`] (the manifest file), [`load`] (start-up replay), [`rewrite`]
//! (BASE files and BGREWRITEAOF), [`gate`] (held replies), `sync` (the fsync thread).

pub mod gate;
pub mod load;
pub mod manifest;
pub mod rewrite;
mod sync;

use bytes::Bytes;
use manifest::Manifest;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `appendfsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fsync before acknowledging.
    Always,
    /// fsync once a second.
    Everysec,
    /// Never fsync explicitly.
    No,
}

impl FsyncPolicy {
    /// The policy named by the `appendfsync` word.
    pub fn from_word(w: &str) -> FsyncPolicy {
        match w {
            "always" => FsyncPolicy::Always,
            "no" => FsyncPolicy::No,
            _ => FsyncPolicy::Everysec,
        }
    }
}

/// Counters and states INFO persistence shows.
#[derive(Debug)]
pub struct AofStats {
    /// Bytes in the BASE plus the INCR files (`aof_current_size`).
    pub current_size: u64,
    /// Size of the BASE when the last rewrite or start-up set it (`aof_base_size`).
    pub base_size: u64,
    /// Writes done without waiting for a slow fsync (`aof_delayed_fsync`).
    pub delayed_fsync: u64,
    /// False after a failed write or fsync, until one succeeds (`aof_last_write_status`).
    pub last_write_ok: bool,
    /// What the last failed write or fsync met, as `strerror` words: Redis's MISCONF
    /// refusal names it while `last_write_ok` is false.
    pub last_write_error: String,
    /// Successful rewrites (`aof_rewrites`).
    pub rewrites: u64,
    /// Rewrites failed in a row (`aof_rewrites_consecutive_failures`).
    pub consecutive_failures: u64,
    /// Outcome of the last rewrite (`aof_last_bgrewrite_status`).
    pub last_rewrite_ok: bool,
    /// Seconds the last rewrite took, -1 before the first (`aof_last_rewrite_time_sec`).
    pub last_rewrite_secs: i64,
    /// A BGREWRITEAOF waiting for a running BGSAVE (`aof_rewrite_scheduled`).
    pub rewrite_scheduled: bool,
}

impl Default for AofStats {
    fn default() -> AofStats {
        AofStats {
            current_size: 0,
            base_size: 0,
            delayed_fsync: 0,
            last_write_ok: true,
            last_write_error: String::new(),
            rewrites: 0,
            consecutive_failures: 0,
            last_rewrite_ok: true,
            last_rewrite_secs: -1,
            rewrite_scheduled: false,
        }
    }
}

impl AofStats {
    /// Records a failed write or fsync: writes are refused with MISCONF until one succeeds.
    fn write_failed(&mut self, text: &str) {
        self.last_write_ok = false;
        // Redis shows strerror's words alone, without Rust's "(os error N)" suffix.
        let words = text.rfind(" (os error ").map_or(text, |at| &text[..at]);
        self.last_write_error = words.to_string();
    }
}

/// The open log: its directory, manifest, current INCR file and fsync thread.
#[derive(Debug)]
pub struct AofLog {
    /// `appenddirname`.
    pub dir: PathBuf,
    /// `appendfilename`, the prefix of every file name.
    pub prefix: String,
    /// The manifest as last written.
    pub manifest: Manifest,
    /// The INCR file commands are appended to (shared with the fsync thread).
    file: Arc<File>,
    /// Length of `file` after the last complete write: a failed write is cut back to it,
    /// so a retry never leaves half a command in the file.
    file_len: u64,
    syncer: sync::Syncer,
    /// Number of `write()` calls made so far: the sequence replies wait on.
    written: u64,
    /// Sequence last handed to the fsync thread.
    fsync_requested: u64,
    /// Unix ms of the last fsync request (everysec).
    last_fsync_ms: u64,
    /// Since when a write has been postponed behind a slow fsync (everysec).
    postponed_since: Option<u64>,
}

impl AofLog {
    /// Path of a file of the AOF directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Switches appends to `file` (a new INCR), first making the old one durable.
    fn switch_file(&mut self, file: File) {
        self.syncer.drain();
        if self.file.sync_data().is_ok() {
            self.syncer.mark_done(self.written);
        }
        self.file_len = file.metadata().map_or(0, |m| m.len());
        self.file = Arc::new(file);
    }

    /// Appends `data` whole, or cuts the file back to where it was.
    /// A write cut short (some bytes written, then an error) is reported as ENOSPC
    /// whatever the second error was, as Redis reports every short write.
    fn append(&mut self, data: &[u8]) -> std::io::Result<()> {
        let mut done = 0;
        while done < data.len() {
            match (&*self.file).write(&data[done..]) {
                Ok(n) if n > 0 => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                outcome => {
                    let _ = self.file.set_len(self.file_len);
                    return Err(match outcome {
                        Err(e) if done == 0 => e,
                        _ => std::io::Error::from_raw_os_error(libc::ENOSPC),
                    });
                }
            }
        }
        self.file_len += data.len() as u64;
        Ok(())
    }

    /// fsyncs the current file on the calling thread (shutdown, `appendonly no`).
    fn sync_now(&mut self) -> std::io::Result<()> {
        self.syncer.drain();
        self.file.sync_data()?;
        self.syncer.mark_done(self.written);
        Ok(())
    }

    /// Whether `everysec` should fsync now: writes are not covered by a requested fsync,
    /// none runs, and a second has passed or a WAITAOF waits for one of them.
    fn everysec_due(&self, now: u64, wanted: u64) -> bool {
        let waited_for = wanted > self.fsync_requested;
        self.fsync_requested < self.written
            && (waited_for || now.saturating_sub(self.last_fsync_ms) >= 1000)
            && !self.syncer.busy()
    }

    fn request_fsync(&mut self, now: u64) {
        self.syncer.request(Arc::clone(&self.file), self.written);
        self.fsync_requested = self.written;
        self.last_fsync_ms = now;
    }
}

/// Largest propagation buffer kept for reuse after its commands were written.
const BUF_KEEP: usize = 64 * 1024;

/// Write commands waiting for the persistence stage, and the log they go to.
#[derive(Default, Debug)]
pub struct Propagation {
    buf: Vec<u8>,
    /// Database the last fed command ran in, so a `SELECT` is emitted on change.
    last_db: Option<usize>,
    /// Commands fed since start.
    pub fed: u64,
    /// True while commands are encoded for the log (the log is open, or being opened by a
    /// rewrite at `CONFIG SET appendonly yes`).
    pub enabled: bool,
    /// Set by a handler whose effect must be logged as other commands (SET EX as SET PXAT,
    /// EXPIRE as PEXPIREAT, INCRBYFLOAT as SET, ...); taken by dispatch.
    pub(crate) rewrite: Option<Vec<Vec<Bytes>>>,
    /// Nesting depth of `begin_multi` (EXEC, scripts).
    multi_depth: u32,
    /// Where a `MULTI` goes if the unit writes more than one command, and how many it wrote.
    multi_mark: Option<usize>,
    multi_count: usize,
    /// The open log, with `appendonly yes`.
    pub log: Option<AofLog>,
    /// INFO counters.
    pub stats: AofStats,
    /// A rewrite running on its thread.
    pub(crate) rewrite_job: Option<rewrite::Job>,
    /// The event loop's waker, handed to the fsync and rewrite threads.
    waker: Option<Arc<mio::Waker>>,
    /// Where the write sequence of the next log starts: write positions (WAITAOF's) keep
    /// growing across `appendonly no` / `yes`, so a position taken under an old log never
    /// looks fsynced too early under a new one.
    seq_base: u64,
    /// Highest write a WAITAOF waits to see fsynced: under `everysec` it is fsynced now
    /// rather than at the next once-a-second fsync.
    fsync_wanted: u64,
    /// Set while a log opened by `CONFIG SET appendonly yes` has no BASE yet: until the
    /// rewrite installs one, nothing in it is durable.
    pub(crate) opening: bool,
}

impl Propagation {
    /// Appends a write command in RESP form, preceded by `SELECT` when the database changes.
    /// Nothing is encoded while no log is enabled (`appendonly no`): the count still moves.
    pub fn feed(&mut self, db: usize, argv: &[Bytes]) {
        self.fed += 1;
        if !self.enabled {
            return;
        }
        if self.last_db != Some(db) {
            let n = itoa::Buffer::new().format(db).to_string();
            encode_command(&mut self.buf, &[Bytes::from_static(b"SELECT"), Bytes::from(n)]);
            self.last_db = Some(db);
        }
        if self.multi_depth > 0 {
            self.multi_mark.get_or_insert(self.buf.len());
            self.multi_count += 1;
        }
        encode_command(&mut self.buf, argv);
    }

    /// Starts a unit (EXEC, a script) whose writes must replay atomically.
    pub fn begin_multi(&mut self) {
        if self.multi_depth == 0 {
            self.multi_mark = None;
            self.multi_count = 0;
        }
        self.multi_depth += 1;
    }

    /// Ends the unit: wraps its writes in MULTI/EXEC when it wrote more than one command
    /// (a single write needs no transaction, and none is written for no write, as Redis).
    pub fn end_multi(&mut self) {
        self.multi_depth = self.multi_depth.saturating_sub(1);
        if self.multi_depth > 0 {
            return;
        }
        if let Some(mark) = self.multi_mark.take() {
            if self.multi_count > 1 && self.enabled {
                let mut multi = Vec::new();
                encode_command(&mut multi, &[Bytes::from_static(b"MULTI")]);
                self.buf.splice(mark..mark, multi);
                encode_command(&mut self.buf, &[Bytes::from_static(b"EXEC")]);
            }
        }
    }

    /// Ends the unit by dropping its writes: a script stopped by SHUTDOWN NOSAVE, whose
    /// half-applied writes Redis never logs (the server exits before they propagate).
    pub fn discard_multi(&mut self) {
        self.multi_depth = self.multi_depth.saturating_sub(1);
        if self.multi_depth == 0 {
            if let Some(mark) = self.multi_mark.take() {
                self.buf.truncate(mark);
            }
        }
    }

    /// Propagates keys the keyspace deleted because their time was up, as `DEL`s.
    pub fn feed_expired(&mut self, ks: &mut crate::keyspace::Keyspace) {
        for (db, key) in std::mem::take(&mut ks.expired_keys) {
            self.feed(db, &[Bytes::from_static(b"DEL"), key]);
        }
    }

    /// Bytes waiting in the buffer (`aof_buffer_length`).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Lets the fsync and rewrite threads wake the event loop.
    pub fn set_waker(&mut self, waker: Arc<mio::Waker>) {
        if let Some(log) = &self.log {
            log.syncer.set_waker(Arc::clone(&waker));
        }
        self.waker = Some(waker);
    }

    /// The event loop's waker, for threads that must wake it (snapshot writers).
    pub fn waker(&self) -> Option<Arc<mio::Waker>> {
        self.waker.clone()
    }

    /// True while a rewrite runs (`aof_rewrite_in_progress`; BGSAVE refuses to overlap it).
    pub fn rewrite_in_progress(&self) -> bool {
        self.rewrite_job.is_some()
    }

    /// True while the fsync thread has work (`aof_pending_bio_fsync`).
    pub fn fsync_pending(&self) -> bool {
        self.log.as_ref().is_some_and(|l| l.syncer.busy())
    }

    /// The write position the commands buffered now will have in the log: the next write
    /// of the open log or, with no log, where the next log starts (its BASE holds them).
    pub fn pending_seq(&self) -> u64 {
        self.log.as_ref().map_or(self.seq_base, |l| l.written + 1)
    }

    /// The highest write position known to be fsynced, or None while nothing is durable:
    /// no log, or a log still waiting for its first BASE.
    pub fn fsynced(&self) -> Option<u64> {
        let log = self.log.as_ref().filter(|_| !self.opening)?;
        Some(log.syncer.synced())
    }

    /// Asks for position `seq` to be fsynced as soon as it is written, for a waiting
    /// WAITAOF, instead of at the next once-a-second fsync (`everysec`; `always` fsyncs
    /// every write anyway and `no` never does).
    pub fn want_fsync(&mut self, seq: u64) {
        self.fsync_wanted = self.fsync_wanted.max(seq);
    }

    /// The persistence stage: writes the buffered commands and returns the write sequence
    /// this iteration's replies must wait for ([`Propagation::released`]), or None when they
    /// may leave now.
    pub fn before_replies(
        &mut self,
        policy: FsyncPolicy,
        now: u64,
        log: &crate::log::Logger,
    ) -> Option<u64> {
        let Some(aof) = self.log.as_mut() else {
            self.buf.clear();
            return None;
        };
        let (done, err) = aof.syncer.poll();
        if let Some(e) = err {
            if policy == FsyncPolicy::Always {
                // Nothing may be acknowledged that could not be made durable.
                log.warning(&format!("Can't persist AOF for fsync error when the AOF fsync policy is 'always': {e}. Exiting..."));
                std::process::exit(1);
            }
            log.warning(&format!("Error syncing the AOF file: {e}"));
            self.stats.write_failed(&e);
        }
        if self.buf.is_empty() {
            // After a failed fsync (everysec) writes are refused, so no new write would
            // bring another fsync: retry once a second until one succeeds.
            if !self.stats.last_write_ok && policy == FsyncPolicy::Everysec && !aof.syncer.busy() {
                if done >= aof.written {
                    self.stats.last_write_ok = true;
                } else if now.saturating_sub(aof.last_fsync_ms) >= 1000 {
                    aof.request_fsync(now);
                }
            }
            if policy == FsyncPolicy::Everysec && aof.everysec_due(now, self.fsync_wanted) {
                aof.request_fsync(now);
            }
            if policy == FsyncPolicy::Always && done < aof.written && !aof.syncer.busy() {
                aof.request_fsync(now);
            }
            return None;
        }
        if policy == FsyncPolicy::Everysec && aof.syncer.busy() {
            let since = *aof.postponed_since.get_or_insert(now);
            if now.saturating_sub(since) < 2000 {
                return Some(aof.written + 1);
            }
            self.stats.delayed_fsync += 1;
            log.notice("Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF buffer without waiting for fsync to complete, this may slow down Redis.");
        }
        aof.postponed_since = None;
        if let Err(e) = aof.append(&self.buf) {
            self.stats.write_failed(&e.to_string());
            log.warning(&format!("Error writing to the AOF file: {e}"));
            if policy == FsyncPolicy::Always {
                log.warning("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...");
                std::process::exit(1);
            }
            // The buffer stays for the next attempt, and the replies wait for it.
            return Some(aof.written + 1);
        }
        self.stats.last_write_ok = true;
        self.stats.current_size += self.buf.len() as u64;
        if let Some(job) = self.rewrite_job.as_mut() {
            job.incr_bytes += self.buf.len() as u64;
        }
        // Reused while small; a buffer one big write grew is released rather than kept at
        // its peak for good (Redis frees its aof_buf the same way).
        if self.buf.capacity() > BUF_KEEP {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
        aof.written += 1;
        match policy {
            FsyncPolicy::Always => {
                if !aof.syncer.busy() {
                    aof.request_fsync(now);
                }
                Some(aof.written)
            }
            FsyncPolicy::Everysec => {
                if aof.everysec_due(now, self.fsync_wanted) {
                    aof.request_fsync(now);
                }
                None
            }
            FsyncPolicy::No => None,
        }
    }

    /// The highest sequence whose replies may leave under `policy`: fsynced writes for
    /// `always`, made writes otherwise.
    pub fn released(&self, policy: FsyncPolicy) -> u64 {
        match &self.log {
            None => u64::MAX,
            Some(aof) if policy == FsyncPolicy::Always => aof.syncer.poll().0,
            Some(aof) => aof.written,
        }
    }

    /// Writes and fsyncs everything buffered, on this thread (shutdown, `appendonly no`).
    pub fn flush_sync(&mut self, log: &crate::log::Logger) {
        let Some(aof) = self.log.as_mut() else { return };
        if !self.buf.is_empty() {
            match aof.append(&self.buf) {
                Ok(()) => {
                    self.stats.current_size += self.buf.len() as u64;
                    self.buf.clear();
                    aof.written += 1;
                }
                Err(e) => log.warning(&format!("Error writing to the AOF file: {e}")),
            }
        }
        if let Err(e) = aof.sync_now() {
            log.warning(&format!("Error syncing the AOF file: {e}"));
        }
    }

    /// Closes the log (`CONFIG SET appendonly no`): flushed and fsynced first.
    pub fn close(&mut self, log: &crate::log::Logger) {
        self.flush_sync(log);
        if let Some(aof) = &self.log {
            // Past every position handed out under this log, so writes made while no log
            // is open wait for the next log's BASE.
            self.seq_base = aof.written + 1;
        }
        self.opening = false;
        self.log = None;
        self.enabled = false;
        self.last_db = None;
        if let Some(job) = self.rewrite_job.take() {
            job.abandon();
        }
    }
}

/// `CONFIG SET appendonly yes|no` at run time: turning it on writes a full BASE first (a
/// rewrite), as Redis does; turning it off flushes, fsyncs and closes the log.
pub fn set_appendonly(srv: &mut crate::server::Server, on: bool) {
    if on == srv.propagation.log.is_some() {
        return;
    }
    if on {
        if let Err(e) = rewrite::start(srv) {
            srv.log.warning(&format!("Unable to turn on AOF: {e:?}"));
        }
        return;
    }
    if srv.ks.snapshot_owner() == Some(crate::keyspace::snapshot::Owner::Aof) {
        srv.ks.abort_snapshot();
    }
    srv.propagation.close(&srv.log);
    srv.ks.propagate_expired = false;
    srv.ks.expired_keys.clear();
}

impl crate::server::Ctx<'_> {
    /// Logs a pop (blocking or multi-key) as the plain form Redis writes: `<name> key`, or
    /// `<name> key <count popped>`.
    pub fn propagate_pop(&mut self, name: &'static str, key: &[u8], count: Option<usize>) {
        let mut argv = vec![Bytes::from_static(name.as_bytes()), Bytes::copy_from_slice(key)];
        if let Some(n) = count {
            argv.push(Bytes::from(n.to_string()));
        }
        self.propagate_as(vec![argv]);
    }
}

/// Encodes argv as a RESP multibulk, the form AOF files store commands in.
pub fn encode_command(out: &mut Vec<u8>, argv: &[Bytes]) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(argv.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in argv {
        resp::encode::bulk(out, a);
    }
}

/// Writes `data` to `path` durably and atomically: a temporary file, fsync, rename over
/// the target, fsync of the directory.
pub fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("temp-{name}"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))?;
    fsync_dir(dir)
}

/// fsyncs a directory, making renames and creations in it durable.
pub fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Installs an opened log: appends go to `file`, the fsync thread starts, expired keys are
/// propagated.
fn open_log(
    srv: &mut crate::server::Server,
    dir: PathBuf,
    prefix: String,
    manifest: Manifest,
    file: File,
    stats: AofStats,
) -> Result<(), String> {
    let syncer = sync::Syncer::start().map_err(|e| format!("Can't start the fsync thread: {e}"))?;
    if let Some(w) = &srv.propagation.waker {
        syncer.set_waker(Arc::clone(w));
    }
    let p = &mut srv.propagation;
    // Everything before the new log is in its BASE, durable once the log counts as open.
    syncer.mark_done(p.seq_base);
    p.log = Some(AofLog {
        dir,
        prefix,
        manifest,
        file_len: file.metadata().map_or(0, |m| m.len()),
        file: Arc::new(file),
        syncer,
        written: p.seq_base,
        fsync_requested: p.seq_base,
        last_fsync_ms: 0,
        postponed_since: None,
    });
    p.stats = AofStats { rewrites: p.stats.rewrites, ..stats };
    p.enabled = true;
    p.last_db = None;
    srv.ks.propagate_expired = true;
    Ok(())
}

/// Opens (creating) an INCR file for appending.
fn open_append(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new().create(true).append(true).open(path)
}
