//! `COMMAND` and its subcommands, answered from the command table.
//!
//! Everything here is derived from the table rows (`CommandSpec`), so a family adding a
//! command gets a correct `COMMAND INFO`/`DOCS`/`LIST`/`GETKEYS` for free. Subcommands are
//! named `parent|sub`, as in Redis.

use super::client::help_reply;
use super::spec::{
    acl, flags, flags::*, keyspecs, BeginSearch, CommandSpec, FindKeys, KeyPos, KeySpec,
};
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

/// A map with a `type` and a `spec` map, as key specs describe their two halves.
fn typed(kind: &'static str, spec: Vec<(Frame, Frame)>) -> Frame {
    Frame::Map(vec![field("type", Frame::bulk(kind.as_bytes())), field("spec", Frame::Map(spec))])
}

/// The `COMMAND INFO` rendering of one key spec.
fn key_spec_entry(ks: &KeySpec) -> Frame {
    let int = |n: i32| Frame::Integer(n.into());
    let begin = match ks.begin {
        BeginSearch::Index(pos) => typed("index", vec![field("index", int(pos))]),
        BeginSearch::Keyword { keyword, startfrom } => typed(
            "keyword",
            vec![
                field("keyword", Frame::bulk(keyword.as_bytes())),
                field("startfrom", int(startfrom)),
            ],
        ),
        BeginSearch::Unknown => typed("unknown", Vec::new()),
    };
    let find = match ks.find {
        FindKeys::Range { lastkey, keystep, limit } => typed(
            "range",
            vec![
                field("lastkey", int(lastkey)),
                field("keystep", int(keystep)),
                field("limit", int(limit)),
            ],
        ),
        FindKeys::Keynum { keynumidx, firstkey, keystep } => typed(
            "keynum",
            vec![
                field("keynumidx", int(keynumidx)),
                field("firstkey", int(firstkey)),
                field("keystep", int(keystep)),
            ],
        ),
        FindKeys::Unknown => typed("unknown", Vec::new()),
    };
    let mut entry = Vec::with_capacity(4);
    if !ks.notes.is_empty() {
        entry.push(field("notes", Frame::bulk(ks.notes.as_bytes())));
    }
    entry.push(field("flags", status_set(ks.flags.iter().copied())));
    entry.push(field("begin_search", begin));
    entry.push(field("find_keys", find));
    Frame::Map(entry)
}

