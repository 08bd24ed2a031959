//! Configuration: one declarative table of parameters drives `redis.conf` parsing, the
//! `--name value` command line, `CONFIG GET`, `CONFIG SET`, `CONFIG REWRITE`.
//!
//! Each row of [`PARAMS`] gives a parameter's name, an optional alias, its kind (which decides
//! how a value is parsed, validated and printed), its default as Redis writes it, and flags.
//! Values live in [`Config`] as parsed [`Val`]s, indexed by the [`P`] enum the `params!` macro
//! generates, so the server reads a setting with `config.int(P::Hz)` and no string lookup.

use std::fmt;

/// How a parameter's value is parsed and printed.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `yes`/`no`.
    Bool,
    /// An integer within bounds.
    Int {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// A byte count with optional unit (`1k`, `256mb`, `1gb`); printed as plain bytes.
    Memory {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// One of a fixed set of words.
    Enum(&'static [&'static str]),
    /// Free text.
    Str,
    /// Several words kept as one string (`save`, `bind`).
    MultiArg,
}

/// Parameter flags.
pub mod pflags {
    /// Cannot be changed with CONFIG SET.
    pub const IMMUTABLE: u32 = 1;
    /// Value is hidden from logs (passwords).
    pub const SENSITIVE: u32 = 2;
    /// Accepted and stored, but Keel does not act on it yet (listed in COMPATIBILITY.md).
    pub const NOT_IN_EFFECT: u32 = 4;
}

/// One configuration parameter.
#[derive(Debug)]
pub struct Param {
    /// Canonical name.
    pub name: &'static str,
    /// Alias accepted everywhere the name is (`slaveof` for `replicaof`...).
    pub alias: Option<&'static str>,
    /// Value kind.
    pub kind: Kind,
    /// Default, in the form the config file takes.
    pub default: &'static str,
    /// Bits of [`pflags`].
    pub flags: u32,
}

/// A parsed value.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    /// `Kind::Bool`.
    Bool(bool),
    /// `Kind::Int` and `Kind::Memory`.
    Int(i64),
    /// `Kind::Enum`: index into the word list.
    Enum(usize),
    /// `Kind::Str` and `Kind::MultiArg`.
    Str(String),
}

macro_rules! params {
    ($($id:ident => $name:literal $(| $alias:literal)?, $kind:expr, $default:literal, $flags:expr;)*) => {
        /// Index of each parameter in [`PARAMS`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(usize)]
        #[allow(missing_docs)]
        pub enum P { $($id),* }

        /// The parameter table.
        pub static PARAMS: &[Param] = &[
            $(Param { name: $name, alias: params!(@alias $($alias)?), kind: $kind, default: $default, flags: $flags }),*
        ];
    };
    (@alias $alias:literal) => { Some($alias) };
    (@alias) => { None };
}

use pflags::{IMMUTABLE, NOT_IN_EFFECT, SENSITIVE};

const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];
const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning", "nothing"];
const FSYNC: &[&str] = &["always", "everysec", "no"];
const I32: i64 = i32::MAX as i64;
const MEM_MAX: i64 = i64::MAX;

