//! Whole RDB files: the `REDIS00NN` header, aux fields, function libraries, each database
//! (SELECTDB, RESIZEDB, then keys with their expire times) and the EOF opcode with the
//! CRC64 of everything before it.
//!
//! Writing is a snapshot walk (`keyspace/snapshot.rs`): the header here, then the keys in
//! slices between commands, copied early when a command is about to change them, so the
//! file is the dataset as it was at the start; a thread writes it and adds the checksum.
//! Reading bounds every length by the bytes present and checks the checksum at the end.

use super::value::{self, Limits, WriteOpts};
use super::{crc64, write_blob, write_len, write_string, ReadError, Reader, RDB_VERSION};
use crate::config::P;
use crate::keyspace::access::AccessPolicy;
use crate::keyspace::snapshot::{KeyWriter, Output, Owner, Trailer, Writer};
use crate::keyspace::Entry;
use crate::net::client::Client;
use crate::server::Server;
use slab::Slab;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const OP_FUNCTION_PRE_GA: u8 = 246;
const OP_MODULE_AUX: u8 = 247;
const OP_IDLE: u8 = 248;
const OP_FREQ: u8 = 249;
const OP_AUX: u8 = 250;
const OP_RESIZEDB: u8 = 251;
const OP_EXPIRETIME_MS: u8 = 252;
const OP_EXPIRETIME: u8 = 253;
const OP_SELECTDB: u8 = 254;
const OP_EOF: u8 = 255;

/// Which access history a file records per key (by `maxmemory-policy`).
enum Access {
    None,
    Lru,
    Lfu,
}

/// What a load found.
#[derive(Clone, Debug, Default)]
pub struct LoadInfo {
    /// Keys stored.
    pub keys_loaded: u64,
    /// Keys skipped because their expire time had passed.
    pub keys_expired: u64,
    /// Empty collections skipped (Redis never writes them, but old versions could).
    pub empty_keys_skipped: u64,
    /// The file's RDB version.
    pub version: u16,
    /// The `redis-ver` aux field, if any.
    pub redis_ver: Option<String>,
    /// The `ctime` aux field (Unix seconds), if any.
    pub ctime: Option<i64>,
    /// The `used-mem` aux field, if any.
    pub used_mem: Option<i64>,
    /// True when the `aof-base` aux field says this is an AOF's base/preamble.
    pub aof_base: bool,
    /// Bytes the RDB part took (an old single-file AOF goes on with commands after them).
    pub bytes: usize,
    /// Time spent.
    pub elapsed: Duration,
}

/// The file's start: signature and version, aux fields, function libraries.
fn header(srv: &Server, opts: &WriteOpts, aof_base: bool) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(format!("REDIS{:04}", opts.version).as_bytes());
    let aux = |out: &mut Vec<u8>, k: &str, v: &[u8]| {
        out.push(OP_AUX);
        write_string(out, k.as_bytes());
        write_string(out, v);
    };
    aux(&mut out, "redis-ver", crate::REDIS_VERSION.as_bytes());
    aux(&mut out, "redis-bits", b"64");
    aux(&mut out, "ctime", (srv.now_ms() / 1000).to_string().as_bytes());
    aux(&mut out, "used-mem", crate::memory::used_memory().to_string().as_bytes());
    aux(&mut out, "aof-base", if aof_base { b"1" } else { b"0" });
    for code in srv.scripting.function_codes() {
        out.push(super::OPCODE_FUNCTION2);
        write_blob(&mut out, &code, opts.compress);
    }
    out
}

/// The RDB body format for a snapshot walk: databases, keys with expire time and access
/// history (under the eviction policies that use it, as in Redis), EOF.
struct RdbFormat {
    opts: WriteOpts,
    policy: Access,
    access: AccessPolicy,
    /// The snapshot's time, for idle times and decayed LFU counters.
    now_ms: u64,
}

