//! Point-in-time snapshots without fork (BGSAVE, AOF rewrites, SAVE): the command thread
//! serializes the keyspace a slice at a time between commands, and a writer thread puts the
//! bytes on disk.
//!
//! Each database is walked in its dict's SCAN order. Shrinking is held during the walk, so
//! the walk sees every key exactly once and "already visited" is a cursor comparison
//! ([`Dict::scan_visited`]). Before the keyspace changes a key (write lookup, store,
//! delete, expire time, expiry, eviction) it calls [`Keyspace::cow`]: a key whose bucket
//! the walk has not reached yet is serialized at once, as it is before the change, and
//! remembered as settled so the walk skips it later; a key that does not exist yet is
//! remembered too, so a key created after the start never reaches the file. FLUSHDB,
//! FLUSHALL and SWAPDB finish the databases they affect first.
//!
//! Memory in flight is bounded: bytes go to the writer through a channel of a few chunks
//! (each chunk's release is counted in `used_memory` as soon as it is written);
//! when it is full the walk pauses until the writer has drained a chunk (and wakes the
//! loop). Only the keys written during the snapshot cost extra (their settled names and
//! their early copies on the way to disk). With no snapshot running the hook is one
//! branch on a `None`.

use super::{Db, Entry, Keyspace};
use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bytes gathered before they are handed to the writer.
const CHUNK: usize = 256 * 1024;
/// Room reserved for a chunk: the walk checks the size every few buckets, so a chunk ends
/// a little past [`CHUNK`]; reserving that avoids doubling each chunk's allocation.
const CHUNK_ROOM: usize = CHUNK + CHUNK / 2;
/// Chunks the channel holds: with [`CHUNK_ROOM`], under 2 MB wait for the disk.
const CHANNEL_CHUNKS: usize = 4;
/// Early copies made by writes may pile up to this much before a write waits for the disk.
const MAX_PENDING: usize = 8 * 1024 * 1024;
/// SCAN steps between two looks at the clock.
const STEPS_PER_CHECK: usize = 32;

/// Who started the running snapshot, so each owner collects only its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// BGSAVE, a save point, SAVE.
    Rdb,
    /// An AOF rewrite (its BASE).
    Aof,
}

/// The file format: how databases, keys and the end are written.
pub trait KeyWriter {
    /// Starts the records of database `db`; `sizes` (keys, keys with an expire time) when
    /// its walk begins, None for a key copied early or a walk resumed after one.
    fn select(&self, out: &mut Vec<u8>, db: usize, sizes: Option<(usize, usize)>);
    /// One key with its value, expire time and access history.
    fn key(&self, out: &mut Vec<u8>, key: &[u8], entry: &Entry, expire: Option<u64>);
    /// Whatever ends the dataset (RDB's EOF opcode).
    fn end(&self, out: &mut Vec<u8>);
}

/// What the writer thread receives.
enum Chunk {
    Data(Vec<u8>),
    /// Everything was sent: finish the file. A channel closed without it is an abort.
    End,
}

/// What the writer appends after the last chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trailer {
    /// Nothing (a RESP AOF base).
    None,
    /// The CRC64 of everything written (RDB with `rdbchecksum yes`).
    Crc64,
    /// Eight zero bytes: RDB's "no checksum".
    Zeros,
}

/// Where the writer thread puts the bytes.
#[derive(Debug)]
pub struct Output {
    /// The file written (a temporary name).
    pub path: PathBuf,
    /// When set, the finished file is renamed to this path and the directory fsynced.
    pub rename_to: Option<PathBuf>,
    /// What follows the data.
    pub trailer: Trailer,
}

/// The writer thread of a snapshot: its result is the file size.
pub type Writer = JoinHandle<std::io::Result<u64>>;

static CRC: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

/// The walk's progress in one database.
#[derive(Default)]
struct Progress {
    cursor: u64,
    started: bool,
    done: bool,
    /// Keys whose content in the snapshot is decided already: copied early, or absent at
    /// the start. The walk skips them.
    settled: HashSet<Box<[u8]>>,
}

/// A running snapshot, held by [`Keyspace`] while its walk goes on.
pub struct Snapshot {
    /// Who started it.
    pub owner: Owner,
    format: Box<dyn KeyWriter>,
    dbs: Vec<Progress>,
    /// Database the stream last selected.
    stream_db: Option<usize>,
    buf: Vec<u8>,
    /// None once the writer has gone (an I/O error): the walk then ends at once.
    tx: Option<SyncSender<Chunk>>,
    waker: Option<Arc<mio::Waker>>,
}

