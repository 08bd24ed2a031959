//! `DEBUG`: the debugging subcommands operators and test suites use (OBJECT, DIGEST,
//! POPULATE, PROTOCOL, RELOAD, SLEEP...), refused unless `enable-debug-command` allows it.
//!
//! The dataset digest is Redis's, so `DEBUG DIGEST` of the same data is the same hex string
//! on both servers: each key is a SHA1-mixed chain of its name, type, value and expire flag,
//! and the keys are XOR-ed together so their order does not matter.

use crate::args::Args;
use crate::config::P;
use crate::error::CmdError;
use crate::keyspace::{idle_seconds, Entry, Touch};
use crate::server::Ctx;
use crate::types::Value;
use bytes::Bytes;
use resp::Frame;

/// `DEBUG HELP`, as Redis words it.
const HELP: &[&str] = &[
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "AOF-FLUSH-SLEEP <microsec>",
    "    Server will sleep before flushing the AOF, this is used for testing.",
    "ASSERT",
    "    Crash by assertion failed.",
    "CHANGE-REPL-ID",
    "    Change the replication IDs of the instance.",
    "    Dangerous: should be used only for testing the replication subsystem.",
    "CONFIG-REWRITE-FORCE-ALL",
    "    Like CONFIG REWRITE but writes all configuration options, including",
    "    keywords not listed in original configuration file or default values.",
    "CRASH-AND-RECOVER [<milliseconds>]",
    "    Hard crash and restart after a <milliseconds> delay (default 0).",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LEAK <string>",
    "    Create a memory leak of the input string.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "HTSTATS <dbid>",
    "    Return hash table statistics of the specified Redis database.",
    "HTSTATS-KEY <key>",
    "    Like HTSTATS but for the hash table stored at <key>'s value.",
    "LOADAOF",
    "    Flush the AOF buffers on disk and reload the AOF in memory.",
    "REPLICATE <string>",
    "    Replicates the provided string to replicas, allowing data divergence.",
    "MALLCTL <key> [<val>]",
    "    Get or set a malloc tuning integer.",
    "MALLCTL-STR <key> [<val>]",
    "    Get or set a malloc tuning string.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "DROP-CLUSTER-PACKET-FILTER <packet-type>",
    "    Drop all packets that match the filtered type. Set to -1 allow all packets.",
    "OOM",
    "    Crash the server simulating an out-of-memory error.",
    "PANIC",
    "    Crash the server simulating a panic.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will generate an exception and kill the server.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "RESTART [<milliseconds>]",
    "    Graceful restart: save config, db, restart after a <milliseconds> delay (default 0).",
    "SDSLEN <key>",
    "    Show low level SDS string info representing `key` and value.",
    "SEGFAULT",
    "    Crash the server with sigsegv.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
    "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "STRINGMATCH-TEST",
    "    Run a fuzz tester against the stringmatchlen() function.",
    "STRUCTSIZE",
    "    Return the size of different Redis core C structures.",
    "LISTPACK <key>",
    "    Show low level info about the listpack encoding of <key>.",
    "QUICKLIST <key> [<0|1>]",
    "    Show low level info about the quicklist encoding of <key>.",
    "    The optional argument (0 by default) sets the level of detail",
    "CLIENT-EVICTION",
    "    Show low level client eviction pools info (maxmemory-clients).",
    "PAUSE-CRON <0|1>",
    "    Stop periodic cron job processing.",
    "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
    "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
    "    In case NEVER is provided the last observed peak will never be reset",
    "    In case RESET is provided the peak reset time will be restored to the default value",
    "REPLYBUFFER RESIZING <0|1>",
    "    Enable or disable the reply buffer resize cron job",
    "CLUSTERLINK KILL <to|from|all> <node-id>",
    "    Kills the link based on the direction to/from (both) with the provided node.",
    "HELP",
    "    Prints this help.",
];

