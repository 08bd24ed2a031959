//! `ACL` and its subcommands: users (SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI),
//! categories (CAT), passwords (GENPASS), the log (LOG), the ACL file (LOAD, SAVE) and
//! permission dry runs (DRYRUN). The rules themselves live in `crate::acl`.

use super::spec::{flags::*, unreachable_container, CommandSpec, KeyPos};
use crate::acl::{self, log::Reason, name_of, Verdict};
use crate::args::Args;
use crate::config::P;
use crate::error::{c_prefix, CmdError};
use crate::server::Ctx;
use bytes::Bytes;
use resp::Frame;

/// Flags of the subcommands that change or reveal users.
const ADMIN_SUB: u32 = ADMIN | NOSCRIPT | LOADING | STALE;
/// Flags of the harmless ones.
const PLAIN_SUB: u32 = NOSCRIPT | LOADING | STALE;

/// A subcommand row of ACL.
const fn sub(
    name: &'static str,
    arity: i32,
    flags: u32,
    handler: super::spec::Handler,
    since: &'static str,
    summary: &'static str,
    complexity: &'static str,
) -> CommandSpec {
    CommandSpec::new(name, arity, flags, 0, KeyPos::NONE, handler)
        .doc("server", since, summary, complexity)
}

const SUBCOMMANDS: &[CommandSpec] = &[
    sub(
        "cat",
        -2,
        PLAIN_SUB,
        cat,
        "6.0.0",
        "List the ACL categories or the commands inside a category",
        "O(1) since the categories and commands are a fixed set.",
    ),
    sub(
        "deluser",
        -3,
        ADMIN_SUB,
        deluser,
        "6.0.0",
        "Remove the specified ACL users and the associated rules",
        "O(1) amortized time considering the typical user.",
    ),
    sub(
        "dryrun",
        -4,
        ADMIN_SUB,
        dryrun,
        "7.0.0",
        "Returns whether the user can execute the given command without executing the command.",
        "O(1).",
    ),
    sub(
        "genpass",
        -2,
        PLAIN_SUB,
        genpass,
        "6.0.0",
        "Generate a pseudorandom secure password to use for ACL users",
        "O(1)",
    ),
    sub(
        "getuser",
        3,
        ADMIN_SUB,
        getuser,
        "6.0.0",
        "Get the rules for a specific ACL user",
        "O(N). Where N is the number of password, command and pattern rules that the user has.",
    ),
    sub(
        "help",
        2,
        LOADING | STALE,
        help,
        "6.0.0",
        "Show helpful text about the different subcommands",
        "O(1)",
    ),
    sub(
        "list",
        2,
        ADMIN_SUB,
        list,
        "6.0.0",
        "List the current ACL rules in ACL config file format",
        "O(N). Where N is the number of configured users.",
    ),
    sub(
        "load",
        2,
        ADMIN_SUB,
        load,
        "6.0.0",
        "Reload the ACLs from the configured ACL file",
        "O(N). Where N is the number of configured users.",
    ),
    sub(
        "log",
        -2,
        ADMIN_SUB,
        log,
        "6.0.0",
        "List latest events denied because of ACLs in place",
        "O(N) with N being the number of entries shown.",
    ),
    sub(
        "save",
        2,
        ADMIN_SUB,
        save,
        "6.0.0",
        "Save the current ACL rules in the configured ACL file",
        "O(N). Where N is the number of configured users.",
    ),
    sub(
        "setuser",
        -3,
        ADMIN_SUB,
        setuser,
        "6.0.0",
        "Modify or create the rules for a specific ACL user",
        "O(N). Where N is the number of rules provided.",
    ),
    sub(
        "users",
        2,
        ADMIN_SUB,
        users,
        "6.0.0",
        "List the username of all the configured ACL rules",
        "O(N). Where N is the number of configured users.",
    ),
    sub(
        "whoami",
        2,
        PLAIN_SUB,
        whoami,
        "6.0.0",
        "Return the name of the user associated to the current connection",
        "O(1)",
    ),
];