impl Snapshot {
    /// Hands the gathered bytes to the writer: waiting for room when `block`, else giving up
    /// (keeping them) when the channel is full. Returns false when the bytes are still here.
    fn flush(&mut self, block: bool) -> bool {
        let Some(tx) = &self.tx else {
            self.buf.clear();
            return true;
        };
        if self.buf.is_empty() {
            return true;
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_ROOM));
        let sent = if block {
            tx.send(Chunk::Data(data)).map_err(|_| None)
        } else {
            tx.try_send(Chunk::Data(data)).map_err(|e| match e {
                TrySendError::Full(Chunk::Data(d)) => Some(d),
                _ => None,
            })
        };
        match sent {
            Ok(()) => true,
            Err(Some(back)) => {
                self.buf = back;
                false
            }
            Err(None) => {
                // The writer failed and left; its error is what the owner reports.
                self.tx = None;
                true
            }
        }
    }

    fn select(&mut self, db: usize, sizes: Option<(usize, usize)>) {
        if sizes.is_some() || self.stream_db != Some(db) {
            self.format.select(&mut self.buf, db, sizes);
            self.stream_db = Some(db);
        }
    }

    /// The copy-on-write step for `key` of database `db` (`d`), before it changes.
    fn before_write(&mut self, d: &Db, db: usize, key: &[u8]) {
        let p = &mut self.dbs[db];
        if p.done || d.dict.scan_visited(p.cursor, key) || !p.settled.insert(key.into()) {
            return;
        }
        if let Some(entry) = d.dict.get(key) {
            self.select(db, None);
            self.format.key(&mut self.buf, key, entry, d.expires.get(key).copied());
            if self.buf.len() > MAX_PENDING {
                self.flush(true);
            }
        }
    }

    /// Walks database `db` for up to `steps` SCAN steps. Without `block` it stops early when
    /// a chunk is ready; with it, it sends chunks as they fill (waiting for the disk).
    fn walk(&mut self, d: &mut Db, db: usize, steps: usize, block: bool) {
        if self.dbs[db].done {
            return;
        }
        if !self.dbs[db].started {
            self.dbs[db].started = true;
            self.select(db, Some((d.dict.len(), d.expires.len())));
        } else {
            self.select(db, None);
        }
        for _ in 0..steps {
            let Snapshot { format, dbs, buf, .. } = self;
            let p = &mut dbs[db];
            let expires = &d.expires;
            p.cursor = d.dict.scan(p.cursor, |k, e| {
                if p.settled.is_empty() || !p.settled.contains(k) {
                    format.key(buf, k, e, expires.get(k).copied());
                }
            });
            if p.cursor == 0 {
                p.done = true;
                p.settled = HashSet::new();
                d.dict.hold_shrink(false);
                return;
            }
            if self.buf.len() >= CHUNK {
                if !block {
                    return;
                }
                self.flush(true);
            }
        }
    }

    fn wake(&self) {
        if let Some(w) = &self.waker {
            let _ = w.wake();
        }
    }
}

impl Keyspace {
    /// Starts a snapshot of every database, after `header`, sent to a writer thread that
    /// writes `out`. A snapshot already running is finished first, here. Returns the
    /// writer, whose result says when and how the file was written.
    pub fn start_snapshot(
        &mut self,
        owner: Owner,
        format: Box<dyn KeyWriter>,
        header: Vec<u8>,
        out: Output,
        waker: Option<Arc<mio::Waker>>,
    ) -> std::io::Result<Writer> {
        self.finish_snapshot_now();
        let (tx, rx) = mpsc::sync_channel(CHANNEL_CHUNKS);
        let thread_waker = waker.clone();
        let writer = std::thread::Builder::new()
            .name("keel-snapshot".into())
            .spawn(move || write_stream(&rx, &out, thread_waker.as_deref()))?;
        let mut dbs = Vec::with_capacity(self.dbs.len());
        for d in &mut self.dbs {
            let done = d.dict.is_empty();
            if !done {
                d.dict.hold_shrink(true);
            }
            dbs.push(Progress { done, ..Progress::default() });
        }
        self.snapshot = Some(Box::new(Snapshot {
            owner,
            format,
            dbs,
            stream_db: None,
            buf: header,
            tx: Some(tx),
            waker,
        }));
        Ok(writer)
    }

