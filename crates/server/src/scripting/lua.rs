//! The Lua 5.1 VM as Redis sets it up: base, table, string and math libraries, the `redis`
//! table, read-only globals, and the conversions between replies and Lua values.
//!
//! Script-level errors are always raised as `{err = "..."}` tables from Lua code (the
//! prelude below), never as Rust errors: an error coming out of a Rust callback would reach
//! the script as an opaque userdata, while Redis's scripts see tables and strings.

use bytes::Bytes;
use mlua::{Function, Lua, LuaOptions, MultiValue, StdLib, Table, Value};
use resp::Frame;

/// Chunk name of user scripts, so messages read `user_script:<line>:` as in Redis.
pub const CHUNK_NAME: &str = "@user_script";

/// Chunk name of Keel's own Lua code: the error handler looks past its frames, as Redis
/// does its C code.
pub const PRELUDE_NAME: &str = "=keel";

/// Nesting depth past which replies are not converted any further (a reply is built by
/// the server, but a script's own table can be self-referencing).
const MAX_DEPTH: usize = 128;

/// The Lua half of the `redis` library. It receives the SHA1 helper and returns the runner
/// and the setter of the per-call bridge (the scoped Rust function that can reach the
/// server while one script runs).
const PRELUDE: &str = r##"
local sha1, handler, script_error = ...
local setfenv = setfenv
local bridge = nil
-- Functions that can raise return a status first: false (then their results), "table"
-- (raise {err = msg}, as redis.call does), "arg" (raise Lua's "bad argument #1" error
-- about msg) or "bare" (raise msg as it is). Rust wraps
-- each into a C function: a tail call to a Lua function would drop the script's frame, and
-- with it the line Redis names in the error.
local function fail(msg) return "table", msg end
local function through(kind, ...)
  if bridge == nil then return fail("ERR redis library used outside of a script") end
  local reply, raise = bridge(kind, ...)
  if raise then return fail(reply.err) end
  return false, reply
end
local redis = {}
redis.REDIS_VERSION = __keel_version
redis.REDIS_VERSION_NUM = __keel_version_num
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
local raising = {}
function raising.call(...) return through("call", ...) end
function raising.pcall(...) return through("pcall", ...) end
function raising.acl_check_cmd(...) return through("acl", ...) end
function raising.sha1hex(...)
  if select("#", ...) ~= 1 then return fail("ERR wrong number of arguments") end
  return false, sha1((...))
end
function raising.log(...)
  local n, level = select("#", ...), ...
  if n < 2 then return fail("ERR redis.log() requires two arguments or more.") end
  -- Redis reads the level with lua_tonumber and truncates it to an int.
  level = tonumber(level)
  if level == nil then return fail("ERR First argument must be a number (log level).") end
  if not (level > -1 and level < 4) then return fail("ERR Invalid debug level.") end
  local parts = {}
  for i = 2, n do parts[#parts + 1] = tostring((select(i, ...))) end
  return through("log", level, table.concat(parts, " "))
end
function raising.setresp(...)
  local n, v = select("#", ...), ...
  if n ~= 1 then return fail("ERR redis.setresp() requires one argument.") end
  if v ~= 2 and v ~= 3 then return fail("ERR RESP version must be 2 or 3.") end
  return through("setresp", v)
end
function raising.set_repl(...)
  local n, v = select("#", ...), ...
  if n ~= 1 then return fail("ERR redis.set_repl() requires two arguments.") end
  if type(v) ~= "number" or v < 0 or v > 3 or v % 1 ~= 0 then
    return fail("ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.")
  end
  return false
end
local function one_string(n, s) return n == 1 and type(s) == "string" end
function redis.error_reply(...)
  local s = ...
  if not one_string(select("#", ...), s) then return {err = "ERR wrong number or type of arguments"} end
  if s:sub(1, 1) == "-" then s = s:sub(2) end
  if not s:find(" ", 1, true) then s = "ERR " .. s end
  return {err = s}
end
function redis.status_reply(...)
  local s = ...
  if not one_string(select("#", ...), s) then return {err = "ERR wrong number or type of arguments"} end
  return {ok = s}
end
function redis.replicate_commands() return true end
function redis.breakpoint() return false end
function redis.debug() end
-- Like Redis's, the script-visible pcall hands back the text of {err = ...} errors (and of
-- the userdata the C wrappers raise them as), and never raises itself.
local raw_pcall = pcall
local function settle(ok, ...)
  if ok then return ok, ... end
  -- A killed script (SCRIPT KILL, SHUTDOWN NOSAVE) must not be able to catch its stop.
  if bridge ~= nil then
    local stop = bridge("stopping")
    if stop then error({err = stop}) end
  end
  return ok, script_error((...))
