//! Scripting: EVAL EVALSHA EVAL_RO EVALSHA_RO SCRIPT.
//!
//! A script runs inside its EVAL, on the command thread: nothing else runs until it ends.
//! `redis.call` goes through [`dispatch::execute`] as the calling client, so every gate and
//! statistic applies; the client is marked as inside a script (blocking commands do not
//! block) and the clock is frozen at the EVAL's time, so keys cannot expire mid-script.

use super::introspection::keynum_keys;
use super::spec::{acl, flags::*, CommandSpec, KeyPos, KeySpec};
use crate::args::Args;
use crate::dispatch;
use crate::error::CmdError;
use crate::log::Level;
use crate::net::client::Client;
use crate::scripting::lua::{self, Outcome};
use crate::server::{Ctx, Server};
use bytes::Bytes;
use mlua::{MultiValue, Value};
use resp::Frame;
use slab::Slab;
use std::cell::RefCell;

const EVAL_FLAGS: u32 = NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS;
const RW_KEYS: &[KeySpec] = &[KeySpec::keynum(2, &["RW", "access", "update"])
    .notes("We cannot tell how the keys will be used so we assume the worst, RW and UPDATE")];
const RO_KEYS: &[KeySpec] = &[KeySpec::keynum(2, &["RO", "access"])
    .notes("We cannot tell how the keys will be used so we assume the worst, RO and ACCESS")];
const SHA_RW_KEYS: &[KeySpec] = &[KeySpec::keynum(2, &["RW", "access", "update"])];
const SHA_RO_KEYS: &[KeySpec] = &[KeySpec::keynum(2, &["RO", "access"])];

/// The scripting family's table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("eval", -3, EVAL_FLAGS, acl::SCRIPTING, KeyPos::NONE, eval)
        .doc(
            "scripting",
            "2.6.0",
            "Executes a server-side Lua script.",
            "Depends on the script that is executed.",
        )
        .key_specs(RW_KEYS)
        .getkeys(keynum_keys),
    CommandSpec::new("evalsha", -3, EVAL_FLAGS, acl::SCRIPTING, KeyPos::NONE, evalsha)
        .doc(
            "scripting",
            "2.6.0",
            "Executes a server-side Lua script by SHA1 digest.",
            "Depends on the script that is executed.",
        )
        .key_specs(SHA_RW_KEYS)
        .getkeys(keynum_keys),
    CommandSpec::new("eval_ro", -3, EVAL_FLAGS | READONLY, acl::SCRIPTING, KeyPos::NONE, eval_ro)
        .doc(
            "scripting",
            "7.0.0",
            "Executes a read-only server-side Lua script.",
            "Depends on the script that is executed.",
        )
        .key_specs(RO_KEYS)
        .getkeys(keynum_keys),
    CommandSpec::new(
        "evalsha_ro",
        -3,
        EVAL_FLAGS | READONLY,
        acl::SCRIPTING,
        KeyPos::NONE,
        evalsha_ro,
    )
    .doc(
        "scripting",
        "7.0.0",
        "Executes a read-only server-side Lua script by SHA1 digest.",
        "Depends on the script that is executed.",
    )
    .key_specs(SHA_RO_KEYS)
    .getkeys(keynum_keys),
    CommandSpec::new("script", -2, 0, 0, KeyPos::NONE, super::spec::unreachable_container)
        .doc(
            "scripting",
            "2.6.0",
            "A container for Lua scripts management commands.",
            "Depends on subcommand.",
        )
        .subs(SCRIPT_SUBS),
];

