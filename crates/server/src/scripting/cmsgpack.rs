//! The `cmsgpack` global for scripts: MessagePack packing/unpacking with the behaviour of the
//! lua-cmsgpack library bundled by Redis (smallest integer encodings, float32 when a number
//! survives the round trip, arrays only for hole-free 1..n tables, nesting capped at 16).

use super::bit::{arg_error, check_bytes, check_number, install, ret, LibResult, TWO_63};
use mlua::{Lua, MultiValue, Number, Table, Value};

/// Tables nested deeper than this are packed as nil, like lua-cmsgpack does.
const MAX_PACK_NESTING: usize = 16;

/// Bound on container nesting while unpacking, so hostile input cannot exhaust the Rust stack
/// (C Lua would eventually fail with a stack overflow error too).
const MAX_UNPACK_NESTING: usize = 1000;

fn lua_err(e: mlua::Error) -> String {
    e.to_string()
}

/// Appends a marker byte followed by `v` in big-endian order over `len` bytes.
fn put(out: &mut Vec<u8>, marker: u8, v: u64, len: usize) {
    out.push(marker);
    out.extend_from_slice(&v.to_be_bytes()[8 - len..]);
}

fn pack_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        let u = n as u64;
        match u {
            0..=0x7f => out.push(u as u8),
            0x80..=0xff => put(out, 0xcc, u, 1),
            0x100..=0xffff => put(out, 0xcd, u, 2),
            0x1_0000..=0xffff_ffff => put(out, 0xce, u, 4),
            _ => put(out, 0xcf, u, 8),
        }
    } else {
        let u = n as u64;
        match n {
            -32..=-1 => out.push(n as u8),
            -128..=-33 => put(out, 0xd0, u, 1),
            -32768..=-129 => put(out, 0xd1, u, 2),
            -2_147_483_648..=-32769 => put(out, 0xd2, u, 4),
            _ => put(out, 0xd3, u, 8),
        }
    }
}

fn pack_number(out: &mut Vec<u8>, n: f64) {
    // Integral values representable as int64 use integer encodings.
    if n.fract() == 0.0 && (-TWO_63..TWO_63).contains(&n) {
        pack_int(out, n as i64);
    } else if f64::from(n as f32) == n || n.is_infinite() {
        put(out, 0xca, u64::from((n as f32).to_bits()), 4);
    } else {
        put(out, 0xcb, n.to_bits(), 8);
    }
}

/// Writes a length-prefixed header: `fix` form when `len < fix_limit`, else 8/16/32-bit forms.
fn pack_len(out: &mut Vec<u8>, len: usize, fix: u8, fix_limit: usize, markers: [Option<u8>; 3]) {
    let len64 = len as u64;
    if len < fix_limit {
        out.push(fix | len as u8);
    } else if let (Some(m), true) = (markers[0], len <= 0xff) {
        put(out, m, len64, 1);
    } else if let (Some(m), true) = (markers[1], len <= 0xffff) {
        put(out, m, len64, 2);
    } else if let Some(m) = markers[2] {
        put(out, m, len64, 4);
    }
}

/// `Some(n)` when `t` has exactly the keys 1..n (a MessagePack array), else `None`.
fn array_len(t: &Table) -> Result<Option<usize>, String> {
    let mut count: usize = 0;
    let mut max: f64 = 0.0;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair.map_err(lua_err)?;
        let n = match k {
            Value::Number(n) => n,
            Value::Integer(i) => i as f64,
            _ => return Ok(None),
        };
        if n < 1.0 || n.fract() != 0.0 {
            return Ok(None);
        }
        count += 1;
        max = max.max(n);
    }
    Ok((max == count as f64).then_some(count))
}

fn pack_value(out: &mut Vec<u8>, v: &Value, level: usize) -> Result<(), String> {
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Number(n) => pack_number(out, *n),
        Value::Integer(i) => pack_int(out, *i),
        Value::String(s) => {
            let b = s.as_bytes();
            pack_len(out, b.len(), 0xa0, 32, [Some(0xd9), Some(0xda), Some(0xdb)]);
            out.extend_from_slice(&b);
        }
        Value::Table(t) if level < MAX_PACK_NESTING => match array_len(t)? {
            Some(n) => {
                pack_len(out, n, 0x90, 16, [None, Some(0xdc), Some(0xdd)]);
                for i in 1..=n {
                    let item: Value = t.raw_get(i).map_err(lua_err)?;
                    pack_value(out, &item, level + 1)?;
                }
            }
            None => {
                let mut n = 0;
                for pair in t.pairs::<Value, Value>() {
                    pair.map_err(lua_err)?;
                    n += 1;
                }
                pack_len(out, n, 0x80, 16, [None, Some(0xde), Some(0xdf)]);
                for pair in t.pairs::<Value, Value>() {
                    let (k, v) = pair.map_err(lua_err)?;
                    pack_value(out, &k, level + 1)?;
                    pack_value(out, &v, level + 1)?;
                }
            }
        },
        // nil, too-deep tables and unsupported types all become nil.
        _ => out.push(0xc0),
    }
    Ok(())
}