end
-- The outer pcall catches pcall's own argument errors (`pcall()` answers false).
local function caught(outer_ok, ...)
  if not outer_ok then return settle(false, ...) end
  return settle(...)
end
rawset(_G, "pcall", function(...) return caught(raw_pcall(raw_pcall, ...)) end)
rawset(_G, "redis", redis)
rawset(_G, "__redis__err__handler", handler)
rawset(_G, "__keel_version", nil)
rawset(_G, "__keel_version_num", nil)
for _, name in ipairs({"dofile", "loadfile", "print", "getfenv", "setfenv", "newproxy", "module", "require"}) do
  rawset(_G, name, nil)
end
-- Read-only tables. Redis patches Lua for this; stock Lua 5.1 only offers metamethods, which
-- fire for absent keys alone. So each protected table is reached through an empty proxy
-- whose __newindex refuses every write, and the functions that bypass metamethods (next,
-- pairs, ipairs, rawget, rawset, setmetatable) see through proxies to the real table.
local next, pairs, ipairs, rawget, rawset, setmetatable, loadstring, load =
  next, pairs, ipairs, rawget, rawset, setmetatable, loadstring, load
local G = _G
local real = setmetatable({}, {__mode = "k"})
local function readonly() error("Attempt to modify a readonly table", 2) end
local function seal(t)
  local proxy = setmetatable({}, {__index = t, __newindex = readonly})
  real[proxy] = t
  return proxy
end
local function unsealed(t) return real[t] or t end
local function refuse(t)
  if real[t] then error("Attempt to modify a readonly table", 0) end
end
local function bad(expected, n, v)
  return "arg", expected .. " expected, got " .. (n == 0 and "no value" or type(v))
end
local function see_through_next(t, k) return next(unsealed(t), k) end
local sealed_g
local function in_sandbox(f, ...)
  if f then setfenv(f, sealed_g) end
  return false, f, ...
end
local globals = {}
function globals.next(...)
  local n, t, k = select("#", ...), ...
  if type(t) ~= "table" then return bad("table", n, t) end
  return false, next(unsealed(t), k)
end
function globals.pairs(...)
  local n, t = select("#", ...), ...
  if type(t) ~= "table" then return bad("table", n, t) end
  -- Only a sealed table needs the see-through iterator; every other loop runs on the
  -- plain `next`, at full speed.
  if real[t] then return false, see_through_next, t, nil end
  return false, next, t, nil
end
function globals.ipairs(...)
  local n, t = select("#", ...), ...
  if type(t) ~= "table" then return bad("table", n, t) end
  return false, ipairs(unsealed(t))
end
function globals.rawget(...)
  local n, t, k = select("#", ...), ...
  if type(t) ~= "table" then return bad("table", n, t) end
  return false, rawget(unsealed(t), k)
end
function globals.rawset(...)
  local n, t = select("#", ...), ...
  if type(t) ~= "table" then return bad("table", n, t) end
  if real[t] then return "bare", "Attempt to modify a readonly table" end
  return false, rawset(...)
end
function globals.setmetatable(...)
  local n, t = select("#", ...), ...
  if type(t) ~= "table" then return bad("table", n, t) end
  if real[t] then return "bare", "Attempt to modify a readonly table" end
  return false, setmetatable(...)