const SCRIPT_SUBS: &[CommandSpec] = &[
    CommandSpec::new("kill", 2, NOSCRIPT | ALLOW_BUSY, acl::SCRIPTING, KeyPos::NONE, script_kill)
        .doc("scripting", "2.6.0", "Terminates a server-side Lua script during execution.", "O(1)")
        .tips(&["request_policy:all_shards", "response_policy:one_succeeded"]),
    CommandSpec::new("debug", 3, NOSCRIPT, acl::SCRIPTING, KeyPos::NONE, script_debug)
        .doc("scripting", "3.2.0", "Sets the debug mode of server-side Lua scripts.", "O(1)"),
    CommandSpec::new("exists", -3, NOSCRIPT, acl::SCRIPTING, KeyPos::NONE, script_exists)
        .doc(
            "scripting",
            "2.6.0",
            "Determines whether server-side Lua scripts exist in the script cache.",
            "O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation).",
        )
        .tips(&["request_policy:all_shards", "response_policy:agg_logical_and"]),
    CommandSpec::new("help", 2, LOADING | STALE, acl::SCRIPTING, KeyPos::NONE, script_help)
        .doc("scripting", "5.0.0", "Returns helpful text about the different subcommands.", "O(1)"),
    CommandSpec::new("flush", -2, NOSCRIPT, acl::SCRIPTING, KeyPos::NONE, script_flush)
        .doc(
            "scripting",
            "2.6.0",
            "Removes all server-side Lua scripts from the script cache.",
            "O(N) with N being the number of scripts in cache",
        )
        .tips(&["request_policy:all_nodes", "response_policy:all_succeeded"]),
    CommandSpec::new("load", 3, NOSCRIPT | STALE, acl::SCRIPTING, KeyPos::NONE, script_load)
        .doc(
            "scripting",
            "2.6.0",
            "Loads a server-side Lua script to the script cache.",
            "O(N) with N being the length in bytes of the script body.",
        )
        .tips(&["request_policy:all_nodes", "response_policy:all_succeeded"]),
];

/// `EVAL script numkeys [key ...] [arg ...]`: runs (and caches) a script.
fn eval(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    run_script(ctx, args, false, false)
}

/// `EVALSHA sha1 numkeys [key ...] [arg ...]`: runs a cached script.
fn evalsha(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    run_script(ctx, args, true, false)
}

/// `EVAL_RO script numkeys [key ...] [arg ...]`: EVAL that refuses write commands.
fn eval_ro(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    run_script(ctx, args, false, true)
}

/// `EVALSHA_RO sha1 numkeys [key ...] [arg ...]`: EVALSHA that refuses write commands.
fn evalsha_ro(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    run_script(ctx, args, true, true)
}

/// The state `redis.call` works on while one script runs.
struct Bridge<'a> {
    srv: &'a mut Server,
    clients: &'a mut Slab<Client>,
    cid: usize,
    read_only: bool,
    /// Set by `redis.setresp(3)`.
    resp3: bool,
}

/// Shared body of the four EVAL commands: `by_sha` selects EVALSHA, `read_only` the `_RO`
/// variants.
fn run_script(
    ctx: &mut Ctx<'_>,
    args: &mut Args,
    by_sha: bool,
    read_only: bool,
) -> Result<Frame, CmdError> {
    let script = args.next_bytes()?;
    let mut loaded = ctx.srv.scripting.take().map_err(lua_failure)?;
    // EVALSHA looks the script up before reading numkeys; EVAL compiles after.
    let found = if by_sha {
        let sha = String::from_utf8_lossy(&script).to_ascii_lowercase();
        match loaded.scripts.get(&sha).cloned() {
            Some(f) => key_count(args).map(|n| (n, sha, f)),
            None => Err(CmdError::Static("NOSCRIPT No matching script. Please use EVAL.")),
        }
    } else {
        key_count(args).and_then(|n| {
            let (sha, f) = loaded.load(&script).map_err(CmdError::dynamic)?;
            Ok((n, sha, f))
        })
    };
    let (numkeys, sha, function) = match found {
        Ok(found) => found,
        Err(e) => {
            ctx.srv.scripting.put_back(loaded);
            return Err(e);
        }
    };
    let (keys, argv) = args.rest().split_at(numkeys);
    let saved_clock = ctx.srv.fixed_clock.replace(ctx.now);
    let saved_exec = std::mem::replace(&mut ctx.client().in_exec, true);
    let saved_cmd = ctx.client_ref().last_cmd;
    let bridge = RefCell::new(Bridge {
        srv: &mut *ctx.srv,
        clients: &mut *ctx.clients,
        cid: ctx.cid,
        read_only,
        resp3: false,
    });
    let vm = &loaded.vm;
    let result = vm.lua.scope(|scope| {
        let f = scope.create_function(|lua, (kind, rest): (mlua::LuaString, MultiValue)| {
            let mut b = bridge.borrow_mut();
            library_call(lua, &mut b, &kind.as_bytes(), rest)
        })?;
        vm.run(&function, keys, argv, f)
    });
    let resp3 = bridge.into_inner().resp3;
    ctx.srv.fixed_clock = saved_clock;
    ctx.client().in_exec = saved_exec;
    ctx.client().last_cmd = saved_cmd;
    ctx.srv.scripting.put_back(loaded);
    match result.map_err(lua_failure)? {
        Outcome::Value(v) => match lua::lua_to_frame(&v, resp3) {
            Frame::Error(text) => Err(CmdError::dynamic(text.to_vec())),
            frame => Ok(frame),
        },
        Outcome::Error(text, place) => {
            let mut msg = text.to_vec();
            msg.extend_from_slice(format!(" script: {sha}").as_bytes());
            if let Some((source, line)) = place {
                msg.extend_from_slice(format!(", on {source}:{line}.").as_bytes());
            }
            Err(CmdError::dynamic(msg))
        }
    }
}