params! {
    Port => "port", Kind::Int { min: 0, max: 65535 }, "6379", 0;
    Bind => "bind", Kind::MultiArg, "* -::*", 0;
    Unixsocket => "unixsocket", Kind::Str, "", IMMUTABLE;
    Unixsocketperm => "unixsocketperm", Kind::Int { min: 0, max: 0o777 }, "0", IMMUTABLE;
    Timeout => "timeout", Kind::Int { min: 0, max: I32 }, "0", 0;
    TcpKeepalive => "tcp-keepalive", Kind::Int { min: 0, max: I32 }, "300", 0;
    TcpBacklog => "tcp-backlog", Kind::Int { min: 0, max: I32 }, "511", IMMUTABLE;
    ProtectedMode => "protected-mode", Kind::Bool, "yes", NOT_IN_EFFECT;
    Daemonize => "daemonize", Kind::Bool, "no", IMMUTABLE | NOT_IN_EFFECT;
    Pidfile => "pidfile", Kind::Str, "", IMMUTABLE;
    Loglevel => "loglevel", Kind::Enum(LOGLEVELS), "notice", 0;
    Logfile => "logfile", Kind::Str, "", IMMUTABLE;
    Databases => "databases", Kind::Int { min: 1, max: I32 }, "16", IMMUTABLE;
    Requirepass => "requirepass", Kind::Str, "", SENSITIVE;
    Maxclients => "maxclients", Kind::Int { min: 1, max: I32 }, "10000", 0;
    Maxmemory => "maxmemory", Kind::Memory { min: 0, max: MEM_MAX }, "0", NOT_IN_EFFECT;
    MaxmemoryPolicy => "maxmemory-policy", Kind::Enum(POLICIES), "noeviction", NOT_IN_EFFECT;
    MaxmemorySamples => "maxmemory-samples", Kind::Int { min: 1, max: 64 }, "5", NOT_IN_EFFECT;
    Appendonly => "appendonly", Kind::Bool, "no", NOT_IN_EFFECT;
    Appendfsync => "appendfsync", Kind::Enum(FSYNC), "everysec", NOT_IN_EFFECT;
    Appendfilename => "appendfilename", Kind::Str, "appendonly.aof", IMMUTABLE | NOT_IN_EFFECT;
    Appenddirname => "appenddirname", Kind::Str, "appendonlydir", IMMUTABLE | NOT_IN_EFFECT;
    Save => "save", Kind::MultiArg, "3600 1 300 100 60 10000", NOT_IN_EFFECT;
    Dbfilename => "dbfilename", Kind::Str, "dump.rdb", NOT_IN_EFFECT;
    Dir => "dir", Kind::Str, "", 0;
    Hz => "hz", Kind::Int { min: 0, max: I32 }, "10", 0;
    ProtoMaxBulkLen => "proto-max-bulk-len", Kind::Memory { min: 1024 * 1024, max: MEM_MAX }, "536870912", 0;
    ClientQueryBufferLimit => "client-query-buffer-limit", Kind::Memory { min: 1024 * 1024, max: MEM_MAX }, "1073741824", 0;
}

/// Why a value was refused; the text is what Redis prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadValue(pub String);

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Finds a parameter by name or alias (any letter case).
pub fn find(name: &str) -> Option<(usize, &'static Param)> {
    PARAMS.iter().enumerate().find(|(_, p)| {
        p.name.eq_ignore_ascii_case(name) || p.alias.is_some_and(|a| a.eq_ignore_ascii_case(name))
    })
}

/// Parses a memory amount: a plain number, or a number with `k`/`kb`/`m`/`mb`/`g`/`gb` (any
/// case; `k` = 1000, `kb` = 1024 as in Redis's `memtoull`).
pub fn parse_memory(s: &str) -> Option<i64> {
    let lower = s.to_ascii_lowercase();
    let units: &[(&str, i64)] = &[
        ("gb", 1024 * 1024 * 1024),
        ("mb", 1024 * 1024),
        ("kb", 1024),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1000),
        ("b", 1),
    ];
    for (suffix, mul) in units {
        if let Some(num) = lower.strip_suffix(suffix) {
            let n: i64 = num.parse().ok().filter(|_| num.bytes().all(|b| b.is_ascii_digit()))?;
            return n.checked_mul(*mul);
        }
    }
    if lower.starts_with('-') {
        let n: i64 = lower.parse().ok()?;
        return Some(n);
    }
    lower.parse().ok().filter(|_| lower.bytes().all(|b| b.is_ascii_digit()))
}