end
function globals.loadstring(...)
  local n, src = select("#", ...), ...
  if type(src) ~= "string" and type(src) ~= "number" then return bad("string", n, src) end
  return in_sandbox(loadstring(...))
end
function globals.load(...)
  local n, f = select("#", ...), ...
  if type(f) ~= "function" then return bad("function", n, f) end
  return in_sandbox(load(...))
end
for name, v in next, G do
  if type(v) == "table" and name ~= "_G" then rawset(G, name, seal(v)) end
end
sealed_g = seal(G)
rawset(G, "_G", sealed_g)
setmetatable(G, {
  __index = function(_, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
  end,
  __newindex = readonly,
})
local unpack = unpack
-- Functions (FCALL) get their keys and arguments as parameters; Lua 5.1's xpcall passes
-- none, so a closure carries them.
local function run(f, ...)
  local n, args = select("#", ...), {...}
  if n == 0 then return xpcall(f, handler) end
  return xpcall(function() return f(unpack(args, 1, n)) end, handler)
end
local function set_bridge(f) bridge = f end
local function sandboxed(f)
  setfenv(f, sealed_g)
  return f
end
return run, set_bridge, raising, redis, sandboxed, globals
"##;

/// A ready VM: the Lua state, the script runner and the bridge setter.
pub struct Vm {
    /// The Lua state.
    pub lua: Lua,
    /// `run(f)`: calls `f` under the error handler, returning `ok, value-or-error`.
    run: Function,
    /// `set_bridge(f)`: installs (or, with nil, removes) the per-call server bridge.
    set_bridge: Function,
    /// `sandboxed(f)`: gives a compiled script the read-only view of the globals.
    sandboxed: Function,
    /// The real (unsealed) `redis` table, where each run installs its own `call`/`pcall`.
    redis: Table,
    /// `redis.call`/`redis.pcall` outside a run: they answer that no script is running.
    idle_calls: Calls,
}

/// A run's `redis.call` and `redis.pcall`: Rust functions that execute the command
/// directly, with no Lua frame in between (the hottest path of every script).
#[derive(Clone)]
pub struct Calls {
    /// `redis.call`: raises error replies.
    pub call: Function,
    /// `redis.pcall`: returns error replies as `{err = ...}` tables.
    pub pcall: Function,
}

/// What a script ended with.
pub enum Outcome {
    /// The first returned value.
    Value(Value),
    /// A raised error: its text and, when known, the chunk and line it came from.
    Error(Bytes, Option<(String, usize)>),
}

impl Vm {
    /// Builds a VM with Redis's libraries and the `redis` table.
    pub fn new() -> mlua::Result<Vm> {
        let lua = Lua::new_with(StdLib::TABLE | StdLib::STRING | StdLib::MATH, LuaOptions::new())?;
        // Redis's bundled libraries, installed before the prelude makes the globals read-only.
        super::bit::register(&lua)?;
        super::cjson::register(&lua)?;
        super::cmsgpack::register(&lua)?;
        super::struct_lib::register(&lua)?;
        let globals = lua.globals();
        globals.raw_set("__keel_version", crate::REDIS_VERSION)?;
        globals.raw_set("__keel_version_num", version_num(crate::REDIS_VERSION))?;
        let sha1 = lua.create_function(|lua, v: Value| {
            // Like Redis, anything that is not a string or number hashes as the empty string.
            let bytes = lua.coerce_string(v)?.map(|s| s.as_bytes().to_vec()).unwrap_or_default();
            Ok(super::sha1_hex(&bytes))
        })?;
        let handler = lua.create_function(error_handler)?;
        let script_error = lua.create_function(|lua, v: Value| {
            let text = match &v {
                Value::Table(t) => match t.raw_get::<Value>("err")? {
                    Value::String(s) => Some(s.as_bytes().to_vec()),
                    _ => None,
                },
                other => raised(other).map(|e| e.text().to_vec()),
            };
            match text {
                Some(text) => Ok(Value::String(lua.create_string(text)?)),
                None => Ok(v),
            }
        })?;
        let (run, set_bridge, raising, redis, sandboxed, overrides): (
            Function,
            Function,
            Table,
            Table,
            Function,
            Table,
        ) = lua.load(PRELUDE).set_name(PRELUDE_NAME).call((sha1, handler, script_error))?;
        for (imps, target) in [(raising, redis.clone()), (overrides, lua.globals())] {
            for pair in imps.pairs::<mlua::LuaString, Function>() {
                let (name, imp) = pair?;
                target.raw_set(name, as_c_function(&lua, imp)?)?;
            }
        }
        lua.set_hook(
            mlua::HookTriggers::new().every_nth_instruction(super::busy::CHECK_EVERY),
            busy_hook,
        )?;
        let idle_calls = Calls { call: redis.raw_get("call")?, pcall: redis.raw_get("pcall")? };
        Ok(Vm { lua, run, set_bridge, sandboxed, redis, idle_calls })
    }

    /// Compiles a script body; on failure returns Lua's message.
    pub fn compile(&self, body: &[u8]) -> Result<Function, String> {
        let f = self.compile_chunk(self.lua.load(body).set_name(CHUNK_NAME))?;
        self.sandboxed.call(f).map_err(|e| e.to_string())
    }

    /// Compiles a function library's code under `chunk_name`, with `env` as its globals;
    /// on failure returns Lua's message.
    pub fn compile_in(
        &self,
        body: &[u8],
        chunk_name: &str,
        env: Table,
    ) -> Result<Function, String> {
        self.compile_chunk(self.lua.load(body).set_name(chunk_name).set_environment(env))
    }

    fn compile_chunk(&self, chunk: mlua::chunk::Chunk<'_>) -> Result<Function, String> {
        chunk.into_function().map_err(|e| match e {
            mlua::Error::SyntaxError { message, .. } => message,
            other => other.to_string(),
        })
    }

    /// Runs `f` with `bridge` installed. An EVAL script (`eval`) finds its keys and
    /// arguments in the KEYS and ARGV globals; a function (FCALL) gets them as its two
    /// parameters.
    pub fn run(
        &self,
        f: &Function,
        keys: &[Bytes],
        argv: &[Bytes],
        eval: bool,
        bridge: Function,
        calls: &Calls,
    ) -> mlua::Result<Outcome> {
        let (keys, argv) = (self.strings(keys)?, self.strings(argv)?);
        self.install_calls(calls)?;
        let outcome = if eval {
            let globals = self.lua.globals();
            globals.raw_set("KEYS", keys)?;
            globals.raw_set("ARGV", argv)?;
            self.call(f, MultiValue::new(), bridge)
        } else {
            self.call(f, MultiValue::from_iter([Value::Table(keys), Value::Table(argv)]), bridge)
        };
        self.install_calls(&self.idle_calls)?;
        outcome
    }

    fn install_calls(&self, calls: &Calls) -> mlua::Result<()> {
        self.redis.raw_set("call", &calls.call)?;
        self.redis.raw_set("pcall", &calls.pcall)
    }

    /// Installs `bridge` and calls `f` with `args` under the error handler.
    pub fn call(&self, f: &Function, args: MultiValue, bridge: Function) -> mlua::Result<Outcome> {
        // The count hook reaches the server through the same bridge (see `busy.rs`).
        self.lua.set_named_registry_value(BRIDGE_KEY, &bridge)?;
        self.set_bridge.call::<()>(bridge)?;
        let mut call_args = MultiValue::from_iter([Value::Function(f.clone())]);
        call_args.extend(args);
        let result = self.run.call::<MultiValue>(call_args);
        self.set_bridge.call::<()>(Value::Nil)?;
        self.lua.unset_named_registry_value(BRIDGE_KEY)?;
        let mut values = result?.into_iter();
        let ok = matches!(values.next(), Some(Value::Boolean(true)));
        let value = values.next().unwrap_or(Value::Nil);
        if ok {
            return Ok(Outcome::Value(value));
        }
        let Value::Table(t) = value else {
            return Ok(Outcome::Error(Bytes::from_static(b"ERR unknown error"), None));
        };
        let text = match t.raw_get::<Value>("err")? {
            Value::String(s) => Bytes::copy_from_slice(&s.as_bytes()),
            _ => Bytes::from_static(b"ERR unknown error"),
        };
        let source = t.raw_get::<Option<String>>("source")?;
        let line = t.raw_get::<Option<usize>>("line")?;
        Ok(Outcome::Error(text, source.zip(line)))
    }

    /// A Lua array of binary strings.
    fn strings(&self, items: &[Bytes]) -> mlua::Result<Table> {
        let t = self.lua.create_table()?;
        for (i, item) in items.iter().enumerate() {
            t.raw_set(i + 1, self.lua.create_string(item)?)?;
        }
        Ok(t)
    }
}

/// An error raised by one of Keel's C functions (see the status protocol in the prelude).
/// A Rust callback can only raise a userdata, so the error travels in this and the error
/// handler and the script-visible `pcall` turn it back into what Redis would have raised.
#[derive(Clone, Debug)]
enum ScriptError {
    /// Redis raises `{err = text}`: the reply is `text` as it is.
    Reply(Vec<u8>),
    /// Lua raises the string `text`: the reply is `ERR text`.
    Message(Vec<u8>),
}

impl ScriptError {
    /// What a script's `pcall` receives.
    fn text(&self) -> &[u8] {
        match self {
            ScriptError::Reply(t) | ScriptError::Message(t) => t,
        }
    }

    /// The error reply text, before the ` script: ...` suffix.
    fn reply_text(&self) -> Vec<u8> {
        match self {
            ScriptError::Reply(t) => t.clone(),
            ScriptError::Message(t) => [b"ERR ".as_slice(), t].concat(),
        }
    }
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.text()))
    }
}