impl KeyWriter for RdbFormat {
    fn select(&self, out: &mut Vec<u8>, db: usize, sizes: Option<(usize, usize)>) {
        out.push(OP_SELECTDB);
        write_len(out, db as u64);
        if let Some((keys, expires)) = sizes {
            out.push(OP_RESIZEDB);
            write_len(out, keys as u64);
            write_len(out, expires as u64);
        }
    }

    fn key(&self, out: &mut Vec<u8>, key: &[u8], entry: &Entry, expire: Option<u64>) {
        if let Some(when) = expire {
            out.push(OP_EXPIRETIME_MS);
            out.extend_from_slice(&when.to_le_bytes());
        }
        match self.policy {
            Access::Lru => {
                out.push(OP_IDLE);
                write_len(out, crate::keyspace::idle_seconds(entry.lru, self.now_ms));
            }
            Access::Lfu => {
                out.push(OP_FREQ);
                out.push(self.access.decayed(entry.lru, self.now_ms).min(255) as u8);
            }
            Access::None => {}
        }
        let mut body = Vec::new();
        value::write_value(&mut body, &entry.value, &self.opts);
        out.push(body[0]);
        write_blob(out, key, self.opts.compress);
        out.extend_from_slice(&body[1..]);
    }

    fn end(&self, out: &mut Vec<u8>) {
        out.push(OP_EOF);
    }
}

/// Starts a snapshot of the dataset as an RDB file written to `path` by a thread (then
/// renamed to `rename_to` when given), in the version and with the compression and
/// checksum settings the configuration asks for; `aof_base` marks an AOF's BASE. The walk
/// goes on between commands (see `keyspace/snapshot.rs`).
pub fn start_snapshot(
    srv: &mut Server,
    owner: Owner,
    aof_base: bool,
    path: PathBuf,
    rename_to: Option<PathBuf>,
) -> std::io::Result<Writer> {
    let opts = WriteOpts::from_config(&srv.config);
    let header = header(srv, &opts, aof_base);
    let policy = match srv.config.word(P::MaxmemoryPolicy) {
        p if p.ends_with("-lru") => Access::Lru,
        p if p.ends_with("-lfu") => Access::Lfu,
        _ => Access::None,
    };
    let format = RdbFormat { opts, policy, access: srv.ks.access.clone(), now_ms: srv.now_ms() };
    let trailer = if srv.config.bool(P::Rdbchecksum) { Trailer::Crc64 } else { Trailer::Zeros };
    let out = Output { path, rename_to, trailer };
    let waker = srv.propagation.waker();
    srv.ks.start_snapshot(owner, Box::new(format), header, out, waker)
}

/// Runs a snapshot walk to its end on this thread and waits for its file (SAVE, start-up
/// BASE, shutdown). Returns the file size.
pub fn finish_now(srv: &mut Server, writer: Writer) -> std::io::Result<u64> {
    srv.ks.finish_snapshot_now();
    writer.join().unwrap_or_else(|_| Err(std::io::Error::other("the snapshot writer failed")))
}

/// Loads the RDB file at `path` into `srv` (keys are added to what is there; a key
/// already present is an error). On error, a message naming the file and the offset.
/// `clients` (at start-up) are served while it loads, see `loading.rs`.
pub fn load_file(
    srv: &mut Server,
    path: &Path,
    clients: Option<&mut Slab<Client>>,
) -> Result<LoadInfo, String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    load_bytes(srv, &data, clients).map_err(|(off, why)| {
        format!("{} at offset {off} of {}: {why}", path.display(), data.len())
    })
}