    /// The hook every change of `key` in database `db` passes first: see the module docs.
    #[inline]
    pub(super) fn cow(&mut self, db: usize, key: &[u8]) {
        if let Some(s) = self.snapshot.as_deref_mut() {
            s.before_write(&self.dbs[db], db, key);
        }
    }

    /// Before database `db` is emptied or swapped: its walk is finished now.
    pub(super) fn cow_db(&mut self, db: usize) {
        if let Some(s) = self.snapshot.as_deref_mut() {
            s.walk(&mut self.dbs[db], db, usize::MAX, true);
        }
    }

    /// Who owns the running snapshot, if one runs.
    pub fn snapshot_owner(&self) -> Option<Owner> {
        self.snapshot.as_ref().map(|s| s.owner)
    }

    /// One slice of the running snapshot, of about `budget` (None: to the end, waiting for
    /// the disk as needed). Returns true when no snapshot remains to walk. Between slices
    /// the loop is woken to come back, unless the writer is behind (it wakes the loop when
    /// it has room).
    pub fn snapshot_step(&mut self, budget: Option<Duration>) -> bool {
        let start = Instant::now();
        let block = budget.is_none();
        let Keyspace { snapshot, dbs, .. } = self;
        let Some(s) = snapshot.as_deref_mut() else { return true };
        loop {
            if s.buf.len() >= CHUNK && !s.flush(block) {
                return false;
            }
            if s.tx.is_none() {
                break;
            }
            let Some(db) = s.dbs.iter().position(|p| !p.done) else { break };
            s.walk(&mut dbs[db], db, STEPS_PER_CHECK, block);
            if budget.is_some_and(|b| start.elapsed() >= b) {
                if s.buf.len() < CHUNK || s.flush(false) {
                    s.wake();
                }
                return false;
            }
        }
        s.format.end(&mut s.buf);
        s.flush(true);
        if let Some(tx) = s.tx.take() {
            let _ = tx.send(Chunk::End);
        }
        self.end_snapshot();
        true
    }

    /// Runs the running snapshot to its end now (SAVE, shutdown, or another snapshot about
    /// to start).
    pub fn finish_snapshot_now(&mut self) {
        self.snapshot_step(None);
    }

    /// Stops the running snapshot without finishing its file (the writer removes it).
    pub fn abort_snapshot(&mut self) {
        if let Some(s) = self.snapshot.as_mut() {
            s.tx = None;
        }
        self.end_snapshot();
    }

    /// Drops the snapshot state and lets the tables shrink again.
    fn end_snapshot(&mut self) {
        if self.snapshot.take().is_some() {
            for d in &mut self.dbs {
                d.dict.hold_shrink(false);
            }
        }
    }
}

