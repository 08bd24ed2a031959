//! Server commands: INFO, CONFIG, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, TIME, LASTSAVE,
//! SHUTDOWN and DEBUG.

use super::spec::{acl, flags::*, unreachable_container, CommandSpec, KeyPos};
use crate::args::Args;
use crate::config::{self, pflags, P};
use crate::error::CmdError;
use crate::server::{Ctx, ShutdownMode};
use resp::Frame;

#[path = "debug.rs"]
mod debug;
use debug::debug;

const CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", -3, ADMIN | NOSCRIPT | LOADING | STALE, 0, KeyPos::NONE, config_get)
        .doc(
            "server",
            "2.0.0",
            "Returns the effective values of configuration parameters.",
            "O(N) when N is the number of configuration parameters provided",
        ),
    CommandSpec::new("set", -4, ADMIN | NOSCRIPT | LOADING | STALE, 0, KeyPos::NONE, config_set)
        .doc(
            "server",
            "2.0.0",
            "Sets configuration parameters in-flight.",
            "O(N) when N is the number of configuration parameters provided",
        )
        .tips(&["request_policy:all_nodes", "response_policy:all_succeeded"]),
    CommandSpec::new(
        "resetstat",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        0,
        KeyPos::NONE,
        config_resetstat,
    )
    .doc("server", "2.0.0", "Resets the server's statistics.", "O(1)")
    .tips(&["request_policy:all_nodes", "response_policy:all_succeeded"]),
    CommandSpec::new(
        "rewrite",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        0,
        KeyPos::NONE,
        config_rewrite,
    )
    .doc("server", "2.8.0", "Persists the effective configuration to file.", "O(1)")
    .tips(&["request_policy:all_nodes", "response_policy:all_succeeded"]),
    CommandSpec::new("help", 2, LOADING | STALE, 0, KeyPos::NONE, config_help).doc(
        "server",
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        "O(1)",
    ),
];

/// The server family's table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("config", -2, 0, 0, KeyPos::NONE, unreachable_container)
        .doc("server", "2.0.0", "A container for server configuration commands.", "Depends on subcommand.")
        .subs(CONFIG_SUBCOMMANDS),
    CommandSpec::new("dbsize", 1, READONLY | FAST, acl::KEYSPACE, KeyPos::NONE, dbsize)
        .doc("server", "1.0.0", "Returns the number of keys in the database.", "O(1)")
        .tips(&["request_policy:all_shards", "response_policy:agg_sum"]),
    CommandSpec::new("flushall", -1, WRITE, acl::KEYSPACE | acl::DANGEROUS, KeyPos::NONE, flushall)
        .doc("server", "1.0.0", "Removes all keys from all databases.", "O(N) where N is the total number of keys in all databases")
        .tips(&["request_policy:all_shards", "response_policy:all_succeeded"]),
    CommandSpec::new("flushdb", -1, WRITE, acl::KEYSPACE | acl::DANGEROUS, KeyPos::NONE, flushdb)
        .doc("server", "1.0.0", "Remove all keys from the current database.", "O(N) where N is the number of keys in the selected database")
        .tips(&["request_policy:all_shards", "response_policy:all_succeeded"]),
    CommandSpec::new("swapdb", 3, WRITE | FAST, acl::KEYSPACE | acl::DANGEROUS, KeyPos::NONE, swapdb)
        .doc("server", "4.0.0", "Swaps two Redis databases.", "O(N) where N is the count of clients watching or blocking on keys from both databases."),
    CommandSpec::new("lastsave", 1, LOADING | STALE | FAST, acl::ADMIN | acl::DANGEROUS, KeyPos::NONE, lastsave)
        .doc("server", "1.0.0", "Returns the Unix timestamp of the last successful save to disk.", "O(1)")
        .tips(&["nondeterministic_output"]),
    CommandSpec::new("time", 1, LOADING | STALE | FAST, 0, KeyPos::NONE, time)
        .doc("server", "2.6.0", "Returns the server time.", "O(1)")
        .tips(&["nondeterministic_output"]),
    CommandSpec::new("info", -1, LOADING | STALE, acl::DANGEROUS, KeyPos::NONE, info)
        .doc("server", "1.0.0", "Returns information and statistics about the server.", "O(1)")
        .tips(&["nondeterministic_output", "request_policy:all_shards", "response_policy:special"]),
    CommandSpec::new("shutdown", -1, ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY, 0, KeyPos::NONE, shutdown)
        .doc("server", "1.0.0", "Synchronously saves the database(s) to disk and shuts down the Redis server.", "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)"),
    CommandSpec::new("debug", -2, ADMIN | NOSCRIPT | LOADING | STALE | PROTECTED, 0, KeyPos::NONE, debug)
        .doc("server", "1.0.0", "A container for debugging commands.", "Depends on subcommand."),
    CommandSpec::new("bgrewriteaof", 1, ADMIN | NOSCRIPT | NO_ASYNC_LOADING, 0, KeyPos::NONE, bgrewriteaof)
        .doc("server", "1.0.0", "Asynchronously rewrite the append-only file", "O(1)"),
];