/// `cmsgpack.pack(v1 [, v2 ...])`: the encodings of all arguments, concatenated.
fn pack(lua: &Lua, args: MultiValue) -> LibResult {
    if args.is_empty() {
        return Err(arg_error(0, "pack", "MessagePack pack needs input."));
    }
    let mut out = Vec::new();
    for v in &args {
        pack_value(&mut out, v, 0)?;
    }
    ret(Value::String(lua.create_string(out).map_err(lua_err)?))
}

/// Why decoding stopped early; the texts are lua-cmsgpack's.
const MISSING: &str = "Missing bytes in input.";
const BAD_FORMAT: &str = "Bad data format in input.";

/// Cursor over packed input.
struct Reader<'a> {
    lua: &'a Lua,
    s: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.s.len()).ok_or(MISSING)?;
        let b = &self.s[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    fn uint(&mut self, n: usize) -> Result<u64, String> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// Reads a signed big-endian integer of `n` bytes.
    fn int(&mut self, n: usize) -> Result<f64, String> {
        let bits = 64 - 8 * n as u32;
        Ok((((self.uint(n)? << bits) as i64) >> bits) as f64)
    }

    fn string(&mut self, len: u64) -> Result<Value, String> {
        let len = usize::try_from(len).map_err(|_| MISSING)?;
        let lua = self.lua;
        let b = self.take(len)?;
        Ok(Value::String(lua.create_string(b).map_err(lua_err)?))
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        let m = self.take(1)?[0];
        let num = |x: f64| Ok(Value::Number(x));
        match m {
            0x00..=0x7f => num(f64::from(m)),
            0xe0..=0xff => num(f64::from(m as i8)),
            0xc0 => Ok(Value::Nil),
            0xc2 => Ok(Value::Boolean(false)),
            0xc3 => Ok(Value::Boolean(true)),
            0xcc => num(self.uint(1)? as f64),
            0xcd => num(self.uint(2)? as f64),
            0xce => num(self.uint(4)? as f64),
            // lua-cmsgpack converts uint64 through a signed 64-bit integer.
            0xcf => num(self.uint(8)? as i64 as f64),
            0xd0 => num(self.int(1)?),
            0xd1 => num(self.int(2)?),
            0xd2 => num(self.int(4)?),
            0xd3 => num(self.int(8)?),
            0xca => num(f64::from(f32::from_bits(self.uint(4)? as u32))),
            0xcb => num(f64::from_bits(self.uint(8)?)),
            0xa0..=0xbf => self.string(u64::from(m & 0x1f)),
            // lua-cmsgpack predates the bin family (0xc4..0xc6): those are bad format.
            0xd9 => {
                let n = self.uint(1)?;
                self.string(n)
            }
            0xda => {
                let n = self.uint(2)?;
                self.string(n)
            }
            0xdb => {
                let n = self.uint(4)?;
                self.string(n)
            }
            0x90..=0x9f => self.array(u64::from(m & 0x0f), depth),
            0xdc => {
                let n = self.uint(2)?;
                self.array(n, depth)
            }
            0xdd => {
                let n = self.uint(4)?;
                self.array(n, depth)
            }
            0x80..=0x8f => self.map(u64::from(m & 0x0f), depth),
            0xde => {
                let n = self.uint(2)?;
                self.map(n, depth)
            }
            0xdf => {
                let n = self.uint(4)?;
                self.map(n, depth)
            }
            _ => Err(BAD_FORMAT.into()),
        }
    }

    fn nested(&self, depth: usize) -> Result<Table, String> {
        if depth >= MAX_UNPACK_NESTING {
            return Err(BAD_FORMAT.into());
        }
        self.lua.create_table().map_err(lua_err)
    }

    /// Reads `n` elements; the table grows as elements arrive, so a forged count cannot
    /// allocate ahead of the input.
    fn array(&mut self, n: u64, depth: usize) -> Result<Value, String> {
        let t = self.nested(depth)?;
        for i in 1..=n {
            let v = self.value(depth + 1)?;
            t.raw_set(i, v).map_err(lua_err)?;
        }
        Ok(Value::Table(t))
    }

    fn map(&mut self, n: u64, depth: usize) -> Result<Value, String> {
        let t = self.nested(depth)?;
        for _ in 0..n {
            let k = self.value(depth + 1)?;
            let v = self.value(depth + 1)?;
            match k {
                Value::Nil => return Err("table index is nil".into()),
                Value::Number(x) if x.is_nan() => return Err("table index is NaN".into()),
                k => t.raw_set(k, v).map_err(lua_err)?,
            }
        }
        Ok(Value::Table(t))
    }
}

