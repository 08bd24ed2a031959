//! `COMMAND` and its subcommands, answered from the command table.
//!
//! Everything here is derived from the table rows (`CommandSpec`), so a family adding a
//! command gets a correct `COMMAND INFO`/`DOCS`/`LIST`/`GETKEYS` for free. Subcommands are
//! named `parent|sub`, as in Redis.

use super::client::help_reply;
use super::spec::{acl, flags, flags::*, CommandSpec, KeyPos};
use super::{subcommand, table};
use crate::args::Args;
use crate::error::CmdError;
use crate::server::Ctx;
use bytes::Bytes;
use resp::Frame;

/// Flags of every COMMAND form: harmless while loading or stale.
const INTRO: u32 = LOADING | STALE;
/// The tip of the forms whose output order follows Redis's hash table.
const UNORDERED: &[&str] = &["nondeterministic_output_order"];
/// Complexity of the forms that look up each named command.
const PER_NAME: &str = "O(N) where N is the number of commands to look up";
/// Complexity of the forms that walk the whole table.
const WHOLE_TABLE: &str = "O(N) where N is the total number of Redis commands";
/// Complexity of the forms that parse a full command line.
const PER_ARG: &str = "O(N) where N is the number of arguments to the command";

/// Builds one `COMMAND` subcommand row.
const fn sub(
    name: &'static str,
    arity: i32,
    handler: super::spec::Handler,
    since: &'static str,
    summary: &'static str,
    complexity: &'static str,
) -> CommandSpec {
    CommandSpec::new(name, arity, INTRO, acl::CONNECTION, KeyPos::NONE, handler)
        .doc("server", since, summary, complexity)
}

const SUBCOMMANDS: &[CommandSpec] = &[
    sub("count", 2, count, "2.8.13", "Returns a count of commands.", "O(1)"),
    sub(
        "docs",
        -2,
        docs,
        "7.0.0",
        "Returns documentary information about one, multiple or all commands.",
        PER_NAME,
    )
    .tips(UNORDERED),
    sub(
        "getkeys",
        -4,
        getkeys,
        "2.8.13",
        "Extracts the key names from an arbitrary command.",
        PER_ARG,
    ),
    sub(
        "getkeysandflags",
        -4,
        getkeysandflags,
        "7.0.0",
        "Extracts the key names and access flags for an arbitrary command.",
        PER_ARG,
    ),
    sub("help", 2, help, "5.0.0", "Returns helpful text about the different subcommands.", "O(1)"),
    sub(
        "info",
        -2,
        info,
        "2.8.13",
        "Returns information about one, multiple or all commands.",
        PER_NAME,
    )
    .tips(UNORDERED),
    sub("list", -2, list, "7.0.0", "Returns a list of command names.", WHOLE_TABLE).tips(UNORDERED),
];

/// The COMMAND family's table.
pub const COMMANDS: &[CommandSpec] =
    &[CommandSpec::new("command", -1, INTRO, acl::CONNECTION, KeyPos::NONE, all)
        .doc("server", "2.8.13", "Returns detailed information about all commands.", WHOLE_TABLE)
        .tips(UNORDERED)
        .subs(SUBCOMMANDS)];

/// Every command and subcommand with its full name (`get`, `client|list`).
fn every_command() -> impl Iterator<Item = (String, &'static CommandSpec)> {
    table().all().flat_map(|parent| {
        std::iter::once((parent.name.to_string(), parent)).chain(
            parent.subcommands.iter().map(move |s| (format!("{}|{}", parent.name, s.name), s)),
        )
    })
}

/// Finds a command by the name `COMMAND INFO`/`DOCS` accept: `name` or `parent|sub`.
fn find(name: &[u8]) -> Option<(String, &'static CommandSpec)> {
    match name.iter().position(|&b| b == b'|') {
        None => table().get(name).map(|s| (s.name.to_string(), s)),
        Some(bar) => {
            let parent = table().get(&name[..bar])?;
            let s = subcommand(parent, &name[bar + 1..])?;
            Some((format!("{}|{}", parent.name, s.name), s))
        }
    }
}