/// `BGREWRITEAOF`: a new BASE from a snapshot of the dataset, written by a thread (see
/// `aof/rewrite.rs`).
fn bgrewriteaof(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    // As Redis with a fork child busy: a running BGSAVE defers the rewrite until it ends.
    if ctx.srv.propagation.rewrite_job.is_none() && ctx.srv.rdb.in_progress() {
        ctx.srv.propagation.stats.rewrite_scheduled = true;
        return Ok(Frame::simple("Background append only file rewriting scheduled"));
    }
    match crate::aof::rewrite::start(ctx.srv) {
        Ok(()) => Ok(Frame::simple("Background append only file rewriting started")),
        Err(crate::aof::rewrite::StartError::InProgress) => {
            Err(CmdError::Static("ERR Background append only file rewriting already in progress"))
        }
        Err(crate::aof::rewrite::StartError::Io(e)) => {
            ctx.srv.log.warning(&format!("Can't rewrite append only file in background: {e}"));
            Err(CmdError::Static(
                "ERR Can't execute an AOF background rewriting. Please check the server logs for more information.",
            ))
        }
    }
}

/// `DBSIZE`.
fn dbsize(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(Frame::Integer(ctx.srv.ks.db(ctx.db()).len() as i64))
}

/// Reads the optional `ASYNC|SYNC` of FLUSHDB/FLUSHALL. Keel always frees at once (the
/// dataset goes in one drop either way), so both are accepted and mean the same.
fn flush_mode(args: &mut Args) -> Result<(), CmdError> {
    match args.remaining() {
        0 => Ok(()),
        1 if args.eat("async") || args.eat("sync") => Ok(()),
        _ => Err(CmdError::Syntax),
    }
}

/// `FLUSHDB [ASYNC|SYNC]`.
fn flushdb(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    flush_mode(args)?;
    let db = ctx.db();
    ctx.srv.ks.flush_db(db);
    Ok(Frame::ok())
}

/// `FLUSHALL [ASYNC|SYNC]`.
fn flushall(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    flush_mode(args)?;
    ctx.srv.ks.flush_all();
    Ok(Frame::ok())
}

/// `SWAPDB index1 index2`.
fn swapdb(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let index = |args: &mut Args, err: &'static str| {
        args.next_i64().ok().filter(|n| i32::try_from(*n).is_ok()).ok_or(CmdError::Static(err))
    };
    let a = index(args, "ERR invalid first DB index")?;
    let b = index(args, "ERR invalid second DB index")?;
    let count = ctx.srv.ks.db_count() as i64;
    if !(0..count).contains(&a) || !(0..count).contains(&b) {
        return Err(CmdError::DbIndexOutOfRange);
    }
    if a != b {
        ctx.srv.ks.swap(a as usize, b as usize);
    }
    Ok(Frame::ok())
}

/// `LASTSAVE`.
fn lastsave(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(Frame::Integer(ctx.srv.lastsave as i64))
}

/// `TIME`: seconds and microseconds, as two bulk strings.
fn time(_ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    let us = crate::server::wall_us() as i64;
    Ok(Frame::Array(vec![Frame::bulk_int(us / 1_000_000), Frame::bulk_int(us % 1_000_000)]))
}

