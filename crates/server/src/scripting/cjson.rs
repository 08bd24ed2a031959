//! The `cjson` global for scripts: JSON encoding/decoding with lua-cjson 2.1 behaviour as bundled
//! by Redis (number format `%.14g`, `/` escaped, empty tables encode as `{}`, sparse-array
//! rules, `cjson.null` as a NULL light userdata, lua-cjson's error texts).

use super::bit::{arg_error, check_bytes, check_number, lib_fn, ret, LibResult};
use mlua::{Lua, MultiValue, Number, Table, Value};
use std::cell::Cell;
use std::rc::Rc;

/// Encoder/decoder settings changed by the `cjson.encode_*`/`decode_*` functions. Each module
/// table (the global one and each `cjson.new()`) has its own copy, shared by its functions.
#[derive(Clone, Copy)]
struct Config {
    sparse_convert: bool,
    sparse_ratio: i64,
    sparse_safe: i64,
    encode_max_depth: i64,
    decode_max_depth: i64,
    precision: usize,
    /// 0 = error, 1 = allowed (printed as `inf`/`nan`), 2 = encoded as `null`.
    encode_invalid: u8,
    decode_invalid: bool,
    keep_buffer: bool,
}

const DEFAULT: Config = Config {
    sparse_convert: false,
    sparse_ratio: 2,
    sparse_safe: 10,
    encode_max_depth: 1000,
    decode_max_depth: 1000,
    precision: 14,
    encode_invalid: 0,
    decode_invalid: true,
    keep_buffer: true,
};

/// A module instance's settings, captured by each of its functions.
type Shared = Cell<Config>;

fn update(cfg: &Shared, f: impl FnOnce(&mut Config)) {
    let mut c = cfg.get();
    f(&mut c);
    cfg.set(c);
}

fn lua_err(e: mlua::Error) -> String {
    e.to_string()
}

/// Formats `x` like C's `printf("%.<prec>g")`.
pub(crate) fn fmt_g(x: f64, prec: usize) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.to_string();
    }
    let prec = prec.max(1);
    // Scientific rendering gives the decimal exponent after rounding to `prec` digits.
    let sci = format!("{:.*e}", prec - 1, x);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i64 {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.unsigned_abs())
    } else {
        let decimals = (prec as i64 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{x:.decimals$}")).to_string()
    }
}

/// Drops trailing fractional zeros (and a dangling point), as `%g` does.
fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Appends `s` as a JSON string literal.
fn encode_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn encode_number(out: &mut Vec<u8>, cfg: &Config, n: f64) -> Result<(), String> {
    if !n.is_finite() {
        match cfg.encode_invalid {
            0 => return Err("Cannot serialise number: must not be NaN or Inf".into()),
            2 => {
                out.extend_from_slice(b"null");
                return Ok(());
            }
            // lua-cjson avoids the platform's "-nan" spelling.
            _ if n.is_nan() => {
                out.extend_from_slice(b"nan");
                return Ok(());
            }
            _ => {}
        }
    }
    out.extend_from_slice(fmt_g(n, cfg.precision).as_bytes());
    Ok(())
}

/// Classifies a table: `Some(n)` = array of length `n` (object when `n <= 0`), `None` = object.
/// The running maximum is a C `int` in lua-cjson, so keys beyond its range store `i32::MIN`
/// (the x86-64 conversion result); this keeps odd tables encoding the same way.
fn array_length(cfg: &Config, t: &Table) -> Result<Option<i64>, String> {
    let mut max: i32 = 0;
    let mut items: i32 = 0;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair.map_err(lua_err)?;
        let k = match k {
            Value::Number(n) => n,
            Value::Integer(i) => i as f64,
            _ => return Ok(None),
        };
        if k < 1.0 || k.floor() != k {
            return Ok(None);
        }
        if k > f64::from(max) {
            max = if k < 2_147_483_648.0 { k as i32 } else { i32::MIN };
        }
        items = items.wrapping_add(1);
    }
    let (max, items) = (i64::from(max), i64::from(items));
    if cfg.sparse_ratio > 0 && max > items.saturating_mul(cfg.sparse_ratio) && max > cfg.sparse_safe
    {
        if cfg.sparse_convert {
            return Ok(None);
        }
        return Err("Cannot serialise table: excessively sparse array".into());
    }
    Ok(Some(max))
}