/// Parses `text` as a value of `param`.
pub fn parse_value(param: &Param, text: &str) -> Result<Val, BadValue> {
    match param.kind {
        Kind::Bool => match text.to_ascii_lowercase().as_str() {
            "yes" => Ok(Val::Bool(true)),
            "no" => Ok(Val::Bool(false)),
            _ => Err(BadValue("argument must be 'yes' or 'no'".into())),
        },
        Kind::Int { min, max } => {
            let n: i64 = resp::request::parse_i64(text.as_bytes())
                .ok_or_else(|| BadValue("argument couldn't be parsed into an integer".into()))?;
            check_range(n, min, max)
        }
        Kind::Memory { min, max } => {
            let n = parse_memory(text)
                .ok_or_else(|| BadValue("argument must be a memory value".into()))?;
            check_range(n, min, max)
        }
        Kind::Enum(words) => words
            .iter()
            .position(|w| w.eq_ignore_ascii_case(text))
            .map(Val::Enum)
            .ok_or_else(|| {
                BadValue(format!("argument(s) must be one of the following: {}", words.join(", ")))
            }),
        Kind::Str | Kind::MultiArg => Ok(Val::Str(text.to_string())),
    }
}

fn check_range(n: i64, min: i64, max: i64) -> Result<Val, BadValue> {
    if n < min || n > max {
        Err(BadValue(format!("argument must be between {min} and {max} inclusive")))
    } else {
        Ok(Val::Int(n))
    }
}

/// Renders a value the way `CONFIG GET` prints it.
pub fn render(param: &Param, v: &Val) -> String {
    match (v, param.kind) {
        (Val::Bool(b), _) => if *b { "yes" } else { "no" }.into(),
        (Val::Int(n), _) => n.to_string(),
        (Val::Enum(i), Kind::Enum(words)) => words.get(*i).copied().unwrap_or("").into(),
        (Val::Enum(i), _) => i.to_string(),
        (Val::Str(s), _) => s.clone(),
    }
}

/// The current value of every parameter.
#[derive(Clone, Debug)]
pub struct Config {
    values: Vec<Val>,
    /// The config file the server started from, for CONFIG REWRITE.
    pub file: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        let values = PARAMS
            .iter()
            .map(|p| match parse_value(p, p.default) {
                Ok(v) => v,
                // The table's defaults are tested to parse; fall back to an empty text.
                Err(_) => Val::Str(p.default.to_string()),
            })
            .collect();
        Config { values, file: None }
    }
}

impl Config {
    /// Integer value of an Int or Memory parameter.
    pub fn int(&self, p: P) -> i64 {
        match &self.values[p as usize] {
            Val::Int(n) => *n,
            _ => 0,
        }
    }

    /// Value of a Bool parameter.
    pub fn bool(&self, p: P) -> bool {
        matches!(self.values[p as usize], Val::Bool(true))
    }

    /// Value of a Str or MultiArg parameter.
    pub fn str(&self, p: P) -> &str {
        match &self.values[p as usize] {
            Val::Str(s) => s,
            _ => "",
        }
    }

    /// The word chosen for an Enum parameter.
    pub fn word(&self, p: P) -> &'static str {
        match (&self.values[p as usize], PARAMS[p as usize].kind) {
            (Val::Enum(i), Kind::Enum(words)) => words.get(*i).copied().unwrap_or(""),
            _ => "",
        }
    }

    /// Value of parameter number `i` as text.
    pub fn get_text(&self, i: usize) -> String {
        render(&PARAMS[i], &self.values[i])
    }

    /// Sets parameter number `i` from text after validating it.
    pub fn set_text(&mut self, i: usize, text: &str) -> Result<(), BadValue> {
        let v = parse_value(&PARAMS[i], text)?;
        self.values[i] = v;
        Ok(())
    }
}

/// A fatal error while reading the configuration, reported the way Redis reports it.
#[derive(Debug)]
pub struct FatalConfig {
    /// 1-based line number in the combined config text.
    pub line: usize,
    /// The offending line.
    pub text: String,
    /// What was wrong.
    pub reason: String,
}