/// Shared body of the unpack functions. `limit == 0 && offset == 0` means "decode everything
/// and return only the values"; otherwise the next offset (or -1 at the end) comes first.
fn unpack_full(lua: &Lua, s: &[u8], limit: i64, offset: i64) -> LibResult {
    let len = s.len();
    if offset < 0 || limit < 0 {
        // lua-cmsgpack reports the input length where the limit belongs.
        return Err(format!(
            "Invalid request to unpack with offset of {offset} and limit of {len}."
        ));
    }
    if offset as u64 > len as u64 {
        return Err(format!("Start offset {offset} greater than input length {len}."));
    }
    let decode_all = limit == 0 && offset == 0;
    let limit = if decode_all { i64::MAX } else { limit };
    let mut r = Reader { lua, s, pos: offset as usize };
    let mut out = MultiValue::new();
    let mut count = 0;
    while r.pos < len && count < limit {
        out.push_back(r.value(0)?);
        count += 1;
    }
    if !decode_all {
        let next = if r.pos == len { -1.0 } else { r.pos as Number };
        out.push_front(Value::Number(next));
    }
    Ok(out)
}

/// `luaL_checkinteger`/`luaL_optinteger`: numbers truncate toward zero.
fn int_arg(
    lua: &Lua,
    args: &MultiValue,
    n: usize,
    func: &str,
    default: Option<i64>,
) -> Result<i64, String> {
    match (args.get(n - 1), default) {
        (None | Some(Value::Nil), Some(d)) => Ok(d),
        _ => check_number(lua, args, n, func).map(|x| x as i64),
    }
}

/// `cmsgpack.unpack(data)`: every value in `data`.
fn unpack(lua: &Lua, args: MultiValue) -> LibResult {
    let s = check_bytes(lua, &args, 1, "unpack")?;
    unpack_full(lua, &s, 0, 0)
}

/// `cmsgpack.unpack_one(data [, offset])`: next offset and one value.
fn unpack_one(lua: &Lua, args: MultiValue) -> LibResult {
    let offset = int_arg(lua, &args, 2, "unpack_one", Some(0))?;
    let s = check_bytes(lua, &args, 1, "unpack_one")?;
    unpack_full(lua, &s, 1, offset)
}

/// `cmsgpack.unpack_limit(data, limit [, offset])`: next offset and up to `limit` values.
fn unpack_limit(lua: &Lua, args: MultiValue) -> LibResult {
    let limit = int_arg(lua, &args, 2, "unpack_limit", None)?;
    let offset = int_arg(lua, &args, 3, "unpack_limit", Some(0))?;
    let s = check_bytes(lua, &args, 1, "unpack_limit")?;
    unpack_full(lua, &s, limit, offset)
}

