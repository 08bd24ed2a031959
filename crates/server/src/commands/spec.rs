//! `CommandSpec`: one row of the command table, and the flags dispatch reads from it.

use crate::args::Args;
use crate::error::CmdError;
use crate::server::Ctx;
use resp::Frame;

/// A command handler: reads its arguments, works on the keyspace through `ctx`, and returns
/// the reply. It never checks arity or other generic gates (dispatch does) and never touches
/// a socket, so the same handler serves clients, EXEC, scripts and AOF replay.
pub type Handler = fn(&mut Ctx<'_>, &mut Args) -> Result<Frame, CmdError>;

/// Command flags, with the names `COMMAND INFO` prints. Each is documented once, here.
pub mod flags {
    /// May modify the keyspace; marks the database dirty and is propagated to the AOF.
    pub const WRITE: u32 = 1 << 0;
    /// Only reads data.
    pub const READONLY: u32 = 1 << 1;
    /// May increase memory use: refused with `-OOM` when over `maxmemory`.
    pub const DENYOOM: u32 = 1 << 2;
    /// Administrative: dangerous in the wrong hands (`@admin`, `@dangerous`).
    pub const ADMIN: u32 = 1 << 3;
    /// Pub/sub related.
    pub const PUBSUB: u32 = 1 << 4;
    /// Not allowed inside scripts.
    pub const NOSCRIPT: u32 = 1 << 5;
    /// May block the client.
    pub const BLOCKING: u32 = 1 << 6;
    /// Allowed while the dataset is loading.
    pub const LOADING: u32 = 1 << 7;
    /// Allowed on a replica with stale data.
    pub const STALE: u32 = 1 << 8;
    /// Not shown in MONITOR.
    pub const SKIP_MONITOR: u32 = 1 << 9;
    /// Not recorded in SLOWLOG.
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    /// O(1) or O(log N): never delays the server noticeably.
    pub const FAST: u32 = 1 << 11;
    /// Allowed before authentication.
    pub const NO_AUTH: u32 = 1 << 12;
    /// May replicate even though it is not a write.
    pub const MAY_REPLICATE: u32 = 1 << 13;
    /// Allowed with no keys at all even though it takes keys.
    pub const NO_MANDATORY_KEYS: u32 = 1 << 14;
    /// Not allowed inside MULTI.
    pub const NO_MULTI: u32 = 1 << 15;
    /// Allowed while a script is busy.
    pub const ALLOW_BUSY: u32 = 1 << 16;
    /// Not allowed during async loading.
    pub const NO_ASYNC_LOADING: u32 = 1 << 17;
    /// Key positions cannot be found from first/last/step alone; set by
    /// [`CommandSpec::key_specs`](super::CommandSpec::key_specs) when a key spec is not a
    /// plain range.
    pub const MOVABLEKEYS: u32 = 1 << 18;
    /// Marks the client as needing `protected` config (DEBUG, MODULE).
    pub const PROTECTED: u32 = 1 << 19;

    /// Flag bits in the order `COMMAND INFO` lists them, with their names. `may_replicate`
    /// and `protected` are internal: Redis does not list them, so neither does Keel.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (MOVABLEKEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// ACL categories (`@keyspace`, `@string`, ...), as bits in Redis's category order.
pub mod acl {
    /// `@keyspace`
    pub const KEYSPACE: u32 = 1 << 0;
    /// `@read`
    pub const READ: u32 = 1 << 1;
    /// `@write`
    pub const WRITE: u32 = 1 << 2;
    /// `@set`
    pub const SET: u32 = 1 << 3;
    /// `@sortedset`
    pub const SORTEDSET: u32 = 1 << 4;
    /// `@list`
    pub const LIST: u32 = 1 << 5;
    /// `@hash`
    pub const HASH: u32 = 1 << 6;
    /// `@string`
    pub const STRING: u32 = 1 << 7;
    /// `@bitmap`
    pub const BITMAP: u32 = 1 << 8;
    /// `@hyperloglog`
    pub const HYPERLOGLOG: u32 = 1 << 9;
    /// `@geo`
    pub const GEO: u32 = 1 << 10;
    /// `@stream`
    pub const STREAM: u32 = 1 << 11;
    /// `@pubsub`
    pub const PUBSUB: u32 = 1 << 12;
    /// `@admin`
    pub const ADMIN: u32 = 1 << 13;
    /// `@fast`
    pub const FAST: u32 = 1 << 14;
    /// `@slow`
    pub const SLOW: u32 = 1 << 15;
    /// `@blocking`
    pub const BLOCKING: u32 = 1 << 16;
    /// `@dangerous`
    pub const DANGEROUS: u32 = 1 << 17;
    /// `@connection`
    pub const CONNECTION: u32 = 1 << 18;
    /// `@transaction`
    pub const TRANSACTION: u32 = 1 << 19;
    /// `@scripting`
    pub const SCRIPTING: u32 = 1 << 20;

    /// Category names in Redis's order.
    pub const NAMES: &[(u32, &str)] = &[
        (KEYSPACE, "keyspace"),
        (READ, "read"),
        (WRITE, "write"),
        (SET, "set"),
        (SORTEDSET, "sortedset"),
        (LIST, "list"),
        (HASH, "hash"),
        (STRING, "string"),
        (BITMAP, "bitmap"),
        (HYPERLOGLOG, "hyperloglog"),
        (GEO, "geo"),
        (STREAM, "stream"),
        (PUBSUB, "pubsub"),
        (ADMIN, "admin"),
        (FAST, "fast"),
        (SLOW, "slow"),
        (BLOCKING, "blocking"),
        (DANGEROUS, "dangerous"),
        (CONNECTION, "connection"),
        (TRANSACTION, "transaction"),
        (SCRIPTING, "scripting"),
    ];
}

/// Where a command's keys are, the Redis 6 way: argv positions `first..=last` stepping by
/// `step`; a negative `last` counts from the end (-1 = last argument). All zero for commands
/// without keys. `COMMAND INFO` prints it as the "legacy" first/last/step triple.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyPos {
    /// First key position (0 = no keys).
    pub first: i32,
    /// Last key position; negative counts from the end.
    pub last: i32,
    /// Step between keys.
    pub step: i32,
}

impl KeyPos {
    /// No keys.
    pub const NONE: KeyPos = KeyPos { first: 0, last: 0, step: 0 };
    /// One key at position 1.
    pub const ONE: KeyPos = KeyPos { first: 1, last: 1, step: 1 };
    /// Every argument from position 1 is a key.
    pub const ALL: KeyPos = KeyPos { first: 1, last: -1, step: 1 };

    /// Keys from `first` to `last` every `step`.
    pub const fn new(first: i32, last: i32, step: i32) -> KeyPos {
        KeyPos { first, last, step }
    }
}

/// Key-spec flag names, in the order `COMMAND INFO` prints them. A row writes its flags as a
/// slice of these names in this order (the tidy test checks both).
pub const KEY_FLAG_NAMES: &[&str] = &[
    "RO",
    "RW",
    "OW",
    "RM",
    "access",
    "update",
    "insert",
    "delete",
    "not_key",
    "incomplete",
    "variable_flags",
];

/// Where the search for a key spec's keys starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BeginSearch {
    /// At a fixed argv position.
    Index(i32),
    /// Just after the first argument equal (any case) to `keyword`, searched from argv
    /// position `startfrom` forwards, or backwards from the end when `startfrom` is negative.
    Keyword {
        /// The keyword, as Redis spells it (uppercase).
        keyword: &'static str,
        /// Where the search starts.
        startfrom: i32,
    },
    /// Cannot be described; only the command itself knows (SORT's BY/GET/STORE).
    Unknown,
}

