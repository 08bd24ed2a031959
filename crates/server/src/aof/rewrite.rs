//! BASE files and AOF rewrites (BGREWRITEAOF, automatic rewrites, `appendonly yes` at run
//! time), without fork.
//!
//! A rewrite is point-in-time: a snapshot walk (`keyspace/snapshot.rs`) serializes the
//! dataset in slices between commands, copying a key early when a command is about to
//! change it, and a thread writes and fsyncs the bytes while commands go on. At the start a
//! new INCR file is opened and listed in the manifest, so every write after the snapshot
//! lands in it; when the thread is done the temporary file becomes the new BASE, the old
//! BASE and INCR files become history in a new manifest (swapped atomically: temporary file,
//! fsync, rename, fsync of the directory), and the history files are deleted.
//!
//! The BASE is an RDB snapshot with `aof-use-rdb-preamble yes` (the default), else RESP:
//! commands that rebuild each key (SET, RPUSH, SADD, ZADD, HMSET, XADD with
//! XSETID/XGROUP/XCLAIM for streams), then PEXPIREAT for keys with a time to live.

use super::manifest::{self, FileInfo, FileType};
use crate::keyspace::snapshot::{KeyWriter, Output, Owner, Trailer, Writer};
use crate::keyspace::Entry;
use crate::server::Server;
use crate::types::Value;
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Items per command in a BASE, as Redis batches them.
const ITEMS_PER_COMMAND: usize = 64;

/// A rewrite whose BASE is being written by its thread.
#[derive(Debug)]
pub struct Job {
    thread: Option<Writer>,
    /// The temporary file the thread writes.
    tmp: PathBuf,
    /// The sequence number the new BASE takes.
    base_seq: u64,
    /// True for an RDB BASE (named `.base.rdb`).
    rdb: bool,
    /// When it started, for `aof_last_rewrite_time_sec`.
    started: Instant,
    /// Bytes appended to the new INCR file since the rewrite started.
    pub incr_bytes: u64,
}

impl Job {
    /// Forgets a running rewrite (`appendonly no`; its walk was aborted first); its
    /// temporary file is removed once the thread is done with it.
    pub fn abandon(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.tmp);
    }

    /// Seconds since the rewrite started (`aof_current_rewrite_time_sec`).
    pub fn elapsed_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}

fn push_cmd(out: &mut Vec<u8>, argv: &[&[u8]]) {
    let argv: Vec<Bytes> = argv.iter().map(|a| Bytes::copy_from_slice(a)).collect();
    super::encode_command(out, &argv);
}

/// Appends commands that add `items` to `key`, in batches of [`ITEMS_PER_COMMAND`] items
/// (each item being one or more arguments).
fn push_batched(
    out: &mut Vec<u8>,
    cmd: &[u8],
    key: &[u8],
    items: impl Iterator<Item = Vec<Bytes>>,
) {
    let mut argv: Vec<Bytes> = Vec::new();
    let mut n = 0;
    let head = |argv: &mut Vec<Bytes>| {
        argv.push(Bytes::copy_from_slice(cmd));
        argv.push(Bytes::copy_from_slice(key));
    };
    for item in items {
        if n == 0 {
            head(&mut argv);
        }
        argv.extend(item);
        n += 1;
        if n == ITEMS_PER_COMMAND {
            super::encode_command(out, &argv);
            argv.clear();
            n = 0;
        }
    }
    if n > 0 {
        super::encode_command(out, &argv);
    }
}

