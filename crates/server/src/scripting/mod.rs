//! Lua scripting: the script cache (SHA1 → compiled function) and the VM that runs EVAL,
//! the function libraries of FUNCTION/FCALL, and the script flags both share.
//!
//! The EVAL VM is built on first use and dropped by `SCRIPT FLUSH`, like Redis, which resets
//! its Lua state on flush. Functions live in a VM of their own ([`function::Functions`]), so
//! `SCRIPT FLUSH` keeps them and `FUNCTION FLUSH` keeps the script cache. While a script
//! runs, its VM is taken out of [`Scripting`] so that the `redis.call` bridge can lend
//! `&mut Server` to the commands it runs.

pub mod bit;
pub mod busy;
pub mod cjson;
pub mod cmsgpack;
pub mod function;
pub mod lua;
pub mod struct_lib;

use bytes::Bytes;
use mlua::Function;
use std::collections::HashMap;

/// The flags a script declares: in its `#!lua flags=...` line (EVAL) or in the `flags`
/// table given to `redis.register_function` (functions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScriptFlags(u32);

impl ScriptFlags {
    /// `no-writes`: the script never writes, so it may run through the `_RO` commands and
    /// on read-only replicas.
    pub const NO_WRITES: ScriptFlags = ScriptFlags(1 << 0);
    /// `allow-oom`: the script may run (and write) above `maxmemory`.
    pub const ALLOW_OOM: ScriptFlags = ScriptFlags(1 << 1);
    /// `allow-stale`: the script may run on a replica with stale data.
    pub const ALLOW_STALE: ScriptFlags = ScriptFlags(1 << 2);
    /// `no-cluster`: the script refuses to run in cluster mode.
    pub const NO_CLUSTER: ScriptFlags = ScriptFlags(1 << 3);
    /// `allow-cross-slot-keys`: the script may touch keys of several slots.
    pub const ALLOW_CROSS_SLOT: ScriptFlags = ScriptFlags(1 << 4);
    /// An EVAL script without a shebang line: Redis 6 rules apply (the flags above mean
    /// nothing, writes are allowed unless the command is an `_RO` one).
    pub const EVAL_COMPAT: ScriptFlags = ScriptFlags(1 << 5);

    /// The declarable flags with their names, in the order Redis lists them.
    pub const NAMES: &'static [(ScriptFlags, &'static str)] = &[
        (ScriptFlags::NO_WRITES, "no-writes"),
        (ScriptFlags::ALLOW_OOM, "allow-oom"),
        (ScriptFlags::ALLOW_STALE, "allow-stale"),
        (ScriptFlags::NO_CLUSTER, "no-cluster"),
        (ScriptFlags::ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
    ];

    /// True if every flag of `other` is set.
    pub fn has(self, other: ScriptFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets of flags.
    pub fn with(self, other: ScriptFlags) -> ScriptFlags {
        ScriptFlags(self.0 | other.0)
    }

    /// The names of the flags set, in Redis's order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        ScriptFlags::NAMES.iter().filter(move |(f, _)| self.has(*f)).map(|(_, n)| *n)
    }

    /// Whether a run with these flags must refuse write commands: always through the `_RO`
    /// commands, and for scripts that declared `no-writes`.
    pub fn read_only(self, ro_command: bool) -> bool {
        ro_command || (!self.has(ScriptFlags::EVAL_COMPAT) && self.has(ScriptFlags::NO_WRITES))
    }

    /// True if the script declared `allow-oom` (flags of scripts without a shebang mean
    /// nothing).
    pub fn allows_oom(self) -> bool {
        !self.has(ScriptFlags::EVAL_COMPAT) && self.has(ScriptFlags::ALLOW_OOM)
    }

    /// True if a script declaring these flags counts as `denyoom` before it starts: it may
    /// write and did not declare `allow-oom` (Redis derives the command's flags from them).
    pub fn denies_oom(self) -> bool {
        !self.has(ScriptFlags::EVAL_COMPAT)
            && !self.has(ScriptFlags::NO_WRITES)
            && !self.has(ScriptFlags::ALLOW_OOM)
    }

    /// Redis's checks before a script with these flags starts: a script that may write
    /// cannot run through an `_RO` command. (The OOM, replica and disk-error checks belong
    /// to the server state and are made by the caller.)
    pub fn check_run(self, ro_command: bool) -> Result<(), &'static str> {
        let declared = !self.has(ScriptFlags::EVAL_COMPAT);
        if declared && ro_command && !self.has(ScriptFlags::NO_WRITES) {
            return Err("ERR Can not execute a script with write flag using *_ro command.");
        }
        Ok(())
    }
}

/// A cached EVAL script.
#[derive(Clone)]
pub struct Script {
    /// The compiled body.
    pub function: Function,
    /// Its shebang flags (`EVAL_COMPAT` without a shebang).
    pub flags: ScriptFlags,
}

/// A VM with the scripts compiled into it.
pub struct Loaded {
    /// The Lua state and its helpers.
    pub vm: lua::Vm,
    /// Compiled scripts by lowercase SHA1 hex.
    pub scripts: HashMap<String, Script>,
}