/// `DEBUG subcommand [arg ...]`: HELP, OBJECT key, DIGEST, DIGEST-VALUE key..., POPULATE
/// count [prefix] [size], PROTOCOL type, RELOAD, SLEEP seconds, SET-ACTIVE-EXPIRE 0|1,
/// CHANGE-REPL-ID, QUICKLIST-PACKED-THRESHOLD size, LISTPACK key, STRINGMATCH-TEST,
/// REPLYBUFFER PEAK-RESET-TIME|RESIZING value. Each form has a fixed argument count, as in
/// Redis, and any other count is an unknown subcommand.
pub fn debug(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let allowed = match ctx.srv.config.word(P::EnableDebugCommand) {
        "yes" => true,
        "local" => super::is_local(ctx.client_ref()),
        _ => false,
    };
    if !allowed {
        return Err(CmdError::Static("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."));
    }
    let sub = args.next_bytes()?;
    let n = args.remaining();
    let lower = sub.to_ascii_lowercase();
    match (lower.as_slice(), n) {
        (b"help", 0) => Ok(super::help(HELP)),
        (b"sleep", 1) => {
            // Redis reads the number as strtod does: text that is not one means 0.
            let secs = crate::types::num::parse_f64(&args.next_bytes()?).unwrap_or(0.0);
            // A blocked event loop is the point of DEBUG SLEEP; bound it to a sane duration
            // so a typo cannot freeze the server for ever.
            let dur =
                std::time::Duration::try_from_secs_f64(secs.clamp(0.0, 3600.0)).unwrap_or_default();
            std::thread::sleep(dur);
            Ok(Frame::ok())
        }
        (b"reload", 0) => {
            crate::rdb::save::debug_reload(ctx.srv)?;
            Ok(Frame::ok())
        }
        (b"set-active-expire", 1) => {
            ctx.srv.ks.active_expire = atoi(&args.next_bytes()?) != 0;
            Ok(Frame::ok())
        }
        (b"object", 1) => object(ctx, &args.next_bytes()?),
        (b"digest", 0) => Ok(hex_status(&dataset_digest(ctx))),
        (b"digest-value", _) => {
            let keys: Vec<Bytes> = args.rest().to_vec();
            Ok(Frame::Array(keys.iter().map(|k| hex_status(&key_digest(ctx, k))).collect()))
        }
        (b"populate", 1..=3) => populate(ctx, args),
        (b"protocol", 1) => protocol(ctx, &args.next_bytes()?),
        (b"change-repl-id", 0) => {
            ctx.srv.stats.repl.change();
            Ok(Frame::ok())
        }
        (b"quicklist-packed-threshold", 1) => {
            // Keel's lists have no size-based plain nodes to switch, so the value is only
            // validated, with Redis's bounds (0 restores the default).
            // An empty text reads as 0, as Redis's memory parser has it.
            let text = args.next_bytes()?;
            let size = std::str::from_utf8(&text)
                .ok()
                .and_then(|t| if t.is_empty() { Some(0) } else { crate::config::parse_memory(t) })
                .filter(|&s| s <= (1i64 << 32) - (1 << 20));
            match size {
                Some(_) => Ok(Frame::ok()),
                None => Err(CmdError::Static(
                    "ERR argument must be a memory value bigger than 1 and smaller than 4gb",
                )),
            }
        }
        (b"listpack", 1) => listpack(ctx, &args.next_bytes()?),
        (b"stringmatch-test", 0) => {
            stringmatch_fuzz();
            Ok(Frame::simple("Apparently Redis did not crash: test passed"))
        }
        (b"replybuffer", 2) => {
            // Keel sizes reply buffers per write, so both settings are only checked (Redis
            // reads RESIZING's value with atoi: any text goes).
            if args.eat("peak-reset-time") {
                if !(args.eat("never") || args.eat("reset")) {
                    args.next_i64()?;
                }
            } else if !args.eat("resizing") {
                return Err(CmdError::SubcommandSyntax { sub, cmd: "DEBUG" });
            }
            Ok(Frame::ok())
        }
        _ => Err(CmdError::SubcommandSyntax { sub, cmd: "DEBUG" }),
    }
}