impl std::error::Error for ScriptError {}

/// The [`ScriptError`] carried by `v`, if it is one.
fn raised(v: &Value) -> Option<ScriptError> {
    fn find(e: &mlua::Error) -> Option<ScriptError> {
        match e {
            mlua::Error::ExternalError(inner) => inner.downcast_ref::<ScriptError>().cloned(),
            mlua::Error::CallbackError { cause, .. } => find(cause),
            _ => None,
        }
    }
    match v {
        Value::Error(e) => find(e),
        _ => None,
    }
}

/// Wraps a prelude function that follows the status protocol into a C function that returns
/// its results or raises its error.
fn as_c_function(lua: &Lua, imp: Function) -> mlua::Result<Function> {
    lua.create_function(move |lua, args: MultiValue| {
        let mut out: MultiValue = imp.call(args)?;
        let Some(Value::String(status)) = out.pop_front() else {
            return Ok(out);
        };
        let msg = match out.pop_front() {
            Some(Value::String(s)) => s.as_bytes().to_vec(),
            _ => Vec::new(),
        };
        let err = match &status.as_bytes()[..] {
            b"table" => ScriptError::Reply(msg),
            b"arg" => ScriptError::Message(argument_error(lua, &msg)),
            _ => ScriptError::Message(msg),
        };
        Err(mlua::Error::external(err))
    })
}