/// Loads RDB bytes into `srv`; on error, the offset and what was wrong there (the keys read
/// before it stay: the callers stop the server or empty the keyspace on error). After each
/// key, [`crate::loading::step`] applies `key-load-delay` and serves `clients` when due.
pub fn load_bytes(
    srv: &mut Server,
    data: &[u8],
    mut clients: Option<&mut Slab<Client>>,
) -> Result<LoadInfo, (usize, String)> {
    let start = Instant::now();
    let mut info = LoadInfo::default();
    let bad = |off: usize, e: ReadError| match e {
        ReadError::Truncated => (off, "Short read or OOM loading DB".to_string()),
        ReadError::Invalid(why) => (off, format!("Bad RDB data ({why})")),
    };
    if data.len() < 9 || &data[..5] != b"REDIS" {
        return Err((0, "Wrong signature trying to load DB from file".into()));
    }
    let version = std::str::from_utf8(&data[5..9]).ok().and_then(|v| v.parse::<u16>().ok());
    info.version = match version {
        Some(v @ 1..=RDB_VERSION) => v,
        _ => return Err((5, "Can't handle RDB format version".into())),
    };
    let lim = Limits::from_config(&srv.config);
    let now = srv.now_ms();
    let dirty = srv.ks.dirty;
    let mut r = Reader::new(&data[9..]);
    let mut db = 0usize;
    let mut expire: Option<u64> = None;
    let mut idle: Option<u64> = None;
    let mut freq: Option<u8> = None;
    loop {
        let at = 9 + r.pos();
        let op = r.byte().map_err(|e| bad(at, e))?;
        let mut step = |r: &mut Reader<'_>| -> Result<bool, ReadError> {
            match op {
                OP_EOF => return Ok(false),
                OP_AUX => {
                    let k = r.string()?;
                    let v = r.string()?;
                    let text = String::from_utf8_lossy(&v).into_owned();
                    match &k[..] {
                        b"redis-ver" => info.redis_ver = Some(text),
                        b"ctime" => info.ctime = text.parse().ok(),
                        b"used-mem" => info.used_mem = text.parse().ok(),
                        b"aof-base" => info.aof_base = text == "1",
                        _ => {}
                    }
                }
                OP_RESIZEDB => {
                    // Sized in advance, as Redis does, so loading does not rehash at every
                    // doubling; a key takes at least 3 bytes of the file, which bounds what a
                    // damaged or hostile size can make Keel allocate.
                    let most = (data.len() / 3) as u64;
                    let keys = r.length()?.min(most) as usize;
                    let expires = r.length()?.min(most) as usize;
                    srv.ks.reserve(db, keys, expires);
                }
                OP_EXPIRETIME_MS => expire = Some(r.u64_le()?),
                OP_EXPIRETIME => expire = Some(u64::from(r.u32_le()?) * 1000),
                OP_IDLE => idle = Some(r.length()?),
                OP_FREQ => freq = Some(r.byte()?),
                OP_SELECTDB => {
                    db = usize::try_from(r.length()?).unwrap_or(usize::MAX);
                    if db >= srv.ks.db_count() {
                        return Err(ReadError::Invalid("database index out of range"));
                    }
                }
                super::OPCODE_FUNCTION2 => {
                    let code = r.string()?;
                    if srv.scripting.restore_function(&code).is_err() {
                        return Err(ReadError::Invalid("function library failed to load"));
                    }
                }
                OP_FUNCTION_PRE_GA => {
                    return Err(ReadError::Invalid("pre-release function format"));
                }
                OP_MODULE_AUX => return Err(ReadError::Invalid("module data")),
                t if value::is_value_type(t) => {
                    let key = r.string()?;
                    let v = value::read_value(t, r, &lim)?;
                    let when = expire.take();
                    let lru = super::access_bits(&srv.ks.access, now, idle.take(), freq.take());
                    let Some(v) = v else {
                        info.empty_keys_skipped += 1;
                        return Ok(true);
                    };
                    // A master drops keys already expired, except from an AOF base, which
                    // replays as the commands did.
                    if when.is_some_and(|w| w < now) && !info.aof_base {
                        info.keys_expired += 1;
                        return Ok(true);
                    }
                    if srv.ks.db(db).dict().contains_key(&key) {
                        return Err(ReadError::Invalid("duplicate key"));
                    }
                    let entry = Entry { value: v, lru, unshared: false };
                    srv.ks.put(db, &key, entry, when);
                    info.keys_loaded += 1;
                }
                _ => return Err(ReadError::Invalid("unknown opcode")),
            }
            Ok(true)
        };
        match step(&mut r) {
            Ok(true) if value::is_value_type(op) => {
                // What INFO shows while loading: Redis updates the key counts as it goes,
                // and a load is no change to save.
                srv.rdb.last_load = (info.keys_loaded, info.keys_expired);
                srv.ks.dirty = dirty;
                crate::loading::step(srv, clients.as_deref_mut(), 9 + r.pos());
            }
            Ok(true) => {
                if op == OP_AUX && srv.loading.active {
                    srv.loading.rdb_used_mem = info.used_mem.unwrap_or(0).max(0) as u64;
                }
            }
            Ok(false) => break,
            Err(e) => {
                srv.ks.dirty = dirty;
                return Err(bad(at, e));
            }
        }
    }
    srv.ks.dirty = dirty;
    let end = 9 + r.pos();
    info.bytes = check_sum(data, end, info.version, srv.config.bool(P::Rdbchecksum))
        .map_err(|why| (end, why))?;
    info.elapsed = start.elapsed();
    Ok(info)
}