/// Reads numkeys and checks it against the arguments that follow.
fn key_count(args: &mut Args) -> Result<usize, CmdError> {
    let numkeys = args.next_i64()?;
    if numkeys < 0 {
        return Err(CmdError::Static("ERR Number of keys can't be negative"));
    }
    if numkeys as u64 > args.remaining() as u64 {
        return Err(CmdError::Static("ERR Number of keys can't be greater than number of args"));
    }
    Ok(numkeys as usize)
}

/// An internal Lua failure (out of memory, a broken VM) as an error reply.
fn lua_failure(e: mlua::Error) -> CmdError {
    CmdError::dynamic(format!("ERR Lua failure: {e}"))
}

/// The server side of the `redis` library: `kind` is `call`, `pcall`, `acl`, `log` or
/// `setresp`. Returns the value for the script and whether the Lua side must raise it.
fn library_call(
    lua: &mlua::Lua,
    b: &mut Bridge<'_>,
    kind: &[u8],
    rest: MultiValue,
) -> mlua::Result<(Value, bool)> {
    let raise = |text: &[u8]| -> mlua::Result<(Value, bool)> {
        let t = lua.create_table()?;
        t.raw_set("err", lua.create_string(text)?)?;
        Ok((Value::Table(t), true))
    };
    match kind {
        b"call" | b"pcall" => {
            let reply = run_command(b, rest);
            let failed = matches!(reply, Frame::Error(_));
            let value = lua::frame_to_lua(lua, reply, b.resp3)?;
            Ok((value, failed && kind == b"call"))
        }
        b"acl" => match lua::command_args(rest) {
            Ok(argv) if argv.is_empty() => raise(NO_ARGS),
            Ok(argv) if dispatch::lookup(&argv).is_ok() => Ok((Value::Boolean(true), false)),
            Ok(_) => raise(b"ERR Invalid command passed to redis.acl_check_cmd()"),
            Err(e) => raise(e.as_bytes()),
        },
        b"log" => {
            let mut it = rest.into_iter();
            let level = match it.next() {
                Some(Value::Integer(0)) => Level::Debug,
                Some(Value::Integer(1)) => Level::Verbose,
                Some(Value::Integer(2)) => Level::Notice,
                _ => Level::Warning,
            };
            if let Some(Value::String(msg)) = it.next() {
                b.srv.log.log(level, &String::from_utf8_lossy(&msg.as_bytes()));
            }
            Ok((Value::Nil, false))
        }
        b"setresp" => {
            b.resp3 = matches!(rest.into_iter().next(), Some(Value::Integer(3)));
            Ok((Value::Nil, false))
        }
        _ => raise(b"ERR unknown redis library call"),
    }
}