/// The writer thread: writes every chunk, then the trailer, fsyncs and renames. A channel
/// closed before [`Chunk::End`] is an abort: the file is removed.
fn write_stream(
    rx: &Receiver<Chunk>,
    out: &Output,
    waker: Option<&mio::Waker>,
) -> std::io::Result<u64> {
    let result = (|| {
        let mut f = std::fs::File::create(&out.path)?;
        let mut digest = CRC.digest();
        let mut size = 0u64;
        loop {
            match rx.recv() {
                Ok(Chunk::Data(data)) => {
                    if out.trailer == Trailer::Crc64 {
                        digest.update(&data);
                    }
                    f.write_all(&data)?;
                    size += data.len() as u64;
                    // Allocated by the command thread: its release counts there at once,
                    // so `used_memory` does not grow by the file's size meanwhile.
                    drop(data);
                    crate::memory::settle_thread();
                    // The walk may be waiting for room in the channel.
                    if let Some(w) = waker {
                        let _ = w.wake();
                    }
                }
                Ok(Chunk::End) => break,
                Err(_) => return Err(std::io::Error::other("the snapshot was abandoned")),
            }
        }
        let trailer = match out.trailer {
            Trailer::None => None,
            Trailer::Crc64 => Some(digest.finalize()),
            Trailer::Zeros => Some(0),
        };
        if let Some(crc) = trailer {
            f.write_all(&crc.to_le_bytes())?;
            size += 8;
        }
        f.sync_all()?;
        drop(f);
        if let Some(to) = &out.rename_to {
            std::fs::rename(&out.path, to)?;
            let dir = to.parent().filter(|p| !p.as_os_str().is_empty());
            std::fs::File::open(dir.unwrap_or(std::path::Path::new(".")))?.sync_all()?;
        }
        Ok(size)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&out.path);
    }
    // Whatever was dropped since the last chunk (an abandoned chunk, the channel).
    crate::memory::settle_thread();
    if let Some(w) = waker {
        let _ = w.wake();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{StrValue, Value};

    /// A format that writes `db key=value;` records, to check what a snapshot holds.
    struct Plain;
    impl KeyWriter for Plain {
        fn select(&self, out: &mut Vec<u8>, db: usize, _sizes: Option<(usize, usize)>) {
            out.extend_from_slice(format!("|{db}|").as_bytes());
        }
        fn key(&self, out: &mut Vec<u8>, key: &[u8], entry: &Entry, _expire: Option<u64>) {
            let Value::Str(s) = &entry.value else { panic!("strings only") };
            out.extend_from_slice(key);
            out.push(b'=');
            out.extend_from_slice(&s.to_bytes());
            out.push(b';');
        }
        fn end(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(b"END");
        }
    }

    fn set(ks: &mut Keyspace, db: usize, k: &str, v: &str) {
        ks.set(db, k.as_bytes(), Value::Str(StrValue::from_bytes(v.as_bytes())), 0, false);
    }

    /// Parses the plain stream back into (db, key) → value.
    fn parse(data: &[u8]) -> std::collections::BTreeMap<(usize, String), String> {
        let text = String::from_utf8_lossy(data).into_owned();
        let text = text.strip_suffix("END").expect("ended");
        let mut map = std::collections::BTreeMap::new();
        let mut db = 0;
        for part in text.split('|').filter(|p| !p.is_empty()) {
            if let Ok(n) = part.parse::<usize>() {
                db = n;
                continue;
            }
            for rec in part.split(';').filter(|r| !r.is_empty()) {
                let (k, v) = rec.split_once('=').expect("record");
                assert!(map.insert((db, k.to_string()), v.to_string()).is_none(), "{k} twice");
            }
        }
        map
    }

    #[test]
    fn a_snapshot_is_point_in_time_under_writes() {
        let dir = std::env::temp_dir().join(format!("keel-snap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ks = Keyspace::new(3);
        for i in 0..5000 {
            set(&mut ks, i % 2, &format!("k{i}"), &format!("v{i}"));
        }
        let mut expected = std::collections::BTreeMap::new();
        for i in 0..5000 {
            expected.insert((i % 2, format!("k{i}")), format!("v{i}"));
        }
        let out = Output { path: dir.join("plain"), rename_to: None, trailer: Trailer::None };
        let writer = ks.start_snapshot(Owner::Rdb, Box::new(Plain), Vec::new(), out, None);
        let writer = writer.unwrap();
        // Interleave slices with overwrites, deletions, creations (which make the tables
        // grow) and a flush of a database nobody has walked yet.
        let mut round = 0;
        while !ks.snapshot_step(Some(Duration::from_micros(50))) {
            for j in 0..40 {
                let i = (round * 37 + j * 101) % 5000;
                set(&mut ks, i % 2, &format!("k{i}"), "changed");
                ks.delete(i % 2, format!("k{}", (i + 1) % 5000).as_bytes(), 0);
                set(&mut ks, round % 3, &format!("new{round}-{j}"), "new");
            }
            if round == 3 {
                ks.flush_db(1);
            }
            round += 1;
        }
        assert!(round > 3, "the snapshot took several slices");
        assert_eq!(writer.join().unwrap().unwrap() as usize, {
            let data = std::fs::read(dir.join("plain")).unwrap();
            assert_eq!(parse(&data), expected);
            data.len()
        });
        // Shrinking works again once the walk is over.
        for i in 0..5000 {
            ks.delete(0, format!("k{i}").as_bytes(), 0);
        }
        assert!(ks.db(0).dict().bucket_count() < 5000);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_aborted_snapshot_leaves_no_file() {
        let dir = std::env::temp_dir().join(format!("keel-snap-abort-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ks = Keyspace::new(1);
        set(&mut ks, 0, "a", "b");
        let out = Output { path: dir.join("x"), rename_to: None, trailer: Trailer::Zeros };
        let writer = ks.start_snapshot(Owner::Aof, Box::new(Plain), Vec::new(), out, None);
        ks.abort_snapshot();
        assert!(writer.unwrap().join().unwrap().is_err());
        assert!(!dir.join("x").exists());
        assert!(ks.snapshot_owner().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