/// Scripting state owned by the server.
#[derive(Default)]
pub struct Scripting {
    /// The VM, absent until first use, after SCRIPT FLUSH, and while a script runs.
    loaded: Option<Loaded>,
    /// The function libraries and their VM.
    pub functions: function::Functions,
}

impl Scripting {
    /// Bytes of the EVAL VM's Lua heap (0 while no VM exists or a script has it out):
    /// `used_memory_lua`, which Redis leaves out of `used_memory`.
    pub fn used_memory(&self) -> usize {
        self.loaded.as_ref().map_or(0, |l| l.vm.lua.used_memory())
    }

    /// Takes the VM out (building it if needed) for the duration of one script.
    pub fn take(&mut self) -> mlua::Result<Loaded> {
        match self.loaded.take() {
            Some(l) => Ok(l),
            None => Ok(Loaded { vm: lua::Vm::new()?, scripts: HashMap::new() }),
        }
    }

    /// Gives the VM back after a script (or a SCRIPT LOAD).
    pub fn put_back(&mut self, loaded: Loaded) {
        self.loaded = Some(loaded);
    }

    /// True if a script with this SHA1 (any letter case) is cached.
    pub fn exists(&self, sha: &[u8]) -> bool {
        let Ok(sha) = std::str::from_utf8(sha) else {
            return false;
        };
        self.loaded.as_ref().is_some_and(|l| l.scripts.contains_key(&sha.to_ascii_lowercase()))
    }

    /// Scripts in the EVAL cache (`number_of_cached_scripts`).
    pub fn cached_scripts(&self) -> usize {
        self.loaded.as_ref().map_or(0, |l| l.scripts.len())
    }

    /// Forgets every script and the VM (functions stay).
    pub fn flush(&mut self) {
        self.loaded = None;
    }

    /// The flags declared by the script an EVAL, EVALSHA or FCALL command line (any of the
    /// `_RO` forms too) would run, as Redis reads them before running the command (for the
    /// OOM and replica checks): from the cached script, the EVAL body's shebang line or the
    /// function. None for other commands, unknown scripts and functions, and EVAL scripts
    /// without a shebang (whose flags mean nothing).
    pub fn declared_flags(&self, argv: &[Bytes]) -> Option<ScriptFlags> {
        let (name, target) = (argv.first()?, argv.get(1)?);
        let cached = |sha: &[u8]| {
            let sha = std::str::from_utf8(sha).ok()?.to_ascii_lowercase();
            self.loaded.as_ref()?.scripts.get(&sha).map(|s| s.flags)
        };
        let flags = match name.to_ascii_lowercase().as_slice() {
            b"eval" | b"eval_ro" => match cached(sha1_hex(target).as_bytes()) {
                Some(flags) => flags,
                None => shebang_flags(target).ok()?.0,
            },
            b"evalsha" | b"evalsha_ro" if target.len() == 40 => cached(target)?,
            b"fcall" | b"fcall_ro" => self.functions.find(target)?.flags,
            _ => return None,
        };
        (!flags.has(ScriptFlags::EVAL_COMPAT)).then_some(flags)
    }

    /// The source of every function library, in library-name order: what an RDB file
    /// saves (one `OPCODE_FUNCTION2` entry each).
    pub fn function_codes(&self) -> Vec<Bytes> {
        self.functions.codes()
    }

    /// Loads one library from its source (an RDB file's `OPCODE_FUNCTION2` entry), replacing
    /// nothing: on failure, the message Redis gives (without the `ERR ` code).
    pub fn restore_function(&mut self, code: &[u8]) -> Result<(), Vec<u8>> {
        self.functions.create(&Bytes::copy_from_slice(code), false, None, false).map(|_| ())
    }
}

impl Loaded {
    /// Compiles and caches `body` unless already cached; returns its SHA1 and script, or
    /// the error reply text (a bad shebang line or `ERR Error compiling script`).
    pub fn load(&mut self, body: &Bytes) -> Result<(String, Script), Vec<u8>> {
        let sha = sha1_hex(body);
        if let Some(s) = self.scripts.get(&sha) {
            return Ok((sha, s.clone()));
        }
        let (flags, skip) = shebang_flags(body)?;
        // Like Redis, the shebang line is left out but its line feed kept, so line numbers
        // in errors are the user's.
        let function = self.vm.compile(&body[skip..]).map_err(|msg| {
            format!("ERR Error compiling script (new function): {msg}").into_bytes()
        })?;
        let script = Script { function, flags };
        self.scripts.insert(sha.clone(), script.clone());
        Ok((sha, script))
    }
}