/// Appends the commands that rebuild a stream: its entries, its ID state, its groups with
/// their consumers and pending entries.
fn push_stream(out: &mut Vec<u8>, key: &[u8], s: &crate::types::StreamValue) {
    use crate::types::stream::StreamId;
    let id_text = |id: StreamId| Bytes::from(id.to_string());
    let mut any = false;
    s.walk(StreamId::ZERO, StreamId::MAX, false, |id, fields| {
        any = true;
        let mut argv = vec![Bytes::from_static(b"XADD"), Bytes::copy_from_slice(key), id_text(id)];
        argv.extend(fields);
        super::encode_command(out, &argv);
        true
    });
    if !any {
        // An empty stream still exists: create it with an entry trimmed away at once.
        let last = id_text(s.last_id);
        push_cmd(out, &[b"XADD", key, b"MAXLEN", b"0", &last, b"x", b"y"]);
    }
    let last = id_text(s.last_id);
    let added = s.entries_added.to_string();
    let maxdel = id_text(s.max_deleted_id);
    push_cmd(
        out,
        &[b"XSETID", key, &last, b"ENTRIESADDED", added.as_bytes(), b"MAXDELETEDID", &maxdel],
    );
    for (name, g) in &s.groups {
        let gl = id_text(g.last_id);
        match g.entries_read {
            Some(n) => {
                let n = n.to_string();
                push_cmd(
                    out,
                    &[b"XGROUP", b"CREATE", key, name, &gl, b"ENTRIESREAD", n.as_bytes()],
                );
            }
            None => push_cmd(out, &[b"XGROUP", b"CREATE", key, name, &gl]),
        }
        for cname in g.consumers.keys() {
            push_cmd(out, &[b"XGROUP", b"CREATECONSUMER", key, name, cname]);
        }
        for (id, pe) in &g.pel {
            let (idt, time, count) =
                (id_text(*id), pe.delivery_time.to_string(), pe.delivery_count.to_string());
            push_cmd(
                out,
                &[
                    b"XCLAIM",
                    key,
                    name,
                    &pe.consumer,
                    b"0",
                    &idt,
                    b"TIME",
                    time.as_bytes(),
                    b"RETRYCOUNT",
                    count.as_bytes(),
                    b"JUSTID",
                    b"FORCE",
                ],
            );
        }
    }
}

/// The RESP body format of a BASE (`aof-use-rdb-preamble no`): commands that rebuild each
/// key, then PEXPIREAT for keys with a time to live.
struct RespFormat;

impl KeyWriter for RespFormat {
    fn select(&self, out: &mut Vec<u8>, db: usize, _sizes: Option<(usize, usize)>) {
        push_cmd(out, &[b"SELECT", db.to_string().as_bytes()]);
    }

    fn key(&self, out: &mut Vec<u8>, key: &[u8], entry: &Entry, expire: Option<u64>) {
        let single = |b: &[u8]| vec![Bytes::copy_from_slice(b)];
        match &entry.value {
            Value::Str(s) => push_cmd(out, &[b"SET", key, &s.to_bytes()]),
            Value::List(l) => push_batched(out, b"RPUSH", key, l.iter().map(single)),
            Value::Set(s) => push_batched(out, b"SADD", key, s.iter().map(|m| single(&m))),
            Value::ZSet(z) => push_batched(
                out,
                b"ZADD",
                key,
                z.iter().map(|(m, sc)| {
                    vec![Bytes::from(resp::encode::format_double(sc)), Bytes::copy_from_slice(m)]
                }),
            ),
            Value::Hash(h) => push_batched(
                out,
                b"HMSET",
                key,
                h.iter().map(|(f, v)| vec![Bytes::copy_from_slice(f), Bytes::copy_from_slice(v)]),
            ),
            Value::Stream(s) => push_stream(out, key, s),
        }
        if let Some(when) = expire {
            push_cmd(out, &[b"PEXPIREAT", key, when.to_string().as_bytes()]);
        }
    }

    fn end(&self, _out: &mut Vec<u8>) {}
}

/// Starts the walk of a BASE written to `path`: RDB with `aof-use-rdb-preamble yes`, else
/// RESP commands. Returns the writer and whether the BASE is RDB.
fn start_base(srv: &mut Server, path: PathBuf) -> std::io::Result<(Writer, bool)> {
    if srv.config.bool(crate::config::P::AofUseRdbPreamble) {
        return crate::rdb::file::start_snapshot(srv, Owner::Aof, true, path, None)
            .map(|w| (w, true));
    }
    let out = Output { path, rename_to: None, trailer: Trailer::None };
    let waker = srv.propagation.waker();
    srv.ks
        .start_snapshot(Owner::Aof, Box::new(RespFormat), Vec::new(), out, waker)
        .map(|w| (w, false))
}