/// The ACL family's table.
pub const COMMANDS: &[CommandSpec] =
    &[CommandSpec::new("acl", -2, 0, 0, KeyPos::NONE, unreachable_container)
        .doc(
            "server",
            "6.0.0",
            "A container for Access List Control commands ",
            "Depends on subcommand.",
        )
        .subs(SUBCOMMANDS)];

/// `ACL CAT [category]`: the category names, or the commands in one.
fn cat(_ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    match args.remaining() {
        0 => Ok(Frame::Array(
            super::spec::acl::NAMES.iter().map(|(_, n)| Frame::bulk(n.as_bytes())).collect(),
        )),
        1 => {
            let name = args.next_bytes()?;
            let Some(bit) = acl::category(&name) else {
                let mut t = b"ERR Unknown category '".to_vec();
                t.extend_from_slice(c_prefix(&name, 128));
                t.push(b'\'');
                return Err(CmdError::dynamic(t));
            };
            Ok(Frame::Array(
                acl::commands_in(bit).into_iter().map(|n| Frame::Bulk(Bytes::from(n))).collect(),
            ))
        }
        _ => Err(args.subcommand_syntax("ACL")),
    }
}

/// `ACL SETUSER username [rule ...]`: creates or changes a user, all rules or none. When
/// the change takes channels away from an existing user, its clients subscribed to one
/// they may no longer use are disconnected, as in Redis.
fn setuser(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let name = args.next_bytes()?;
    if acl::has_spaces(&name) {
        return Err(CmdError::Static("ERR Usernames can't contain spaces or null characters"));
    }
    let rules: Vec<Bytes> = args.rest().to_vec();
    let old = ctx.srv.acl.set_user(&name, &rules).map_err(CmdError::dynamic)?;
    let name = name_of(&name);
    if let (Some(old), Some(new)) = (old, ctx.srv.acl.users.get(&name)) {
        if let Some(allowed) = acl::revoked_channels(&old, new) {
            ctx.disconnect_denied_subscribers(&name, &allowed);
        }
    }
    Ok(Frame::ok())
}

/// `ACL DELUSER username [username ...]`: removes users and disconnects their clients.
fn deluser(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let names: Vec<Bytes> = args.rest().to_vec();
    if names.iter().any(|n| &n[..] == b"default") {
        return Err(CmdError::Static("ERR The 'default' user cannot be removed"));
    }
    let mut deleted = 0;
    for n in &names {
        let name = name_of(n);
        if ctx.srv.acl.users.remove(&name).is_some() {
            deleted += 1;
            ctx.disconnect_user(&name);
        }
    }
    ctx.srv.acl.refresh();
    Ok(Frame::Integer(deleted))
}

impl Ctx<'_> {
    /// Logs out and closes every client authenticated as `name` (the caller after its
    /// reply), as Redis does when a user disappears.
    fn disconnect_user(&mut self, name: &str) {
        let ids: Vec<usize> =
            self.clients.iter().filter(|(_, c)| c.user == name).map(|(id, _)| id).collect();
        for id in ids {
            let c = &mut self.clients[id];
            c.user = "default".into();
            c.authenticated = false;
            self.close_client(id);
        }
    }

    /// Closes every client of user `name` holding a subscription that `allowed` (the
    /// user's channel patterns after a change) no longer permits: patterns must be allowed
    /// literally, channels and shard channels by a matching pattern.
    fn disconnect_denied_subscribers(&mut self, name: &str, allowed: &[Bytes]) {
        if self.srv.pubsub.is_empty() {
            return;
        }
        let denied = |list: &[Bytes], pattern: bool| {
            list.iter().any(|ch| !acl::channel_allowed(allowed, ch, pattern))
        };
        let ids: Vec<usize> = self
            .clients
            .iter()
            .filter(|(_, c)| {
                c.user == name
                    && (denied(&c.psubs, true) || denied(&c.subs, false) || denied(&c.ssubs, false))
            })
            .map(|(id, _)| id)
            .collect();
        for id in ids {
            self.close_client(id);
        }
    }
}

