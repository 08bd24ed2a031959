//! ACL: users, their rules, and the permission check dispatch runs before every command.
//!
//! A [`User`] has flags (on/off, nopass, payload sanitizing), password hashes and one or
//! more [`Selector`]s: the root one (rules given outside parentheses) and any added with
//! `(...)`. A command runs if any selector allows the command, its keys and its channels.
//! Command permissions are a bitmap over the command table (each command and subcommand has
//! an id); the rules that built it are also kept as text, in the order they were applied,
//! because Redis 7.2 shows them that way in `ACL LIST`, `ACL GETUSER` and the ACL file.

pub mod file;
pub mod log;
pub mod sha256;

use crate::commands::spec::{acl as cat, flags, CommandSpec};
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

/// Key pattern permission: the key may be read.
const KEY_READ: u8 = 1;
/// Key pattern permission: the key may be written.
const KEY_WRITE: u8 = 2;
/// Both: a plain `~pattern`.
const KEY_ALL: u8 = KEY_READ | KEY_WRITE;

/// Why a rule was refused; `text()` is Redis's wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleError {
    /// Unknown command or category.
    Unknown,
    /// Anything else malformed.
    Syntax,
    /// A key pattern after `allkeys`.
    KeysAfterAll,
    /// A channel pattern after `allchannels`.
    ChannelsAfterAll,
    /// `<pass` or `!hash` for a password the user does not have.
    NoSuchPassword,
    /// `#hash` that is not 64 lowercase hex digits.
    BadHash,
    /// `+cmd|sub|arg`: first-args of subcommands.
    FirstArgOfSub,
    /// A user defined twice in the config file.
    Duplicate,
}

impl RuleError {
    /// The explanation Redis gives for this error.
    pub fn text(self) -> &'static str {
        match self {
            RuleError::Unknown => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::KeysAfterAll => {
                "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and \
                 does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
            }
            RuleError::ChannelsAfterAll => {
                "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid \
                 and does not have any effect. Try 'resetchannels' to start with an empty list \
                 of channels"
            }
            RuleError::NoSuchPassword => {
                "The password you are trying to remove from the user does not exist"
            }
            RuleError::BadHash => {
                "The password hash must be exactly 64 characters and contain only lowercase \
                 hexadecimal characters"
            }
            RuleError::FirstArgOfSub => "Allowing first-arg of a subcommand is not supported",
            RuleError::Duplicate => {
                "Duplicate user found. A user can only be defined once in config files"
            }
        }
    }
}

/// One command of the table as ACLs see it.
struct Row {
    spec: &'static CommandSpec,
    /// ACL name: `get`, `client|list`.
    name: String,
    /// Ids of the subcommands, for a container.
    subs: Vec<usize>,
}

/// Every command and subcommand with its id (its index), and the lookup by name.
struct Index {
    rows: Vec<Row>,
    by_name: HashMap<String, usize>,
}

/// The command index, built once from the command table.
fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut ix = Index { rows: Vec::new(), by_name: HashMap::new() };
        let add = |ix: &mut Index, spec: &'static CommandSpec, name: String| {
            let id = ix.rows.len();
            ix.rows.push(Row { spec, name: name.clone(), subs: Vec::new() });
            ix.by_name.insert(name, id);
            id
        };
        for spec in crate::commands::table().all() {
            let id = add(&mut ix, spec, spec.name.to_string());
            for sub in spec.subcommands {
                let sid = add(&mut ix, sub, format!("{}|{}", spec.name, sub.name));
                ix.rows[id].subs.push(sid);
            }
        }
        ix
    })
}

/// The id of a resolved command (by name: table rows have no stable address).
fn id_of(resolved: &crate::dispatch::Resolved) -> Option<usize> {
    match resolved.parent {
        None => index().by_name.get(resolved.spec.name).copied(),
        Some(_) => index().by_name.get(resolved.full_name().as_ref()).copied(),
    }
}

/// A command by its ACL name (`get`, `config|get`), any letter case.
fn id_by_name(name: &[u8]) -> Option<usize> {
    let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
    index().by_name.get(&lower).copied()
}

/// A category bit by name (`string`, any letter case).
pub fn category(name: &[u8]) -> Option<u32> {
    cat::NAMES.iter().find(|(_, n)| n.as_bytes().eq_ignore_ascii_case(name)).map(|(b, _)| *b)
}

/// Full names (`client|list`) of the commands in a category, in table order.
pub fn commands_in(bit: u32) -> Vec<String> {
    let mut out = Vec::new();
    for spec in crate::commands::table().all() {
        if spec.acl_categories() & bit != 0 {
            out.push(spec.name.to_string());
        }
        for sub in spec.subcommands {
            if sub.acl_categories() & bit != 0 {
                out.push(format!("{}|{}", spec.name, sub.name));
            }
        }
    }
    out
}

