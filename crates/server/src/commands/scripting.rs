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
use crate::net::client::Client;
use crate::scripting::busy;
use crate::scripting::lua::{self, Outcome};
use crate::server::{Ctx, Server};
use bytes::Bytes;
use mlua::{Function, MultiValue, Value};
use resp::Frame;
use slab::Slab;
use std::cell::RefCell;

pub(super) const EVAL_FLAGS: u32 = NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS;
pub(super) const RW_KEYS: &[KeySpec] = &[KeySpec::keynum(2, &["RW", "access", "update"])
    .notes("We cannot tell how the keys will be used so we assume the worst, RW and UPDATE")];
pub(super) const RO_KEYS: &[KeySpec] = &[KeySpec::keynum(2, &["RO", "access"])
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
    allow_oom: bool,
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
            Some(s) => key_count(args, CmdError::NotInteger).map(|n| (n, sha, s)),
            None => Err(CmdError::Static("NOSCRIPT No matching script. Please use EVAL.")),
        }
    } else {
        key_count(args, CmdError::NotInteger).and_then(|n| {
            let (sha, s) = loaded.load(&script).map_err(CmdError::dynamic)?;
            Ok((n, sha, s))
        })
    };
    let found = found.and_then(|(n, sha, s)| {
        s.flags.check_run(read_only).map_err(CmdError::Static)?;
        Ok((n, sha, s))
    });
    let (numkeys, sha, script) = match found {
        Ok(found) => found,
        Err(e) => {
            ctx.srv.scripting.put_back(loaded);
            return Err(e);
        }
    };
    let (keys, argv) = args.rest().split_at(numkeys);
    let run = Invocation {
        function: &script.function,
        keys,
        argv,
        read_only: script.flags.read_only(read_only),
        allow_oom: script.flags.allows_oom(),
        command: &[],
        name: &sha,
        eval: true,
    };
    let result = run_in(ctx, &loaded.vm, run);
    ctx.srv.scripting.put_back(loaded);
    result
}

/// One run of an EVAL script or a function.
pub(super) struct Invocation<'a> {
    /// The compiled script, or the function's callback.
    pub function: &'a Function,
    /// The key arguments.
    pub keys: &'a [Bytes],
    /// The other arguments.
    pub argv: &'a [Bytes],
    /// Write commands are refused (an `_RO` command or a `no-writes` script).
    pub read_only: bool,
    /// The script declared `allow-oom`: it may write above `maxmemory`.
    pub allow_oom: bool,
    /// The FCALL command line (FUNCTION STATS shows it); empty for EVAL.
    pub command: &'a [Bytes],
    /// The SHA1 (EVAL) or the function name, which errors end with.
    pub name: &'a str,
    /// EVAL (KEYS and ARGV globals) rather than FCALL (keys and arguments as parameters).
    pub eval: bool,
}

/// Runs a script or function in `vm` (taken out of the server's scripting state by the
/// caller) as the calling client, and turns what it returns or raises into the reply.
pub(super) fn run_in(
    ctx: &mut Ctx<'_>,
    vm: &lua::Vm,
    run: Invocation<'_>,
) -> Result<Frame, CmdError> {
    let saved_clock = ctx.srv.fixed_clock.replace(ctx.now);
    let saved_exec = std::mem::replace(&mut ctx.client().in_exec, true);
    let saved_cmd = ctx.client_ref().last_cmd;
    // Redis runs a script's commands on a client of its own: a SELECT inside the script does
    // not move the caller.
    let saved_db = ctx.client_ref().db;
    // Redis names an EVAL script's Lua function `f_<sha1>`; a function goes by its name.
    let name = if run.eval { format!("f_{}", run.name) } else { run.name.to_string() };
    let outer = ctx.srv.busy.begin(ctx.cid, run.eval, name, run.command.to_vec());
    // The AOF gets a script's writes as the commands it ran, in one MULTI/EXEC.
    ctx.srv.propagation.begin_multi();
    let bridge = RefCell::new(Bridge {
        srv: &mut *ctx.srv,
        clients: &mut *ctx.clients,
        cid: ctx.cid,
        read_only: run.read_only,
        allow_oom: run.allow_oom,
        resp3: false,
    });
    let result = vm.lua.scope(|scope| {
        let f = scope.create_function(|lua, (kind, rest): (mlua::LuaString, MultiValue)| {
            let mut b = bridge.borrow_mut();
            library_call(lua, &mut b, &kind.as_bytes(), rest)
        })?;
        let calls = lua::Calls {
            call: scope.create_function(|lua, args| redis_call(lua, &bridge, args, true))?,
            pcall: scope.create_function(|lua, args| redis_call(lua, &bridge, args, false))?,
        };
        vm.run(run.function, run.keys, run.argv, run.eval, f, &calls)
    });
    let resp3 = bridge.into_inner().resp3;
    ctx.srv.busy.running = outer;
    if ctx.srv.shutdown == Some(crate::server::ShutdownMode::NoSave) {
        ctx.srv.propagation.discard_multi();
    } else {
        ctx.srv.propagation.end_multi();
    }
    ctx.srv.fixed_clock = saved_clock;
    ctx.client().in_exec = saved_exec;
    ctx.client().last_cmd = saved_cmd;
    ctx.client().db = saved_db;
    match result.map_err(lua_failure)? {
        Outcome::Value(v) => match lua::lua_to_frame(&v, resp3) {
            Frame::Error(text) => Err(CmdError::dynamic(text.to_vec())),
            frame => Ok(frame),
        },
        Outcome::Error(text, place) => {
            let mut msg = text.to_vec();
            msg.extend_from_slice(format!(" script: {}", run.name).as_bytes());
            if let Some((source, line)) = place {
                msg.extend_from_slice(format!(", on {source}:{line}.").as_bytes());
            }
            Err(CmdError::dynamic(msg))
        }
    }
}

