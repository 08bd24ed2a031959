//! Persistence commands: DUMP and RESTORE (one value in RDB form, see `rdb/value.rs`),
//! SAVE and BGSAVE (whole snapshots, see `rdb/save.rs`).

use super::spec::{acl, flags::*, CommandSpec, KeyPos};
use crate::args::Args;
use crate::error::CmdError;
use crate::keyspace::Entry;
use crate::notify::class;
use crate::rdb::value::{self, Limits, WriteOpts};
use crate::rdb::{self, save, Reader};
use crate::server::Ctx;
use bytes::Bytes;
use resp::Frame;

/// The persistence family's table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("dump", 2, READONLY, acl::KEYSPACE, KeyPos::ONE, dump)
        .doc("generic", "2.6.0", "Returns a serialized representation of the value stored at a key.", "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1).")
        .tips(&["nondeterministic_output"])
        .key_flags(&["RO", "access"]),
    CommandSpec::new("restore", -4, WRITE | DENYOOM, acl::KEYSPACE | acl::DANGEROUS, KeyPos::ONE, restore)
        .doc("generic", "2.6.0", "Creates a key from the serialized representation of a value.", "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).")
        .key_flags(&["OW", "update"]),
    CommandSpec::new("save", 1, ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI, acl::DANGEROUS, KeyPos::NONE, save_cmd)
        .doc("server", "1.0.0", "Synchronously saves the database(s) to disk.", "O(N) where N is the total number of keys in all databases"),
    CommandSpec::new("bgsave", -1, ADMIN | NOSCRIPT | NO_ASYNC_LOADING, acl::DANGEROUS, KeyPos::NONE, bgsave)
        .doc("server", "1.0.0", "Asynchronously saves the database(s) to disk.", "O(1)"),
];

/// `DUMP key`: the value in RDB form plus the RDB version and a CRC64, or nil.
fn dump(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let opts = WriteOpts::from_config(&ctx.srv.config);
    let Some(entry) = ctx.lookup_read(&key) else { return Ok(Frame::Null) };
    let mut body = Vec::new();
    value::write_value(&mut body, &entry.value, &opts);
    Ok(Frame::Bulk(Bytes::from(rdb::seal_payload_as(body, opts.version))))
}

/// RESTORE's options.
#[derive(Default)]
struct RestoreOpts {
    replace: bool,
    absttl: bool,
    idle: Option<u64>,
    freq: Option<u8>,
}

/// Reads `[REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]` as Redis does: IDLETIME
/// and FREQ exclude each other (the second is a syntax error), and each value is checked
/// as soon as it is read.
fn restore_opts(args: &mut Args) -> Result<RestoreOpts, CmdError> {
    let mut o = RestoreOpts::default();
    while args.remaining() > 0 {
        let more = args.remaining() > 1;
        if args.eat("replace") {
            o.replace = true;
        } else if args.eat("absttl") {
            o.absttl = true;
        } else if more && o.freq.is_none() && args.eat("idletime") {
            let v = args.next_i64()?;
            if v < 0 {
                return Err(CmdError::Static("ERR Invalid IDLETIME value, must be >= 0"));
            }
            o.idle = Some(v as u64);
        } else if more && o.idle.is_none() && args.eat("freq") {
            let v = args.next_i64()?;
            if !(0..=255).contains(&v) {
                return Err(CmdError::Static("ERR Invalid FREQ value, must be >= 0 and <= 255"));
            }
            o.freq = Some(v as u8);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(o)
}

/// `RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ
/// frequency]`: checks in Redis's order (options, existing key, TTL, payload footer, then
/// the value itself), so each mistake gets the error Redis gives first.
fn restore(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    args.seek(4);
    let o = restore_opts(args)?;
    args.seek(1);
    let key = args.next_bytes()?;
    let (db, now) = (ctx.db(), ctx.now);
    if !o.replace && ctx.srv.ks.exists(db, &key, now) {
        return Err(CmdError::Static("BUSYKEY Target key name already exists."));
    }
    let ttl = args.next_i64()?;
    if ttl < 0 {
        return Err(CmdError::Static("ERR Invalid TTL value, must be >= 0"));
    }
    let payload = args.next_bytes()?;
    rdb::open_payload(&payload)?;
    const BAD: CmdError = CmdError::Static("ERR Bad data format");
    // Redis reads the value from the whole payload, footer included: a body cut short reads
    // into the footer rather than failing, and Keel answers the same.
    let (&t, rest) = payload.split_first().ok_or(BAD)?;
    if !value::is_value_type(t) {
        return Err(BAD);
    }
    let lim = Limits::from_config(&ctx.srv.config);
    let v = value::read_value(t, &mut Reader::new(rest), &lim).map_err(|_| BAD)?.ok_or(BAD)?;
    // The old value goes without counting a change: the store below (or the deletion
    // alone, when the new key is already expired) is the one change, as in Redis.
    let deleted = o.replace && ctx.srv.ks.take(db, &key, now).is_some();
    let when = match ttl {
        0 => None,
        t if o.absttl => Some(t as u64),
        t => Some((t as u64).saturating_add(now)),
    };
    if when.is_some_and(|w| w <= now) {
        // Already expired: nothing is stored, an old key replaced is simply deleted.
        if deleted {
            ctx.srv.ks.mark_dirty(1);
            ctx.notify(class::GENERIC, "del", &key);
            ctx.propagate_as(vec![vec![Bytes::from_static(b"DEL"), key]]);
        }
        return Ok(Frame::ok());
    }
    let lru = rdb::access_bits(&ctx.srv.ks.access, now, o.idle, o.freq);
    ctx.srv.ks.put(db, &key, Entry { value: v, lru, unshared: false }, when);
    if let (Some(w), false) = (when, o.absttl) {
        // The AOF gets the absolute time, as Redis propagates it.
        let mut argv = args.argv().to_vec();
        argv[2] = Bytes::from(w.to_string());
        argv.push(Bytes::from_static(b"ABSTTL"));
        ctx.propagate_as(vec![argv]);
    }
    ctx.notify(class::GENERIC, "restore", &key);
    Ok(Frame::ok())
}

/// `SAVE`: a synchronous snapshot.
fn save_cmd(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    if ctx.srv.rdb.in_progress() {
        return Err(CmdError::Static("ERR Background save already in progress"));
    }
    save::save_now(ctx.srv).map_err(|_| CmdError::Static("ERR"))?;
    Ok(Frame::ok())
}

/// `BGSAVE [SCHEDULE]`.
fn bgsave(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    // SCHEDULE matters only while an AOF rewrite runs (see `rdb/save.rs`).
    let schedule = match args.remaining() {
        0 => false,
        1 if args.eat("schedule") => true,
        _ => return Err(CmdError::Syntax),
    };
    let in_exec = ctx.client_ref().in_exec;
    save::bgsave(ctx.srv, in_exec, schedule).map(Frame::simple)
}