/// True if `s` holds a space or a NUL byte (refused in names and patterns).
pub fn has_spaces(s: &[u8]) -> bool {
    s.iter().any(|&b| b == b' ' || b == 0)
}

/// One set of permissions: commands, key patterns, channel patterns.
#[derive(Clone, Debug, Default)]
pub struct Selector {
    /// Bitmap over command ids.
    allowed: Vec<u64>,
    /// Every command allowed (set by `+@all`, cleared by removing any command).
    all_commands: bool,
    /// `+@all` was the base: commands added later would be allowed too.
    future: bool,
    /// Allowed first arguments of otherwise denied commands (`+select|0`), by command id.
    first_args: Vec<(usize, Vec<Bytes>)>,
    /// The command rules as applied, lowercase, space separated.
    rules: String,
    /// `allkeys`.
    all_keys: bool,
    /// Key patterns with their read/write bits, in order.
    keys: Vec<(Bytes, u8)>,
    /// `allchannels`.
    all_channels: bool,
    /// Channel patterns, in order.
    channels: Vec<Bytes>,
}

impl Selector {
    fn bit(&self, id: usize) -> bool {
        self.allowed.get(id / 64).is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        let words = index().rows.len().div_ceil(64);
        if self.allowed.len() < words {
            self.allowed.resize(words, 0);
        }
        if on {
            self.allowed[id / 64] |= 1 << (id % 64);
        } else {
            self.allowed[id / 64] &= !(1 << (id % 64));
            self.all_commands = false;
        }
    }

    /// Allows or denies a command and, for a container, all its subcommands.
    fn change(&mut self, id: usize, on: bool) {
        self.set_bit(id, on);
        self.first_args.retain(|(i, _)| *i != id);
        for &sub in &index().rows[id].subs {
            self.set_bit(sub, on);
        }
    }

    /// Records `rule` (without its sign) in the ordered rule text, replacing an earlier
    /// spelling of the same rule and of its subcommands.
    fn record(&mut self, rule: &str, allow: bool) {
        let rule = rule.to_ascii_lowercase();
        let kept: Vec<&str> = self
            .rules
            .split(' ')
            .filter(|r| !r.is_empty())
            .filter(|r| {
                let body = &r[1..];
                !(body == rule
                    || (body.len() > rule.len()
                        && body.starts_with(rule.as_str())
                        && body.as_bytes()[rule.len()] == b'|'))
            })
            .collect();
        let mut text = kept.join(" ");
        if !text.is_empty() {
            text.push(' ');
        }
        text.push(if allow { '+' } else { '-' });
        text.push_str(&rule);
        self.rules = text;
    }

    /// A selector with no permissions, except every channel when `all_channels` (the
    /// `acl-pubsub-default` setting in force when it is created).
    fn empty(all_channels: bool) -> Selector {
        let mut s = Selector { all_channels, ..Selector::default() };
        s.set_all_commands(false);
        s
    }

    fn set_all_commands(&mut self, on: bool) {
        let words = index().rows.len().div_ceil(64);
        self.allowed = vec![if on { u64::MAX } else { 0 }; words];
        self.all_commands = on;
        self.future = on;
        self.rules.clear();
        self.first_args.clear();
    }