/// Writes a BASE of the current dataset on this thread (start-up). Returns its name.
pub fn write_base_now(
    srv: &mut Server,
    dir: &Path,
    prefix: &str,
    seq: u64,
) -> Result<String, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("Can't create AOF directory: {e}"))?;
    let tmp = dir.join(format!("temp-rewriteaof-{}.aof", std::process::id()));
    let fail = |e: std::io::Error| format!("Can't write the AOF base file: {e}");
    let (writer, rdb) = start_base(srv, tmp.clone()).map_err(fail)?;
    crate::rdb::file::finish_now(srv, writer).map_err(fail)?;
    let name = manifest::base_name(prefix, seq, rdb);
    std::fs::rename(&tmp, dir.join(&name))
        .and_then(|()| super::fsync_dir(dir))
        .map_err(|e| format!("Can't write the AOF base file {name}: {e}"))?;
    Ok(name)
}

/// Why a rewrite could not start.
#[derive(Debug)]
pub enum StartError {
    /// One is running already.
    InProgress,
    /// The files could not be created.
    Io(String),
}

/// Starts a rewrite: flushes the buffer into the current INCR, opens the next INCR,
/// snapshots the dataset and hands the BASE to a thread. When no log is open
/// (`CONFIG SET appendonly yes`) this opens one.
pub fn start(srv: &mut Server) -> Result<(), StartError> {
    if srv.propagation.rewrite_job.is_some() {
        return Err(StartError::InProgress);
    }
    let io = |e: std::io::Error| StartError::Io(e.to_string());
    srv.propagation.flush_sync(&srv.log);
    let (dir, prefix) = match &srv.propagation.log {
        Some(l) => (l.dir.clone(), l.prefix.clone()),
        None => (
            PathBuf::from(srv.config.str(crate::config::P::Appenddirname)),
            srv.config.str(crate::config::P::Appendfilename).to_string(),
        ),
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let mut m = match &srv.propagation.log {
        Some(l) => l.manifest.clone(),
        None => {
            super::load::read_manifest(&dir, &prefix).map_err(StartError::Io)?.unwrap_or_default()
        }
    };
    let seq = m.incr_seq() + 1;
    let name = manifest::incr_name(&prefix, seq);
    let file = super::open_append(&dir.join(&name)).map_err(io)?;
    m.incrs.push(FileInfo { name: name.clone(), seq, kind: FileType::Incr });
    // A log opened by this rewrite (`appendonly yes` at run time) is listed only once its
    // BASE exists: a crash before that must not leave a manifest of an INCR alone.
    if srv.propagation.log.is_some() {
        super::write_atomic(&dir, &manifest::manifest_name(&prefix), m.render().as_bytes())
            .map_err(io)?;
    }
    srv.log.notice(&format!("Creating AOF incr file {name} on background rewrite"));
    let base_seq = m.base_seq() + 1;
    match srv.propagation.log.as_mut() {
        Some(l) => {
            l.switch_file(file);
            l.manifest = m;
        }
        None => {
            let stats = super::AofStats::default();
            super::open_log(srv, dir.clone(), prefix, m, file, stats).map_err(StartError::Io)?;
            srv.propagation.opening = true;
        }
    }
    // The walk starts after the switch: every write from now on lands in the new INCR
    // and leaves the BASE as the dataset was here.
    let tmp = dir.join(format!("temp-rewriteaof-bg-{}.aof", std::process::id()));
    let (thread, rdb) = start_base(srv, tmp.clone()).map_err(io)?;
    srv.propagation.rewrite_job = Some(Job {
        thread: Some(thread),
        tmp,
        base_seq,
        rdb,
        started: Instant::now(),
        incr_bytes: 0,
    });
    srv.log.notice("Background append only file rewriting started");
    Ok(())
}

/// Time one event-loop iteration gives the running snapshot walk (BGSAVE or rewrite):
/// commands wait at most about this long behind it.
const SNAPSHOT_SLICE: std::time::Duration = std::time::Duration::from_millis(1);

/// Runs a slice of the snapshot walk, if one runs, and finishes a rewrite whose thread is
/// done: installs the new BASE and manifest and deletes the history. Called by the event
/// loop every iteration; cheap when nothing is due.
pub fn poll(srv: &mut Server) {
    srv.ks.snapshot_step(Some(SNAPSHOT_SLICE));
    if srv.propagation.stats.rewrite_scheduled && !srv.rdb.in_progress() {
        srv.propagation.stats.rewrite_scheduled = false;
        if let Err(StartError::Io(e)) = start(srv) {
            srv.log.warning(&format!("Can't start the scheduled AOF rewrite: {e}"));
        }
    }
    let done = srv
        .propagation
        .rewrite_job
        .as_ref()
        .is_some_and(|j| j.thread.as_ref().is_none_or(|t| t.is_finished()));
    if !done {
        return;
    }
    let Some(mut job) = srv.propagation.rewrite_job.take() else { return };
    // A writer that stopped before the walk ended failed: the walk has nowhere to go.
    if srv.ks.snapshot_owner() == Some(Owner::Aof) {
        srv.ks.abort_snapshot();
    }
    let outcome = match job.thread.take().map(|t| t.join()) {
        Some(Ok(Ok(size))) => install(srv, &job, size),
        Some(Ok(Err(e))) => Err(e.to_string()),
        _ => Err("the rewrite thread failed".to_string()),
    };
    // A log opened by `appendonly yes` is durable once its first BASE is in place.
    srv.propagation.opening &= outcome.is_err();
    let st = &mut srv.propagation.stats;
    st.last_rewrite_secs = job.started.elapsed().as_secs() as i64;
    match outcome {
        Ok(()) => {
            st.rewrites += 1;
            st.consecutive_failures = 0;
            st.last_rewrite_ok = true;
            srv.log.notice("Background AOF rewrite finished successfully");
        }
        Err(e) => {
            st.consecutive_failures += 1;
            st.last_rewrite_ok = false;
            let _ = std::fs::remove_file(&job.tmp);
            srv.log.warning(&format!("Background AOF rewrite failed: {e}"));
        }
    }
    // BGREWRITEAOF with `appendonly no` opened the log only for the rewrite.
    if !srv.config.bool(crate::config::P::Appendonly) {
        super::set_appendonly(srv, false);
    }
}

/// Renames the written BASE into place and swaps the manifest.
fn install(srv: &mut Server, job: &Job, size: u64) -> Result<(), String> {
    let Some(log) = srv.propagation.log.as_mut() else {
        return Err("the AOF was turned off".into());
    };
    let name = manifest::base_name(&log.prefix, job.base_seq, job.rdb);
    std::fs::rename(&job.tmp, log.path(&name)).map_err(|e| e.to_string())?;
    srv.log.notice(&format!(
        "Successfully renamed the temporary AOF base file {} into {name}",
        job.tmp.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    let mut m = log.manifest.clone();
    // Everything but the INCR opened at the start of this rewrite is now history.
    let keep = m.incrs.pop();
    let old: Vec<FileInfo> = m.base.take().into_iter().chain(m.incrs.drain(..)).collect();
    m.history.extend(old.into_iter().map(|f| FileInfo { kind: FileType::History, ..f }));
    m.base = Some(FileInfo { name, seq: job.base_seq, kind: FileType::Base });
    m.incrs.extend(keep);
    let mname = manifest::manifest_name(&log.prefix);
    super::write_atomic(&log.dir, &mname, m.render().as_bytes()).map_err(|e| e.to_string())?;
    for h in std::mem::take(&mut m.history) {
        srv.log.notice(&format!("Removing the history file {} in the background", h.name));
        let _ = std::fs::remove_file(log.path(&h.name));
    }
    super::write_atomic(&log.dir, &mname, m.render().as_bytes()).map_err(|e| e.to_string())?;
    log.manifest = m;
    let st = &mut srv.propagation.stats;
    st.base_size = size;
    st.current_size = size + job.incr_bytes;
    Ok(())
}

/// Automatic rewrite (`auto-aof-rewrite-percentage`, `auto-aof-rewrite-min-size`), from the
/// cron: the log grew by the percentage over its size after the last rewrite.
pub fn cron(srv: &mut Server) {
    use crate::config::P;
    if srv.propagation.log.is_none()
        || srv.propagation.rewrite_job.is_some()
        || srv.rdb.in_progress()
    {
        return;
    }
    let perc = srv.config.int(P::AutoAofRewritePercentage).max(0) as u64;
    let min = srv.config.int(P::AutoAofRewriteMinSize).max(0) as u64;
    let st = &srv.propagation.stats;
    if perc == 0 || st.current_size <= min {
        return;
    }
    let base = st.base_size.max(1);
    let growth = (st.current_size * 100 / base).saturating_sub(100);
    if growth >= perc {
        srv.log.notice(&format!("Starting automatic rewriting of AOF on {growth}% growth"));
        if let Err(StartError::Io(e)) = start(srv) {
            srv.log.warning(&format!("Can't start the automatic AOF rewrite: {e}"));
        }
    }
}
