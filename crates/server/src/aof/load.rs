//! Start-up: find the AOF (multi-part directory, or Redis 6's single file, which is
//! migrated into a directory as Redis 7 does), replay it, and open it for appending.
//!
//! Replay runs every command through dispatch as a fake client, so MULTI/EXEC and every
//! handler behave as they did when the commands were first executed; the keyspace's
//! `loading` flag stops keys from expiring during replay (the log says when they were
//! deleted). A command cut short at the end of the last file is a truncated tail: with
//! `aof-load-truncated yes` the file is truncated to the last whole command and loading
//! goes on, as Redis does; anywhere else a damaged file stops start-up.
//!
//! The fake client lives in the event loop's client table during replay (removed after),
//! so the clients that connect meanwhile, served between commands with `-LOADING` (see
//! `loading.rs`), keep the keys the loop knows them by.

use super::manifest::{self, FileInfo, FileType, Manifest};
use super::AofStats;
use crate::config::P;
use crate::net::client::Client;
use crate::server::Server;
use bytes::Bytes;
use slab::Slab;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Why a file could not be replayed.
#[derive(Debug, PartialEq, Eq)]
enum ParseStop {
    /// The file ends in the middle of a command; the offset of the last whole command.
    Truncated(usize),
    /// Bytes that are not a command at this offset.
    BadFormat(usize),
}

/// Reads one command at `pos`: Some((argv, next offset)), None at the end of the data.
/// Lines starting with `#` between commands (timestamp annotations) are skipped.
fn next_command(data: &[u8], mut pos: usize) -> Result<Option<(Vec<Bytes>, usize)>, ParseStop> {
    loop {
        if pos >= data.len() {
            return Ok(None);
        }
        if data[pos] != b'#' {
            break;
        }
        match data[pos..].iter().position(|&b| b == b'\n') {
            Some(n) => pos += n + 1,
            None => return Err(ParseStop::Truncated(pos)),
        }
    }
    let start = pos;
    let line = |p: usize, prefix: u8| -> Result<(usize, usize), ParseStop> {
        let Some(&first) = data.get(p) else { return Err(ParseStop::Truncated(start)) };
        if first != prefix {
            return Err(ParseStop::BadFormat(start));
        }
        let Some(n) = data[p..].iter().position(|&b| b == b'\n') else {
            return Err(ParseStop::Truncated(start));
        };
        let text = &data[p + 1..p + n];
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let v = std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse::<usize>().ok())
            .ok_or(ParseStop::BadFormat(start))?;
        Ok((v, p + n + 1))
    };
    let (argc, mut p) = line(pos, b'*')?;
    if argc == 0 {
        return Err(ParseStop::BadFormat(start));
    }
    // The count comes from the file: grow as arguments arrive rather than trusting it.
    let mut argv = Vec::new();
    for _ in 0..argc {
        let (len, q) = line(p, b'$')?;
        let end = q.checked_add(len).ok_or(ParseStop::BadFormat(start))?;
        if end + 2 > data.len() {
            return Err(ParseStop::Truncated(start));
        }
        if &data[end..end + 2] != b"\r\n" {
            return Err(ParseStop::BadFormat(start));
        }
        argv.push(Bytes::copy_from_slice(&data[q..end]));
        p = end + 2;
    }
    Ok(Some((argv, p)))
}

/// Fuzz entry point: reads every command of AOF file bytes the way replay does, without
/// running them. It must never panic, whatever the input.
pub fn fuzz_read_commands(data: &[u8]) {
    let mut pos = 0;
    while let Ok(Some((_, next))) = next_command(data, pos) {
        pos = next;
    }
}

