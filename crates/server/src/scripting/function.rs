//! Function libraries (FUNCTION LOAD, FCALL): the registry of libraries and functions, the
//! Lua VM they are compiled into, and the load-time environment.
//!
//! A library's code starts with `#!lua name=<lib>`; loading runs it once, in an
//! environment where the only global is a small `redis` table (`register_function`, `log`,
//! the `LOG_*` levels and the version), as Redis does: the code may only register
//! functions. The functions it registers keep that environment, which from then on shows
//! the full sandbox (the same `redis` API EVAL scripts see). Function names are looked up
//! ignoring case, library names are exact.

use super::lua::{self, Outcome, Vm};
use super::ScriptFlags;
use crate::log::Logger;
use bytes::Bytes;
use mlua::{Function, Lua, MultiValue, Table, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Chunk name of library code, so messages read `user_function:<line>:` as in Redis.
pub const CHUNK_NAME: &str = "@user_function";

/// How long a client's FUNCTION LOAD may run the library's code: it should only register
/// functions.
pub const LOAD_TIMEOUT: Duration = Duration::from_millis(500);

/// The one engine Redis has, as FUNCTION LIST and STATS name it.
pub const ENGINE_NAME: &str = "LUA";

/// Redis's message for a bad library or function name (it uses the same text for both).
const BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// One registered function.
pub struct FunctionInfo {
    /// Its name, as registered.
    pub name: Bytes,
    /// The `description` given to `redis.register_function`, if any.
    pub description: Option<Bytes>,
    /// The `flags` given to `redis.register_function`.
    pub flags: ScriptFlags,
    /// The Lua function to call.
    pub callback: Function,
}

/// A loaded library.
pub struct Library {
    /// Its name, from the `name=` of its shebang line.
    pub name: Bytes,
    /// Its whole source, shebang line included (what FUNCTION LIST WITHCODE and DUMP give).
    pub code: Bytes,
    /// Its functions by exact name.
    pub functions: BTreeMap<Bytes, FunctionInfo>,
}

/// The functions VM and the tables that switch its library environment between load time
/// and run time.
pub struct Engine {
    /// The Lua state.
    pub vm: Vm,
    /// The globals of library code: always empty, reads go to `env_meta.__index`.
    env: Table,
    /// The metatable of `env`.
    env_meta: Table,
    /// What library code sees while it loads: just `redis`.
    load_api: Table,
    /// What functions see when they run: the sandboxed globals.
    run_api: Table,
}

/// The functions registered by the library being loaded (Lua app data during a load).
struct LoadCtx(Vec<FunctionInfo>);

/// Every loaded library, and the VM their functions live in.
#[derive(Default)]
pub struct Functions {
    /// Absent until the first load, after FUNCTION FLUSH, and while a function runs.
    engine: Option<Engine>,
    /// Libraries by name.
    libraries: BTreeMap<Bytes, Library>,
    /// Lowercase function name → (library, exact function name).
    index: HashMap<Vec<u8>, (Bytes, Bytes)>,
}

/// How FUNCTION RESTORE treats the libraries already loaded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RestorePolicy {
    /// Drop them all first.
    Flush,
    /// Keep them; a library of the same name is an error.
    Append,
    /// Keep them; a library of the same name is replaced.
    Replace,
}

impl Functions {
    /// The libraries, by name.
    pub fn libraries(&self) -> impl Iterator<Item = &Library> {
        self.libraries.values()
    }

    /// Number of libraries.
    pub fn library_count(&self) -> usize {
        self.libraries.len()
    }

    /// Number of functions, over all libraries.
    pub fn function_count(&self) -> usize {
        self.libraries.values().map(|l| l.functions.len()).sum()
    }

    /// The source of every library, by library name.
    pub fn codes(&self) -> Vec<Bytes> {
        self.libraries.values().map(|l| l.code.clone()).collect()
    }

    /// The function called `name` (any letter case).
    pub fn find(&self, name: &[u8]) -> Option<&FunctionInfo> {
        let (lib, exact) = self.index.get(&name.to_ascii_lowercase())?;
        self.libraries.get(lib)?.functions.get(exact)
    }

    /// Takes the VM out for the duration of one FCALL.
    pub fn take_engine(&mut self) -> Option<Engine> {
        self.engine.take()
    }

    /// Gives the VM back after an FCALL.
    pub fn put_engine(&mut self, engine: Engine) {
        self.engine = Some(engine);
    }

    /// Drops every library and the VM.
    pub fn flush(&mut self) {
        self.libraries.clear();
        self.index.clear();
        self.engine = None;
    }