/// Checks the CRC64 after the EOF opcode at `end` (version 5 and later; a zero checksum
/// means "not computed"). Returns the total length including the checksum.
fn check_sum(data: &[u8], end: usize, version: u16, verify: bool) -> Result<usize, String> {
    if version < 5 {
        return Ok(end);
    }
    let sum = data.get(end..end + 8).ok_or("Short read or OOM loading DB")?;
    let mut b = [0u8; 8];
    b.copy_from_slice(sum);
    let expected = u64::from_le_bytes(b);
    if verify && expected != 0 && crc64(&data[..end]) != expected {
        return Err("Wrong RDB checksum".into());
    }
    Ok(end + 8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::types::{StrValue, Value};

    fn server_with_keys() -> Server {
        let mut srv = Server::new(Config::default());
        for i in 0..50 {
            let key = format!("k{i}");
            let v = Value::Str(StrValue::from_bytes(format!("value {i}").as_bytes()));
            let entry = Entry { value: v, lru: 0, unshared: false };
            srv.ks.put(i % 3, key.as_bytes(), entry, (i % 2 == 0).then_some(u64::MAX / 4));
        }
        srv
    }

    /// The dataset as RDB bytes, through a file as SAVE writes it.
    fn snapshot(srv: &mut Server) -> Vec<u8> {
        let path = std::env::temp_dir().join(format!(
            "keel-file-{}-{:?}.rdb",
            std::process::id(),
            std::thread::current().id()
        ));
        let writer = start_snapshot(srv, Owner::Rdb, false, path.clone(), None).unwrap();
        finish_now(srv, writer).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        bytes
    }

    #[test]
    fn a_snapshot_loads_back() {
        let mut srv = server_with_keys();
        let bytes = snapshot(&mut srv);
        let mut back = Server::new(Config::default());
        let info = load_bytes(&mut back, &bytes, None).unwrap();
        assert_eq!(info.keys_loaded, 50);
        assert_eq!(info.bytes, bytes.len());
        for db in 0..3 {
            assert_eq!(back.ks.db(db).len(), srv.ks.db(db).len());
            assert_eq!(back.ks.db(db).expires_len(), srv.ks.db(db).expires_len());
        }
        assert_eq!(back.ks.dirty, 0, "loading is not a change");
    }

    #[test]
    fn damaged_snapshots_are_errors() {
        let mut srv = server_with_keys();
        let bytes = snapshot(&mut srv);
        for cut in 0..bytes.len() {
            let mut s = Server::new(Config::default());
            assert!(load_bytes(&mut s, &bytes[..cut], None).is_err(), "cut at {cut}");
        }
        for i in (0..bytes.len()).step_by(7) {
            let mut bad = bytes.clone();
            bad[i] ^= 0x41;
            let mut s = Server::new(Config::default());
            assert!(load_bytes(&mut s, &bad, None).is_err(), "byte {i}");
        }
    }
}