    /// Applies one selector rule.
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if is("allkeys") || op == b"~*" {
            self.all_keys = true;
            self.keys.clear();
        } else if is("resetkeys") {
            self.all_keys = false;
            self.keys.clear();
        } else if is("allchannels") || op == b"&*" {
            self.all_channels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.all_channels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.set_all_commands(true);
        } else if is("nocommands") || is("-@all") {
            self.set_all_commands(false);
        } else if op.first() == Some(&b'~') || op.first() == Some(&b'%') {
            self.add_key_pattern(op)?;
        } else if op.first() == Some(&b'&') {
            if self.all_channels {
                return Err(RuleError::ChannelsAfterAll);
            }
            let pat = &op[1..];
            if has_spaces(pat) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pat) {
                self.channels.push(Bytes::copy_from_slice(pat));
            }
            self.all_channels = false;
        } else if op.len() > 1 && (op[0] == b'+' || op[0] == b'-') && op[1] == b'@' {
            let bit = category(&op[2..]).ok_or(RuleError::Unknown)?;
            let allow = op[0] == b'+';
            self.record(&String::from_utf8_lossy(&op[1..]), allow);
            for id in 0..index().rows.len() {
                if index().rows[id].spec.acl_categories() & bit != 0 {
                    self.change(id, allow);
                }
            }
        } else if op.first() == Some(&b'+') {
            self.allow_command(&op[1..])?;
        } else if op.first() == Some(&b'-') {
            let id = id_by_name(&op[1..]).ok_or(RuleError::Unknown)?;
            self.change(id, false);
            self.record(&full_name(id), false);
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    /// `+cmd`, `+cmd|sub`, or `+cmd|first-arg` for a command without subcommands.
    fn allow_command(&mut self, name: &[u8]) -> Result<(), RuleError> {
        let Some(bar) = name.iter().rposition(|&b| b == b'|') else {
            let id = id_by_name(name).ok_or(RuleError::Unknown)?;
            self.change(id, true);
            self.record(&full_name(id), true);
            return Ok(());
        };
        let (base, arg) = (&name[..bar], &name[bar + 1..]);
        let id = id_by_name(base).ok_or(RuleError::Unknown)?;
        if base.contains(&b'|') {
            return Err(RuleError::FirstArgOfSub);
        }
        if arg.is_empty() {
            return Err(RuleError::Syntax);
        }
        if index().rows[id].spec.subcommands.is_empty() {
            match self.first_args.iter_mut().find(|(i, _)| *i == id) {
                Some((_, list)) => {
                    if !list.iter().any(|a| a.eq_ignore_ascii_case(arg)) {
                        list.push(Bytes::copy_from_slice(arg));
                    }
                }
                None => self.first_args.push((id, vec![Bytes::copy_from_slice(arg)])),
            }
        } else {
            let sub = id_by_name(name).ok_or(RuleError::Unknown)?;
            self.change(sub, true);
        }
        self.record(&String::from_utf8_lossy(name), true);
        Ok(())
    }

    /// `~pattern`, `%R~pattern`, `%W~pattern`, `%RW~pattern`.
    fn add_key_pattern(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if self.all_keys {
            return Err(RuleError::KeysAfterAll);
        }
        let mut perm = 0;
        let mut at = 1;
        if op[0] == b'%' {
            while at < op.len() {
                match op[at].to_ascii_uppercase() {
                    b'R' if perm & KEY_READ == 0 => perm |= KEY_READ,
                    b'W' if perm & KEY_WRITE == 0 => perm |= KEY_WRITE,
                    b'~' if perm != 0 => {
                        at += 1;
                        break;
                    }
                    _ => return Err(RuleError::Syntax),
                }
                at += 1;
            }
        } else {
            perm = KEY_ALL;
        }
        let pat = &op[at.min(op.len())..];
        if has_spaces(pat) {
            return Err(RuleError::Syntax);
        }
        match self.keys.iter_mut().find(|(p, _)| p == pat) {
            Some((_, bits)) => *bits |= perm,
            None => self.keys.push((Bytes::copy_from_slice(pat), perm)),
        }
        self.all_keys = false;
        Ok(())
    }

    /// The command rules as `ACL LIST` shows them.
    pub fn describe_commands(&self) -> String {
        let base = if self.future { "+@all" } else { "-@all" };
        if self.rules.is_empty() {
            base.to_string()
        } else {
            format!("{base} {}", self.rules)
        }
    }

    /// The key patterns, space separated (`~*` for allkeys).
    pub fn describe_keys(&self) -> Vec<u8> {
        if self.all_keys {
            return b"~*".to_vec();
        }
        let mut out = Vec::new();
        for (i, (pat, perm)) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(match *perm {
                KEY_READ => b"%R~",
                KEY_WRITE => b"%W~",
                _ => b"~",
            });
            out.extend_from_slice(pat);
        }
        out
    }

    /// The channel patterns, space separated (`&*` for allchannels).
    pub fn describe_channels(&self) -> Vec<u8> {
        if self.all_channels {
            return b"&*".to_vec();
        }
        let mut out = Vec::new();
        for (i, pat) in self.channels.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.push(b'&');
            out.extend_from_slice(pat);
        }
        out
    }

    /// The whole selector in rule form, as inside `ACL LIST`.
    fn describe(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.all_keys {
            out.extend_from_slice(b"~* ");
        } else if !self.keys.is_empty() {
            out.extend_from_slice(&self.describe_keys());
            out.push(b' ');
        }
        if self.all_channels {
            out.extend_from_slice(b"&* ");
        } else {
            out.extend_from_slice(b"resetchannels ");
            if !self.channels.is_empty() {
                out.extend_from_slice(&self.describe_channels());
                out.push(b' ');
            }
        }
        out.extend_from_slice(self.describe_commands().as_bytes());
        out
    }

    /// True if this selector allows everything: the default user's fast path.
    fn unrestricted(&self) -> bool {
        self.all_commands && self.all_keys && self.all_channels
    }

    /// Checks one command line against this selector.
    fn check(&self, id: usize, parent: bool, argv: &[Bytes], keys: &Keys<'_>) -> Verdict {
        let spec = index().rows[id].spec;
        if !self.all_commands && !spec.has(flags::NO_AUTH) && !self.bit(id) {
            let arg = argv.get(if parent { 2 } else { 1 });
            let allowed = arg.is_some_and(|a| {
                self.first_args
                    .iter()
                    .any(|(i, list)| *i == id && list.iter().any(|x| x.eq_ignore_ascii_case(a)))
            });
            if !allowed {
                return Verdict::Command;
            }
        }
        if !self.all_keys {
            for &(pos, kflags) in keys.get() {
                let Some(key) = argv.get(pos) else { continue };
                if !self.key_allowed(key, kflags) {
                    return Verdict::Key(pos);
                }
            }
        }
        if !self.all_channels {
            for (pos, pattern) in channel_args(spec, argv) {
                if !channel_allowed(&self.channels, &argv[pos], pattern) {
                    return Verdict::Channel(pos);
                }
            }
        }
        Verdict::Ok
    }

    /// A key against the patterns, with the access the command's key spec needs.
    fn key_allowed(&self, key: &[u8], kflags: &[&str]) -> bool {
        let mut need = 0;
        for f in kflags {
            match *f {
                "access" => need |= KEY_READ,
                "insert" | "delete" | "update" => need |= KEY_WRITE,
                _ => {}
            }
        }
        self.keys.iter().any(|(p, perm)| perm & need == need && crate::glob::matches(p, key, false))
    }
}