    /// Deletes the library `name`; false if there is none.
    pub fn delete(&mut self, name: &[u8]) -> bool {
        let Some(lib) = self.libraries.remove(name) else {
            return false;
        };
        self.unindex(&lib);
        true
    }

    fn unindex(&mut self, lib: &Library) {
        for f in lib.functions.keys() {
            let key = f.to_ascii_lowercase();
            if self.index.get(&key).is_some_and(|(l, _)| *l == lib.name) {
                self.index.remove(&key);
            }
        }
    }

    fn link(&mut self, lib: Library) {
        for f in lib.functions.keys() {
            // Two names of one library that differ only in case both register, but only
            // the first reaches FCALL, as in Redis.
            self.index
                .entry(f.to_ascii_lowercase())
                .or_insert_with(|| (lib.name.clone(), f.clone()));
        }
        self.libraries.insert(lib.name.clone(), lib);
    }

    /// The first function of `lib` whose name (any case) belongs to another library than
    /// `except`.
    fn collision<'a>(&self, lib: &'a Library, except: &[&[u8]]) -> Option<&'a Bytes> {
        lib.functions.keys().find(|f| {
            self.index
                .get(&f.to_ascii_lowercase())
                .is_some_and(|(owner, _)| !except.contains(&&owner[..]))
        })
    }

    /// FUNCTION LOAD: compiles `code` and runs it to register its functions, replacing a
    /// library of the same name only if `replace`. Returns the library's name, or Redis's
    /// message (without the `ERR ` code). `log` receives the library's `redis.log` lines;
    /// `limited` stops code that runs longer than [`LOAD_TIMEOUT`] (a client's FUNCTION
    /// LOAD; libraries read from a payload or a file run to the end).
    pub fn create(
        &mut self,
        code: &Bytes,
        replace: bool,
        log: Option<&Logger>,
        limited: bool,
    ) -> Result<Bytes, Vec<u8>> {
        let (engine_name, name, body_start) = metadata(code)?;
        if !valid_name(&name) {
            return Err(BAD_NAME.into());
        }
        if !engine_name.eq_ignore_ascii_case(ENGINE_NAME.as_bytes()) {
            return Err([b"Engine '".as_slice(), &engine_name, b"' not found"].concat());
        }
        let name = Bytes::from(name);
        if !replace && self.libraries.contains_key(&name) {
            return Err([b"Library '".as_slice(), &name, b"' already exists"].concat());
        }
        let engine = match self.engine.take() {
            Some(e) => e,
            None => Engine::new().map_err(|e| format!("Lua failure: {e}").into_bytes())?,
        };
        let registered = engine.run_library(&code[body_start..], log, limited);
        self.engine = Some(engine);
        let mut functions = BTreeMap::new();
        for f in registered? {
            functions.insert(f.name.clone(), f);
        }
        let lib = Library { name: name.clone(), code: code.clone(), functions };
        if let Some(f) = self.collision(&lib, &[&name]) {
            return Err([b"Function ".as_slice(), f, b" already exists"].concat());
        }
        if let Some(old) = self.libraries.remove(&name) {
            self.unindex(&old);
        }
        self.link(lib);
        Ok(name)
    }

    /// FUNCTION DUMP: each library's code after the `OPCODE_FUNCTION2` opcode, then the
    /// payload footer, written as `opts` (RDB version, compression) ask.
    pub fn dump(&self, opts: &crate::rdb::value::WriteOpts) -> Vec<u8> {
        let mut out = Vec::new();
        for lib in self.libraries.values() {
            out.push(crate::rdb::OPCODE_FUNCTION2);
            crate::rdb::write_blob(&mut out, &lib.code, opts.compress);
        }
        crate::rdb::seal_payload_as(out, opts.version)
    }

    /// FUNCTION RESTORE: loads every library of `body` (a payload without its footer)
    /// and adds them under `policy`. Nothing changes on failure. The error is Redis's
    /// message, without the `ERR ` code.
    pub fn restore(&mut self, body: &[u8], policy: RestorePolicy) -> Result<(), Vec<u8>> {
        // The new libraries are compiled into the same VM, in a registry of their own.
        let mut fresh = Functions { engine: self.engine.take(), ..Functions::default() };
        let loaded = fresh.load_payload(body);
        self.engine = fresh.engine.take();
        loaded?;
        if policy == RestorePolicy::Flush {
            self.libraries = fresh.libraries;
            self.index = fresh.index;
            return Ok(());
        }
        let replaced: Vec<&[u8]> = fresh
            .libraries
            .keys()
            .filter(|name| self.libraries.contains_key(*name))
            .map(|name| &name[..])
            .collect();
        if let (Some(name), RestorePolicy::Append) = (replaced.first(), policy) {
            return Err([b"Library ".as_slice(), name, b" already exists"].concat());
        }
        for lib in fresh.libraries.values() {
            if let Some(f) = self.collision(lib, &replaced) {
                return Err([b"Function ".as_slice(), f, b" already exists"].concat());
            }
        }
        for lib in fresh.libraries.into_values() {
            if let Some(old) = self.libraries.remove(&lib.name) {
                self.unindex(&old);
            }
            self.link(lib);
        }
        Ok(())
    }

    /// Loads the `OPCODE_FUNCTION2` entries of a payload body into `self`.
    fn load_payload(&mut self, body: &[u8]) -> Result<(), Vec<u8>> {
        /// The opcode of the functions format before Redis 7.0 GA.
        const OPCODE_FUNCTION_PRE_GA: u8 = 246;
        let mut reader = crate::rdb::Reader::new(body);
        while !reader.remaining().is_empty() {
            let opcode = reader.byte().map_err(|_| b"can not read data type".to_vec())?;
            if opcode == OPCODE_FUNCTION_PRE_GA {
                return Err(b"Pre-GA function format not supported".to_vec());
            }
            if opcode != crate::rdb::OPCODE_FUNCTION2 {
                return Err(b"given type is not a function".to_vec());
            }
            let code = reader.string().map_err(|_| b"Failed loading library payload".to_vec())?;
            self.create(&Bytes::from(code), false, None, false)?;
        }
        Ok(())
    }
}