/// Appends a non-table value.
fn encode_scalar(out: &mut Vec<u8>, cfg: &Config, v: &Value) -> Result<(), String> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => encode_number(out, cfg, *n)?,
        Value::Integer(i) => encode_number(out, cfg, *i as f64)?,
        Value::String(s) => encode_string(out, &s.as_bytes()),
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                super::bit::type_name(Some(other))
            ));
        }
    }
    Ok(())
}

/// Appends an object key (strings as is, numbers in quotes).
fn encode_key(out: &mut Vec<u8>, cfg: &Config, k: &Value) -> Result<(), String> {
    match k {
        Value::String(s) => encode_string(out, &s.as_bytes()),
        Value::Number(n) => {
            out.push(b'"');
            encode_number(out, cfg, *n)?;
            out.push(b'"');
        }
        Value::Integer(i) => encode_string(out, i.to_string().as_bytes()),
        other => {
            return Err(format!(
                "Cannot serialise {}: table key must be a number or string",
                super::bit::type_name(Some(other))
            ));
        }
    }
    Ok(())
}

/// A table being encoded: an array with its next index and length, or an object's entries.
enum Pending {
    Array { t: Table, next: i64, len: i64 },
    Object { entries: std::vec::IntoIter<(Value, Value)>, first: bool },
}

impl Pending {
    /// Lua stack slots the C implementation holds while inside this table.
    fn slots(&self) -> usize {
        match self {
            Pending::Array { .. } => 1,
            Pending::Object { .. } => 2,
        }
    }
}

/// Encodes `root`. Open tables live on an explicit stack rather than the Rust call stack, so
/// a large `encode_max_depth` cannot overflow the thread's stack.
fn encode_value(out: &mut Vec<u8>, cfg: &Config, root: &Value) -> Result<(), String> {
    let mut stack: Vec<Pending> = Vec::new();
    // The argument itself occupies one Lua stack slot in the C implementation.
    let mut slots: usize = 1;
    let mut current = Some(root.clone());
    loop {
        match current.take() {
            Some(Value::Table(t)) => {
                let depth = stack.len() as i64 + 1;
                if depth > cfg.encode_max_depth || slots + 3 > LUA_STACK_LIMIT {
                    return Err(format!("Cannot serialise, excessive nesting ({depth})"));
                }
                let frame = match array_length(cfg, &t)? {
                    Some(len) if len > 0 => {
                        out.push(b'[');
                        Pending::Array { t, next: 1, len }
                    }
                    // Includes the empty table, which Redis's cjson renders as an object.
                    _ => {
                        out.push(b'{');
                        let entries: Vec<(Value, Value)> =
                            t.pairs().collect::<mlua::Result<_>>().map_err(lua_err)?;
                        Pending::Object { entries: entries.into_iter(), first: true }
                    }
                };
                slots += frame.slots();
                stack.push(frame);
            }
            Some(scalar) => encode_scalar(out, cfg, &scalar)?,
            None => {}
        }
        let Some(top) = stack.last_mut() else {
            return Ok(());
        };
        let next = match top {
            Pending::Array { t, next, len } => {
                if *next > *len {
                    out.push(b']');
                    None
                } else {
                    if *next > 1 {
                        out.push(b',');
                    }
                    let item: Value = t.raw_get(*next).map_err(lua_err)?;
                    *next += 1;
                    Some(item)
                }
            }
            Pending::Object { entries, first } => match entries.next() {
                None => {
                    out.push(b'}');
                    None
                }
                Some((k, v)) => {
                    if !*first {
                        out.push(b',');
                    }
                    *first = false;
                    encode_key(out, cfg, &k)?;
                    out.push(b':');
                    Some(v)
                }
            },
        };
        match next {
            Some(v) => current = Some(v),
            None => {
                if let Some(done) = stack.pop() {
                    slots -= done.slots();
                }
            }
        }
    }
}

/// `cjson.encode(value)`
fn encode(lua: &Lua, cfg: &Shared, args: MultiValue) -> LibResult {
    if args.len() != 1 {
        return Err(arg_error(1, "encode", "expected 1 argument"));
    }
    let cfg = cfg.get();
    let mut out = Vec::new();
    encode_value(&mut out, &cfg, &args[0])?;
    ret(Value::String(lua.create_string(out).map_err(lua_err)?))
}