/// True if `list` (channel patterns) allows `ch`. A subscribed pattern (PSUBSCRIBE) must be
/// in the list literally, since a glob cannot be proven to match only allowed channels; a
/// channel name is matched against each pattern.
pub fn channel_allowed(list: &[Bytes], ch: &[u8], pattern: bool) -> bool {
    list.iter().any(|p| if pattern { p == ch } else { crate::glob::matches(p, ch, false) })
}

/// The channel patterns user `new` allows when they may not cover everything user `old`
/// allowed: then its subscribers must be checked against them. `None` when nothing was
/// revoked: some selector of `new` allows every channel, or each pattern of `old` is still
/// there (Redis compares the patterns as written, over all selectors together).
pub fn revoked_channels(old: &User, new: &User) -> Option<Vec<Bytes>> {
    if new.selectors.iter().any(|s| s.all_channels) {
        return None;
    }
    let upcoming: Vec<Bytes> =
        new.selectors.iter().flat_map(|s| s.channels.iter().cloned()).collect();
    let kept = old
        .selectors
        .iter()
        .all(|s| !s.all_channels && s.channels.iter().all(|p| upcoming.contains(p)));
    if kept {
        None
    } else {
        Some(upcoming)
    }
}

/// The channels a command line names, with whether each is a pattern (PSUBSCRIBE). Only
/// publishing and subscribing are checked, as in Redis; unsubscribing never is.
fn channel_args(spec: &CommandSpec, argv: &[Bytes]) -> Vec<(usize, bool)> {
    match spec.name {
        "publish" | "spublish" if argv.len() > 1 => vec![(1, false)],
        "subscribe" | "ssubscribe" => (1..argv.len()).map(|i| (i, false)).collect(),
        "psubscribe" => (1..argv.len()).map(|i| (i, true)).collect(),
        _ => Vec::new(),
    }
}

/// The key positions of a command line, found once and shared by the selectors.
struct Keys<'a> {
    spec: &'static CommandSpec,
    argv: &'a [Bytes],
    found: OnceLock<Vec<(usize, &'static [&'static str])>>,
}

impl Keys<'_> {
    fn get(&self) -> &[(usize, &'static [&'static str])] {
        self.found.get_or_init(|| {
            let has_keys =
                self.spec.getkeys.is_some() || self.spec.specs().any(|k| !k.has("not_key"));
            if has_keys {
                crate::commands::introspection::find_keys(self.spec, self.argv)
            } else {
                Vec::new()
            }
        })
    }
}

/// The outcome of a permission check, ordered as Redis ranks denials when several
/// selectors fail (the command, then keys, then channels; the later argument wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed.
    Ok,
    /// The command itself is denied.
    Command,
    /// The key at this argv position is denied.
    Key(usize),
    /// The channel at this argv position is denied.
    Channel(usize),
}