/// Lua's `bad argument #1 to 'name' (problem)` error for the running C function, prefixed
/// with the caller's `chunk:line: ` as Lua does; the name is `?` when Lua cannot tell it
/// (a call from C, such as `pcall(pairs)`).
fn argument_error(lua: &Lua, problem: &[u8]) -> Vec<u8> {
    let name = lua
        .inspect_stack(0, |d| d.names().name.map(|n| n.into_owned()))
        .flatten()
        .unwrap_or_else(|| "?".to_string());
    let position = lua
        .inspect_stack(1, |d| {
            let src = d.source();
            match (src.short_src, d.current_line()) {
                (Some(chunk), Some(line)) => format!("{chunk}:{line}: "),
                _ => String::new(),
            }
        })
        .unwrap_or_default();
    let mut out = format!("{position}bad argument #1 to '{name}' (").into_bytes();
    out.extend_from_slice(problem);
    out.push(b')');
    out
}

/// The error `redis.call` raises for an error reply `text`: the script's `pcall` gets the
/// text, the caller gets it as the error reply.
pub fn raise_reply(text: &[u8]) -> mlua::Error {
    mlua::Error::external(ScriptError::Reply(text.to_vec()))
}

/// Registry key of the bridge while a script runs.
const BRIDGE_KEY: &str = "keel.bridge";