/// Replays the commands of one file and returns its length. `last` says whether a
/// truncated tail is tolerable.
fn replay_file(
    srv: &mut Server,
    clients: &mut Slab<Client>,
    cid: usize,
    path: &Path,
    last: bool,
) -> Result<usize, String> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let data = std::fs::read(path).map_err(|e| {
        format!("Fatal error: can't open the append log file {name} for reading: {e}")
    })?;
    let mut pos = 0;
    if data.starts_with(b"REDIS") {
        // An RDB BASE (aof-use-rdb-preamble), or Redis 6's single file: an RDB preamble
        // followed by commands.
        srv.log.notice("Reading RDB base file on AOF loading...");
        let info = crate::rdb::file::load_bytes(srv, &data, Some(clients)).map_err(|(off, why)| {
            format!("Bad file format reading the RDB part of the append only file {name} at offset {off}: {why}")
        })?;
        crate::rdb::save::log_load(srv, &info);
        pos = info.bytes;
    }
    // Offset before an open MULTI: a transaction cut short is reverted to there.
    let mut before_multi = None;
    let stop = loop {
        match next_command(&data, pos) {
            Ok(None) => break None,
            Ok(Some((argv, next))) => {
                if crate::dispatch::lookup(&argv).is_err() {
                    let shown = String::from_utf8_lossy(&argv[0]);
                    return Err(format!(
                        "Unknown command '{shown}' reading the append only file {name}"
                    ));
                }
                if argv[0].eq_ignore_ascii_case(b"multi") {
                    before_multi = Some(pos);
                }
                crate::dispatch::execute(srv, clients, cid, argv);
                if clients[cid].multi.is_none() {
                    before_multi = None;
                }
                pos = next;
                crate::loading::step(srv, Some(clients), pos);
            }
            Err(stop) => break Some(stop),
        }
    };
    let cut = match (stop, before_multi) {
        (None, None) => return Ok(data.len()),
        (Some(ParseStop::BadFormat(at)), _) => {
            return Err(format!(
                "Bad file format reading the append only file {name} at offset {at}: make a backup of your AOF file, then use ./keel-check-aof --fix <filename.manifest>"
            ))
        }
        (_, Some(multi_at)) => {
            srv.log.warning(&format!("Revert incomplete MULTI/EXEC transaction in AOF file {name}"));
            clients[cid].multi = None;
            multi_at
        }
        (Some(ParseStop::Truncated(at)), None) => {
            srv.log.warning(&format!("!!! Warning: short read while loading the AOF file {name}!!!"));
            at
        }
    };
    if !last || !srv.config.bool(P::AofLoadTruncated) {
        return Err(format!(
            "Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use ./keel-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
        ));
    }
    srv.log.warning(&format!("!!! Truncating the AOF {name} at offset {cut} !!!"));
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(cut as u64).map(|()| f))
        .and_then(|f| f.sync_all());
    if let Err(e) = f {
        return Err(format!("Error truncating the AOF file {name}: {e}"));
    }
    srv.log.warning(&format!("AOF {name} loaded anyway because aof-load-truncated is enabled"));
    Ok(data.len())
}

/// Redis 6's single `appendonly.aof` in `dir`'s place: moved into a new AOF directory as
/// its BASE, as Redis 7 upgrades it.
fn migrate_old_file(srv: &Server, dir: &Path, prefix: &str) -> Result<Option<Manifest>, String> {
    let old = PathBuf::from(prefix);
    if dir.exists() || !old.is_file() {
        return Ok(None);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("Can't create AOF directory: {e}"))?;
    std::fs::rename(&old, dir.join(prefix))
        .map_err(|e| format!("Error moving the old AOF file into the AOF directory: {e}"))?;
    let m = Manifest {
        base: Some(FileInfo { name: prefix.to_string(), seq: 1, kind: FileType::Base }),
        ..Manifest::default()
    };
    super::write_atomic(dir, &manifest::manifest_name(prefix), m.render().as_bytes())
        .map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
    srv.log.notice("Successfully migrated an old-style AOF into the AOF directory");
    Ok(Some(m))
}

/// Reads the manifest of `dir`, if there is one.
pub fn read_manifest(dir: &Path, prefix: &str) -> Result<Option<Manifest>, String> {
    let path = dir.join(manifest::manifest_name(prefix));
    match std::fs::read(&path) {
        Ok(text) => Manifest::parse(&text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("Can't open the AOF manifest file: {e}")),
    }
}