/// JSON decoder over a byte string, producing Lua values directly.
struct Decoder<'a> {
    lua: &'a Lua,
    cfg: Config,
    s: &'a [u8],
    pos: usize,
    depth: i64,
}

/// A lexical token: its lua-cjson name (or error description) and start offset.
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Colon,
    Comma,
    End,
    Value(Value),
    /// A string/number/literal token, kept with its type name for error messages.
    Error(&'static str),
}

impl Tok {
    fn name(&self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Value(Value::String(_)) => "T_STRING",
            Tok::Value(Value::Number(_)) => "T_NUMBER",
            Tok::Value(Value::Boolean(_)) => "T_BOOLEAN",
            Tok::Value(_) => "T_NULL",
            Tok::Error(e) => e,
        }
    }
}

impl Decoder<'_> {
    /// Reads the next token, returning it with the offset used in error messages.
    fn next(&mut self) -> Result<(Tok, usize), String> {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.pos) {
            self.pos += 1;
        }
        let start = self.pos;
        // The C decoder works on a NUL-terminated buffer: a NUL byte ends the input.
        let Some(&c) = self.s.get(start).filter(|&&c| c != 0) else {
            return Ok((Tok::End, start));
        };
        let simple = match c {
            b'{' => Some(Tok::ObjBegin),
            b'}' => Some(Tok::ObjEnd),
            b'[' => Some(Tok::ArrBegin),
            b']' => Some(Tok::ArrEnd),
            b':' => Some(Tok::Colon),
            b',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(t) = simple {
            self.pos += 1;
            return Ok((t, start));
        }
        if c == b'"' {
            return self.string().map(|t| (t, start)).or_else(|(e, at)| Ok((Tok::Error(e), at)));
        }
        let rest = &self.s[start..];
        for (lit, v) in [
            (&b"true"[..], Value::Boolean(true)),
            (b"false", Value::Boolean(false)),
            (b"null", Value::NULL),
        ] {
            if rest.starts_with(lit) {
                self.pos += lit.len();
                return Ok((Tok::Value(v), start));
            }
        }
        if c == b'-'
            || c.is_ascii_digit()
            || (self.cfg.decode_invalid && starts_invalid_number(rest))
        {
            if !self.cfg.decode_invalid && is_invalid_number(rest) {
                return Ok((Tok::Error("invalid number"), start));
            }
            return Ok(match parse_number(rest) {
                Some((n, len)) => {
                    self.pos += len;
                    (Tok::Value(Value::Number(n)), start)
                }
                None => (Tok::Error("invalid number"), start),
            });
        }
        Ok((Tok::Error("invalid token"), start))
    }

    /// Parses a string literal at `self.pos`; errors carry lua-cjson's text and offset.
    fn string(&mut self) -> Result<Tok, (&'static str, usize)> {
        let mut out = Vec::new();
        let mut i = self.pos + 1;
        loop {
            let Some(&c) = self.s.get(i).filter(|&&c| c != 0) else {
                return Err(("unexpected end of string", i));
            };
            match c {
                b'"' => break,
                b'\\' => {
                    let esc = self.s.get(i + 1).copied();
                    let simple = match esc {
                        Some(b'"') => Some(b'"'),
                        Some(b'\\') => Some(b'\\'),
                        Some(b'/') => Some(b'/'),
                        Some(b'b') => Some(0x08),
                        Some(b'f') => Some(0x0c),
                        Some(b'n') => Some(b'\n'),
                        Some(b'r') => Some(b'\r'),
                        Some(b't') => Some(b'\t'),
                        _ => None,
                    };
                    if let Some(b) = simple {
                        out.push(b);
                        i += 2;
                    } else if esc == Some(b'u') {
                        let (cp, used) =
                            self.unicode(i).ok_or(("invalid unicode escape code", i))?;
                        let ch = char::from_u32(cp).ok_or(("invalid unicode escape code", i))?;
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        i += used;
                    } else {
                        return Err(("invalid escape code", i));
                    }
                }
                _ => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        self.pos = i + 1;
        let s = self.lua.create_string(out).map_err(|_| ("not enough memory", i))?;
        Ok(Tok::Value(Value::String(s)))
    }

    /// Decodes `\uXXXX` (or a surrogate pair) at `at`; returns the code point and bytes used.
    fn unicode(&self, at: usize) -> Option<(u32, usize)> {
        let hex = |p: usize| -> Option<u32> {
            let h = self.s.get(p..p + 4)?;
            if !h.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
        };
        let hi = hex(at + 2)?;
        match hi {
            0xd800..=0xdbff => {
                if self.s.get(at + 6..at + 8) != Some(b"\\u") {
                    return None;
                }
                let lo = hex(at + 8)?;
                if !(0xdc00..=0xdfff).contains(&lo) {
                    return None;
                }
                Some((0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00), 12))
            }
            0xdc00..=0xdfff => None,
            _ => Some((hi, 6)),
        }
    }

    fn fail(expected: &str, tok: &Tok, at: usize) -> String {
        format!("Expected {expected} but found {} at character {}", tok.name(), at + 1)
    }

    /// Opens a container at depth `self.depth + 1`. Besides the configured limit, lua-cjson
    /// fails when its Lua stack (`LUA_STACK_LIMIT` slots; one per open array, two per open
    /// object, one for the argument) cannot take two more slots.
    fn enter(&mut self, at: usize, slots: usize) -> Result<(), String> {
        self.depth += 1;
        if self.depth > self.cfg.decode_max_depth || slots + 2 > LUA_STACK_LIMIT {
            return Err(format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth,
                at + 1
            ));
        }
        Ok(())
    }

    /// Reads an object key (token `tok` at `at`) and the colon after it.
    fn key(&mut self, tok: Tok, at: usize) -> Result<Value, String> {
        let key = match tok {
            Tok::Value(k @ Value::String(_)) => k,
            other => return Err(Self::fail("object key string", &other, at)),
        };
        let (colon, cat) = self.next()?;
        if !matches!(colon, Tok::Colon) {
            return Err(Self::fail("colon", &colon, cat));
        }
        Ok(key)
    }

    /// Parses one JSON value. Containers being filled live on an explicit stack rather than
    /// the Rust call stack, so the nesting limit cannot overflow the thread's stack.
    fn parse(&mut self) -> Result<Value, String> {
        let mut stack: Vec<Open> = Vec::new();
        let (mut tok, mut at) = self.next()?;
        loop {
            let mut v = match tok {
                Tok::Value(v) => v,
                Tok::ObjBegin | Tok::ArrBegin => {
                    let is_obj = matches!(tok, Tok::ObjBegin);
                    let slots = 1 + stack.iter().map(Open::slots).sum::<usize>();
                    self.enter(at, slots)?;
                    let t = self.lua.create_table().map_err(lua_err)?;
                    let (first, fat) = self.next()?;
                    match (is_obj, first) {
                        (true, Tok::ObjEnd) | (false, Tok::ArrEnd) => {
                            self.depth -= 1;
                            Value::Table(t)
                        }
                        (true, first) => {
                            let key = self.key(first, fat)?;
                            stack.push(Open::Obj(t, key));
                            (tok, at) = self.next()?;
                            continue;
                        }
                        (false, first) => {
                            stack.push(Open::Arr(t, 1));
                            (tok, at) = (first, fat);
                            continue;
                        }
                    }
                }
                other => return Err(Self::fail("value", &other, at)),
            };
            // Store the finished value in its parent, closing parents whose end follows.
            loop {
                let Some(top) = stack.last_mut() else {
                    return Ok(v);
                };
                let (sep, sat) = self.next()?;
                let closed = match top {
                    Open::Arr(t, i) => {
                        t.raw_set(*i, v).map_err(lua_err)?;
                        *i += 1;
                        match sep {
                            Tok::ArrEnd => true,
                            Tok::Comma => false,
                            other => return Err(Self::fail("comma or array end", &other, sat)),
                        }
                    }
                    Open::Obj(t, key) => {
                        t.raw_set(key.clone(), v).map_err(lua_err)?;
                        match sep {
                            Tok::ObjEnd => true,
                            Tok::Comma => {
                                let (kt, kat) = self.next()?;
                                *key = self.key(kt, kat)?;
                                false
                            }
                            other => return Err(Self::fail("comma or object end", &other, sat)),
                        }
                    }
                };
                if !closed {
                    (tok, at) = self.next()?;
                    break;
                }
                self.depth -= 1;
                v = match stack.pop() {
                    Some(Open::Arr(t, _) | Open::Obj(t, _)) => Value::Table(t),
                    None => return Ok(Value::Nil),
                };
            }
        }
    }
}