/// One `COMMAND INFO` entry: name, arity, flags, first/last/step, ACL categories, tips,
/// key specs and subcommands.
fn info_entry(name: String, spec: &'static CommandSpec) -> Frame {
    let cats = spec.acl_categories();
    let subs: Vec<Frame> =
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
        Frame::Set(spec.specs().map(|ks| key_spec_entry(&ks)).collect()),
        // Redis sends a command's subcommands as an array, but "none" as an empty set.
        if subs.is_empty() { Frame::Set(subs) } else { Frame::Array(subs) },
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

/// The COMMAND DOCS fields the table rows do not hold (arguments, history, doc flags...),
/// captured from redis-server by `scripts/gen-command-docs`.
#[rustfmt::skip]
#[path = "docs_data.rs"]
mod docs_data;

/// One node of a captured COMMAND DOCS reply, with the RESP type Redis gives it.
pub enum Doc {
    /// A bulk string.
    Bulk(&'static str),
    /// A status string (the flag names).
    Status(&'static str),
    /// An integer (`key_spec_index`).
    Int(i64),
    /// An array.
    List(&'static [Doc]),
    /// A set (flags, history).
    Set(&'static [Doc]),
    /// A map with string keys.
    Map(&'static [(&'static str, Doc)]),
}

impl Doc {
    fn frame(&self) -> Frame {
        let all = |items: &'static [Doc]| items.iter().map(Doc::frame).collect();
        match self {
            Doc::Bulk(s) => Frame::bulk(s.as_bytes()),
            Doc::Status(s) => Frame::simple(s),
            Doc::Int(n) => Frame::Integer(*n),
            Doc::List(items) => Frame::Array(all(items)),
            Doc::Set(items) => Frame::Set(all(items)),
            Doc::Map(pairs) => Frame::Map(pairs.iter().map(|(k, v)| field(k, v.frame())).collect()),
        }
    }
}

/// The captured extra fields of the command with full name `name` (none for commands
/// Redis does not document, such as Keel's own).
fn extra_docs(name: &str) -> &'static [(&'static str, Doc)] {
    let data = docs_data::DOCS;
    data.binary_search_by(|(n, _)| (*n).cmp(name)).map_or(&[], |i| data[i].1)
}

/// The `COMMAND DOCS` description of one command: the table's summary, since, group and
/// complexity, then the captured fields, then the subcommands.
fn docs_entry(name: &str, spec: &'static CommandSpec) -> Frame {
    let text = |s: &'static str| Frame::bulk(s.as_bytes());
    let mut doc = vec![
        field("summary", text(spec.summary)),
        field("since", text(spec.since)),
        field("group", text(spec.group)),
        field("complexity", text(spec.complexity)),
    ];
    doc.extend(extra_docs(name).iter().map(|(k, v)| field(k, v.frame())));
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

/// Keys found in a command line: argv positions with their key-spec flags.
type Found = Vec<(usize, &'static [&'static str])>;

/// Why the key specs could not list a command line's keys.
struct SpecsFailed;

/// The first argv position of a key spec's keys, `Ok(None)` when its keyword is absent.
fn spec_start(ks: &KeySpec, line: &[Bytes]) -> Result<Option<usize>, SpecsFailed> {
    let argc = line.len() as i64;
    match ks.begin {
        BeginSearch::Index(pos) => Ok(Some(pos.max(0) as usize)),
        BeginSearch::Keyword { keyword, startfrom } => {
            let from =
                if startfrom > 0 { i64::from(startfrom) } else { argc + i64::from(startfrom) };
            let is_kw = |i: &i64| line[*i as usize].eq_ignore_ascii_case(keyword.as_bytes());
            // A positive start searches forwards (up to the one-before-last argument, as
            // Redis does), a negative one backwards; position 0 (the name) never counts.
            let hit = if startfrom > 0 {
                (from.max(1)..argc - 1).find(is_kw)
            } else {
                (1..=from.min(argc - 1)).rev().find(is_kw)
            };
            Ok(hit.map(|i| i as usize + 1))
        }
        BeginSearch::Unknown => Err(SpecsFailed),
    }
}

/// The keys of a command line found by its key specs, as Redis finds them: every spec in
/// turn, skipping `not_key` ones; an unknown, incomplete or out-of-bounds spec fails the
/// whole search.
fn keys_by_specs(spec: &CommandSpec, line: &[Bytes]) -> Result<Found, SpecsFailed> {
    let argc = line.len() as i64;
    let mut found = Vec::new();
    for ks in spec.specs().filter(|ks| !ks.has("not_key")) {
        let Some(first) = spec_start(&ks, line)? else { continue };
        let mut first = first as i64;
        let (last, step) = match ks.find {
            FindKeys::Range { lastkey, keystep, limit } => {
                let last = match (lastkey, limit) {
                    (l, _) if l >= 0 => first + i64::from(l),
                    (l, 0) => argc + i64::from(l),
                    (l, lim) => first + ((argc - first) / i64::from(lim) + i64::from(l)),
                };
                (last, keystep)
            }
            FindKeys::Keynum { keynumidx, firstkey, keystep } => {
                let at = first + i64::from(keynumidx);
                let count = line
                    .get(at as usize)
                    .and_then(|n| crate::types::num::parse_i64(n))
                    .filter(|&n| n >= 0)
                    .ok_or(SpecsFailed)?;
                first += i64::from(firstkey);
                (first + count - 1, keystep)
            }
            FindKeys::Unknown => return Err(SpecsFailed),
        };
        if last >= argc || last < first || first >= argc {
            return Err(SpecsFailed);
        }
        let step = step.max(1) as usize;
        found.extend((first as usize..=last as usize).step_by(step).map(|i| (i, ks.flags)));
        if ks.has("incomplete") {
            return Err(SpecsFailed);
        }
    }
    Ok(found)
}

/// The keys of a command line (name first) with their flags: by the key specs, or by the
/// command's own finder where the specs cannot tell.
pub fn find_keys(spec: &CommandSpec, line: &[Bytes]) -> Found {
    // Variable flags mean only the command's own finder knows the flags of this call.
    let by_specs = match spec.specs().any(|ks| ks.has("variable_flags")) {
        true => Err(SpecsFailed),
        false => keys_by_specs(spec, line),
    };
    match (by_specs, spec.getkeys) {
        (Ok(found), _) => found,
        (Err(SpecsFailed), Some(own)) => own(spec, line),
        (Err(SpecsFailed), None) => Vec::new(),
    }
}

/// The keys `argv` names (the command name first), for client tracking: what COMMAND
/// GETKEYS would answer, without its errors.
pub fn command_keys(spec: &CommandSpec, argv: &[Bytes]) -> Vec<Bytes> {
    find_keys(spec, argv).into_iter().filter_map(|(i, _)| argv.get(i).cloned()).collect()
}

/// The keys of the command line after `COMMAND GETKEYS`, with their flags; the same checks
/// and errors, in the same order, as Redis.
fn keys_of(args: &Args) -> Result<Found, CmdError> {
    let line = args.rest();
    let invalid = CmdError::Static("ERR Invalid command specified");
    let parent = line.first().and_then(|n| table().get(n)).ok_or(invalid.clone())?;
    let spec = match line.get(1) {
        Some(s) if !parent.subcommands.is_empty() => subcommand(parent, s).ok_or(invalid)?,
        _ => parent,
    };
    if spec.getkeys.is_none() && spec.specs().all(|ks| ks.has("not_key")) {
        return Err(CmdError::Static("ERR The command has no key arguments"));
    }
    let argc = line.len() as i64;
    let arity = i64::from(spec.arity);
    if (arity > 0 && argc != arity) || argc < -arity {
        return Err(CmdError::Static("ERR Invalid number of arguments specified for command"));
    }
    let found = find_keys(spec, line);
    if found.is_empty() && !spec.has(NO_MANDATORY_KEYS) {
        return Err(CmdError::Static("ERR Invalid arguments specified for command"));
    }
    Ok(found)
}

/// `COMMAND GETKEYS command [arg ...]`.
fn getkeys(_ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let found = keys_of(args)?;
    let line = args.rest();
    Ok(Frame::Array(found.iter().map(|&(i, _)| Frame::Bulk(line[i].clone())).collect()))
}

/// `COMMAND GETKEYSANDFLAGS command [arg ...]`: each key with its key-spec flags.
fn getkeysandflags(_ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let found = keys_of(args)?;
    let line = args.rest();
    Ok(Frame::Array(
        found
            .iter()
            .map(|&(i, flags)| {
                Frame::Array(vec![Frame::Bulk(line[i].clone()), status_set(flags.iter().copied())])
            })
            .collect(),
    ))
}

/// Key-spec flags of a key that is read and changed.
const RW_ACCESS_UPDATE: &[&str] = &["RW", "access", "update"];

/// True if `arg` is `word`, in any letter case.
fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// SORT's own key finder: the sorted key, then the destination of the last STORE (BY and
/// GET patterns name keys only the data knows, so they are not reported).
pub fn sort_keys(_: &CommandSpec, line: &[Bytes]) -> Found {
    let mut found: Found = vec![(1, keyspecs::READ)];
    let mut store = None;
    let mut i = 2;
    while i < line.len() {
        let arg = &line[i];
        if is(arg, "limit") {
            i += 2;
        } else if is(arg, "store") && i + 1 < line.len() {
            store = Some(i + 1);
        } else if is(arg, "get") || is(arg, "by") {
            i += 1;
        }
        i += 1;
    }
    found.extend(store.map(|at| (at, keyspecs::STORED)));
    found
}

/// SORT_RO's own key finder: only the sorted key.
pub fn sort_ro_keys(_: &CommandSpec, _: &[Bytes]) -> Found {
    vec![(1, keyspecs::READ)]
}

/// SET's own key finder: with GET the old value is read too.
pub fn set_keys(_: &CommandSpec, line: &[Bytes]) -> Found {
    let flags = match line.iter().skip(3).any(|a| is(a, "get")) {
        true => RW_ACCESS_UPDATE,
        false => &["OW", "update"],
    };
    vec![(1, flags)]
}

/// BITFIELD's own key finder: a call made only of well-formed GET and OVERFLOW operations
/// just reads the key; anything else (including a syntax error) may write it.
pub fn bitfield_keys(_: &CommandSpec, line: &[Bytes]) -> Found {
    let mut i = 2;
    let mut readonly = true;
    while i < line.len() {
        let rest = line.len() - i - 1;
        let arg = &line[i];
        if is(arg, "get") && rest >= 2 {
            i += 3;
        } else if is(arg, "overflow") && rest >= 1 {
            i += 2;
        } else {
            readonly = false;
            break;
        }
    }
    vec![(1, if readonly { keyspecs::READ } else { RW_ACCESS_UPDATE })]
}

/// The number C's `atoi` reads from `arg`: leading blanks, a sign, then digits up to the
/// first other byte. Redis's key-count finders parse counts this loosely, so `2x` counts 2.
fn atoi(arg: &[u8]) -> i64 {
    let s =
        arg.iter().copied().skip_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c));
    let mut s = s.peekable();
    let negative = match s.peek() {
        Some(b'-') => {
            s.next();
            true
        }
        Some(b'+') => {
            s.next();
            false
        }
        _ => false,
    };
    let n = s
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |n, d| n.saturating_mul(10).saturating_add(i64::from(d - b'0')));
    if negative {
        -n
    } else {
        n
    }
}

/// The own key finder of the commands with a key count (ZUNION, ZUNIONSTORE, LMPOP, ...),
/// used when the count is not a valid integer for the key specs: the keys after the count,
/// then the destination key if the command has one before it. Like Redis's, it reports no
/// flags.
pub fn keynum_keys(spec: &CommandSpec, line: &[Bytes]) -> Found {
    let mut store = None;
    for ks in spec.specs() {
        match (ks.begin, ks.find) {
            (BeginSearch::Index(pos), FindKeys::Keynum { keynumidx, firstkey, keystep }) => {
                let at = (pos + keynumidx) as usize;
                let first = (pos + firstkey) as usize;
                let step = keystep.max(1) as usize;
                let count = line.get(at).map_or(0, |n| atoi(n));
                if count < 1 || count > (line.len().saturating_sub(first) / step) as i64 {
                    return Vec::new();
                }
                let keys = (0..count as usize).map(|k| (first + k * step, &[][..]));
                return keys.chain(store.map(|s| (s, &[][..]))).collect();
            }
            (BeginSearch::Index(pos), _) => store = Some(pos as usize),
            _ => {}
        }
    }
    Vec::new()
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