/// The count hook: lets the server check the running time and serve other clients
/// (`bridge("tick")`), and raises the stop error when the script was killed.
fn busy_hook(lua: &Lua, _: &mlua::debug::Debug) -> mlua::Result<mlua::VmState> {
    let Ok(bridge) = lua.named_registry_value::<Function>(BRIDGE_KEY) else {
        return Ok(mlua::VmState::Continue);
    };
    match bridge.call::<Value>("tick")? {
        Value::String(stop) => {
            Err(mlua::Error::external(ScriptError::Reply(stop.as_bytes().to_vec())))
        }
        _ => Ok(mlua::VmState::Continue),
    }
}

/// `{err = text}`.
fn err_table(lua: &Lua, text: &[u8]) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("err", lua.create_string(text)?)?;
    Ok(t)
}

/// `7.2.4` → 0x070204, as `REDIS_VERSION_NUM`.
fn version_num(v: &str) -> i64 {
    v.split('.').take(3).fold(0, |acc, part| (acc << 8) | part.parse::<i64>().unwrap_or(0))
}

/// The xpcall handler: turns any error into `{err = text, line = n}`, where `n` is the line of
/// the innermost user-script frame (the script line Redis appends to the error).
fn error_handler(lua: &Lua, err: Value) -> mlua::Result<Table> {
    let text: Vec<u8> = match (raised(&err), &err) {
        (Some(e), _) => e.reply_text(),
        (None, Value::Table(t)) => match t.raw_get::<Value>("err")? {
            Value::String(s) => s.as_bytes().to_vec(),
            _ => b"ERR unknown error".to_vec(),
        },
        (None, other) => {
            let shown = match other {
                Value::Error(e) => e.to_string().into_bytes(),
                _ => match lua.coerce_string(other.clone())? {
                    Some(s) => s.as_bytes().to_vec(),
                    None => other.type_name().as_bytes().to_vec(),
                },
            };
            [b"ERR ".as_slice(), &shown].concat()
        }
    };
    let out = err_table(lua, &text)?;
    // Like Redis, name the frame that raised, looking past C functions; Keel's own Lua
    // helpers (the read-only guard, the libraries' error shim) are looked past too, as
    // Redis does those parts in C.
    let place = (1..64).find_map(|level| {
        lua.inspect_stack(level, |d| {
            let src = d.source();
            let source = src.source.as_deref()?;
            // `=wrapper` is the Lua shim the bundled libraries (bit.rs) raise errors through.
            if src.what == "C" || source == PRELUDE_NAME || source == "=wrapper" {
                return None;
            }
            Some((source.to_string(), d.current_line()?))
        })
        .flatten()
    });
    if let Some((source, line)) = place {
        out.raw_set("source", source)?;
        out.raw_set("line", line)?;
    }
    Ok(out)
}