impl Verdict {
    fn rank(self) -> (u8, usize) {
        match self {
            Verdict::Ok => (0, 0),
            Verdict::Command => (1, 0),
            Verdict::Key(p) => (2, p),
            Verdict::Channel(p) => (4, p),
        }
    }

    /// The reason word of the ACL log (`command`, `key`, `channel`).
    pub fn reason(self) -> log::Reason {
        match self {
            Verdict::Key(_) => log::Reason::Key,
            Verdict::Channel(_) => log::Reason::Channel,
            _ => log::Reason::Command,
        }
    }
}

/// The ACL name of command `id` (`get`, `client|list`).
fn full_name(id: usize) -> String {
    index().rows[id].name.clone()
}

/// User flags, in the order Redis lists them.
#[derive(Clone, Debug, Default)]
pub struct User {
    /// `on` (else `off`).
    pub enabled: bool,
    /// `nopass`: any password works.
    pub nopass: bool,
    /// `skip-sanitize-payload`.
    pub skip_sanitize: bool,
    /// `sanitize-payload`.
    pub sanitize: bool,
    /// SHA-256 hex digests of the passwords, in order.
    pub passwords: Vec<String>,
    /// The root selector first, then the `(...)` ones.
    pub selectors: Vec<Selector>,
}

impl User {
    /// A new user under `acl-pubsub-default resetchannels`: off, no passwords, no
    /// permissions.
    pub fn new() -> User {
        User::with_channels(false)
    }

    /// A new user: off, no passwords, no permissions but every channel when `all_channels`
    /// (`acl-pubsub-default allchannels`).
    pub fn with_channels(all_channels: bool) -> User {
        User { selectors: vec![Selector::empty(all_channels)], ..User::default() }
    }

    /// The user every server starts with: on, nopass, everything allowed (whatever
    /// `acl-pubsub-default` says).
    pub fn default_user() -> User {
        let mut u = User::new();
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            let _ = u.apply(op.as_bytes());
        }
        u
    }

    /// The flag names `ACL GETUSER` and `ACL LIST` show.
    pub fn flag_names(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        out.push(if self.enabled { "on" } else { "off" });
        if self.nopass {
            out.push("nopass");
        }
        if self.skip_sanitize {
            out.push("skip-sanitize-payload");
        }
        if self.sanitize {
            out.push("sanitize-payload");
        }
        out
    }

    /// Applies one rule under `acl-pubsub-default resetchannels` (for rules whose outcome
    /// does not depend on it: checking syntax, passwords, explicit channel rules).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        self.apply_with(op, false)
    }

    /// Applies one rule (a user flag, a password rule, a selector or a root selector rule);
    /// `all_channels` is `acl-pubsub-default allchannels`, which `reset` and new `(...)`
    /// selectors start from.
    pub fn apply_with(&mut self, op: &[u8], all_channels: bool) -> Result<(), RuleError> {
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if op.is_empty() {
            return Ok(());
        }
        if is("on") {
            self.enabled = true;
        } else if is("off") {
            self.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.skip_sanitize = true;
            self.sanitize = false;
        } else if is("sanitize-payload") {
            self.skip_sanitize = false;
            self.sanitize = true;
        } else if is("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = password_hash(op)?;
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = password_hash(op)?;
            let at = self.passwords.iter().position(|p| *p == hash);
            self.passwords.remove(at.ok_or(RuleError::NoSuchPassword)?);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let mut s = Selector::empty(all_channels);
            let inner = &op[1..op.len() - 1];
            for rule in resp::request::split_args(inner).unwrap_or_default() {
                s.apply(&rule)?;
            }
            self.selectors.push(s);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            for step in ["resetpass", "resetkeys", "resetchannels", "off", "sanitize-payload"] {
                self.apply(step.as_bytes())?;
            }
            if all_channels {
                self.apply(b"allchannels")?;
            }
            self.selectors.truncate(1);
            self.apply(b"-@all")?;
        } else {
            return self.root_mut().apply(op);
        }
        Ok(())
    }

    fn root_mut(&mut self) -> &mut Selector {
        if self.selectors.is_empty() {
            self.selectors.push(Selector::default());
        }
        &mut self.selectors[0]
    }

    /// The root selector.
    pub fn root(&self) -> &Selector {
        &self.selectors[0]
    }

    /// The user's rules in `ACL LIST` / ACL file form (without `user <name> `).
    pub fn describe(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for f in self.flag_names() {
            out.extend_from_slice(f.as_bytes());
            out.push(b' ');
        }
        for p in &self.passwords {
            out.push(b'#');
            out.extend_from_slice(p.as_bytes());
            out.push(b' ');
        }
        for (i, s) in self.selectors.iter().enumerate() {
            if i == 0 {
                out.extend_from_slice(&s.describe());
            } else {
                out.extend_from_slice(b" (");
                out.extend_from_slice(&s.describe());
                out.push(b')');
            }
        }
        out
    }

    /// True if `pass` logs this user in (disabled users never log in).
    pub fn accepts(&self, pass: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let hash = sha256::hex_digest(pass);
        // Compare every stored hash in full, so timing tells nothing about which matched.
        self.passwords.iter().fold(false, |ok, p| ok | constant_eq(p.as_bytes(), hash.as_bytes()))
    }

    /// True if nothing is restricted: the fast path of the permission check.
    fn unrestricted(&self) -> bool {
        self.selectors.iter().any(Selector::unrestricted)
    }

    /// Checks a command line: Ok, or the most relevant denial over all selectors.
    pub fn check(&self, resolved: &crate::dispatch::Resolved, argv: &[Bytes]) -> Verdict {
        let Some(id) = id_of(resolved) else { return Verdict::Command };
        let keys = Keys { spec: resolved.spec, argv, found: OnceLock::new() };
        let mut worst = Verdict::Command;
        for s in &self.selectors {
            let v = s.check(id, resolved.parent.is_some(), argv, &keys);
            if v == Verdict::Ok {
                return v;
            }
            if v.rank() > worst.rank() {
                worst = v;
            }
        }
        worst
    }
}