/// Reads a library's shebang line: the engine name (after `#!`), the library name, and
/// where the code after the line starts (at its line feed, so line numbers are kept).
fn metadata(code: &[u8]) -> Result<(Vec<u8>, Vec<u8>, usize), Vec<u8>> {
    if !code.starts_with(b"#!") {
        return Err(b"Missing library metadata".to_vec());
    }
    const INVALID: &[u8] = b"Invalid library metadata";
    // Redis searches a C string: a NUL byte before the line feed ends it.
    let end = code
        .iter()
        .position(|&b| b == b'\n' || b == 0)
        .filter(|&i| code[i] == b'\n')
        .ok_or(INVALID.to_vec())?;
    let parts = match resp::request::split_args(&code[..end]) {
        Some(parts) if !parts.is_empty() => parts,
        _ => return Err(INVALID.to_vec()),
    };
    let engine = parts[0].get(2..).unwrap_or_default().to_vec();
    let mut name = None;
    for part in &parts[1..] {
        match part.get(..5) {
            Some(key) if key.eq_ignore_ascii_case(b"name=") => {
                if name.is_some() {
                    return Err(
                        b"Invalid metadata value, name argument was given multiple times".to_vec()
                    );
                }
                name = Some(part[5..].to_vec());
            }
            _ => return Err([b"Invalid metadata value given: ".as_slice(), part].concat()),
        }
    }
    let name = name.ok_or(b"Library name was not given".to_vec())?;
    Ok((engine, name, end))
}

/// Library and function names: letters, digits and underscores, at least one.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Lua code that builds the load-time `redis` table. It receives the collector of
/// registrations and the functions and constants taken from the full `redis` table, and
/// returns a read-only view of the new table. The collector returns an error message or
/// nothing; raising is done here, in Lua, so the error reaches the script as the
/// `{err = ...}` table Redis raises.
const LOAD_API: &str = r#"
local collect, full, meta = ...
local error, setmetatable = error, setmetatable
local api = {}
function api.register_function(...)
  local msg = collect(...)
  if msg then error({err = msg}) end
end
for _, k in ipairs({"log", "LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING",
                    "REDIS_VERSION", "REDIS_VERSION_NUM"}) do
  api[k] = full[k]
end
setmetatable(api, meta)
return setmetatable({}, {__index = api, __newindex = meta.__newindex})
"#;

