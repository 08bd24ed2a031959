//! The `bit` global (LuaBitOp semantics) for scripts: 32-bit bitwise operations on Lua numbers.
//!
//! Also home of the small argument-checking toolkit shared by the other bundled Lua libraries
//! (cjson, cmsgpack, struct): library functions are written in Rust but raise their errors as
//! plain Lua strings prefixed with the caller's script position, exactly like C libraries do.

use mlua::{Function, Lua, MultiValue, Number, Value};

/// Result of a library function: its return values, or the message of a Lua error to raise.
pub(crate) type LibResult = Result<MultiValue, String>;

/// Lua chunk wrapping a Rust implementation. The Rust side returns `count, values...` on success
/// or `-1, message` on failure; the wrapper turns the failure into `error(message, 2)` so the
/// message gets the calling script's `chunk:line:` prefix and stays a plain string, which is
/// what scripts (pcall) and the EVAL error reply expect.
const WRAPPER: &str = r#"
local raw, unpack, error = ...
return function(...)
  local r = {raw(...)}
  if r[1] < 0 then error(r[2], 2) end
  return unpack(r, 2, r[1] + 1)
end
"#;

/// Builds a Lua-callable function named `name` from a Rust implementation using [`WRAPPER`].
pub(crate) fn lib_fn<F>(lua: &Lua, name: &'static str, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, MultiValue) -> LibResult + 'static,
{
    let raw = lua.create_function(move |lua, args: MultiValue| {
        let mut out = MultiValue::new();
        match f(lua, args) {
            Ok(vals) => {
                out.push_back(Value::Number(vals.len() as Number));
                out.extend(vals);
            }
            Err(msg) => {
                out.push_back(Value::Number(-1.0));
                out.push_back(Value::String(lua.create_string(caller_name(lua, name, msg))?));
            }
        }
        Ok(out)
    })?;
    let unpack: Value = lua.globals().get("unpack")?;
    let error: Value = lua.globals().get("error")?;
    lua.load(WRAPPER).set_name("=wrapper").call::<Function>((raw, unpack, error))
}

/// C's `luaL_argerror` names the function the way its caller refers to it (`'?'` when it was
/// called from C, e.g. through `pcall`); rewrite our fixed name in such messages accordingly.
fn caller_name(lua: &Lua, name: &str, msg: String) -> String {
    let fixed = format!(" to '{name}' (");
    let Some(at) = msg.starts_with("bad argument #").then(|| msg.find(&fixed)).flatten() else {
        return msg;
    };
    // Level 0 is the Rust function, level 1 the wrapper as seen from its caller. A tail call
    // hides the caller from the wrapper (level 2 is then Lua's "tail" marker), whereas a C
    // function still sees it, so keep the library name in that case.
    let seen = lua.inspect_stack(1, |d| d.names().name.map(|n| n.into_owned())).flatten();
    let tail = || lua.inspect_stack(2, |d| d.source().what == "tail") == Some(true);
    let seen = match seen {
        Some(n) => n,
        None if tail() => name.to_string(),
        None => "?".to_string(),
    };
    format!("{} to '{seen}' ({}", &msg[..at], &msg[at + fixed.len()..])
}

/// 2^63: the bound of the 64-bit integer conversions several libraries mimic.
pub(crate) const TWO_63: f64 = 9_223_372_036_854_775_808.0;

/// A library function implemented in Rust.
pub(crate) type LibFn = fn(&Lua, MultiValue) -> LibResult;

/// Creates the global table `name` holding `funcs`, returning it for extra fields.
pub(crate) fn install(
    lua: &Lua,
    name: &str,
    funcs: &[(&'static str, LibFn)],
) -> mlua::Result<mlua::Table> {
    let table = lua.create_table()?;
    for &(fname, f) in funcs {
        table.set(fname, lib_fn(lua, fname, f)?)?;
    }
    lua.globals().set(name, &table)?;
    Ok(table)
}

/// The type name Lua's `type()` reports, used in "X expected, got Y" messages.
pub(crate) fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(Value::LightUserData(_)) => "userdata",
        Some(Value::Integer(_)) => "number",
        Some(v) => v.type_name(),
    }
}

/// Message of C Lua's `luaL_argerror`.
pub(crate) fn arg_error(n: usize, func: &str, extra: &str) -> String {
    format!("bad argument #{n} to '{func}' ({extra})")
}

/// Message of C Lua's `luaL_typerror`.
pub(crate) fn type_error(n: usize, func: &str, expected: &str, got: Option<&Value>) -> String {
    arg_error(n, func, &format!("{expected} expected, got {}", type_name(got)))
}

/// `luaL_checknumber`: numbers and numeric strings are accepted.
pub(crate) fn check_number(
    lua: &Lua,
    args: &MultiValue,
    n: usize,
    func: &str,
) -> Result<Number, String> {
    let v = args.get(n - 1);
    let num = match v {
        Some(v) => lua.coerce_number(v.clone()).ok().flatten(),
        None => None,
    };
    num.ok_or_else(|| type_error(n, func, "number", v))
}

/// `luaL_checklstring`: strings and numbers (converted like Lua does) are accepted.
pub(crate) fn check_bytes(
    lua: &Lua,
    args: &MultiValue,
    n: usize,
    func: &str,
) -> Result<Vec<u8>, String> {
    let v = args.get(n - 1);
    let s = match v {
        Some(v @ (Value::String(_) | Value::Number(_) | Value::Integer(_))) => {
            lua.coerce_string(v.clone()).ok().flatten()
        }
        _ => None,
    };
    s.map(|s| s.as_bytes().to_vec()).ok_or_else(|| type_error(n, func, "string", v))
}

/// Wraps one Lua value as a result list.
pub(crate) fn ret(v: Value) -> LibResult {
    Ok(MultiValue::from_iter([v]))
}

/// Converts a Lua number to a 32-bit integer the LuaBitOp way: adding 2^52+2^51 puts the
/// (rounded-to-nearest-even) integer part in the low mantissa bits, which wraps modulo 2^32.
fn to_bit(n: Number) -> i32 {
    let shifted = n + 6_755_399_441_055_744.0;
    shifted.to_bits() as u32 as i32
}

/// Checks argument `n` and normalises it to 32 bits.
fn bit_arg(lua: &Lua, args: &MultiValue, n: usize, func: &str) -> Result<i32, String> {
    check_number(lua, args, n, func).map(to_bit)
}

fn num(v: i32) -> LibResult {
    ret(Value::Number(Number::from(v)))
}

/// `bit.tobit(x)`
fn tobit(lua: &Lua, args: MultiValue) -> LibResult {
    num(bit_arg(lua, &args, 1, "tobit")?)
}

/// `bit.bnot(x)`
fn bnot(lua: &Lua, args: MultiValue) -> LibResult {
    num(!bit_arg(lua, &args, 1, "bnot")?)
}

/// `bit.bswap(x)`
fn bswap(lua: &Lua, args: MultiValue) -> LibResult {
    num(bit_arg(lua, &args, 1, "bswap")?.swap_bytes())
}

/// Folds all arguments (at least one) with `op`.
fn fold(lua: &Lua, args: &MultiValue, func: &str, op: fn(i32, i32) -> i32) -> LibResult {
    let mut acc = bit_arg(lua, args, 1, func)?;
    for i in 2..=args.len() {
        acc = op(acc, bit_arg(lua, args, i, func)?);
    }
    num(acc)
}

/// `bit.band(x1 [,x2...])`
fn band(lua: &Lua, args: MultiValue) -> LibResult {
    fold(lua, &args, "band", |a, b| a & b)
}

/// `bit.bor(x1 [,x2...])`
fn bor(lua: &Lua, args: MultiValue) -> LibResult {
    fold(lua, &args, "bor", |a, b| a | b)
}

/// `bit.bxor(x1 [,x2...])`
fn bxor(lua: &Lua, args: MultiValue) -> LibResult {
    fold(lua, &args, "bxor", |a, b| a ^ b)
}

/// Shared body of the shifts/rotations: the count only uses its low 5 bits.
fn shift(lua: &Lua, args: &MultiValue, func: &str, op: fn(u32, u32) -> u32) -> LibResult {
    let x = bit_arg(lua, args, 1, func)? as u32;
    let n = (bit_arg(lua, args, 2, func)? & 31) as u32;
    num(op(x, n) as i32)
}

/// `bit.lshift(x, n)`
fn lshift(lua: &Lua, args: MultiValue) -> LibResult {
    shift(lua, &args, "lshift", |x, n| x << n)
}

/// `bit.rshift(x, n)`
fn rshift(lua: &Lua, args: MultiValue) -> LibResult {
    shift(lua, &args, "rshift", |x, n| x >> n)
}

/// `bit.arshift(x, n)`
fn arshift(lua: &Lua, args: MultiValue) -> LibResult {
    shift(lua, &args, "arshift", |x, n| ((x as i32) >> n) as u32)
}

/// `bit.rol(x, n)`
fn rol(lua: &Lua, args: MultiValue) -> LibResult {
    shift(lua, &args, "rol", u32::rotate_left)
}

/// `bit.ror(x, n)`
fn ror(lua: &Lua, args: MultiValue) -> LibResult {
    shift(lua, &args, "ror", u32::rotate_right)
}

/// `bit.tohex(x [,n])`: `n` digits (default 8, at most 8), upper case when negative.
fn tohex(lua: &Lua, args: MultiValue) -> LibResult {
    let x = bit_arg(lua, &args, 1, "tohex")? as u32;
    let n = match args.get(1) {
        None | Some(Value::Nil) => 8,
        Some(_) => bit_arg(lua, &args, 2, "tohex")?,
    };
    let (upper, digits) = if n < 0 { (true, n.unsigned_abs()) } else { (false, n as u32) };
    let digits = digits.min(8) as usize;
    let full = if upper { format!("{x:08X}") } else { format!("{x:08x}") };
    let s = lua.create_string(&full[8 - digits..]).map_err(|e| e.to_string())?;
    ret(Value::String(s))
}

/// Installs the `bit` global table.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    install(
        lua,
        "bit",
        &[
            ("tobit", tobit),
            ("bnot", bnot),
            ("band", band),
            ("bor", bor),
            ("bxor", bxor),
            ("lshift", lshift),
            ("rshift", rshift),
            ("arshift", arshift),
            ("rol", rol),
            ("ror", ror),
            ("bswap", bswap),
            ("tohex", tohex),
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `code` with the library installed and returns its result, or the error text.
    pub(crate) fn eval(code: &str) -> String {
        let lua = Lua::new();
        register(&lua).unwrap();
        match lua.load(code).set_name("=user_script").eval::<Value>() {
            Ok(v) => lua.coerce_string(v).unwrap().map(|s| s.to_string_lossy()).unwrap_or_default(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn values_match_redis() {
        assert_eq!(eval("return bit.tohex(-1)"), "ffffffff");
        assert_eq!(eval("return bit.tobit(0xffffffff)"), "-1");
        assert_eq!(eval("return bit.tobit(2^40+5)"), "5");
        assert_eq!(eval("return bit.tobit(1.5)"), "2");
        assert_eq!(eval("return bit.tobit(2.5)"), "2");
        assert_eq!(eval("return bit.tobit('12')"), "12");
        assert_eq!(eval("return bit.tohex(255, -4)"), "00FF");
        assert_eq!(eval("return bit.tohex(255, 0)"), "");
        assert_eq!(eval("return bit.tohex(255, 9)"), "000000ff");
        assert_eq!(eval("return bit.tohex(1, -1/0)"), "");
        assert_eq!(eval("return bit.band(7)"), "7");
        assert_eq!(eval("return bit.bor(1,2,4,8)"), "15");
        assert_eq!(eval("return bit.bxor(1,3,7)"), "5");
        assert_eq!(eval("return bit.lshift(1,33)"), "2");
        assert_eq!(eval("return bit.rshift(-1,28)"), "15");
        assert_eq!(eval("return bit.arshift(-256,4)"), "-16");
        assert_eq!(eval("return bit.rol(0x80000001,1)"), "3");
        assert_eq!(eval("return bit.ror(1,1)"), "-2147483648");
        assert_eq!(eval("return bit.bswap(0x12345678)"), "2018915346");
        assert_eq!(eval("return bit.bnot(0)"), "-1");
    }

    #[test]
    fn errors_match_redis() {
        let e = eval("local r = bit.tobit('x') return r");
        assert!(
            e.contains("user_script:1: bad argument #1 to 'tobit' (number expected, got string)"),
            "{e}"
        );
        let e = eval("local r = bit.band() return r");
        assert!(
            e.contains("user_script:1: bad argument #1 to 'band' (number expected, got no value)"),
            "{e}"
        );
        let e = eval("local ok, m = pcall(bit.bor, 1, {}) return m");
        assert_eq!(e, "bad argument #2 to '?' (number expected, got table)");
        let e = eval(
            "local f = bit.bor local ok, m = pcall(function() local r = f(1, {}) return r end) return m",
        );
        assert_eq!(e, "user_script:1: bad argument #2 to 'f' (number expected, got table)");
        // A tail call loses the caller's position (see WRAPPER) but keeps the name.
        let e = eval("local ok, m = pcall(function() return bit.bor(1, {}) end) return m");
        assert_eq!(e, "bad argument #2 to 'bor' (number expected, got table)");
    }
}