/// How many keys follow the start of a key spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindKeys {
    /// Keys up to `lastkey` (relative to the start; negative counts from the end of argv),
    /// every `keystep`; a non-zero `limit` stops after `1/limit` of the remaining arguments
    /// (XREAD's STREAMS: half are keys, half are IDs).
    Range {
        /// Last key, relative to the start, or from the end when negative.
        lastkey: i32,
        /// Step between keys.
        keystep: i32,
        /// Divisor of the remaining arguments, 0 for none.
        limit: i32,
    },
    /// The number of keys is an argument: at `keynumidx` after the start; the keys begin
    /// `firstkey` after the start, every `keystep`.
    Keynum {
        /// Offset of the key count from the start.
        keynumidx: i32,
        /// Offset of the first key from the start.
        firstkey: i32,
        /// Step between keys.
        keystep: i32,
    },
    /// Cannot be described.
    Unknown,
}

/// One Redis 7 key spec: where a group of keys is in argv and how the command uses them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    /// `notes` text, empty for none.
    pub notes: &'static str,
    /// Flag names from [`KEY_FLAG_NAMES`], in that order.
    pub flags: &'static [&'static str],
    /// Start of the search.
    pub begin: BeginSearch,
    /// Extent of the keys.
    pub find: FindKeys,
}