/// Replays every file the manifest lists, BASE first, as the fake client in `clients`.
fn replay(
    srv: &mut Server,
    clients: &mut Slab<Client>,
    dir: &Path,
    m: &Manifest,
) -> Result<(), String> {
    let started = Instant::now();
    let now = srv.now_ms();
    let mut fake = Client::new(u64::MAX, None, String::new(), String::new(), -1, now);
    fake.authenticated = true;
    let cid = clients.insert(fake);
    let files: Vec<&FileInfo> = m.base.iter().chain(&m.incrs).collect();
    let total = files.iter().map(|f| std::fs::metadata(dir.join(&f.name)).map_or(0, |md| md.len()));
    // Replay goes through dispatch: its calls are not the clients' (Redis counts none), so
    // they are counted apart and dropped at the end.
    crate::loading::begin(srv, total.sum(), true);
    srv.ks.loading = true;
    let mut result = Ok(());
    for (i, f) in files.iter().enumerate() {
        let t = Instant::now();
        let path = dir.join(&f.name);
        if f.kind == FileType::Incr && !path.exists() {
            result = Err(format!("The AOF file {} doesn't exist", f.name));
            break;
        }
        match replay_file(srv, clients, cid, &path, i + 1 == files.len()) {
            Ok(len) => crate::loading::file_done(srv, len),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
        let what = if f.kind == FileType::Base { "base" } else { "incr" };
        srv.log.notice(&format!(
            "DB loaded from {what} file {}: {:.3} seconds",
            f.name,
            t.elapsed().as_secs_f64()
        ));
    }
    srv.ks.loading = false;
    clients.remove(cid);
    crate::loading::end(srv);
    srv.ks.stats = Default::default();
    result?;
    if !files.is_empty() {
        srv.log.notice(&format!(
            "DB loaded from append only file: {:.3} seconds",
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(())
}

/// Start-up with `appendonly yes`: migrate, load (serving `clients` meanwhile), then open
/// the log (creating a BASE from the current dataset when there was no AOF). The caller
/// exits on error, as Redis does.
pub fn start(srv: &mut Server, clients: &mut Slab<Client>) -> Result<(), String> {
    let dir = PathBuf::from(srv.config.str(P::Appenddirname));
    let prefix = srv.config.str(P::Appendfilename).to_string();
    let mut m = match migrate_old_file(srv, &dir, &prefix)? {
        Some(m) => m,
        None => read_manifest(&dir, &prefix)?.unwrap_or_default(),
    };
    replay(srv, clients, &dir, &m)?;
    let rdb = crate::rdb::save::rdb_path(srv);
    if m.base.is_none() && m.incrs.is_empty() && rdb.exists() {
        // No AOF yet but a snapshot: Keel turns the AOF on by default, so a server that
        // ran with RDB only starts from its data (the first BASE is written from it).
        crate::rdb::save::load_serving(srv, &rdb, clients)?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("Can't create AOF directory: {e}"))?;
    let mut stats = AofStats::default();
    if m.base.is_none() && m.incrs.is_empty() {
        let name = super::rewrite::write_base_now(srv, &dir, &prefix, 1)?;
        srv.log.notice(&format!("Creating AOF base file {name} on server start"));
        m.base = Some(FileInfo { name, seq: 1, kind: FileType::Base });
    }
    let file_size = |f: &FileInfo| std::fs::metadata(dir.join(&f.name)).map_or(0, |md| md.len());
    stats.base_size = m.base.as_ref().map_or(0, file_size);
    let file = match m.incrs.last() {
        Some(last) => {
            srv.log.notice(&format!("Opening AOF incr file {} on server start", last.name));
            super::open_append(&dir.join(&last.name))
        }
        None => {
            let seq = m.incr_seq() + 1;
            let name = manifest::incr_name(&prefix, seq);
            let f = super::open_append(&dir.join(&name));
            m.incrs.push(FileInfo { name: name.clone(), seq, kind: FileType::Incr });
            super::write_atomic(&dir, &manifest::manifest_name(&prefix), m.render().as_bytes())
                .map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
            srv.log.notice(&format!("Creating AOF incr file {name} on server start"));
            f
        }
    }
    .map_err(|e| format!("Can't open the append-only file: {e}"))?;
    stats.current_size = m.base.iter().chain(&m.incrs).map(file_size).sum();
    super::open_log(srv, dir, prefix, m, file, stats)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_commands_annotations_and_damage() {
        let data = b"#TS:1\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPI";
        let (argv, next) = next_command(data, 0).unwrap().unwrap();
        assert_eq!(argv, vec![Bytes::from("GET"), Bytes::from("k")]);
        assert_eq!(next_command(data, next), Err(ParseStop::Truncated(next)));
        assert_eq!(next_command(b"+OK\r\n", 0), Err(ParseStop::BadFormat(0)));
        assert_eq!(next_command(b"*1\r\n$2\r\nabc\r\n", 0), Err(ParseStop::BadFormat(0)));
        assert_eq!(next_command(b"", 0), Ok(None));
    }
}