/// Installs the `cmsgpack` global table.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let t = install(
        lua,
        "cmsgpack",
        &[
            ("pack", pack),
            ("unpack", unpack),
            ("unpack_one", unpack_one),
            ("unpack_limit", unpack_limit),
        ],
    )?;
    t.set("_NAME", "cmsgpack")?;
    t.set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use mlua::{Lua, Value};

    /// Runs `code` and renders the result as escaped bytes (strings) or text.
    fn eval(code: &str) -> String {
        let lua = Lua::new();
        super::register(&lua).unwrap();
        match lua.load(code).set_name("=user_script").eval::<Value>() {
            Ok(Value::String(s)) if s.as_bytes().iter().all(|b| (b' '..=b'~').contains(b)) => {
                s.to_string_lossy()
            }
            Ok(Value::String(s)) => s.as_bytes().escape_ascii().to_string(),
            Ok(v) => lua.coerce_string(v).unwrap().map(|s| s.to_string_lossy()).unwrap_or_default(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn pack_matches_redis() {
        assert_eq!(
            eval(
                "return cmsgpack.pack(nil,true,false,0,127,128,255,256,65535,65536,2^32-1,2^32,-1,-32,-33,-128,-129,-32768,-32769,-2^31,-2^31-1, 1.5, 0.1, -2^63)"
            ),
            "\\xc0\\xc3\\xc2\\x00\\x7f\\xcc\\x80\\xcc\\xff\\xcd\\x01\\x00\\xcd\\xff\\xff\\xce\\x00\\x01\\x00\\x00\\xce\\xff\\xff\\xff\\xff\\xcf\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\xff\\xe0\\xd0\\xdf\\xd0\\x80\\xd1\\xff\\x7f\\xd1\\x80\\x00\\xd2\\xff\\xff\\x7f\\xff\\xd2\\x80\\x00\\x00\\x00\\xd3\\xff\\xff\\xff\\xff\\x7f\\xff\\xff\\xff\\xca?\\xc0\\x00\\x00\\xcb?\\xb9\\x99\\x99\\x99\\x99\\x99\\x9a\\xd3\\x80\\x00\\x00\\x00\\x00\\x00\\x00\\x00"
        );
        assert_eq!(
            eval("return cmsgpack.pack('', 'abc', string.rep('x',31), string.rep('x',32))"),
            format!("\\xa0\\xa3abc\\xbf{}\\xd9 {}", "x".repeat(31), "x".repeat(32))
        );
        assert_eq!(
            eval("return cmsgpack.pack({}, {1,2}, {a=1}, {[1]=1,[3]=3})"),
            "\\x90\\x92\\x01\\x02\\x81\\xa1a\\x01\\x82\\x01\\x01\\x03\\x03"
        );
        assert_eq!(
            eval("local t={} t[1]=t return cmsgpack.pack(t)"),
            format!("{}\\xc0", "\\x91".repeat(16))
        );
        assert_eq!(
            eval("return cmsgpack.pack(1/0, 0/0, -0.0, 2^53, 3.0)"),
            "\\xca\\x7f\\x80\\x00\\x00\\xcb\\xff\\xf8\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\xcf\\x00 \\x00\\x00\\x00\\x00\\x00\\x00\\x03"
        );
        assert_eq!(eval("return cmsgpack.pack({[1.5]=1})"), "\\x81\\xca?\\xc0\\x00\\x00\\x01");
        let e =
            eval("local ok, e = pcall(function() local r = cmsgpack.pack() return r end) return e");
        assert_eq!(e, "user_script:1: bad argument #0 to 'pack' (MessagePack pack needs input.)");
    }

    #[test]
    fn unpack_matches_redis() {
        assert_eq!(
            eval(
                "local a,b,c,d = cmsgpack.unpack(cmsgpack.pack(1,'a',{1,2},{a=1})) return a..b..c[1]..c[2]..d.a"
            ),
            "1a121"
        );
        assert_eq!(eval("return select('#', cmsgpack.unpack(''))"), "0");
        assert_eq!(
            eval("return table.concat({cmsgpack.unpack_one(cmsgpack.pack(5,6,7))}, ',')"),
            "1,5"
        );
        assert_eq!(
            eval("return table.concat({cmsgpack.unpack_limit(cmsgpack.pack(5,6,7), 2)}, ',')"),
            "2,5,6"
        );
        assert_eq!(
            eval("return table.concat({cmsgpack.unpack_limit(cmsgpack.pack(5,6,7), 2, 3)}, ',')"),
            "-1"
        );
        assert_eq!(
            eval("return table.concat({cmsgpack.unpack_limit(cmsgpack.pack(5,6,7), 5, 1)}, ',')"),
            "-1,6,7"
        );
        assert_eq!(
            eval(
                "return table.concat({cmsgpack.unpack('\\217\\002ab\\203\\063\\248\\0\\0\\0\\0\\0\\0\\202\\063\\192\\0\\0\\208\\255')}, ',')"
            ),
            "ab,1.5,1.5,-1"
        );
        let err = |code: &str| {
            eval(&format!("local ok, e = pcall(function() local r = {code} return r end) return e"))
        };
        assert_eq!(
            err("cmsgpack.unpack_one('abc', 4)"),
            "user_script:1: Start offset 4 greater than input length 3."
        );
        assert_eq!(
            err("cmsgpack.unpack_one('abc', -1)"),
            "user_script:1: Invalid request to unpack with offset of -1 and limit of 3."
        );
        assert_eq!(
            eval(
                "local a, b = cmsgpack.unpack(string.char(0xcf,255,255,255,255,255,255,255,255, 0xce,255,255,255,255)) return a..','..b"
            ),
            "-1,4294967295"
        );
        assert_eq!(err("cmsgpack.unpack('\\193')"), "user_script:1: Bad data format in input.");
        assert_eq!(
            err("cmsgpack.unpack('\\196\\002ab')"),
            "user_script:1: Bad data format in input."
        );
        assert_eq!(err("cmsgpack.unpack('\\146\\001')"), "user_script:1: Missing bytes in input.");
        assert_eq!(
            err("cmsgpack.unpack()"),
            "user_script:1: bad argument #1 to 'unpack' (string expected, got no value)"
        );
    }
}