/// Converts a command reply to the Lua value a script sees; `resp3` after
/// `redis.setresp(3)`.
pub fn frame_to_lua(lua: &Lua, frame: Frame, resp3: bool) -> mlua::Result<Value> {
    let tagged = |tag: &str, v: Value| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.raw_set(tag, v)?;
        Ok(Value::Table(t))
    };
    let string = |b: &[u8]| -> mlua::Result<Value> { Ok(Value::String(lua.create_string(b)?)) };
    match frame {
        Frame::Simple(s) => tagged("ok", string(&s)?),
        Frame::Error(s) => tagged("err", string(&s)?),
        Frame::Integer(n) => Ok(Value::Number(n as f64)),
        Frame::Bulk(b) => string(&b),
        Frame::Null | Frame::NullArray => {
            Ok(if resp3 { Value::Nil } else { Value::Boolean(false) })
        }
        Frame::Array(items) | Frame::Push(items) => array(lua, items, resp3),
        Frame::Set(items) if !resp3 => array(lua, items, resp3),
        Frame::Set(items) => {
            let t = lua.create_table()?;
            for item in items {
                t.raw_set(frame_to_lua(lua, item, resp3)?, true)?;
            }
            tagged("set", Value::Table(t))
        }
        Frame::Map(pairs) if !resp3 => {
            array(lua, pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(), resp3)
        }
        Frame::Map(pairs) => {
            let t = lua.create_table()?;
            for (k, v) in pairs {
                t.raw_set(frame_to_lua(lua, k, resp3)?, frame_to_lua(lua, v, resp3)?)?;
            }
            tagged("map", Value::Table(t))
        }
        Frame::Double(d) if resp3 => tagged("double", Value::Number(d)),
        Frame::Double(d) => string(resp::encode::format_double(d).as_bytes()),
        Frame::DoubleText(b) if resp3 => {
            let d = std::str::from_utf8(&b).ok().and_then(|s| s.parse().ok()).unwrap_or(0.0);
            tagged("double", Value::Number(d))
        }
        Frame::DoubleText(b) => string(&b),
        Frame::Boolean(b) if resp3 => Ok(Value::Boolean(b)),
        Frame::Boolean(b) => Ok(Value::Number(if b { 1.0 } else { 0.0 })),
        Frame::Verbatim(format, text) if resp3 => {
            let t = lua.create_table()?;
            t.raw_set("format", format)?;
            t.raw_set("string", lua.create_string(&text)?)?;
            tagged("verbatim_string", Value::Table(t))
        }
        Frame::Verbatim(_, text) => string(&text),
        Frame::BigNumber(n) if resp3 => tagged("big_number", string(&n)?),
        Frame::BigNumber(n) => string(&n),
    }
}

fn array(lua: &Lua, items: Vec<Frame>, resp3: bool) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    for (i, item) in items.into_iter().enumerate() {
        t.raw_set(i + 1, frame_to_lua(lua, item, resp3)?)?;
    }
    Ok(Value::Table(t))
}

/// Converts what a script returned to the reply; `resp3` after `redis.setresp(3)`.
pub fn lua_to_frame(v: &Value, resp3: bool) -> Frame {
    convert(v, resp3, 0)
}

fn convert(v: &Value, resp3: bool, depth: usize) -> Frame {
    match v {
        Value::Integer(n) => Frame::Integer(*n),
        Value::Number(n) => Frame::Integer(double_to_i64(*n)),
        Value::String(s) => Frame::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(true) if resp3 => Frame::Boolean(true),
        Value::Boolean(false) if resp3 => Frame::Boolean(false),
        Value::Boolean(true) => Frame::Integer(1),
        Value::Table(t) if depth < MAX_DEPTH => table_to_frame(t, resp3, depth),
        _ => Frame::Null,
    }
}

/// Truncates like Redis's C cast of a double to long long on x86-64: NaN and values outside
/// i64 give the "integer indefinite" value, `i64::MIN`.
fn double_to_i64(n: f64) -> i64 {
    // 2^63 is exactly representable; i64 covers [-2^63, 2^63).
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if (-LIMIT..LIMIT).contains(&n) {
        n as i64
    } else {
        i64::MIN
    }
}