/// Compares two byte strings without stopping at the first difference.
fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The stored form of a password rule's argument: the SHA-256 of `>pass`/`<pass`, or the
/// checked hash of `#hash`/`!hash`.
fn password_hash(op: &[u8]) -> Result<String, RuleError> {
    let arg = &op[1..];
    if op[0] == b'>' || op[0] == b'<' {
        return Ok(sha256::hex_digest(arg));
    }
    let ok = arg.len() == 64 && arg.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
    if !ok {
        return Err(RuleError::BadHash);
    }
    Ok(String::from_utf8_lossy(arg).into_owned())
}

/// Joins arguments of a `(...)` selector that were passed as several arguments; on an
/// unclosed parenthesis returns the index of the argument that opened it.
pub fn merge_selectors(args: &[Bytes]) -> Result<Vec<Bytes>, usize> {
    let mut out = Vec::new();
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (i, a) in args.iter().enumerate() {
        if let Some((start, mut buf)) = open.take() {
            buf.push(b' ');
            buf.extend_from_slice(a);
            if a.last() == Some(&b')') {
                out.push(Bytes::from(buf));
            } else {
                open = Some((start, buf));
            }
            continue;
        }
        if a.first() == Some(&b'(') && a.last() != Some(&b')') {
            open = Some((i, a.to_vec()));
            continue;
        }
        out.push(a.clone());
    }
    match open {
        Some((start, _)) => Err(start),
        None => Ok(out),
    }
}

/// The users, the ACL log, and the default user's fast-path flag.
#[derive(Clone, Debug)]
pub struct Acl {
    /// Users by name, in byte order (the order ACL LIST and ACL USERS show).
    pub users: BTreeMap<String, User>,
    /// True while the default user can run anything: commands skip the check.
    pub default_open: bool,
    /// `acl-pubsub-default allchannels`: new users and `reset` allow every channel.
    pub all_channels_default: bool,
    /// The ACL log.
    pub log: log::Log,
}

impl Default for Acl {
    fn default() -> Self {
        let mut users = BTreeMap::new();
        users.insert("default".to_string(), User::default_user());
        Acl { users, default_open: true, all_channels_default: false, log: log::Log::default() }
    }
}