/// A container being decoded: an array with its next index, or an object with its pending key.
enum Open {
    Arr(Table, i64),
    Obj(Table, Value),
}

impl Open {
    /// Lua stack slots the C implementation holds for this open container.
    fn slots(&self) -> usize {
        match self {
            Open::Arr(..) => 1,
            Open::Obj(..) => 2,
        }
    }
}

/// Lua 5.1's limit on stack slots usable by one C function (`LUAI_MAXCSTACK`); lua-cjson's
/// nesting errors also trigger when it would be exceeded.
const LUA_STACK_LIMIT: usize = 8000;

/// lua-cjson's pre-check for number-like tokens that are not JSON numbers (hex, leading
/// zeros, inf/nan).
fn is_invalid_number(s: &[u8]) -> bool {
    let p = s.strip_prefix(b"-").unwrap_or(s);
    match p.first() {
        Some(b'0') => matches!(p.get(1), Some(b'x' | b'X' | b'0'..=b'9')),
        Some(b'1'..=b'9') => false,
        _ => starts_invalid_number(p),
    }
}

fn starts_invalid_number(s: &[u8]) -> bool {
    let p = s.strip_prefix(b"-").unwrap_or(s);
    let head = p.get(..3).map(<[u8]>::to_ascii_lowercase);
    matches!(head.as_deref(), Some(b"inf" | b"nan"))
}

