//! Functions: FUNCTION (LOAD LIST DELETE FLUSH DUMP RESTORE STATS KILL HELP), FCALL, FCALL_RO.
//!
//! The registry and the load-time Lua environment are in `scripting::function`; a function
//! runs through the same bridge as an EVAL script (`scripting::run_in`), with its keys and
//! arguments passed as the callback's two parameters.

use super::client::help_reply;
use super::introspection::keynum_keys;
use super::scripting::{key_count, kill_running, run_in, Invocation, EVAL_FLAGS, RO_KEYS, RW_KEYS};
use super::spec::{acl, flags::*, CommandSpec, KeyPos};
use crate::args::Args;
use crate::error::{c_prefix, CmdError};
use crate::rdb::value::WriteOpts;
use crate::scripting::function::{RestorePolicy, ENGINE_NAME};
use crate::server::Ctx;
use bytes::Bytes;
use resp::Frame;

/// Tips of the FUNCTION subcommands that change the libraries.
const WRITE_TIPS: &[&str] = &["request_policy:all_shards", "response_policy:all_succeeded"];

/// The functions family's table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("fcall", -3, EVAL_FLAGS, acl::SCRIPTING, KeyPos::NONE, fcall)
        .doc(
            "scripting",
            "7.0.0",
            "Invokes a function.",
            "Depends on the function that is executed.",
        )
        .key_specs(RW_KEYS)
        .getkeys(keynum_keys),
    CommandSpec::new("fcall_ro", -3, EVAL_FLAGS | READONLY, acl::SCRIPTING, KeyPos::NONE, fcall_ro)
        .doc(
            "scripting",
            "7.0.0",
            "Invokes a read-only function.",
            "Depends on the function that is executed.",
        )
        .key_specs(RO_KEYS)
        .getkeys(keynum_keys),
    CommandSpec::new("function", -2, 0, 0, KeyPos::NONE, super::spec::unreachable_container)
        .doc("scripting", "7.0.0", "A container for function commands.", "Depends on subcommand.")
        .subs(FUNCTION_SUBS),
];

const FUNCTION_SUBS: &[CommandSpec] = &[
    CommandSpec::new("delete", 3, WRITE | NOSCRIPT, acl::SCRIPTING, KeyPos::NONE, delete)
        .doc("scripting", "7.0.0", "Deletes a library and its functions.", "O(1)")
        .tips(WRITE_TIPS),
    CommandSpec::new("dump", 2, NOSCRIPT, acl::SCRIPTING, KeyPos::NONE, dump).doc(
        "scripting",
        "7.0.0",
        "Dumps all libraries into a serialized binary payload.",
        "O(N) where N is the number of functions",
    ),
    CommandSpec::new("flush", -2, WRITE | NOSCRIPT, acl::SCRIPTING, KeyPos::NONE, flush)
        .doc(
            "scripting",
            "7.0.0",
            "Deletes all libraries and functions.",
            "O(N) where N is the number of functions deleted",
        )
        .tips(WRITE_TIPS),
    CommandSpec::new("help", 2, LOADING | STALE, acl::SCRIPTING, KeyPos::NONE, help).doc(
        "scripting",
        "7.0.0",
        "Returns helpful text about the different subcommands.",
        "O(1)",
    ),
    CommandSpec::new("kill", 2, NOSCRIPT | ALLOW_BUSY, acl::SCRIPTING, KeyPos::NONE, kill)
        .doc("scripting", "7.0.0", "Terminates a function during execution.", "O(1)")
        .tips(&["request_policy:all_shards", "response_policy:one_succeeded"]),
    CommandSpec::new("list", -2, NOSCRIPT, acl::SCRIPTING, KeyPos::NONE, list)
        .doc(
            "scripting",
            "7.0.0",
            "Returns information about all libraries.",
            "O(N) where N is the number of functions",
        )
        .tips(&["nondeterministic_output_order"]),
    CommandSpec::new("load", -3, WRITE | DENYOOM | NOSCRIPT, acl::SCRIPTING, KeyPos::NONE, load)
        .doc(
            "scripting",
            "7.0.0",
            "Creates a library.",
            "O(1) (considering compilation time is redundant)",
        )
        .tips(WRITE_TIPS),
    CommandSpec::new(
        "restore",
        -3,
        WRITE | DENYOOM | NOSCRIPT,
        acl::SCRIPTING,
        KeyPos::NONE,
        restore,
    )
    .doc(
        "scripting",
        "7.0.0",
        "Restores all libraries from a payload.",
        "O(N) where N is the number of functions on the payload",
    )
    .tips(WRITE_TIPS),
    CommandSpec::new("stats", 2, NOSCRIPT | ALLOW_BUSY, acl::SCRIPTING, KeyPos::NONE, stats)
        .doc("scripting", "7.0.0", "Returns information about a function during execution.", "O(1)")
        .tips(&["nondeterministic_output", "request_policy:all_shards", "response_policy:special"]),
];