/// The user name a byte string stands for.
pub fn name_of(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Acl {
    /// Recomputes the cached flags after users changed.
    pub fn refresh(&mut self) {
        self.default_open = self.users.get("default").is_some_and(User::unrestricted);
    }

    /// The default user (always present).
    pub fn default_user(&self) -> Option<&User> {
        self.users.get("default")
    }

    /// True if a new connection is logged in as `default` without AUTH.
    pub fn default_nopass(&self) -> bool {
        self.default_user().is_some_and(|u| u.nopass && u.enabled)
    }

    /// `requirepass`: sets the default user's only password, or makes it nopass when empty.
    pub fn set_requirepass(&mut self, pass: &[u8]) {
        if let Some(u) = self.users.get_mut("default") {
            let _ = u.apply(b"resetpass");
            if pass.is_empty() {
                let _ = u.apply(b"nopass");
            } else {
                let mut op = b">".to_vec();
                op.extend_from_slice(pass);
                let _ = u.apply(&op);
            }
        }
        self.refresh();
    }

    /// Applies `ACL SETUSER`-style rules to user `name` (created if missing) all or
    /// nothing; returns the user as it was before (if it existed), the error is the
    /// client-visible text.
    pub fn set_user(&mut self, name: &[u8], rules: &[Bytes]) -> Result<Option<User>, Vec<u8>> {
        let merged = merge_selectors(rules).map_err(|at| {
            let mut t = b"ERR Unmatched parenthesis in acl selector starting at '".to_vec();
            t.extend_from_slice(&rules[at]);
            t.extend_from_slice(b"'.");
            t
        })?;
        let key = name_of(name);
        let all_channels = self.all_channels_default;
        let mut user =
            self.users.get(&key).cloned().unwrap_or_else(|| User::with_channels(all_channels));
        for op in &merged {
            if let Err(e) = user.apply_with(op, all_channels) {
                let mut t = b"ERR Error in ACL SETUSER modifier '".to_vec();
                t.extend_from_slice(op);
                t.extend_from_slice(b"': ");
                t.extend_from_slice(e.text().as_bytes());
                return Err(t);
            }
        }
        let old = self.users.insert(key, user);
        self.refresh();
        Ok(old)
    }
}

/// Where client `cid`'s command runs from, for the log and the error text.
fn context_of(
    srv: &crate::server::Server,
    c: &crate::net::client::Client,
    cid: usize,
) -> log::Context {
    if srv.busy.running.as_ref().is_some_and(|r| r.cid == cid) {
        log::Context::Lua
    } else if c.multi.is_some() || c.in_exec {
        log::Context::Multi
    } else {
        log::Context::Toplevel
    }
}

/// Records a denial by client `cid` in the ACL log, with its `CLIENT LIST` line.
pub fn log_denial(
    srv: &mut crate::server::Server,
    c: &crate::net::client::Client,
    cid: usize,
    reason: log::Reason,
    object: Bytes,
    username: Bytes,
) {
    let entry = log::Entry {
        count: 1,
        reason,
        context: context_of(srv, c, cid),
        object,
        username,
        updated: srv.now_ms(),
        client_info: crate::commands::client::info_line(c, srv.now_ms()).trim_end().to_string(),
        id: 0,
        created: 0,
    };
    let max = srv.config.int(crate::config::P::AcllogMaxLen).max(0) as usize;
    srv.acl.log.add(entry, max);
}

/// The permission check dispatch runs before a command (Redis's ACLCheckAllPerm): a user
/// who may run anything passes at once; otherwise the denial is logged and answered with
/// the NOPERM text for where the command came from (client, EXEC, script).
pub fn gate(
    srv: &mut crate::server::Server,
    clients: &slab::Slab<crate::net::client::Client>,
    cid: usize,
    resolved: &crate::dispatch::Resolved,
    argv: &[Bytes],
) -> Result<(), crate::error::CmdError> {
    let c = &clients[cid];
    // Internal clients without a socket (AOF replay) have no user, as in Redis.
    if (srv.acl.default_open && c.user == "default") || c.sock.is_none() {
        return Ok(());
    }
    let verdict = match srv.acl.users.get(&c.user) {
        Some(u) => u.check(resolved, argv),
        None => Verdict::Command,
    };
    let object = match verdict {
        Verdict::Ok => return Ok(()),
        Verdict::Command => Bytes::from(resolved.full_name().into_owned()),
        Verdict::Key(p) | Verdict::Channel(p) => argv[p].clone(),
    };
    let context = context_of(srv, c, cid);
    log_denial(srv, c, cid, verdict.reason(), object, Bytes::from(c.user.clone()));
    let why = match verdict {
        Verdict::Key(_) => "No permissions to access a key".to_string(),
        Verdict::Channel(_) => "No permissions to access a channel".to_string(),
        _ => format!(
            "User {} has no permissions to run the '{}' command",
            c.user,
            resolved.full_name()
        ),
    };
    let text = match context {
        log::Context::Lua => format!("ERR ACL failure in script: {why}"),
        log::Context::Multi if c.in_exec => {
            let reason = match verdict {
                Verdict::Key(_) => "no permission to touch the specified keys",
                Verdict::Channel(_) => "no permission for the specified channels",
                _ => "no permission to execute the command or subcommand",
            };
            format!(
                "NOPERM ACLs rules changed between the moment the transaction was accumulated \
                 and the EXEC call. This command is no longer allowed for the following reason: \
                 {reason}"
            )
        }
        _ => format!("NOPERM {why}"),
    };
    Err(crate::error::CmdError::dynamic(text))
}

impl Acl {
    /// The users a server starts with: `requirepass`, then the config file's `user` lines or
    /// the ACL file (not both). A problem is fatal, as in Redis: logged, then the process
    /// exits.
    pub fn startup(config: &crate::config::Config, logger: &crate::log::Logger) -> Acl {
        set_renames(&config.renames);
        let mut acl = Acl { all_channels_default: pubsub_default_is_all(config), ..Acl::default() };
        acl.set_requirepass(config.str(crate::config::P::Requirepass).as_bytes());
        let fail = |msg: &str| -> ! {
            logger.warning(msg);
            std::process::exit(1)
        };
        let aclfile = config.str(crate::config::P::Aclfile);
        if !aclfile.is_empty() && !config.users.is_empty() {
            fail(
                "Configuring Redis with users defined in redis.conf and at the same setting an \
                 ACL file path is invalid. This setup is very likely to lead to configuration \
                 errors and security holes, please define either an ACL file or declare users \
                 directly in your redis.conf, but not both.",
            );
        }
        let all_channels = acl.all_channels_default;
        for line in &config.users {
            let name = name_of(&line[0]);
            // Redefining `default` starts from the reset default user.
            let mut user = match acl.users.get("default") {
                Some(d) if name == "default" => {
                    let mut d = d.clone();
                    let _ = d.apply_with(b"reset", all_channels);
                    d
                }
                _ => User::with_channels(all_channels),
            };
            for op in &line[1..] {
                if let Err(e) = user.apply_with(op, all_channels) {
                    logger.warning(&format!(
                        "Error loading ACL rule '{}' for the user named '{name}': {}",
                        String::from_utf8_lossy(op),
                        e.text()
                    ));
                    fail("Critical error while loading ACLs. Exiting.");
                }
            }
            acl.users.insert(name, user);
        }
        if !aclfile.is_empty() {
            if let Err(e) = file::load(&mut acl, aclfile) {
                fail(&format!("Aborting Redis startup because of ACL errors: {e}"));
            }
        }
        acl.refresh();
        acl
    }
}

/// True if the configuration says `acl-pubsub-default allchannels`.
fn pubsub_default_is_all(config: &crate::config::Config) -> bool {
    config.word(crate::config::P::AclPubsubDefault) == "allchannels"
}

/// Keeps the default user's password in step with `CONFIG SET requirepass`, and the
/// channel permission of users created from now on with `acl-pubsub-default`.
pub fn config_changed(srv: &mut crate::server::Server, param: usize) {
    if param == crate::config::P::Requirepass as usize {
        let pass = srv.config.str(crate::config::P::Requirepass).as_bytes().to_vec();
        srv.acl.set_requirepass(&pass);
    } else if param == crate::config::P::AclPubsubDefault as usize {
        srv.acl.all_channels_default = pubsub_default_is_all(&srv.config);
    }
}

/// What a connection from outside gets (then the connection closes) in protected mode: on,
/// and the default user needs no password.
pub const PROTECTED_DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// True if a new connection from `addr` (`ip:port`, or a socket path) must be refused by
/// protected mode. Only the loopback addresses themselves count as local, as in Redis.
pub fn protected_refuses(srv: &crate::server::Server, addr: &str, unix: bool) -> bool {
    if unix || !srv.config.bool(crate::config::P::ProtectedMode) {
        return false;
    }
    if !srv.acl.default_user().is_some_and(|u| u.nopass) {
        return false;
    }
    let ip = addr.rsplit_once(':').map_or(addr, |(ip, _)| ip);
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    ip != "127.0.0.1" && ip != "::1"
}

/// `rename-command` results: for each affected name (lowercase), the row it now runs, or
/// `None` for a name that no longer exists (renamed away or disabled with `""`). Set once
/// when the server starts, from the configuration; ACL rules keep the original names.
static RENAMED: OnceLock<HashMap<String, Option<&'static CommandSpec>>> = OnceLock::new();

/// Records the config file's `rename-command` lines (only the first server of a process
/// sets them; renames are a startup-only setting).
pub fn set_renames(renames: &[(String, String)]) {
    if renames.is_empty() {
        return;
    }
    let mut map = HashMap::new();
    for (old, new) in renames {
        let spec = crate::commands::table().get(old.as_bytes());
        map.insert(old.to_ascii_lowercase(), None);
        if !new.is_empty() {
            map.insert(new.to_ascii_lowercase(), spec);
        }
    }
    let _ = RENAMED.set(map);
}

/// The command a client-typed name runs, after `rename-command`.
pub fn command_named(name: &[u8]) -> Option<&'static CommandSpec> {
    if let Some(map) = RENAMED.get() {
        if let Some(found) = map.get(&String::from_utf8_lossy(name).to_ascii_lowercase()) {
            return *found;
        }
    }
    crate::commands::table().get(name)
}