/// One selector's `commands`/`keys`/`channels` fields of `ACL GETUSER`.
fn selector_fields(s: &acl::Selector) -> Vec<(Frame, Frame)> {
    vec![
        (Frame::bulk(b"commands"), Frame::Bulk(Bytes::from(s.describe_commands()))),
        (Frame::bulk(b"keys"), Frame::Bulk(Bytes::from(s.describe_keys()))),
        (Frame::bulk(b"channels"), Frame::Bulk(Bytes::from(s.describe_channels()))),
    ]
}

/// `ACL GETUSER username`: flags, password hashes, root permissions and selectors.
fn getuser(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let name = args.next_bytes()?;
    let Some(u) = ctx.srv.acl.users.get(&name_of(&name)) else {
        return Ok(Frame::Null);
    };
    let mut fields = vec![
        (
            Frame::bulk(b"flags"),
            Frame::Set(u.flag_names().iter().map(|f| Frame::bulk(f.as_bytes())).collect()),
        ),
        (
            Frame::bulk(b"passwords"),
            Frame::Array(u.passwords.iter().map(|p| Frame::bulk(p.as_bytes())).collect()),
        ),
    ];
    fields.extend(selector_fields(u.root()));
    fields.push((
        Frame::bulk(b"selectors"),
        Frame::Array(u.selectors[1..].iter().map(|s| Frame::Map(selector_fields(s))).collect()),
    ));
    Ok(Frame::Map(fields))
}

/// `ACL LIST`: every user as an ACL file line.
fn list(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    let text = acl::file::render(&ctx.srv.acl);
    Ok(Frame::Array(
        text.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| Frame::Bulk(Bytes::copy_from_slice(l)))
            .collect(),
    ))
}

/// `ACL USERS`: the user names.
fn users(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(Frame::Array(ctx.srv.acl.users.keys().map(|n| Frame::bulk(n.as_bytes())).collect()))
}

/// `ACL WHOAMI`: the caller's user name.
fn whoami(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(Frame::bulk(ctx.client_ref().user.as_bytes()))
}

/// The error LOAD and SAVE give without an ACL file.
const NO_ACLFILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// `ACL LOAD`: replaces the users with the ACL file's, if the whole file is valid; clients of
/// the replaced users (all but `default`) are disconnected, as in Redis.
fn load(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    let path = ctx.srv.config.str(P::Aclfile).to_string();
    if path.is_empty() {
        return Err(CmdError::Static(NO_ACLFILE));
    }
    acl::file::load(&mut ctx.srv.acl, &path).map_err(|e| CmdError::dynamic(format!("ERR {e}")))?;
    let gone: Vec<String> =
        ctx.clients.iter().map(|(_, c)| c.user.clone()).filter(|u| u != "default").collect();
    for name in gone {
        ctx.disconnect_user(&name);
    }
    Ok(Frame::ok())
}

/// `ACL SAVE`: writes the users to the ACL file.
fn save(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    let path = ctx.srv.config.str(P::Aclfile).to_string();
    if path.is_empty() {
        return Err(CmdError::Static(NO_ACLFILE));
    }
    if let Err(e) = acl::file::save(&ctx.srv.acl, &path) {
        ctx.srv.log.warning(&format!("Writing ACL file for ACL SAVE: {e}"));
        return Err(CmdError::Static(
            "ERR There was an error trying to save the ACLs. Please check the server logs for more information",
        ));
    }
    Ok(Frame::ok())
}

/// Most bits `ACL GENPASS` produces.
const GENPASS_MAX_BITS: i64 = 4096;