impl Engine {
    /// A new VM with the library environment set up.
    fn new() -> mlua::Result<Engine> {
        let vm = Vm::new()?;
        let lua = &vm.lua;
        let globals = lua.globals();
        let missing = || mlua::Error::runtime("sandbox tables missing");
        // The real globals' metatable raises Redis's errors for a missing name and for
        // any write; the load-time tables reuse it.
        let meta = globals.metatable().ok_or_else(missing)?;
        let run_api: Table = globals.raw_get("_G")?;
        let full_redis: Table = globals
            .raw_get::<Table>("redis")?
            .metatable()
            .ok_or_else(missing)?
            .raw_get("__index")?;
        let collect = lua.create_function(|lua, args: MultiValue| {
            Ok(register(lua, args).err().map(|msg| format!("ERR {msg}")))
        })?;
        let redis: Table = lua.load(LOAD_API).set_name(lua::PRELUDE_NAME).call((
            collect,
            full_redis,
            meta.clone(),
        ))?;
        let load_api = lua.create_table()?;
        load_api.raw_set("redis", redis)?;
        load_api.set_metatable(Some(meta.clone()))?;
        let env_meta = lua.create_table()?;
        env_meta.raw_set("__index", run_api.clone())?;
        env_meta.raw_set("__newindex", meta.raw_get::<Value>("__newindex")?)?;
        let env = lua.create_table()?;
        env.set_metatable(Some(env_meta.clone()))?;
        Ok(Engine { vm, env, env_meta, load_api, run_api })
    }

    /// Compiles and runs a library's code (after its shebang line) in the load-time
    /// environment; returns the functions it registered or Redis's message.
    fn run_library(
        &self,
        body: &[u8],
        log: Option<&Logger>,
        limited: bool,
    ) -> Result<Vec<FunctionInfo>, Vec<u8>> {
        let chunk = self
            .vm
            .compile_in(body, CHUNK_NAME, self.env.clone())
            .map_err(|msg| format!("Error compiling function: {msg}").into_bytes())?;
        let lua = &self.vm.lua;
        let failure = |e: mlua::Error| format!("Lua failure: {e}").into_bytes();
        self.env_meta.raw_set("__index", self.load_api.clone()).map_err(failure)?;
        lua.set_app_data(LoadCtx(Vec::new()));
        let started = Instant::now();
        let outcome = lua.scope(|scope| {
            // At load time the bridge serves `redis.log` and the VM's periodic time check
            // (`tick`), which stops the code past the limit.
            let bridge =
                scope.create_function(|lua, (kind, rest): (mlua::LuaString, MultiValue)| {
                    match (&kind.as_bytes()[..], log) {
                        (b"log", Some(log)) => lua::log_line(log, rest),
                        (b"tick", _) if limited && started.elapsed() > LOAD_TIMEOUT => {
                            let stop = lua.create_string("ERR FUNCTION LOAD timeout")?;
                            return Ok((Value::String(stop), false));
                        }
                        _ => {}
                    }
                    Ok((Value::Nil, false))
                })?;
            self.vm.call(&chunk, MultiValue::new(), bridge)
        });
        let registered = lua.remove_app_data::<LoadCtx>().map(|c| c.0).unwrap_or_default();
        self.env_meta.raw_set("__index", self.run_api.clone()).map_err(failure)?;
        match outcome.map_err(failure)? {
            Outcome::Error(text, _) => {
                Err([b"Error registering functions: ".as_slice(), &text].concat())
            }
            Outcome::Value(_) if registered.is_empty() => Err(b"No functions registered".to_vec()),
            Outcome::Value(_) => Ok(registered),
        }
    }
}

/// `redis.register_function(name, callback)` or `redis.register_function{function_name=...,
/// callback=..., flags={...}, description=...}`: adds a function to the library being
/// loaded, or returns Redis's message.
fn register(lua: &Lua, args: MultiValue) -> Result<(), &'static str> {
    let mut args = args.into_iter();
    let f = match (args.next(), args.next(), args.next()) {
        (Some(named), None, None) => named_args(lua, named)?,
        (Some(name), Some(callback), None) => {
            let name = string_arg(lua, name)
                .ok_or("first argument to redis.register_function must be a string")?;
            let Value::Function(callback) = callback else {
                return Err("second argument to redis.register_function must be a function");
            };
            FunctionInfo { name, description: None, flags: ScriptFlags::default(), callback }
        }
        _ => return Err("wrong number of arguments to redis.register_function"),
    };
    let mut ctx = lua
        .app_data_mut::<LoadCtx>()
        .ok_or("redis.register_function can only be called on FUNCTION LOAD command")?;
    if !valid_name(&f.name) {
        return Err(BAD_NAME);
    }
    if ctx.0.iter().any(|g| g.name == f.name) {
        return Err("Function already exists in the library");
    }
    ctx.0.push(f);
    Ok(())
}