fn table_to_frame(t: &Table, resp3: bool, depth: usize) -> Frame {
    let field = |name: &str| t.raw_get::<Value>(name).unwrap_or(Value::Nil);
    if let Value::String(s) = field("err") {
        return Frame::Error(Bytes::copy_from_slice(&s.as_bytes()));
    }
    if let Value::String(s) = field("ok") {
        return Frame::Simple(Bytes::copy_from_slice(&s.as_bytes()));
    }
    if let Value::Number(d) = field("double") {
        return Frame::Double(d);
    }
    if let Value::Integer(n) = field("double") {
        return Frame::Double(n as f64);
    }
    if let Value::String(s) = field("big_number") {
        return Frame::BigNumber(Bytes::copy_from_slice(&s.as_bytes()));
    }
    if let Value::Table(m) = field("map") {
        let pairs = m
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, v)| (convert(&k, resp3, depth + 1), convert(&v, resp3, depth + 1)))
            .collect();
        return Frame::Map(pairs);
    }
    if let Value::Table(s) = field("set") {
        let items = s
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, _)| convert(&k, resp3, depth + 1))
            .collect();
        return Frame::Set(items);
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(convert(&v, resp3, depth + 1)),
        }
    }
    Frame::Array(items)
}

/// Turns `redis.call` arguments into a command's argv: strings as they are, numbers with
/// `%.17g` (so scores and ids survive exactly); anything else is refused.
pub fn command_args(args: MultiValue) -> Result<Vec<Bytes>, &'static str> {
    let mut argv = Vec::with_capacity(args.len());
    for a in args {
        argv.push(match a {
            Value::String(s) => Bytes::copy_from_slice(&s.as_bytes()),
            Value::Integer(n) => Bytes::from(format_17g(n as f64)),
            Value::Number(n) => Bytes::from(format_17g(n)),
            _ => return Err("ERR Lua redis lib command arguments must be strings or integers"),
        });
    }
    Ok(argv)
}

/// Writes the line of a `redis.log(level, ...)` call (checked and joined by the prelude,
/// which passes the level and the text) to the server log.
pub fn log_line(log: &crate::log::Logger, rest: MultiValue) {
    use crate::log::Level;
    let mut it = rest.into_iter();
    // The prelude has checked the level is in (-1, 4); it is truncated, as C does.
    let level = match it.next() {
        Some(Value::Integer(n)) => n,
        Some(Value::Number(n)) => n as i64,
        _ => 3,
    };
    let level = match level {
        0 => Level::Debug,
        1 => Level::Verbose,
        2 => Level::Notice,
        _ => Level::Warning,
    };
    if let Some(Value::String(msg)) = it.next() {
        log.log(level, &String::from_utf8_lossy(&msg.as_bytes()));
    }
}

/// C's `%.17g`: 17 significant digits, trailing zeros dropped, exponent form when the
/// exponent is below -4 or at least 17.
pub fn format_17g(n: f64) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan".into() } else { "nan".into() };
    }
    if n.is_infinite() {
        return if n > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Whole numbers below 1e17 print as their digits (17 significant digits hold them all):
    // the common case (scores, counters, timestamps) skips the slow exact formatting.
    if n.fract() == 0.0 && n.abs() < 1e17 && !(n == 0.0 && n.is_sign_negative()) {
        return itoa::Buffer::new().format(n as i64).to_string();
    }
    let sci = format!("{n:.16e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
        None => return sci,
    };
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if !(-4..17).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim(mantissa), exp.abs());
    }
    let decimals = (16 - exp).max(0) as usize;
    trim(format!("{n:.decimals$}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g17() {
        assert_eq!(format_17g(0.1), "0.10000000000000001");
        assert_eq!(format_17g(7355955844345855.0), "7355955844345855");
        assert_eq!(format_17g(-0.0), "-0");
        assert_eq!(format_17g(1e20), "1e+20");
        assert_eq!(format_17g(0.00001), "1.0000000000000001e-05");
        assert_eq!(format_17g(3.0), "3");
        // Both sides of the whole-number fast path.
        assert_eq!(format_17g(1e16), "10000000000000000");
        assert_eq!(format_17g(-99999999999999984.0), "-99999999999999984");
        assert_eq!(format_17g(1e17), "1e+17");
        assert_eq!(format_17g(0.0), "0");
    }

    #[test]
    fn version() {
        assert_eq!(version_num("7.0.15"), 458767);
    }
}