/// An error reply from one of the registry's messages (which carry no code).
fn registry_error(msg: Vec<u8>) -> CmdError {
    CmdError::dynamic([b"ERR ".as_slice(), &msg].concat())
}

/// `FCALL function numkeys [key ...] [arg ...]`: calls a function.
fn fcall(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    call(ctx, args, false)
}

/// `FCALL_RO function numkeys [key ...] [arg ...]`: calls a `no-writes` function, refusing
/// write commands.
fn fcall_ro(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    call(ctx, args, true)
}

/// Shared body of FCALL and FCALL_RO (`ro`).
fn call(ctx: &mut Ctx<'_>, args: &mut Args, ro: bool) -> Result<Frame, CmdError> {
    let name = args.next_bytes()?;
    let functions = &ctx.srv.scripting.functions;
    let Some(f) = functions.find(&name) else {
        return Err(CmdError::Static("ERR Function not found"));
    };
    let (callback, flags) = (f.callback.clone(), f.flags);
    let fname = String::from_utf8_lossy(&f.name).into_owned();
    let numkeys = key_count(args, CmdError::Static("ERR Bad number of keys provided"))?;
    flags.check_run(ro).map_err(CmdError::Static)?;
    // A function exists only once its VM does; the VM is out only while a function runs,
    // and FCALL cannot be called from a script.
    let Some(engine) = ctx.srv.scripting.functions.take_engine() else {
        return Err(CmdError::Static("ERR Function not found"));
    };
    let (keys, argv) = args.rest().split_at(numkeys);
    let run = Invocation {
        function: &callback,
        keys,
        argv,
        read_only: flags.read_only(ro),
        allow_oom: flags.allows_oom(),
        command: args.argv(),
        name: &fname,
        eval: false,
    };
    let result = run_in(ctx, &engine.vm, run);
    ctx.srv.scripting.functions.put_engine(engine);
    result
}

/// `FUNCTION LOAD [REPLACE] function-code`: loads a library, replying with its name.
fn load(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let mut replace = false;
    // Every argument but the last is an option.
    while args.remaining() > 1 {
        let option = args.next_bytes()?;
        if !option.eq_ignore_ascii_case(b"replace") {
            let text = [b"ERR Unknown option given: ".as_slice(), c_prefix(&option, usize::MAX)];
            return Err(CmdError::dynamic(text.concat()));
        }
        replace = true;
    }
    let code = args.next_bytes()?;
    let srv = &mut *ctx.srv;
    let name = srv
        .scripting
        .functions
        .create(&code, replace, Some(&srv.log), true)
        .map_err(registry_error)?;
    srv.ks.mark_dirty(1);
    Ok(Frame::Bulk(name))
}

/// `FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]`: the libraries (those whose name
/// matches `pattern`, ignoring case) with their functions.
fn list(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let mut with_code = false;
    let mut pattern: Option<Bytes> = None;
    while args.remaining() > 0 {
        // Each option counts once: a repeated one is an unknown argument.
        if !with_code && args.eat("WITHCODE") {
            with_code = true;
        } else if pattern.is_none() && args.eat("LIBRARYNAME") {
            if args.remaining() == 0 {
                return Err(CmdError::Static("ERR library name argument was not given"));
            }
            pattern = Some(args.next_bytes()?);
        } else {
            let arg = args.next_bytes()?;
            let text = [b"ERR Unknown argument ".as_slice(), c_prefix(&arg, usize::MAX)];
            return Err(CmdError::dynamic(text.concat()));
        }
    }
    let bulk = |b: &Bytes| Frame::Bulk(b.clone());
    let libraries = ctx
        .srv
        .scripting
        .functions
        .libraries()
        .filter(|l| pattern.as_ref().is_none_or(|p| crate::glob::matches(p, &l.name, true)))
        .map(|lib| {
            let functions = lib
                .functions
                .values()
                .map(|f| {
                    Frame::Map(vec![
                        (Frame::bulk(b"name"), bulk(&f.name)),
                        (
                            Frame::bulk(b"description"),
                            f.description.as_ref().map_or(Frame::Null, bulk),
                        ),
                        (
                            Frame::bulk(b"flags"),
                            Frame::Set(f.flags.names().map(Frame::simple).collect()),
                        ),
                    ])
                })
                .collect();
            let mut fields = vec![
                (Frame::bulk(b"library_name"), bulk(&lib.name)),
                (Frame::bulk(b"engine"), Frame::bulk(ENGINE_NAME.as_bytes())),
                (Frame::bulk(b"functions"), Frame::Array(functions)),
            ];
            if with_code {
                fields.push((Frame::bulk(b"library_code"), bulk(&lib.code)));
            }
            Frame::Map(fields)
        })
        .collect();
    Ok(Frame::Array(libraries))
}