impl KeySpec {
    /// Keys found by `begin` and `find`.
    pub const fn new(
        begin: BeginSearch,
        find: FindKeys,
        flags: &'static [&'static str],
    ) -> KeySpec {
        KeySpec { notes: "", flags, begin, find }
    }

    /// Keys from position `pos` to `lastkey` (relative to `pos`, negative from the end),
    /// every `step`.
    pub const fn range(
        pos: i32,
        lastkey: i32,
        step: i32,
        flags: &'static [&'static str],
    ) -> KeySpec {
        KeySpec::new(
            BeginSearch::Index(pos),
            FindKeys::Range { lastkey, keystep: step, limit: 0 },
            flags,
        )
    }

    /// The single key at position `pos`.
    pub const fn at(pos: i32, flags: &'static [&'static str]) -> KeySpec {
        KeySpec::range(pos, 0, 1, flags)
    }

    /// A key count at position `pos`, followed by that many keys (ZUNION, LMPOP, ...).
    pub const fn keynum(pos: i32, flags: &'static [&'static str]) -> KeySpec {
        KeySpec::new(
            BeginSearch::Index(pos),
            FindKeys::Keynum { keynumidx: 0, firstkey: 1, keystep: 1 },
            flags,
        )
    }

    /// The single key just after `keyword`, searched from argv position `startfrom`
    /// (GEORADIUS's STORE).
    pub const fn after_keyword(
        keyword: &'static str,
        startfrom: i32,
        flags: &'static [&'static str],
    ) -> KeySpec {
        KeySpec::new(
            BeginSearch::Keyword { keyword, startfrom },
            FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            flags,
        )
    }

    /// Keys the table cannot describe.
    pub const fn unknown(flags: &'static [&'static str]) -> KeySpec {
        KeySpec::new(BeginSearch::Unknown, FindKeys::Unknown, flags)
    }

    /// Adds the `notes` text.
    pub const fn notes(mut self, notes: &'static str) -> KeySpec {
        self.notes = notes;
        self
    }

    /// True if the spec has the flag named `name`.
    pub fn has(&self, name: &str) -> bool {
        self.flags.contains(&name)
    }

    /// True for a spec the legacy first/last/step triple can express: a fixed start and a
    /// range of keys.
    const fn is_plain_range(&self) -> bool {
        matches!((self.begin, self.find), (BeginSearch::Index(_), FindKeys::Range { .. }))
    }
}

/// The legacy first/last/step Redis derives from a command's key specs: the span of the
/// consecutive, step-1 range specs (others are left out, which makes the keys "movable").
const fn legacy_range(specs: &[KeySpec]) -> KeyPos {
    // A single range spec is taken whole, step included (MSET's keys are every other one).
    if let [KeySpec {
        begin: BeginSearch::Index(first),
        find: FindKeys::Range { lastkey, keystep, .. },
        ..
    }] = specs
    {
        let last = if *lastkey >= 0 { *lastkey + *first } else { *lastkey };
        return KeyPos { first: *first, last, step: *keystep };
    }
    let mut first = i32::MAX;
    // Redis compares last positions as unsigned numbers, so "to the end" (negative) wins
    // over any fixed position.
    let mut last: u32 = 0;
    let mut prev_last: u32 = 0;
    let mut i = 0;
    while i < specs.len() {
        if let (BeginSearch::Index(pos), FindKeys::Range { lastkey, keystep: 1, .. }) =
            (specs[i].begin, specs[i].find)
        {
            if prev_last == 0 || prev_last as i32 == pos - 1 {
                if pos < first {
                    first = pos;
                }
                let abs = if lastkey >= 0 { lastkey + pos } else { lastkey };
                if abs as u32 > last {
                    last = abs as u32;
                }
                prev_last = last;
            }
        }
        i += 1;
    }
    if first == i32::MAX {
        return KeyPos::NONE;
    }
    KeyPos { first, last: last as i32, step: 1 }
}

/// True if a command with these key specs has "movable" keys: some of them cannot be found
/// from fixed positions.
const fn movable(specs: &[KeySpec]) -> bool {
    let mut i = 0;
    while i < specs.len() {
        if !specs[i].is_plain_range() {
            return true;
        }
        i += 1;
    }
    false
}

/// A command's own key finder (Redis's "getkeys proc"), used by `COMMAND GETKEYS` when the
/// key specs cannot answer (unknown or variable-flag specs, or an invalid key count): the
/// positions of the keys in `argv` (the full command line) with their key-spec flags; empty
/// when the line has no valid keys.
pub type GetKeys = fn(&CommandSpec, &[bytes::Bytes]) -> Vec<(usize, &'static [&'static str])>;

