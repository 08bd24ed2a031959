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
    /// Key positions cannot be found from first/last/step alone.
    pub const MOVABLEKEYS: u32 = 1 << 18;
    /// Marks the client as needing `protected` config (DEBUG, MODULE).
    pub const PROTECTED: u32 = 1 << 19;

    /// Flag bits in the order `COMMAND INFO` lists them, with their names.
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
        (MAY_REPLICATE, "may_replicate"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (PROTECTED, "protected"),
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

/// Where a command's keys are: argv positions `first..=last` stepping by `step`; a negative
/// `last` counts from the end (-1 = last argument). All zero for commands without keys.
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
    /// Key positions.
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
    /// `COMMAND INFO` key-spec flags (`RW`, `access`, `update`, ...) of the command's keys;
    /// empty means derived from the command flags (`RO access` or `RW update`).
    pub key_flags: &'static [&'static str],
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