/// Parses the longest prefix `strtod` would accept (decimal, hex integers, inf/nan).
fn parse_number(s: &[u8]) -> Option<(f64, usize)> {
    let (neg, body) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let sign_len = s.len() - body.len();
    let apply = |v: f64| if neg { -v } else { v };
    let lower: Vec<u8> = body.iter().take(8).map(u8::to_ascii_lowercase).collect();
    if lower.starts_with(b"infinity") {
        return Some((apply(f64::INFINITY), sign_len + 8));
    }
    if lower.starts_with(b"inf") {
        return Some((apply(f64::INFINITY), sign_len + 3));
    }
    if lower.starts_with(b"nan") {
        return Some((apply(f64::NAN), sign_len + 3));
    }
    if lower.starts_with(b"0x") {
        let digits = body[2..].iter().take_while(|b| b.is_ascii_hexdigit()).count();
        if digits > 0 {
            let v = body[2..2 + digits].iter().fold(0.0f64, |acc, b| {
                acc * 16.0 + f64::from((*b as char).to_digit(16).unwrap_or(0))
            });
            return Some((apply(v), sign_len + 2 + digits));
        }
    }
    let mut i = body.iter().take_while(|b| b.is_ascii_digit()).count();
    let int_digits = i;
    let mut frac_digits = 0;
    if body.get(i) == Some(&b'.') {
        frac_digits = body[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
        i += 1 + frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if let Some(b'e' | b'E') = body.get(i) {
        let mut j = i + 1;
        if let Some(b'+' | b'-') = body.get(j) {
            j += 1;
        }
        let exp_digits =
            body[j.min(body.len())..].iter().take_while(|b| b.is_ascii_digit()).count();
        if exp_digits > 0 {
            i = j + exp_digits;
        }
    }
    let text = std::str::from_utf8(&body[..i]).ok()?;
    let v: f64 = text.parse().ok()?;
    Some((apply(v), sign_len + i))
}

/// `cjson.decode(json)`
fn decode(lua: &Lua, cfg: &Shared, args: MultiValue) -> LibResult {
    if args.len() != 1 {
        return Err(arg_error(1, "decode", "expected 1 argument"));
    }
    let s = check_bytes(lua, &args, 1, "decode")?;
    let mut d = Decoder { lua, cfg: cfg.get(), s: &s, pos: 0, depth: 0 };
    let v = d.parse()?;
    let (end, at) = d.next()?;
    if !matches!(end, Tok::End) {
        return Err(Decoder::fail("the end", &end, at));
    }
    ret(v)
}

/// Reads optional integer argument `n` of config function `func` (`luaL_checkinteger`:
/// truncated numbers or numeric strings) and checks it lies in `[min, max]`. lua-cjson reports
/// range errors against argument #1 whatever the position.
fn opt_int(
    lua: &Lua,
    args: &MultiValue,
    n: usize,
    func: &str,
    min: i64,
    max: i64,
) -> Result<Option<i64>, String> {
    match args.get(n - 1) {
        None | Some(Value::Nil) => return Ok(None),
        Some(_) => {}
    }
    let v = check_number(lua, args, n, func)?;
    let v = if v.is_nan() { 0 } else { v as i64 };
    if v < min || v > max {
        return Err(arg_error(1, func, &format!("expected integer between {min} and {max}")));
    }
    Ok(Some(v))
}

/// Reads optional on/off argument `n`: a boolean, or (like `luaL_checkoption`) a string or
/// number naming "on"/"off" (plus "null" when `allow_null`).
fn opt_switch(
    lua: &Lua,
    args: &MultiValue,
    n: usize,
    func: &str,
    allow_null: bool,
) -> Result<Option<u8>, String> {
    match args.get(n - 1) {
        None | Some(Value::Nil) => return Ok(None),
        Some(Value::Boolean(b)) => return Ok(Some(u8::from(*b))),
        Some(_) => {}
    }
    match check_bytes(lua, args, n, func)?.as_slice() {
        b"off" => Ok(Some(0)),
        b"on" => Ok(Some(1)),
        b"null" if allow_null => Ok(Some(2)),
        other => {
            Err(arg_error(n, func, &format!("invalid option '{}'", String::from_utf8_lossy(other))))
        }
    }
}

fn switch_value(lua: &Lua, v: u8) -> LibResult {
    match v {
        2 => ret(Value::String(lua.create_string("null").map_err(lua_err)?)),
        v => ret(Value::Boolean(v != 0)),
    }
}

/// Shared shape of the integer settings: optional new value, then report the current one.
fn int_setting(
    lua: &Lua,
    cfg: &Shared,
    args: &MultiValue,
    func: &str,
    max: i64,
    field: fn(&mut Config) -> &mut i64,
) -> LibResult {
    if let Some(v) = opt_int(lua, args, 1, func, 1, max)? {
        update(cfg, |c| *field(c) = v);
    }
    let mut c = cfg.get();
    ret(Value::Number(*field(&mut c) as Number))
}

/// `cjson.encode_max_depth([depth])`
fn encode_max_depth(lua: &Lua, cfg: &Shared, args: MultiValue) -> LibResult {
    int_setting(lua, cfg, &args, "encode_max_depth", i64::from(i32::MAX), |c| {
        &mut c.encode_max_depth
    })
}

/// `cjson.decode_max_depth([depth])`
fn decode_max_depth(lua: &Lua, cfg: &Shared, args: MultiValue) -> LibResult {
    int_setting(lua, cfg, &args, "decode_max_depth", i64::from(i32::MAX), |c| {
        &mut c.decode_max_depth
    })
}

/// `cjson.encode_number_precision([precision])`: 1 to 14 significant digits.
fn encode_number_precision(lua: &Lua, cfg: &Shared, args: MultiValue) -> LibResult {
    if let Some(v) = opt_int(lua, &args, 1, "encode_number_precision", 1, 14)? {
        update(cfg, |c| c.precision = v as usize);
    }
    ret(Value::Number(cfg.get().precision as Number))
}

/// `cjson.encode_keep_buffer([keep])`: accepted for compatibility (buffers are not reused).
fn encode_keep_buffer(lua: &Lua, cfg: &Shared, args: MultiValue) -> LibResult {
    if let Some(v) = opt_switch(lua, &args, 1, "encode_keep_buffer", false)? {
        update(cfg, |c| c.keep_buffer = v != 0);
    }
    ret(Value::Boolean(cfg.get().keep_buffer))
}

/// `cjson.encode_invalid_numbers([setting])`: true/false/"on"/"off"/"null".
fn encode_invalid_numbers(lua: &Lua, cfg: &Shared, args: MultiValue) -> LibResult {
    if let Some(v) = opt_switch(lua, &args, 1, "encode_invalid_numbers", true)? {
        update(cfg, |c| c.encode_invalid = v);
    }
    switch_value(lua, cfg.get().encode_invalid)
}

/// `cjson.decode_invalid_numbers([setting])`
fn decode_invalid_numbers(lua: &Lua, cfg: &Shared, args: MultiValue) -> LibResult {
    if let Some(v) = opt_switch(lua, &args, 1, "decode_invalid_numbers", false)? {
        update(cfg, |c| c.decode_invalid = v != 0);
    }
    switch_value(lua, u8::from(cfg.get().decode_invalid))
}

/// `cjson.encode_sparse_array([convert [, ratio [, safe]]])`
fn encode_sparse_array(lua: &Lua, cfg: &Shared, args: MultiValue) -> LibResult {
    let func = "encode_sparse_array";
    let convert = opt_switch(lua, &args, 1, func, false)?;
    let max = i64::from(i32::MAX);
    let ratio = opt_int(lua, &args, 2, func, 0, max)?;
    let safe = opt_int(lua, &args, 3, func, 0, max)?;
    update(cfg, |c| {
        if let Some(v) = convert {
            c.sparse_convert = v != 0;
        }
        if let Some(v) = ratio {
            c.sparse_ratio = v;
        }
        if let Some(v) = safe {
            c.sparse_safe = v;
        }
    });
    let c = cfg.get();
    Ok(MultiValue::from_iter([
        Value::Boolean(c.sparse_convert),
        Value::Number(c.sparse_ratio as Number),
        Value::Number(c.sparse_safe as Number),
    ]))
}

/// Signature of the module functions: they all see their instance's settings.
type ModFn = fn(&Lua, &Shared, MultiValue) -> LibResult;

const FUNCS: &[(&str, ModFn)] = &[
    ("encode", encode),
    ("decode", decode),
    ("encode_keep_buffer", encode_keep_buffer),
    ("encode_max_depth", encode_max_depth),
    ("decode_max_depth", decode_max_depth),
    ("encode_number_precision", encode_number_precision),
    ("encode_sparse_array", encode_sparse_array),
    ("encode_invalid_numbers", encode_invalid_numbers),
    ("decode_invalid_numbers", decode_invalid_numbers),
];

/// Builds one module table with fresh default settings (`cjson.new()` makes more).
fn module(lua: &Lua) -> mlua::Result<Table> {
    let cfg = Rc::new(Cell::new(DEFAULT));
    let t = lua.create_table()?;
    for &(name, f) in FUNCS {
        let cfg = Rc::clone(&cfg);
        t.set(name, lib_fn(lua, name, move |lua, args| f(lua, &cfg, args))?)?;
    }
    t.set("new", lua.create_function(|lua, _: MultiValue| module(lua))?)?;
    t.set("null", Value::NULL)?;
    t.set("_NAME", "cjson")?;
    t.set("_VERSION", "2.1.0")?;
    Ok(t)
}

/// Installs the `cjson` global table.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    lua.globals().set("cjson", module(lua)?)
}

#[cfg(test)]
mod tests {
    use mlua::{Lua, Value};

    fn eval(code: &str) -> String {
        let lua = Lua::new();
        super::register(&lua).unwrap();
        match lua.load(code).set_name("=user_script").eval::<Value>() {
            Ok(v) => lua.coerce_string(v).unwrap().map(|s| s.to_string_lossy()).unwrap_or_default(),
            Err(e) => e.to_string(),
        }
    }

    fn err(code: &str) -> String {
        let e = eval(&format!(
            "local ok, e = pcall(function() local r = {code} return r end) return e"
        ));
        e.strip_prefix("user_script:1: ").unwrap_or("missing position").to_string()
    }

    #[test]
    fn encode_matches_redis() {
        assert_eq!(eval("return cjson.encode({1,2,{a=1}})"), r#"[1,2,{"a":1}]"#);
        assert_eq!(eval("return cjson.encode({})"), "{}");
        assert_eq!(
            eval(r#"return cjson.encode('a/b"\\\n\t\1\127')"#),
            r#""a\/b\"\\\n\t\u0001\u007f""#
        );
        assert_eq!(eval("return cjson.encode({[1]=1,[3]=3})"), "[1,null,3]");
        assert_eq!(eval("return cjson.encode({[2]=1})"), "[null,1]");
        assert_eq!(eval("return cjson.encode({[0]=1})"), r#"{"0":1}"#);
        assert_eq!(
            eval("return cjson.encode({1.5, 0.1, 1/3, 1e20, 1e15, 123456789012345, -0, 2^53})"),
            "[1.5,0.1,0.33333333333333,1e+20,1e+15,1.2345678901234e+14,-0,9.007199254741e+15]"
        );
        assert_eq!(eval("return cjson.encode({[1.5]=1})"), r#"{"1.5":1}"#);
        assert_eq!(eval("return cjson.encode({a={b={}}})"), r#"{"a":{"b":{}}}"#);
        assert_eq!(eval("return cjson.encode(nil)"), "null");
        assert_eq!(eval("return cjson.encode('')"), r#""""#);
        assert_eq!(
            eval("cjson.encode_invalid_numbers('null') return cjson.encode({1/0})"),
            "[null]"
        );
        assert_eq!(
            eval("cjson.encode_invalid_numbers(true) return cjson.encode({1/0,-1/0,0/0})"),
            "[inf,-inf,nan]"
        );
    }

    #[test]
    fn encode_errors_match_redis() {
        assert_eq!(
            err("cjson.encode({[1]=1,[20]=3})"),
            "Cannot serialise table: excessively sparse array"
        );
        assert_eq!(err("cjson.encode(1/0)"), "Cannot serialise number: must not be NaN or Inf");
        assert_eq!(
            err("cjson.encode({[true]=1})"),
            "Cannot serialise boolean: table key must be a number or string"
        );
        assert_eq!(err("cjson.encode(print)"), "Cannot serialise function: type not supported");
        assert_eq!(err("cjson.encode()"), "bad argument #1 to 'encode' (expected 1 argument)");
        assert_eq!(
            eval("local ok, e = pcall(cjson.encode_keep_buffer, {}) return e"),
            "bad argument #1 to '?' (string expected, got table)"
        );
        assert_eq!(
            eval("local t={} t[1]=t local ok, e = pcall(cjson.encode, t) return e"),
            "Cannot serialise, excessive nesting (1001)"
        );
        assert_eq!(
            err("cjson.encode_max_depth(0)"),
            "bad argument #1 to 'encode_max_depth' (expected integer between 1 and 2147483647)"
        );
        assert_eq!(
            err("cjson.encode_sparse_array('x')"),
            "bad argument #1 to 'encode_sparse_array' (invalid option 'x')"
        );
        assert_eq!(
            err("cjson.encode_number_precision(15)"),
            "bad argument #1 to 'encode_number_precision' (expected integer between 1 and 14)"
        );
        assert_eq!(
            eval("local a,b,c = cjson.encode_sparse_array() return tostring(a)..b..c"),
            "false210"
        );
    }

    #[test]
    fn decode_matches_redis() {
        let cases = [
            ("[1,]", "Expected value but found T_ARR_END at character 4"),
            ("{1:2}", "Expected object key string but found T_NUMBER at character 2"),
            ("\"ab", "Expected value but found unexpected end of string at character 4"),
            ("[\"\\q\"]", "Expected value but found invalid escape code at character 3"),
            ("[1 2]", "Expected comma or array end but found T_NUMBER at character 4"),
            ("tru", "Expected value but found invalid token at character 1"),
            ("", "Expected value but found T_END at character 1"),
            ("[1] x", "Expected the end but found invalid token at character 5"),
            ("{\"a\" 1}", "Expected colon but found T_NUMBER at character 6"),
            ("{\"a\":1 ]", "Expected comma or object end but found T_ARR_END at character 8"),
            ("\"\\ud800\"", "Expected value but found invalid unicode escape code at character 2"),
        ];
        let lua = Lua::new();
        super::register(&lua).unwrap();
        for (json, want) in cases {
            let f: mlua::Function = lua
                .load("return function(s) local ok, e = pcall(cjson.decode, s) return e end")
                .eval()
                .unwrap();
            let got: String = f.call(json).unwrap();
            assert_eq!(got, want, "{json}");
        }
        assert_eq!(
            err(&format!("cjson.decode('{}')", "[".repeat(1001))),
            "Found too many nested data structures (1001) at character 1001"
        );
        assert_eq!(
            eval(
                r#"local t = cjson.decode('[0x10, 01, "\\u00e9\\/", {"a":[true,null]}]') return t[1]..t[2]..t[3]..tostring(t[4].a[1])..tostring(t[4].a[2] == cjson.null)"#
            ),
            "161é/truetrue"
        );
    }
}