/// A set of status strings.
fn status_set<'a>(items: impl Iterator<Item = &'a str>) -> Frame {
    Frame::Set(items.map(|s| Frame::Simple(Bytes::copy_from_slice(s.as_bytes()))).collect())
}

/// A map entry with a static bulk key.
fn field(k: &'static str, v: Frame) -> (Frame, Frame) {
    (Frame::bulk(k.as_bytes()), v)
}

/// The key-spec flags of a command: its own, or the usual ones for a read or a write.
fn key_flags(spec: &CommandSpec) -> &'static [&'static str] {
    match spec.key_flags {
        [] if spec.has(WRITE) => &["RW", "update"],
        [] => &["RO", "access"],
        own => own,
    }
}

/// The one key spec a `KeyPos` describes: keys from an index, over a range.
fn key_specs(spec: &CommandSpec) -> Frame {
    let k = spec.keys;
    if k.first <= 0 {
        return Frame::Set(Vec::new());
    }
    // Redis counts a positive last key relative to the first one.
    let lastkey = if k.last < 0 { k.last } else { k.last - k.first };
    Frame::Set(vec![Frame::Map(vec![
        field("flags", status_set(key_flags(spec).iter().copied())),
        field(
            "begin_search",
            Frame::Map(vec![
                field("type", Frame::bulk(b"index")),
                field("spec", Frame::Map(vec![field("index", Frame::Integer(k.first.into()))])),
            ]),
        ),
        field(
            "find_keys",
            Frame::Map(vec![
                field("type", Frame::bulk(b"range")),
                field(
                    "spec",
                    Frame::Map(vec![
                        field("lastkey", Frame::Integer(lastkey.into())),
                        field("keystep", Frame::Integer(k.step.into())),
                        field("limit", Frame::Integer(0)),
                    ]),
                ),
            ]),
        ),
    ])])
}

/// One `COMMAND INFO` entry: name, arity, flags, first/last/step, ACL categories, tips,
/// key specs and subcommands.
fn info_entry(name: String, spec: &'static CommandSpec) -> Frame {
    let cats = spec.acl_categories();
    let subs =
        spec.subcommands.iter().map(|s| info_entry(format!("{name}|{}", s.name), s)).collect();
    Frame::Array(vec![
        Frame::Bulk(Bytes::from(name)),
        Frame::Integer(spec.arity.into()),
        status_set(flags::NAMES.iter().filter(|(f, _)| spec.has(*f)).map(|(_, n)| *n)),
        Frame::Integer(spec.keys.first.into()),
        Frame::Integer(spec.keys.last.into()),
        Frame::Integer(spec.keys.step.into()),
        Frame::Set(
            acl::NAMES
                .iter()
                .filter(|(c, _)| cats & c != 0)
                .map(|(_, n)| Frame::Simple(Bytes::from(format!("@{n}"))))
                .collect(),
        ),
        Frame::Set(spec.tips.iter().map(|t| Frame::bulk(t.as_bytes())).collect()),
        key_specs(spec),
        Frame::Set(subs),
    ])
}

/// `COMMAND`: the `COMMAND INFO` entry of every command.
fn all(_ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(Frame::Array(table().all().map(|s| info_entry(s.name.to_string(), s)).collect()))
}

/// `COMMAND COUNT`.
fn count(_ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(Frame::Integer(table().all().count() as i64))
}

/// `COMMAND INFO [command-name ...]`: one entry per name (null for unknown names), or every
/// command when no name is given.
fn info(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    if args.remaining() == 0 {
        return all(ctx, args);
    }
    let entries = args
        .rest()
        .iter()
        .map(|n| find(n).map_or(Frame::Null, |(name, s)| info_entry(name, s)))
        .collect();
    Ok(Frame::Array(entries))
}

/// The `COMMAND DOCS` description of one command. Argument descriptions are not kept in
/// the table, so they are left out.
fn docs_entry(name: &str, spec: &'static CommandSpec) -> Frame {
    let text = |s: &'static str| Frame::bulk(s.as_bytes());
    let mut doc = vec![
        field("summary", text(spec.summary)),
        field("since", text(spec.since)),
        field("group", text(spec.group)),
        field("complexity", text(spec.complexity)),
    ];
    if !spec.subcommands.is_empty() {
        let subs = spec
            .subcommands
            .iter()
            .map(|s| {
                let full = format!("{name}|{}", s.name);
                (Frame::Bulk(Bytes::from(full.clone())), docs_entry(&full, s))
            })
            .collect();
        doc.push(field("subcommands", Frame::Map(subs)));
    }
    Frame::Map(doc)
}