/// `ACL GENPASS [bits]`: a random password of `bits` bits (256 by default), in hex.
fn genpass(_ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let bits = match args.remaining() {
        0 => 256,
        1 => args.next_i64()?,
        _ => return Err(args.subcommand_syntax("ACL")),
    };
    if bits <= 0 || bits > GENPASS_MAX_BITS {
        return Err(CmdError::dynamic(format!(
            "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to {GENPASS_MAX_BITS}"
        )));
    }
    let chars = (bits as usize).div_ceil(4);
    let mut out = String::with_capacity(chars);
    for _ in 0..chars {
        let n: u32 = rand::Rng::random_range(&mut rand::rng(), 0..16);
        out.push(char::from_digit(n, 16).unwrap_or('0'));
    }
    Ok(Frame::Bulk(Bytes::from(out)))
}

/// `ACL LOG [count | RESET]`: the newest denials (10 by default), or clears the log.
fn log(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let count = match args.remaining() {
        0 => 10,
        1 if args.eat("reset") => {
            ctx.srv.acl.log.reset();
            return Ok(Frame::ok());
        }
        1 => args.next_i64()?.max(0) as usize,
        _ => return Err(args.subcommand_syntax("ACL")),
    };
    Ok(ctx.srv.acl.log.reply(count, ctx.now))
}

/// `ACL DRYRUN username command [arg ...]`: whether the user could run the command, as OK
/// or the reason it could not (a bulk string).
fn dryrun(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let name = args.next_bytes()?;
    let line: Vec<Bytes> = args.rest().to_vec();
    let Some(user) = ctx.srv.acl.users.get(&name_of(&name)) else {
        let mut t = b"ERR User '".to_vec();
        t.extend_from_slice(c_prefix(&name, usize::MAX));
        t.extend_from_slice(b"' not found");
        return Err(CmdError::dynamic(t));
    };
    let Ok(resolved) = crate::dispatch::lookup(&line) else {
        let mut t = b"ERR Command '".to_vec();
        t.extend_from_slice(c_prefix(&line[0], usize::MAX));
        t.extend_from_slice(b"' not found");
        return Err(CmdError::dynamic(t));
    };
    if crate::dispatch::check_arity(&resolved, line.len()).is_err() {
        return Err(CmdError::dynamic(format!(
            "ERR wrong number of arguments for '{}' command",
            resolved.full_name()
        )));
    }
    let verdict = user.check(&resolved, &line);
    let who = String::from_utf8_lossy(&name);
    let text: Vec<u8> = match verdict {
        Verdict::Ok => return Ok(Frame::ok()),
        Verdict::Command => {
            format!("User {who} has no permissions to run the '{}' command", resolved.full_name())
                .into_bytes()
        }
        Verdict::Key(pos) | Verdict::Channel(pos) => {
            let what = if verdict.reason() == Reason::Key { "key" } else { "channel" };
            let mut t = format!("User {who} has no permissions to access the '").into_bytes();
            t.extend_from_slice(&line[pos]);
            t.extend_from_slice(format!("' {what}").as_bytes());
            t
        }
    };
    Ok(Frame::Bulk(Bytes::from(text)))
}

/// `ACL HELP`.
fn help(_ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(super::client::help_reply(&[
        "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CAT [<category>]",
        "    List all commands that belong to <category>, or all command categories",
        "    when no category is specified.",
        "DELUSER <username> [<username> ...]",
        "    Delete a list of users.",
        "DRYRUN <username> <command> [<arg> ...]",
        "    Returns whether the user can execute the given command without executing the command.",
        "GETUSER <username>",
        "    Get the user's details.",
        "GENPASS [<bits>]",
        "    Generate a secure 256-bit user password. The optional `bits` argument can",
        "    be used to specify a different size.",
        "LIST",
        "    Show users details in config file format.",
        "LOAD",
        "    Reload users from the ACL file.",
        "LOG [<count> | RESET]",
        "    Show the ACL log entries.",
        "SAVE",
        "    Save the current config to the ACL file.",
        "SETUSER <username> <attribute> [<attribute> ...]",
        "    Create or modify a user with the specified attributes.",
        "USERS",
        "    List all the registered usernames.",
        "WHOAMI",
        "    Return the current connection username.",
        "HELP",
        "    Prints this help.",
    ]))
}