/// `INFO [section ...]`.
fn info(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let sections: Vec<Vec<u8>> = args.rest().iter().map(|s| s.to_ascii_lowercase()).collect();
    let text = crate::info::render(ctx, &sections);
    Ok(Frame::Verbatim("txt", text.into()))
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`: on success nothing is replied; the
/// connection closes as the server exits.
fn shutdown(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let mut mode = ShutdownMode::Default;
    let mut abort = false;
    let mut other = false;
    while args.remaining() > 0 {
        if args.eat("nosave") && mode != ShutdownMode::Save {
            mode = ShutdownMode::NoSave;
        } else if args.eat("save") && mode != ShutdownMode::NoSave {
            mode = ShutdownMode::Save;
        } else if args.eat("now") || args.eat("force") {
            other = true;
        } else if args.eat("abort") {
            abort = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if abort && (other || mode != ShutdownMode::Default) {
        return Err(CmdError::Syntax);
    }
    if abort {
        // Shutdown in Keel is immediate, so there is never one in progress to abort.
        return Err(CmdError::Static("ERR No shutdown in progress."));
    }
    // Past busy-reply-threshold only SHUTDOWN NOSAVE may stop the server: saving would
    // persist a script's half-applied writes.
    if let Some(r) = ctx.srv.busy.running.as_ref().filter(|r| r.timed_out) {
        if mode != ShutdownMode::NoSave {
            return Err(crate::scripting::busy::busy_error(r.eval));
        }
    }
    crate::rdb::save::save_on_shutdown(ctx.srv, mode)?;
    ctx.srv.shutdown = Some(mode);
    ctx.srv.suppress_reply = true;
    ctx.client().close_asap = true;
    ctx.srv.close_pending = true;
    Ok(Frame::ok())
}

/// True for a connection over a unix socket or from a loopback address.
fn is_local(c: &crate::net::client::Client) -> bool {
    c.unix || c.addr.starts_with("127.") || c.addr.starts_with("[::1]")
}

/// A HELP reply: one status line per text line.
fn help(lines: &[&'static str]) -> Frame {
    Frame::Array(lines.iter().map(|l| Frame::simple(l)).collect())
}

/// `CONFIG HELP`.
fn config_help(_ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(help(&[
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
        "HELP",
        "    Prints this help.",
    ]))
}

/// `CONFIG GET parameter [parameter ...]`: a map of every matching name to its value.
fn config_get(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let patterns: Vec<&[u8]> = args.rest().iter().map(|b| b.as_ref()).collect();
    let pairs = config::matching(&ctx.srv.config, &patterns);
    // A name asked for exactly is echoed as the client spelled it (`CONFIG GET HZ` answers
    // `HZ`), as Redis does.
    let shown = |name: &'static str| -> Frame {
        Frame::bulk(
            patterns
                .iter()
                .find(|p| p.eq_ignore_ascii_case(name.as_bytes()))
                .copied()
                .unwrap_or(name.as_bytes()),
        )
    };
    Ok(Frame::Map(
        pairs
            .into_iter()
            .map(|(name, value)| (shown(name), Frame::bulk(value.as_bytes())))
            .collect(),
    ))
}

/// The error of a refused CONFIG SET pair, naming the argument as the client spelled it.
fn set_failed(arg: &[u8], reason: &str) -> CmdError {
    let mut text = b"ERR CONFIG SET failed (possibly related to argument '".to_vec();
    text.extend_from_slice(crate::error::c_prefix(arg, usize::MAX));
    text.extend_from_slice(b"') - ");
    text.extend_from_slice(reason.as_bytes());
    CmdError::dynamic(text)
}

/// `CONFIG SET parameter value [parameter value ...]`: all or nothing. Names are checked
/// first (unknown, immutable, protected, repeated), then every value is validated, and only
/// then is anything applied.
fn config_set(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let argv = args.rest().to_vec();
    if !argv.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let protected_ok = match ctx.srv.config.word(P::EnableProtectedConfigs) {
        "yes" => true,
        "local" => is_local(ctx.client_ref()),
        _ => false,
    };
    let mut chosen: Vec<usize> = Vec::new();
    // Redis spots repeats by the name given, so `lua-time-limit` and its new name
    // `busy-reply-threshold` may both appear (the last one wins).
    let mut names: Vec<Vec<u8>> = Vec::new();
    for pair in argv.chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]);
        let Some((i, param)) = config::find(&name) else {
            let mut text = b"ERR Unknown option or number of arguments for CONFIG SET - '".to_vec();
            text.extend_from_slice(crate::error::c_prefix(&pair[0], usize::MAX));
            text.push(b'\'');
            return Err(CmdError::dynamic(text));
        };
        if param.has(pflags::IMMUTABLE) {
            return Err(set_failed(&pair[0], "can't set immutable config"));
        }
        if param.has(pflags::PROTECTED) && !protected_ok {
            return Err(set_failed(&pair[0], "can't set protected config"));
        }
        let lower = pair[0].to_ascii_lowercase();
        if names.contains(&lower) {
            return Err(set_failed(&pair[0], "duplicate parameter"));
        }
        names.push(lower);
        chosen.push(i);
    }
    let mut values = Vec::with_capacity(chosen.len());
    for (pair, &i) in argv.chunks(2).zip(&chosen) {
        let text = String::from_utf8_lossy(&pair[1]);
        let v = ctx.srv.config.check(i, &text).map_err(|e| set_failed(&pair[0], &e.0))?;
        values.push(v);
    }
    let before: Vec<config::Val> =
        chosen.iter().map(|&i| ctx.srv.config.value(i).clone()).collect();
    for (n, (&i, v)) in chosen.iter().zip(values).enumerate() {
        if let Err(e) = ctx.srv.config.apply(i, v) {
            // Put back what was already applied, so the command stays all or nothing.
            for (&j, old) in chosen[..n].iter().zip(&before) {
                let _ = ctx.srv.config.apply(j, old.clone());
            }
            return Err(set_failed(&argv[2 * n], &e.0));
        }
    }
    // New TLS settings are built from the whole new configuration; if they cannot be, the
    // command undoes itself (Redis: "possibly related to" the first TLS argument).
    if let Err(i) =
        crate::net::tls::reload(ctx.srv.tls.as_ref(), &ctx.srv.config, &ctx.srv.log, &chosen)
    {
        for (&j, old) in chosen.iter().zip(&before) {
            let _ = ctx.srv.config.apply(j, old.clone());
        }
        let n = chosen.iter().position(|&j| j == i).unwrap_or(0);
        return Err(set_failed(
            &argv[2 * n],
            "Unable to update TLS configuration. Check server logs.",
        ));
    }
    apply_hooks(ctx, &chosen, &argv);
    Ok(Frame::ok())
}

/// Makes changed parameters take effect where a component keeps its own copy. `argv` is
/// CONFIG SET's name/value pairs, in the order of `changed`.
fn apply_hooks(ctx: &mut Ctx<'_>, changed: &[usize], argv: &[bytes::Bytes]) {
    for (&i, pair) in changed.iter().zip(argv.chunks(2)) {
        if i == P::Loglevel as usize {
            let level = crate::log::Level::from_word(ctx.srv.config.word(P::Loglevel));
            ctx.srv.log.level = level;
        }
        if i == P::Appendonly as usize {
            crate::aof::set_appendonly(ctx.srv, ctx.srv.config.bool(P::Appendonly));
        }
        if i == P::NotifyKeyspaceEvents as usize {
            // Parsed from the value as given: the stored text is how CONFIG GET shows it,
            // which drops `n` when `A` is printed (as Redis does), yet `n` stays on.
            let flags = crate::notify::parse(&String::from_utf8_lossy(&pair[1]));
            ctx.srv.notify_flags = flags;
            crate::notify::configure(&mut ctx.srv.ks, flags);
        }
        crate::memory::config_changed(ctx.srv, i);
        crate::acl::config_changed(ctx.srv, i);
    }
}

/// `CONFIG RESETSTAT`.
fn config_resetstat(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    ctx.srv.stats.reset();
    ctx.srv.latency.reset_stats();
    ctx.srv.ks.stats = Default::default();
    ctx.srv.acl.log.counters = Default::default();
    ctx.srv.memory.defrag.stats = Default::default();
    Ok(Frame::ok())
}

/// `CONFIG REWRITE`.
fn config_rewrite(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    let Some(path) = ctx.srv.config.file.clone() else {
        return Err(CmdError::Static("ERR The server is running without a config file"));
    };
    match config::rewrite(&ctx.srv.config, &path) {
        Ok(()) => {
            ctx.srv.log.notice("CONFIG REWRITE executed with success.");
            Ok(Frame::ok())
        }
        Err(e) => {
            ctx.srv.log.warning(&format!("CONFIG REWRITE failed: {e}"));
            Err(CmdError::dynamic(format!("ERR Rewriting config file: {e}")))
        }
    }
}

/// Every parameter in the table has a distinct name; checked here because CONFIG SET relies
/// on `find` returning the one row for a name.
#[cfg(test)]
mod tests {
    use crate::config::PARAMS;

    #[test]
    fn names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for p in PARAMS {
            assert!(seen.insert(p.name), "{}", p.name);
            if let Some(a) = p.alias {
                assert!(seen.insert(a), "{a}");
            }
        }
    }
}