/// The table form of `redis.register_function`, read in Lua's iteration order so the
/// first problem found is the one Redis reports.
fn named_args(lua: &Lua, named: Value) -> Result<FunctionInfo, &'static str> {
    let Value::Table(t) = named else {
        return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
    };
    let (mut name, mut description, mut callback, mut flags) = (None, None, None, None);
    for pair in t.pairs::<Value, Value>() {
        let Ok((key, value)) = pair else { break };
        let key = match key {
            Value::String(s) => s.as_bytes().to_vec(),
            // A number passes Lua's "is a string" test but never names an argument.
            Value::Integer(_) | Value::Number(_) => Vec::new(),
            _ => return Err("named argument key given to redis.register_function is not a string"),
        };
        let is = |want: &str| key.eq_ignore_ascii_case(want.as_bytes());
        if is("function_name") {
            name = Some(string_arg(lua, value).ok_or(
                "function_name argument given to redis.register_function must be a string",
            )?);
        } else if is("description") {
            description =
                Some(string_arg(lua, value).ok_or(
                    "description argument given to redis.register_function must be a string",
                )?);
        } else if is("callback") {
            let Value::Function(f) = value else {
                return Err(
                    "callback argument given to redis.register_function must be a function",
                );
            };
            callback = Some(f);
        } else if is("flags") {
            let Value::Table(list) = value else {
                return Err("flags argument to redis.register_function must be a table representing function flags");
            };
            flags = Some(read_flags(lua, &list).ok_or("unknown flag given")?);
        } else {
            return Err("unknown argument given to redis.register_function");
        }
    }
    let name = name.ok_or("redis.register_function must get a function name argument")?;
    let callback = callback.ok_or("redis.register_function must get a callback argument")?;
    Ok(FunctionInfo { name, description, flags: flags.unwrap_or_default(), callback })
}

/// The flags of a `flags` table: its array part up to the first nil, each a flag name in
/// any letter case; None if one is not a flag.
fn read_flags(lua: &Lua, list: &Table) -> Option<ScriptFlags> {
    let mut flags = ScriptFlags::default();
    for i in 1.. {
        let v = list.raw_get::<Value>(i).ok()?;
        if v.is_nil() {
            break;
        }
        let name = string_arg(lua, v)?;
        let (f, _) =
            ScriptFlags::NAMES.iter().find(|(_, n)| name.eq_ignore_ascii_case(n.as_bytes()))?;
        flags = flags.with(*f);
    }
    Some(flags)
}

/// A string argument as Lua converts it: strings as they are, numbers printed; None for
/// anything else.
fn string_arg(lua: &Lua, v: Value) -> Option<Bytes> {
    match v {
        Value::String(_) | Value::Integer(_) | Value::Number(_) => {
            let s = lua.coerce_string(v).ok()??;
            Some(Bytes::copy_from_slice(&s.as_bytes()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_metadata() {
        assert_eq!(metadata(b"#!lua name=x\ncode"), Ok((b"lua".to_vec(), b"x".to_vec(), 12)));
        assert_eq!(metadata(b"#!LUA NAME=y\n"), Ok((b"LUA".to_vec(), b"y".to_vec(), 12)));
        assert_eq!(metadata(b"lua name=x\n"), Err(b"Missing library metadata".to_vec()));
        assert_eq!(metadata(b"#!lua name=x"), Err(b"Invalid library metadata".to_vec()));
        assert_eq!(metadata(b"#!lua\n"), Err(b"Library name was not given".to_vec()));
        assert_eq!(metadata(b"#!lua x=1\n"), Err(b"Invalid metadata value given: x=1".to_vec()));
    }

    #[test]
    fn load_list_delete() {
        let mut f = Functions::default();
        let lib =
            Bytes::from_static(b"#!lua name=l\nredis.register_function('Fn', function() end)");
        assert_eq!(f.create(&lib, false, None, true), Ok(Bytes::from_static(b"l")));
        assert!(f.find(b"fN").is_some());
        assert_eq!(f.create(&lib, false, None, true), Err(b"Library 'l' already exists".to_vec()));
        let other =
            Bytes::from_static(b"#!lua name=m\nredis.register_function('FN', function() end)");
        assert_eq!(
            f.create(&other, false, None, true),
            Err(b"Function FN already exists".to_vec())
        );
        assert_eq!(f.codes(), vec![lib.clone()]);
        assert_eq!((f.library_count(), f.function_count()), (1, 1));
        let opts = crate::rdb::value::WriteOpts::from_config(&crate::config::Config::default());
        let dump = f.dump(&opts);
        assert!(f.delete(b"l") && !f.delete(b"l") && f.find(b"fn").is_none());
        let body = crate::rdb::open_payload(&dump).unwrap();
        assert_eq!(f.restore(body, RestorePolicy::Append), Ok(()));
        assert!(f.find(b"fn").is_some());
    }
}