const NO_ARGS: &[u8] = b"ERR Please specify at least one argument for this redis lib call";

/// Runs one `redis.call`/`redis.pcall` command after the script-only checks; failures come
/// back as error frames.
fn run_command(b: &mut Bridge<'_>, args: MultiValue) -> Frame {
    let err = |s: &'static [u8]| Frame::Error(Bytes::from_static(s));
    let argv = match lua::command_args(args) {
        Ok(argv) if argv.is_empty() => return err(NO_ARGS),
        Ok(argv) => argv,
        Err(e) => return err(e.as_bytes()),
    };
    let Ok(resolved) = dispatch::lookup(&argv) else {
        return err(b"ERR Unknown Redis command called from script");
    };
    if dispatch::check_arity(&resolved, argv.len()).is_err() {
        return err(b"ERR Wrong number of args calling Redis command from script");
    }
    let spec = resolved.spec;
    if spec.has(NOSCRIPT) || resolved.parent.is_some_and(|p| p.has(NOSCRIPT)) {
        return err(b"ERR This Redis command is not allowed from script");
    }
    if b.read_only && spec.has(WRITE) {
        return err(b"ERR Write commands are not allowed from read-only scripts.");
    }
    // A blocking command cannot park a client inside a script (`in_exec` is set), so a
    // reply always comes back.
    dispatch::execute(b.srv, b.clients, b.cid, argv).unwrap_or(Frame::NullArray)
}

/// `SCRIPT LOAD script`: compiles and caches a script, replying with its SHA1.
fn script_load(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let body = args.next_bytes()?;
    let mut loaded = ctx.srv.scripting.take().map_err(lua_failure)?;
    let result = loaded.load(&body);
    ctx.srv.scripting.put_back(loaded);
    let (sha, _) = result.map_err(CmdError::dynamic)?;
    Ok(Frame::Bulk(Bytes::from(sha)))
}

/// `SCRIPT EXISTS sha1 [sha1 ...]`: 1 or 0 for each SHA1.
fn script_exists(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let scripting = &ctx.srv.scripting;
    Ok(Frame::Array(
        args.rest().iter().map(|sha| Frame::Integer(i64::from(scripting.exists(sha)))).collect(),
    ))
}

/// `SCRIPT FLUSH [ASYNC|SYNC]`: forgets every script.
fn script_flush(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let ok = match args.remaining() {
        0 => true,
        1 => args.eat("ASYNC") || args.eat("SYNC"),
        _ => false,
    };
    if !ok {
        return Err(CmdError::Static("ERR SCRIPT FLUSH only support SYNC|ASYNC option"));
    }
    ctx.srv.scripting.flush();
    Ok(Frame::ok())
}

/// `SCRIPT KILL`: scripts cannot be interrupted yet, so there is never one to kill.
fn script_kill(_ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    Err(CmdError::Static("NOTBUSY No scripts in execution right now."))
}

/// `SCRIPT DEBUG YES|SYNC|NO`: only NO is accepted, because Keel has no Lua debugger.
fn script_debug(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    if ctx.client_ref().in_exec {
        return Err(CmdError::Static("ERR SCRIPT DEBUG must be called outside a pipeline"));
    }
    if args.eat("NO") {
        Ok(Frame::ok())
    } else if args.eat("YES") || args.eat("SYNC") {
        Err(CmdError::Static("ERR SCRIPT DEBUG YES/SYNC is not supported by this server"))
    } else {
        Err(CmdError::Static("ERR Use SCRIPT DEBUG YES/SYNC/NO"))
    }
}

/// `SCRIPT HELP`: the subcommand list.
fn script_help(_ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    const LINES: &[&str] = &[
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DEBUG (YES|SYNC|NO)",
        "    Set the debug mode for subsequent scripts executed.",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
        "HELP",
        "    Prints this help.",
    ];
    Ok(Frame::Array(LINES.iter().map(|l| Frame::simple(l)).collect()))
}