/// One command (or subcommand) of the table.
#[derive(Debug)]
pub struct CommandSpec {
    /// Lowercase name (`get`, or `setname` for `CLIENT SETNAME`).
    pub name: &'static str,
    /// Arity with Redis's sign convention: `N` = exactly N arguments including the name,
    /// `-N` = at least N.
    pub arity: i32,
    /// Bits of [`flags`].
    pub flags: u32,
    /// Explicit ACL category bits of [`acl`]; the implied ones (read/write/fast/slow/admin/
    /// dangerous/pubsub/blocking) are derived from the flags.
    pub acl: u32,
    /// Legacy key positions (first/last/step); derived from `key_specs` when those are
    /// given.
    pub keys: KeyPos,
    /// The handler; a container command (CLIENT, CONFIG, ...) without its own handler uses
    /// [`unreachable_container`], since dispatch always routes to a subcommand.
    pub handler: Handler,
    /// Subcommands of a container command.
    pub subcommands: &'static [CommandSpec],
    /// `COMMAND DOCS` group (`string`, `generic`, `connection`, `server`, ...).
    pub group: &'static str,
    /// `COMMAND DOCS` summary.
    pub summary: &'static str,
    /// `COMMAND DOCS` since (the Redis version that introduced the command).
    pub since: &'static str,
    /// `COMMAND DOCS` complexity.
    pub complexity: &'static str,
    /// `COMMAND INFO` tips (e.g. `nondeterministic_output`).
    pub tips: &'static [&'static str],
    /// Key-spec flags (`RW`, `access`, `update`, ...) of the one key spec implied by `keys`
    /// when `key_specs` is empty; empty means derived from the command flags (`RO access`
    /// or `RW update`).
    pub key_flags: &'static [&'static str],
    /// The command's key specs, when `keys` and `key_flags` cannot express them.
    pub key_specs: &'static [KeySpec],
    /// The command's own key finder, for what its key specs cannot answer.
    pub getkeys: Option<GetKeys>,
}

impl CommandSpec {
    /// A command with its core fields; docs and subcommands are added with the builders.
    pub const fn new(
        name: &'static str,
        arity: i32,
        flags: u32,
        acl: u32,
        keys: KeyPos,
        handler: Handler,
    ) -> CommandSpec {
        CommandSpec {
            name,
            arity,
            flags,
            acl,
            keys,
            handler,
            subcommands: &[],
            group: "",
            summary: "",
            since: "",
            complexity: "",
            tips: &[],
            key_flags: &[],
            key_specs: &[],
            getkeys: None,
        }
    }

    /// Adds `COMMAND DOCS` fields.
    pub const fn doc(
        mut self,
        group: &'static str,
        since: &'static str,
        summary: &'static str,
        complexity: &'static str,
    ) -> CommandSpec {
        self.group = group;
        self.since = since;
        self.summary = summary;
        self.complexity = complexity;
        self
    }

    /// Adds subcommands (for CLIENT, CONFIG, OBJECT, COMMAND, ...).
    pub const fn subs(mut self, subs: &'static [CommandSpec]) -> CommandSpec {
        self.subcommands = subs;
        self
    }