/// `FUNCTION DELETE library-name`: deletes a library and its functions.
fn delete(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let name = args.next_bytes()?;
    if !ctx.srv.scripting.functions.delete(&name) {
        return Err(CmdError::Static("ERR Library not found"));
    }
    ctx.srv.ks.mark_dirty(1);
    Ok(Frame::ok())
}

/// `FUNCTION FLUSH [ASYNC|SYNC]`: deletes every library.
fn flush(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    if args.remaining() > 1 {
        return Err(args.subcommand_syntax("FUNCTION"));
    }
    if args.remaining() == 1 && !(args.eat("SYNC") || args.eat("ASYNC")) {
        return Err(CmdError::Static("ERR FUNCTION FLUSH only supports SYNC|ASYNC option"));
    }
    ctx.srv.scripting.functions.flush();
    ctx.srv.ks.mark_dirty(1);
    Ok(Frame::ok())
}

/// `FUNCTION DUMP`: every library as a payload for FUNCTION RESTORE, in the RDB version
/// and with the compression the configuration asks for, as DUMP.
fn dump(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    let opts = WriteOpts::from_config(&ctx.srv.config);
    Ok(Frame::Bulk(Bytes::from(ctx.srv.scripting.functions.dump(&opts))))
}

/// `FUNCTION RESTORE serialized-value [FLUSH|APPEND|REPLACE]`: loads the libraries of a
/// FUNCTION DUMP payload; APPEND (the default) refuses a library that exists, REPLACE
/// replaces it, FLUSH drops every library first.
fn restore(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    if args.remaining() > 2 {
        return Err(args.subcommand_syntax("FUNCTION"));
    }
    let payload = args.next_bytes()?;
    let policy = if args.remaining() == 0 || args.eat("APPEND") {
        RestorePolicy::Append
    } else if args.eat("REPLACE") {
        RestorePolicy::Replace
    } else if args.eat("FLUSH") {
        RestorePolicy::Flush
    } else {
        return Err(CmdError::Static(
            "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
        ));
    };
    let body = crate::rdb::open_payload(&payload)?;
    ctx.srv.scripting.functions.restore(body, policy).map_err(registry_error)?;
    ctx.srv.ks.mark_dirty(1);
    Ok(Frame::ok())
}

/// `FUNCTION STATS`: the running function and the library and function counts of the Lua
/// engine. While an EVAL script is busy the answer is `-BUSY`, as in Redis.
///
/// The running function is always reported as nil for now: its map needs the caller's
/// command line, which the busy-script state does not keep yet.
fn stats(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    if ctx.srv.busy.running.as_ref().is_some_and(|r| r.eval) {
        return Err(crate::scripting::busy::busy_error(true));
    }
    let functions = &ctx.srv.scripting.functions;
    let count = |n: usize| Frame::Integer(i64::try_from(n).unwrap_or(i64::MAX));
    let lua = Frame::Map(vec![
        (Frame::bulk(b"libraries_count"), count(functions.library_count())),
        (Frame::bulk(b"functions_count"), count(functions.function_count())),
    ]);
    Ok(Frame::Map(vec![
        (Frame::bulk(b"running_script"), running_script(ctx.srv.busy.running.as_ref())),
        (Frame::bulk(b"engines"), Frame::Map(vec![(Frame::bulk(ENGINE_NAME.as_bytes()), lua)])),
    ]))
}

/// FUNCTION STATS's `running_script`: the function in execution (seen only while it is
/// busy, when the stats are served from inside it), or nil.
fn running_script(running: Option<&crate::scripting::busy::Running>) -> Frame {
    let Some(r) = running else { return Frame::Null };
    let ms = i64::try_from(r.start.elapsed().as_millis()).unwrap_or(i64::MAX);
    Frame::Map(vec![
        (Frame::bulk(b"name"), Frame::Bulk(Bytes::from(r.name.clone()))),
        (
            Frame::bulk(b"command"),
            Frame::Array(r.command.iter().cloned().map(Frame::Bulk).collect()),
        ),
        (Frame::bulk(b"duration_ms"), Frame::Integer(ms)),
    ])
}

/// `FUNCTION KILL`: stops the running function.
fn kill(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    kill_running(ctx, false)
}

/// `FUNCTION HELP`: the subcommand list.
fn help(_ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    const LINES: &[&str] = &[
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
        "HELP",
        "    Prints this help.",
    ];
    Ok(help_reply(LINES))
}