impl fmt::Display for FatalConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\n*** FATAL CONFIG FILE ERROR (Redis {}) ***\nReading the configuration file, at line {}\n>>> '{}'\n{}",
            crate::REDIS_VERSION,
            self.line,
            self.text,
            self.reason
        )
    }
}

/// Loads the configuration from redis-server's command line (`[config-file] [--name value ...]`).
pub fn from_args(args: &[String]) -> Result<Config, FatalConfig> {
    let mut config = Config::default();
    let mut text = String::new();
    let mut rest = args;
    if let Some(first) = args.first() {
        if !first.starts_with("--") {
            let path = std::path::PathBuf::from(first);
            match std::fs::read_to_string(&path) {
                Ok(body) => text.push_str(&body),
                Err(e) => {
                    return Err(FatalConfig {
                        line: 0,
                        text: first.clone(),
                        reason: format!("Fatal error, can't open config file '{first}': {e}"),
                    })
                }
            }
            config.file = Some(path);
            rest = &args[1..];
        }
    }
    // Like Redis, turn `--name v1 v2 --other v` into config lines appended after the file.
    let mut options = String::new();
    for a in rest {
        if let Some(name) = a.strip_prefix("--") {
            if !options.is_empty() {
                options.push('\n');
            }
            options.push_str(name);
        } else {
            options.push(' ');
            options.push_str(&quote(a));
        }
    }
    if !options.is_empty() {
        text.push('\n');
        text.push_str(&options);
    }
    load_text(&mut config, &text)?;
    Ok(config)
}

/// Quotes an argument for a config line so spaces and empty strings survive splitting.
fn quote(a: &str) -> String {
    let mut out = String::from("\"");
    for c in a.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Applies config-file text to `config`.
pub fn load_text(config: &mut Config, text: &str) -> Result<(), FatalConfig> {
    for (n, raw) in text.split('\n').enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fatal = |reason: &str| FatalConfig {
            line: n + 1,
            text: line.to_string(),
            reason: reason.to_string(),
        };
        let Some(argv) = resp::request::split_args(line.as_bytes()) else {
            return Err(fatal("Unbalanced quotes in configuration line"));
        };
        let argv: Vec<String> =
            argv.into_iter().map(|a| String::from_utf8_lossy(&a).into_owned()).collect();
        let Some(name) = argv.first() else { continue };
        if name.eq_ignore_ascii_case("include") && argv.len() == 2 {
            let body = std::fs::read_to_string(&argv[1]).map_err(|e| {
                fatal(&format!("Fatal error, can't open config file '{}': {e}", argv[1]))
            })?;
            load_text(config, &body)?;
            continue;
        }
        let Some((i, param)) = find(name) else {
            return Err(fatal("Bad directive or wrong number of arguments"));
        };
        let value = match param.kind {
            Kind::MultiArg => argv[1..].join(" "),
            _ if argv.len() != 2 => return Err(fatal("wrong number of arguments")),
            _ => argv[1].clone(),
        };
        config.set_text(i, &value).map_err(|e| fatal(&e.0))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse() {
        for p in PARAMS {
            assert!(parse_value(p, p.default).is_ok(), "default of {} does not parse", p.name);
        }
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("256mb"), Some(256 * 1024 * 1024));
        assert_eq!(parse_memory("1gb"), Some(1 << 30));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1KB"), Some(1024));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("x"), None);
    }

    #[test]
    fn command_line() {
        let args: Vec<String> = ["--port", "6380", "--maxmemory", "256mb", "--save", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let c = from_args(&args).unwrap();
        assert_eq!(c.int(P::Port), 6380);
        assert_eq!(c.int(P::Maxmemory), 256 * 1024 * 1024);
        assert_eq!(c.str(P::Save), "");
        let bad: Vec<String> = ["--nosuch", "1"].iter().map(|s| s.to_string()).collect();
        assert!(from_args(&bad).is_err());
    }
}