    /// Adds `COMMAND INFO` tips.
    pub const fn tips(mut self, tips: &'static [&'static str]) -> CommandSpec {
        self.tips = tips;
        self
    }

    /// Sets the key-spec flags `COMMAND INFO` reports for the command's keys.
    pub const fn key_flags(mut self, key_flags: &'static [&'static str]) -> CommandSpec {
        self.key_flags = key_flags;
        self
    }

    /// Sets the command's key specs; the legacy key positions and the `movablekeys` flag are
    /// derived from them as Redis derives them.
    pub const fn key_specs(mut self, specs: &'static [KeySpec]) -> CommandSpec {
        self.key_specs = specs;
        self.keys = legacy_range(specs);
        if movable(specs) {
            self.flags |= flags::MOVABLEKEYS;
        }
        self
    }

    /// Sets the command's own key finder (see [`GetKeys`]).
    pub const fn getkeys(mut self, f: GetKeys) -> CommandSpec {
        self.getkeys = Some(f);
        self
    }

    /// The command's key specs: the explicit ones, or the one implied by `keys` and
    /// `key_flags` (none for a command without keys).
    pub fn specs(&self) -> impl Iterator<Item = KeySpec> + '_ {
        let implied = (self.key_specs.is_empty() && self.keys.first > 0).then(|| {
            let k = self.keys;
            // A positive legacy last key is absolute; a key spec counts it from the first.
            let lastkey = if k.last < 0 { k.last } else { k.last - k.first };
            let flags: &'static [&'static str] = match self.key_flags {
                [] if self.has(flags::WRITE) => &["RW", "update"],
                [] => &["RO", "access"],
                own => own,
            };
            KeySpec::range(k.first, lastkey, k.step, flags)
        });
        self.key_specs.iter().copied().chain(implied)
    }

    /// True if the command has flag bit `f`.
    pub fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    /// All ACL category bits: the explicit ones plus those Redis derives from flags.
    pub fn acl_categories(&self) -> u32 {
        let mut c = self.acl;
        if self.has(flags::WRITE) {
            c |= acl::WRITE;
        }
        if self.has(flags::READONLY) && self.acl & acl::SCRIPTING == 0 {
            c |= acl::READ;
        }
        if self.has(flags::ADMIN) {
            c |= acl::ADMIN | acl::DANGEROUS;
        }
        if self.has(flags::PUBSUB) {
            c |= acl::PUBSUB;
        }
        if self.has(flags::FAST) {
            c |= acl::FAST;
        }
        if self.has(flags::BLOCKING) {
            c |= acl::BLOCKING;
        }
        if c & acl::FAST == 0 {
            c |= acl::SLOW;
        }
        c
    }
}

/// Handler of a container command: dispatch never calls it, because a container is only run
/// through one of its subcommands.
pub fn unreachable_container(_: &mut Ctx<'_>, _: &mut Args) -> Result<Frame, CmdError> {
    Err(CmdError::Syntax)
}

/// Key specs shared by several commands' rows.
pub mod keyspecs {
    use super::{BeginSearch, FindKeys, KeySpec};

    /// Flags of a key whose elements are read and removed.
    pub const POPPED: &[&str] = &["RW", "access", "delete"];
    /// Flags of a destination key that is overwritten.
    pub const STORED: &[&str] = &["OW", "update"];
    /// Flags of a source key that is only read.
    pub const READ: &[&str] = &["RO", "access"];

    /// An element moves from the source (1) to the destination (2): LMOVE, SMOVE, ...
    pub const MOVE: &[KeySpec] = &[KeySpec::at(1, POPPED), KeySpec::at(2, &["RW", "insert"])];
    /// A destination (1) overwritten from every following key: SUNIONSTORE, SDIFFSTORE.
    pub const STORE_FROM_REST: &[KeySpec] =
        &[KeySpec::at(1, STORED), KeySpec::range(2, -1, 1, READ)];
    /// A destination (1) overwritten from a counted list of keys (2): ZUNIONSTORE, ...
    pub const STORE_FROM_KEYNUM: &[KeySpec] = &[KeySpec::at(1, STORED), KeySpec::keynum(2, READ)];
    /// A counted list of keys (1) that are only read: ZUNION, SINTERCARD, ...
    pub const READ_KEYNUM: &[KeySpec] = &[KeySpec::keynum(1, READ)];
    /// A counted list of keys (1) to pop from: LMPOP, ZMPOP.
    pub const POP_KEYNUM: &[KeySpec] = &[KeySpec::keynum(1, POPPED)];
    /// The stream keys of XREAD/XREADGROUP: after the STREAMS keyword (searched from argv
    /// position `startfrom`), half of the remaining arguments; the other half are IDs.
    pub const fn streams(startfrom: i32) -> KeySpec {
        KeySpec::new(
            BeginSearch::Keyword { keyword: "STREAMS", startfrom },
            FindKeys::Range { lastkey: -1, keystep: 1, limit: 2 },
            READ,
        )
    }
    /// GEORADIUS-style keys: the key read (1), and the optional STORE or STOREDIST
    /// destination, searched from argv position `startfrom`.
    pub const fn radius_store(startfrom: i32) -> [KeySpec; 3] {
        [
            KeySpec::at(1, READ),
            KeySpec::after_keyword("STORE", startfrom, STORED),
            KeySpec::after_keyword("STOREDIST", startfrom, STORED),
        ]
    }
    /// A timeout, then a counted list of keys (2) to pop from: BLMPOP, BZMPOP.
    pub const BLOCKING_POP_KEYNUM: &[KeySpec] = &[KeySpec::keynum(2, POPPED)];
}