/// Looks `key` up in the selected database without touching it or announcing a miss, as
/// DEBUG's inspection forms do.
fn peek<'a>(ctx: &'a mut Ctx<'_>, key: &[u8]) -> Option<&'a mut Entry> {
    let (db, now) = (ctx.db(), ctx.now);
    ctx.srv.ks.lookup_read(db, key, now, Touch::Quiet)
}

/// `DEBUG OBJECT key`: Redis's one-line description of the stored object. The address is
/// the entry's own, so it is stable while the key is not rewritten.
fn object(ctx: &mut Ctx<'_>, key: &[u8]) -> Result<Frame, CmdError> {
    let opts = crate::rdb::value::WriteOpts::from_config(&ctx.srv.config);
    let fill = ctx.srv.config.int(P::ListMaxListpackSize);
    let depth = ctx.srv.config.int(P::ListCompressDepth);
    let now = ctx.now;
    let e = peek(ctx, key).ok_or(CmdError::NoSuchKey)?;
    let mut body = Vec::new();
    crate::rdb::value::write_value(&mut body, &e.value, &opts);
    // The serialized length leaves out the type byte, as Redis's count does.
    let serialized = body.len().saturating_sub(1);
    let mut line = format!(
        "Value at:{:p} refcount:{} encoding:{} serializedlength:{serialized} lru:{} lru_seconds_idle:{}",
        std::ptr::from_ref(&e.value),
        crate::commands::keys::refcount(e),
        e.value.encoding(),
        e.lru,
        idle_seconds(e.lru, now)
    );
    if let Value::List(l) = &e.value {
        if let Some((nodes, bytes)) = l.quicklist_shape() {
            line.push_str(&format!(
                " ql_nodes:{nodes} ql_avg_node:{:.2} ql_listpack_max:{fill} ql_compressed:{} ql_uncompressed_size:{bytes}",
                l.len() as f64 / nodes.max(1) as f64,
                u8::from(depth != 0),
            ));
        }
    }
    Ok(Frame::Simple(Bytes::from(line)))
}

/// `DEBUG LISTPACK key`: Redis prints the listpack's layout on its standard output; Keel
/// logs the element count and says the same.
fn listpack(ctx: &mut Ctx<'_>, key: &[u8]) -> Result<Frame, CmdError> {
    let e = peek(ctx, key).ok_or(CmdError::NoSuchKey)?;
    if e.value.encoding() != "listpack" {
        return Err(CmdError::Static("ERR Not a listpack encoded object."));
    }
    let line = format!("listpack of {} with {} elements", e.value.type_name(), value_len(&e.value));
    ctx.srv.log.verbose(&line);
    Ok(Frame::simple("Listpack structure printed on stdout"))
}

/// The element count of a collection (1 for a string).
fn value_len(v: &Value) -> usize {
    match v {
        Value::Str(_) => 1,
        Value::List(l) => l.len(),
        Value::Hash(h) => h.len(),
        Value::Set(s) => s.len(),
        Value::ZSet(z) => z.len(),
        Value::Stream(s) => s.len(),
    }
}