/// Reads numkeys and checks it against the arguments that follow; `not_integer` is the
/// error for a count that is not an integer (EVAL and FCALL word it differently).
pub(super) fn key_count(args: &mut Args, not_integer: CmdError) -> Result<usize, CmdError> {
    let numkeys = args.next_i64().map_err(|_| not_integer)?;
    if numkeys < 0 {
        return Err(CmdError::Static("ERR Number of keys can't be negative"));
    }
    if numkeys as u64 > args.remaining() as u64 {
        return Err(CmdError::Static("ERR Number of keys can't be greater than number of args"));
    }
    Ok(numkeys as usize)
}

/// An internal Lua failure (out of memory, a broken VM) as an error reply.
pub(super) fn lua_failure(e: mlua::Error) -> CmdError {
    CmdError::dynamic(format!("ERR Lua failure: {e}"))
}

/// `redis.call` (`raise`) and `redis.pcall`: runs the command and converts its reply; an
/// error reply is raised by `call` and returned as `{err = ...}` by `pcall`.
fn redis_call(
    lua: &mlua::Lua,
    bridge: &RefCell<Bridge<'_>>,
    args: MultiValue,
    raise: bool,
) -> mlua::Result<Value> {
    let mut b =
        bridge.try_borrow_mut().map_err(|_| lua::raise_reply(b"ERR redis.call reentered"))?;
    let reply = run_command(&mut b, args);
    match reply {
        Frame::Error(text) if raise => Err(lua::raise_reply(&text)),
        reply => lua::frame_to_lua(lua, reply, b.resp3),
    }
}

/// The rest of the `redis` library's server side: `kind` is `acl`, `log`, `setresp`,
/// `tick` or `stopping`. Returns the value for the script and whether the Lua side must raise it.
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
        b"acl" => match lua::command_args(rest) {
            Ok(argv) if argv.is_empty() => raise(NO_ARGS),
            Ok(argv) => match dispatch::lookup(&argv) {
                // The script's user (the caller's) may run it: the same check dispatch makes.
                Ok(resolved) => {
                    let user = b.clients.get(b.cid).map(|c| c.user.as_str()).unwrap_or("default");
                    let allowed = b
                        .srv
                        .acl
                        .users
                        .get(user)
                        .is_some_and(|u| u.check(&resolved, &argv) == crate::acl::Verdict::Ok);
                    Ok((Value::Boolean(allowed), false))
                }
                Err(_) => raise(b"ERR Invalid command passed to redis.acl_check_cmd()"),
            },
            Err(e) => raise(e.as_bytes()),
        },
        b"log" => {
            lua::log_line(&b.srv.log, rest);
            Ok((Value::Nil, false))
        }
        b"tick" => Ok((stop_value(lua, busy::tick(b.srv, b.clients))?, false)),
        b"stopping" => Ok((stop_value(lua, busy::stop_reason(b.srv))?, false)),
        b"setresp" => {
            b.resp3 = matches!(rest.into_iter().next(), Some(Value::Integer(3)));
            Ok((Value::Nil, false))
        }
        _ => raise(b"ERR unknown redis library call"),
    }
}

/// The error a stopping script must raise, as a Lua string, or nil.
fn stop_value(lua: &mlua::Lua, stop: Option<&'static [u8]>) -> mlua::Result<Value> {
    Ok(match stop {
        Some(text) => Value::String(lua.create_string(text)?),
        None => Value::Nil,
    })
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
    let wrote = b.srv.busy.running.as_ref().is_some_and(|r| r.wrote);
    // Redis 7's rule: over maxmemory at the script's start (the gate's finding), its first
    // denyoom write is refused; once it has written it runs to the end, never half-applied.
    if spec.has(DENYOOM) && !b.allow_oom && !wrote && b.srv.memory.over_limit {
        return Frame::Error(Bytes::from(CmdError::Oom.text()));
    }
    if spec.has(WRITE) {
        // From its first write on, the script can no longer be killed.
        b.srv.busy.mark_write();
    }
    // Redis runs script commands on a fake client speaking the script's protocol (RESP2 unless
    // `redis.setresp(3)`), whatever the caller negotiated; handlers that shape their reply by
    // protocol (ZRANGE WITHSCORES pairs, ...) must see that one, so the caller's is swapped out
    // for the duration of the command.
    let script_proto = if b.resp3 { resp::Proto::Resp3 } else { resp::Proto::Resp2 };
    let caller_proto =
        b.clients.get_mut(b.cid).map(|c| std::mem::replace(&mut c.proto, script_proto));
    // A blocking command cannot park a client inside a script (`in_exec` is set), so a
    // reply always comes back.
    let reply = dispatch::execute(b.srv, b.clients, b.cid, argv).unwrap_or(Frame::NullArray);
    if let (Some(proto), Some(c)) = (caller_proto, b.clients.get_mut(b.cid)) {
        c.proto = proto;
    }
    reply
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

/// `SCRIPT KILL`: stops the running EVAL script.
fn script_kill(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    kill_running(ctx, true)
}

/// SCRIPT KILL (`eval`) and FUNCTION KILL: stops the running script of that kind; it ends
/// at its next count hook (see `scripting::busy`).
pub(super) fn kill_running(ctx: &mut Ctx<'_>, eval: bool) -> Result<Frame, CmdError> {
    ctx.srv.busy.kill(eval).map(|()| Frame::ok())
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