/// `COMMAND DOCS [command-name ...]`: a map from name to documentation; unknown names are
/// left out, no name means every command.
fn docs(_ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let found: Vec<(String, &'static CommandSpec)> = if args.remaining() == 0 {
        table().all().map(|s| (s.name.to_string(), s)).collect()
    } else {
        args.rest().iter().filter_map(|n| find(n)).collect()
    };
    let map = found
        .into_iter()
        .map(|(name, s)| {
            let doc = docs_entry(&name, s);
            (Frame::Bulk(Bytes::from(name)), doc)
        })
        .collect();
    Ok(Frame::Map(map))
}

/// `COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]`: the full names
/// of all commands and subcommands that pass the filter.
fn list(_ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    enum Filter {
        All,
        None,
        Category(u32),
        Pattern(Bytes),
    }
    let filter = match args.remaining() {
        0 => Filter::All,
        3 if args.eat("filterby") => {
            if args.eat("module") {
                // No modules: nothing belongs to one.
                Filter::None
            } else if args.eat("aclcat") {
                let cat = args.next_ref()?;
                acl::NAMES
                    .iter()
                    .find(|(_, n)| n.as_bytes().eq_ignore_ascii_case(cat))
                    .map_or(Filter::None, |(bit, _)| Filter::Category(*bit))
            } else if args.eat("pattern") {
                Filter::Pattern(args.next_bytes()?)
            } else {
                return Err(CmdError::Syntax);
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    let names = every_command()
        .filter(|(name, spec)| match &filter {
            Filter::All => true,
            Filter::None => false,
            Filter::Category(bit) => spec.acl_categories() & bit != 0,
            Filter::Pattern(p) => crate::glob::matches(p, name.as_bytes(), true),
        })
        .map(|(name, _)| Frame::Bulk(Bytes::from(name)))
        .collect();
    Ok(Frame::Array(names))
}

/// Resolves the command line after `COMMAND GETKEYS` to its table row and key positions.
fn keys_of(args: &Args) -> Result<(&'static CommandSpec, Vec<usize>), CmdError> {
    let line = args.rest();
    let invalid = CmdError::Static("ERR Invalid command specified");
    let parent = line.first().and_then(|n| table().get(n)).ok_or(invalid.clone())?;
    let spec = match line.get(1) {
        Some(s) if !parent.subcommands.is_empty() => subcommand(parent, s).ok_or(invalid)?,
        _ => parent,
    };
    let argc = line.len() as i32;
    if (spec.arity > 0 && argc != spec.arity) || argc < -spec.arity {
        return Err(CmdError::Static("ERR Invalid number of arguments specified for command"));
    }
    let k = spec.keys;
    if k.first <= 0 {
        return Err(CmdError::Static("ERR The command has no key arguments"));
    }
    let last = if k.last < 0 { argc + k.last } else { k.last.min(argc - 1) };
    let step = k.step.max(1) as usize;
    let positions = (k.first..=last).step_by(step).map(|i| i as usize).collect();
    Ok((spec, positions))
}

/// `COMMAND GETKEYS command [arg ...]`.
fn getkeys(_ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let (_, positions) = keys_of(args)?;
    let line = args.rest();
    Ok(Frame::Array(positions.iter().map(|&i| Frame::Bulk(line[i].clone())).collect()))
}

/// `COMMAND GETKEYSANDFLAGS command [arg ...]`: each key with its key-spec flags.
fn getkeysandflags(_ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let (spec, positions) = keys_of(args)?;
    let line = args.rest();
    let flags = key_flags(spec);
    Ok(Frame::Array(
        positions
            .iter()
            .map(|&i| {
                Frame::Array(vec![Frame::Bulk(line[i].clone()), status_set(flags.iter().copied())])
            })
            .collect(),
    ))
}

/// The lines of `COMMAND HELP`.
const HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Prints this help.",
];

/// `COMMAND HELP`.
fn help(_ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(help_reply(HELP))
}