/// `DEBUG POPULATE count [prefix] [size]`: string keys `prefix:N` holding `value:N`
/// (padded with zero bytes or cut to `size` when given); existing keys are left alone.
fn populate(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let count = positive(&args.next_bytes()?)?;
    let mut prefix =
        if args.remaining() > 0 { args.next_bytes()? } else { Bytes::from_static(b"key") };
    // Redis formats the prefix as a C string: it ends at the first zero byte.
    if let Some(nul) = prefix.iter().position(|&b| b == 0) {
        prefix.truncate(nul);
    }
    let size = if args.remaining() > 0 { Some(positive(&args.next_bytes()?)?) } else { None };
    // Redis would try to allocate any size; Keel refuses values no client could store.
    if size.is_some_and(|s| s > ctx.srv.config.int(P::ProtoMaxBulkLen)) {
        return Err(CmdError::StringTooLong);
    }
    let (db, now) = (ctx.db(), ctx.now);
    for j in 0..count {
        let mut key = prefix.to_vec();
        key.extend_from_slice(format!(":{j}").as_bytes());
        // Redis formats the name into a 128-byte buffer, so long names are cut to 127.
        key.truncate(127);
        if ctx.srv.ks.exists(db, &key, now) {
            continue;
        }
        let mut val = format!("value:{j}").into_bytes();
        if let Some(size) = size.filter(|&s| s > 0) {
            val.resize(usize::try_from(size).unwrap_or(usize::MAX), 0);
        }
        let value = Value::Str(crate::types::StrValue::from_bytes_no_int(&val));
        ctx.srv.ks.set(db, &key, value, now, false);
    }
    Ok(Frame::ok())
}

/// A count that must be an integer and not negative (any other text is "out of range,
/// must be positive" too, as Redis words it).
fn positive(text: &[u8]) -> Result<i64, CmdError> {
    crate::types::num::parse_i64(text).filter(|&n| n >= 0).ok_or(CmdError::MustBePositive)
}

/// C's `atoi`: optional blanks and sign, then the leading digits; 0 when there are none.
fn atoi(text: &[u8]) -> i64 {
    let s = std::str::from_utf8(text).unwrap_or("").trim_start();
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let digits = rest
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |n, d| n.wrapping_mul(10).wrapping_add(i64::from(d - b'0')));
    if neg {
        -digits
    } else {
        digits
    }
}

/// `DEBUG PROTOCOL type`: a sample reply of each RESP type, as Redis sends them.
// 3.141 is Redis's sample double, not an approximation of pi.
#[allow(clippy::approx_constant)]
fn protocol(ctx: &mut Ctx<'_>, kind: &[u8]) -> Result<Frame, CmdError> {
    let ints = || (0..3).map(Frame::Integer).collect::<Vec<_>>();
    Ok(match kind.to_ascii_lowercase().as_slice() {
        b"string" => Frame::bulk(b"Hello World"),
        b"integer" => Frame::Integer(12345),
        b"double" => Frame::Double(3.141),
        b"bignum" => Frame::BigNumber(Bytes::from_static(b"1234567999999999999999999999999999999")),
        b"null" => Frame::Null,
        b"array" => Frame::Array(ints()),
        b"set" => Frame::Set(ints()),
        b"map" => Frame::Map((0..3).map(|j| (Frame::Integer(j), Frame::Boolean(j == 1))).collect()),
        // The attribute Redis sends ahead of this reply in RESP3 has no Frame type: only the
        // reply itself is sent.
        b"attrib" => Frame::bulk(b"Some real reply following the attribute"),
        b"push" => {
            if ctx.client_ref().proto == resp::Proto::Resp2 {
                return Err(CmdError::Static("ERR RESP2 is not supported by this command"));
            }
            // The push, then an ordinary reply for clients that skip pushes, in that order.
            let cid = ctx.cid;
            let push = Frame::Push(vec![Frame::bulk(b"server-cpu-usage"), Frame::Integer(42)]);
            ctx.deliver(cid, push);
            ctx.deliver(cid, Frame::bulk(b"Some real reply following the push reply"));
            ctx.srv.suppress_reply = true;
            Frame::Null
        }
        b"verbatim" => Frame::Verbatim("txt", Bytes::from_static(b"This is a verbatim\nstring")),
        b"true" => Frame::Boolean(true),
        b"false" => Frame::Boolean(false),
        _ => return Err(CmdError::Static("ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false")),
    })
}