/// Reads an EVAL script's `#!lua [flags=a,b]` line: its flags and the length of the line
/// (without its line feed). A script without one gets `EVAL_COMPAT` and length 0.
pub fn shebang_flags(body: &[u8]) -> Result<(ScriptFlags, usize), Vec<u8>> {
    if !body.starts_with(b"#!") {
        return Ok((ScriptFlags::EVAL_COMPAT, 0));
    }
    let err = |parts: &[&[u8]]| Err(parts.concat());
    // Redis looks for the line feed in a C string: a NUL byte before it ends the search.
    let Some(end) = body.iter().position(|&b| b == b'\n' || b == 0).filter(|&i| body[i] == b'\n')
    else {
        return err(&[b"ERR Invalid script shebang"]);
    };
    let parts = match resp::request::split_args(&body[..end]) {
        Some(parts) if !parts.is_empty() => parts,
        _ => return err(&[b"ERR Invalid engine in script shebang"]),
    };
    if parts[0] != b"#!lua" {
        return err(&[b"ERR Unexpected engine in script shebang: ", &parts[0]]);
    }
    let mut flags = ScriptFlags::default();
    for part in &parts[1..] {
        let Some(list) = part.strip_prefix(b"flags=") else {
            return err(&[b"ERR Unknown lua shebang option: ", part]);
        };
        // An empty list declares no flags; otherwise every comma-separated name counts,
        // an empty one included (and refused).
        if list.is_empty() {
            continue;
        }
        for name in list.split(|&b| b == b',') {
            match ScriptFlags::NAMES.iter().find(|(_, n)| n.as_bytes() == name) {
                Some((f, _)) => flags = flags.with(*f),
                None => return err(&[b"ERR Unexpected flag in script shebang: ", name]),
            }
        }
    }
    Ok((flags, end))
}

/// Lowercase hex SHA1 of `data`, as script ids and `redis.sha1hex` print it.
pub fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_lines() {
        assert_eq!(shebang_flags(b"return 1"), Ok((ScriptFlags::EVAL_COMPAT, 0)));
        assert_eq!(shebang_flags(b"#!lua\nreturn 1"), Ok((ScriptFlags::default(), 5)));
        let (flags, len) = shebang_flags(b"#!lua flags=no-writes,allow-oom\n").unwrap();
        assert_eq!(len, 31);
        assert!(flags.has(ScriptFlags::NO_WRITES) && flags.has(ScriptFlags::ALLOW_OOM));
        assert!(!flags.has(ScriptFlags::EVAL_COMPAT));
        assert_eq!(flags.names().collect::<Vec<_>>(), ["no-writes", "allow-oom"]);
        assert_eq!(shebang_flags(b"#!lua"), Err(b"ERR Invalid script shebang".to_vec()));
        assert_eq!(shebang_flags(b"#!lua\0\n"), Err(b"ERR Invalid script shebang".to_vec()));
        assert_eq!(
            shebang_flags(b"#!lua flags=x,\n"),
            Err(b"ERR Unexpected flag in script shebang: x".to_vec())
        );
        assert_eq!(
            shebang_flags(b"#!lua flags=no-writes,\n"),
            Err(b"ERR Unexpected flag in script shebang: ".to_vec())
        );
    }

    #[test]
    fn declared_flags_of_command_lines() {
        let argv = |words: &[&str]| -> Vec<Bytes> {
            words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
        };
        let mut s = Scripting::default();
        let flagged = "#!lua flags=no-writes\nreturn 1";
        assert_eq!(s.declared_flags(&argv(&["EVAL", flagged, "0"])), Some(ScriptFlags::NO_WRITES));
        assert_eq!(
            s.declared_flags(&argv(&["eval_ro", "#!lua\nreturn 1"])),
            Some(ScriptFlags::default())
        );
        assert_eq!(s.declared_flags(&argv(&["EVAL", "return 1", "0"])), None);
        assert_eq!(s.declared_flags(&argv(&["EVAL", "#!js\n", "0"])), None);
        assert_eq!(s.declared_flags(&argv(&["GET", "k"])), None);
        let mut loaded = s.take().unwrap();
        let (sha, _) =
            loaded.load(&Bytes::from_static(b"#!lua flags=allow-oom\nreturn 1")).unwrap();
        s.put_back(loaded);
        assert_eq!(s.declared_flags(&argv(&["EVALSHA", &sha, "0"])), Some(ScriptFlags::ALLOW_OOM));
        assert_eq!(s.declared_flags(&argv(&["EVALSHA", "abc", "0"])), None);
        let lib = "#!lua name=l\nredis.register_function{function_name='f', callback=function() end, flags={'no-writes'}}";
        s.functions.create(&Bytes::from(lib), false, None, false).unwrap();
        assert_eq!(s.declared_flags(&argv(&["FCALL_RO", "F", "0"])), Some(ScriptFlags::NO_WRITES));
        assert_eq!(s.declared_flags(&argv(&["FCALL", "nosuch", "0"])), None);
    }

    #[test]
    fn run_checks() {
        let declared = ScriptFlags::default();
        let no_writes = ScriptFlags::NO_WRITES;
        assert!(declared.check_run(true).is_err());
        assert!(declared.check_run(false).is_ok() && !declared.read_only(false));
        assert!(no_writes.check_run(true).is_ok() && no_writes.read_only(false));
        // Without a shebang, flags mean nothing and only the _RO command restricts.
        let compat = ScriptFlags::EVAL_COMPAT.with(ScriptFlags::NO_WRITES);
        assert!(compat.check_run(true).is_ok() && !compat.read_only(false));
        assert!(compat.read_only(true));
    }
}