/// Runs the glob matcher on random patterns and strings: it must neither panic nor loop.
fn stringmatch_fuzz() {
    use rand::Rng;
    let mut rng = rand::rng();
    for _ in 0..100_000 {
        let mut pat = vec![0u8; rng.random_range(0..32)];
        let mut s = vec![0u8; rng.random_range(0..32)];
        rng.fill(&mut pat[..]);
        rng.fill(&mut s[..]);
        crate::glob::matches(&pat, &s, false);
    }
}

/// A 20-byte digest.
type Digest = [u8; 20];

/// SHA1 of `data`.
fn sha1(data: &[u8]) -> Digest {
    sha1_smol::Sha1::from(data).digest().bytes()
}

/// Folds `data` into `d` independently of order (XOR of its SHA1).
fn xor_in(d: &mut Digest, data: &[u8]) {
    for (a, b) in d.iter_mut().zip(sha1(data)) {
        *a ^= b;
    }
}

/// Folds `data` into `d` so that order matters (XOR, then rehash).
fn mix_in(d: &mut Digest, data: &[u8]) {
    xor_in(d, data);
    *d = sha1(d);
}

/// The type number Redis digests (its object type codes).
fn type_code(v: &Value) -> u32 {
    match v {
        Value::Str(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
    }
}

/// Folds a value (and whether its key has an expire time) into `d`, as Redis digests it:
/// ordered types are mixed element by element, unordered ones XOR per-element digests.
fn value_digest(d: &mut Digest, v: &Value, expires: bool) {
    mix_in(d, &type_code(v).to_be_bytes());
    match v {
        Value::Str(s) => mix_in(d, &s.to_bytes()),
        Value::List(l) => l.iter().for_each(|e| mix_in(d, e)),
        Value::Set(s) => s.iter().for_each(|m| xor_in(d, &m)),
        Value::ZSet(z) => {
            for (m, score) in z.iter() {
                pair_digest(d, m, resp::encode::format_double(score).as_bytes());
            }
        }
        Value::Hash(h) => h.iter().for_each(|(f, v)| pair_digest(d, f, v)),
        Value::Stream(s) => {
            for node in s.raw_nodes() {
                for (id, _, fields) in node.entries.iter().filter(|(_, deleted, _)| !deleted) {
                    mix_in(d, format!("{}.{}", id.ms, id.seq).as_bytes());
                    fields.iter().for_each(|f| mix_in(d, f));
                }
            }
        }
    }
    if expires {
        xor_in(d, b"!!expire!!");
    }
}

/// XORs the digest of one (member, value) pair of an unordered collection into `d`.
fn pair_digest(d: &mut Digest, a: &[u8], b: &[u8]) {
    let mut e = [0u8; 20];
    mix_in(&mut e, a);
    mix_in(&mut e, b);
    xor_in(d, &e);
}

/// `DEBUG DIGEST`: every non-empty database's number mixed in, then each key's digest XOR-ed.
fn dataset_digest(ctx: &Ctx<'_>) -> Digest {
    let mut all = [0u8; 20];
    for (j, db) in ctx.srv.ks.dbs().iter().enumerate().filter(|(_, db)| !db.is_empty()) {
        mix_in(&mut all, &(j as u32).to_be_bytes());
        for (key, e) in db.dict().iter() {
            let mut d = [0u8; 20];
            mix_in(&mut d, key);
            value_digest(&mut d, &e.value, db.expires().contains_key(key));
            xor_in(&mut all, &d);
        }
    }
    all
}

/// `DEBUG DIGEST-VALUE`'s digest of one key's value (zeros for a missing key); the key name
/// itself is not part of it.
fn key_digest(ctx: &mut Ctx<'_>, key: &[u8]) -> Digest {
    let mut d = [0u8; 20];
    if peek(ctx, key).is_some() {
        let db = ctx.srv.ks.db(ctx.db());
        if let Some(e) = db.dict().get(key) {
            value_digest(&mut d, &e.value, db.expires().contains_key(key));
        }
    }
    d
}

/// A digest as a 40-hex-digit status reply.
fn hex_status(d: &Digest) -> Frame {
    Frame::Simple(Bytes::from(d.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}
