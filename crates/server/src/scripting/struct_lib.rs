//! The `struct` global for scripts: Roberto Ierusalimschy's struct library as bundled by Redis
//! (`struct.pack`, `struct.unpack`, `struct.size`), with x86-64 native sizes and alignments.

use super::bit::{
    arg_error, check_bytes, check_number, install, ret, type_error, LibResult, TWO_63,
};
use mlua::{Lua, MultiValue, Number, Value};

/// Largest integer size accepted by `i`/`I`.
const MAX_INT_SIZE: u64 = 32;
/// Default for a bare `!`: the platform's strictest alignment (that of a double).
const MAX_ALIGN: u64 = 8;

fn lua_err(e: mlua::Error) -> String {
    e.to_string()
}

/// Parser state over a format string: the position plus the current byte order and alignment.
struct Format<'a> {
    fmt: &'a [u8],
    pos: usize,
    little: bool,
    align: u64,
    func: &'static str,
}

impl<'a> Format<'a> {
    fn new(fmt: &'a [u8], func: &'static str) -> Self {
        // Native order on the reference platform (x86-64) is little endian; alignment starts at 1.
        Format { fmt, pos: 0, little: true, align: 1, func }
    }

    /// Reads an optional decimal count after an option, or `default` when none follows.
    fn num(&mut self, default: u64) -> Result<u64, String> {
        if !self.fmt.get(self.pos).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: u64 = 0;
        while let Some(&d) = self.fmt.get(self.pos).filter(|d| d.is_ascii_digit()) {
            let d = u64::from(d - b'0');
            if a > u64::from(i32::MAX as u32) / 10 || a * 10 > u64::from(i32::MAX as u32) - d {
                return Err("integral size overflow".into());
            }
            a = a * 10 + d;
            self.pos += 1;
        }
        Ok(a)
    }

    /// Next option and its size, or `None` at the end of the format.
    fn next(&mut self) -> Result<Option<(u8, u64)>, String> {
        let Some(&opt) = self.fmt.get(self.pos) else {
            return Ok(None);
        };
        self.pos += 1;
        let size = match opt {
            b'b' | b'B' | b'x' => 1,
            b'h' | b'H' => 2,
            b'f' => 4,
            b'l' | b'L' | b'T' | b'd' => 8,
            b'c' => self.num(1)?,
            b'i' | b'I' => {
                let sz = self.num(4)?;
                if sz > MAX_INT_SIZE {
                    return Err(format!(
                        "integral size {sz} is larger than limit of {MAX_INT_SIZE}"
                    ));
                }
                sz
            }
            _ => 0,
        };
        Ok(Some((opt, size)))
    }

    /// Padding needed before an item of `size` bytes at offset `len` (wrapping, like the C
    /// library's unsigned arithmetic, so odd settings such as `!0` behave the same).
    fn padding(&self, len: u64, opt: u8, size: u64) -> u64 {
        if size == 0 || opt == b'c' {
            return 0;
        }
        let size = size.min(self.align);
        size.wrapping_sub(len & size.wrapping_sub(1)) & size.wrapping_sub(1)
    }

    /// Handles the options that change state (`<`, `>`, `!`, space) or rejects an unknown one.
    fn control(&mut self, opt: u8) -> Result<(), String> {
        match opt {
            b' ' => {}
            b'>' => self.little = false,
            b'<' => self.little = true,
            b'!' => {
                let a = self.num(MAX_ALIGN)?;
                if !a.is_power_of_two() {
                    return Err(format!("alignment {a} is not a power of 2"));
                }
                self.align = a;
            }
            _ => {
                let msg = format!("invalid format option '{}'", char::from(opt));
                return Err(arg_error(1, self.func, &msg));
            }
        }
        Ok(())
    }
}

fn is_int_opt(opt: u8) -> bool {
    matches!(opt, b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I')
}

/// Converts a number to the 64-bit pattern the C library stores, matching x86-64 results for
/// out-of-range values (negatives via a signed conversion; 2^64 and beyond, or NaN, give 0).
fn to_u64(n: f64) -> u64 {
    if n < 0.0 {
        if n >= -TWO_63 {
            n as i64 as u64
        } else {
            1 << 63
        }
    } else if n < 2.0 * TWO_63 {
        n as u64
    } else {
        0
    }
}

/// Appends `bytes` (little-endian order) in the requested byte order.
fn put_ordered(out: &mut Vec<u8>, mut bytes: Vec<u8>, little: bool) {
    if !little {
        bytes.reverse();
    }
    out.extend_from_slice(&bytes);
}

/// Fetches pack argument `n`; a missing first-unused argument reads as nil, like in C where the
/// library's own stack slot sits there.
fn pack_number(lua: &Lua, args: &MultiValue, n: usize) -> Result<Number, String> {
    if n == args.len() + 1 {
        return Err(type_error(n, "pack", "number", Some(&Value::Nil)));
    }
    check_number(lua, args, n, "pack")
}

/// `struct.pack(fmt, v1, v2, ...)`
fn pack(lua: &Lua, args: MultiValue) -> LibResult {
    let fmt = check_bytes(lua, &args, 1, "pack")?;
    let mut f = Format::new(&fmt, "pack");
    let mut arg = 2;
    let mut out = Vec::new();
    while let Some((opt, size)) = f.next()? {
        // The C code keeps the padding in an int and only writes positive amounts.
        let pad = f.padding(out.len() as u64, opt, size) as i32;
        out.resize(out.len() + pad.max(0) as usize, 0);
        match opt {
            _ if is_int_opt(opt) => {
                let n = pack_number(lua, &args, arg)?;
                arg += 1;
                let v = to_u64(n);
                let bytes =
                    (0..size).map(|i| if i < 8 { (v >> (8 * i)) as u8 } else { 0 }).collect();
                put_ordered(&mut out, bytes, f.little);
            }
            b'x' => out.push(0),
            b'f' => {
                let n = pack_number(lua, &args, arg)?;
                arg += 1;
                put_ordered(&mut out, (n as f32).to_le_bytes().to_vec(), f.little);
            }
            b'd' => {
                let n = pack_number(lua, &args, arg)?;
                arg += 1;
                put_ordered(&mut out, n.to_le_bytes().to_vec(), f.little);
            }
            b'c' | b's' => {
                let s = if arg == args.len() + 1 {
                    return Err(type_error(arg, "pack", "string", Some(&Value::Nil)));
                } else {
                    check_bytes(lua, &args, arg, "pack")?
                };
                arg += 1;
                let size = if size == 0 { s.len() as u64 } else { size };
                if (s.len() as u64) < size {
                    // The C library reports the already-advanced argument index here.
                    return Err(arg_error(arg, "pack", "string too short"));
                }
                out.extend_from_slice(&s[..size as usize]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => f.control(opt)?,
        }
    }
    ret(Value::String(lua.create_string(out).map_err(lua_err)?))
}

/// Decodes an integer of `size` bytes, sign-extending when `signed`. Bytes beyond the eighth
/// shift out of the 64-bit accumulator, as in the C library.
fn get_int(data: &[u8], little: bool, signed: bool, size: u64) -> f64 {
    let fold = |acc: u64, b: &u8| (acc << 8) | u64::from(*b);
    let v = if little { data.iter().rev().fold(0, fold) } else { data.iter().fold(0, fold) };
    if !signed {
        return v as f64;
    }
    let shift = (size * 8).wrapping_sub(1) as u32;
    let mask = u64::MAX.wrapping_shl(shift);
    let v = if v & mask != 0 { v | mask } else { v };
    v as i64 as f64
}

/// `struct.unpack(fmt, data [, pos])`: the values followed by the next position.
fn unpack(lua: &Lua, args: MultiValue) -> LibResult {
    let fmt = check_bytes(lua, &args, 1, "unpack")?;
    let data = check_bytes(lua, &args, 2, "unpack")?;
    let start = match args.get(2) {
        None | Some(Value::Nil) => 1,
        Some(_) => check_number(lua, &args, 3, "unpack")? as i64,
    };
    if start == 0 {
        return Err(arg_error(3, "unpack", "offset must be 1 or greater"));
    }
    // Negative offsets wrap to huge unsigned positions, which then fail the length check.
    let mut pos = (start as u64).wrapping_sub(1);
    let ld = data.len() as u64;
    let too_short = || arg_error(2, "unpack", "data string too short");
    let mut f = Format::new(&fmt, "unpack");
    let mut out = MultiValue::new();
    while let Some((opt, mut size)) = f.next()? {
        pos = pos.wrapping_add(f.padding(pos, opt, size));
        if size > ld || pos > ld - size {
            return Err(too_short());
        }
        let at = pos as usize;
        match opt {
            _ if is_int_opt(opt) => {
                let v = get_int(
                    &data[at..at + size as usize],
                    f.little,
                    opt.is_ascii_lowercase(),
                    size,
                );
                out.push_back(Value::Number(v));
            }
            b'x' => {}
            b'f' | b'd' => {
                let mut bytes = data[at..at + size as usize].to_vec();
                if !f.little {
                    bytes.reverse();
                }
                let v = match <[u8; 4]>::try_from(bytes.as_slice()) {
                    Ok(b4) => f64::from(f32::from_le_bytes(b4)),
                    Err(_) => {
                        <[u8; 8]>::try_from(bytes.as_slice()).map(f64::from_le_bytes).unwrap_or(0.0)
                    }
                };
                out.push_back(Value::Number(v));
            }
            b'c' => {
                if size == 0 {
                    // `c0` takes its length from the value just unpacked, which it consumes.
                    let prev =
                        out.back().cloned().and_then(|v| lua.coerce_number(v).ok().flatten());
                    let Some(len) = prev else {
                        return Err("format 'c0' needs a previous size".into());
                    };
                    out.pop_back();
                    size = len as u64;
                    if size > ld || pos > ld - size {
                        return Err(too_short());
                    }
                }
                let s = lua.create_string(&data[at..at + size as usize]).map_err(lua_err)?;
                out.push_back(Value::String(s));
            }
            b's' => {
                let Some(nul) = data[at..].iter().position(|&b| b == 0) else {
                    return Err("unfinished string in data".into());
                };
                let s = lua.create_string(&data[at..at + nul]).map_err(lua_err)?;
                out.push_back(Value::String(s));
                size = nul as u64 + 1;
            }
            _ => f.control(opt)?,
        }
        pos = pos.wrapping_add(size);
    }
    out.push_back(Value::Number(pos.wrapping_add(1) as i64 as Number));
    Ok(out)
}

/// `struct.size(fmt)`: bytes needed by a fixed-size format.
fn size(lua: &Lua, args: MultiValue) -> LibResult {
    let fmt = check_bytes(lua, &args, 1, "size")?;
    let mut f = Format::new(&fmt, "size");
    let mut pos: u64 = 0;
    while let Some((opt, size)) = f.next()? {
        pos = pos.wrapping_add(f.padding(pos, opt, size));
        if opt == b's' {
            return Err(arg_error(1, "size", "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(arg_error(1, "size", "option 'c0' has no fixed size"));
        }
        // Unknown letters are silently sized 0 here; only punctuation goes to the control
        // options (and may be rejected), as in the C library.
        if !opt.is_ascii_alphanumeric() {
            f.control(opt)?;
        }
        pos = pos.wrapping_add(size);
    }
    ret(Value::Number(pos as i64 as Number))
}

/// Installs the `struct` global table.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    install(lua, "struct", &[("pack", pack), ("unpack", unpack), ("size", size)])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use mlua::{Lua, Value};

    /// Runs `code`; strings come back with non-printable bytes escaped.
    fn eval(code: &str) -> String {
        let lua = Lua::new();
        super::register(&lua).unwrap();
        match lua.load(code).set_name("=user_script").eval::<Value>() {
            Ok(Value::String(s)) => s.as_bytes().escape_ascii().to_string().replace("\\'", "'"),
            Ok(v) => lua.coerce_string(v).unwrap().map(|s| s.to_string_lossy()).unwrap_or_default(),
            Err(e) => e.to_string(),
        }
    }

    fn err(code: &str) -> String {
        eval(&format!("local ok, e = pcall(function() local r = {code} return r end) return e"))
    }

    #[test]
    fn size_matches_redis() {
        assert_eq!(eval("return struct.size('z')"), "0");
        assert_eq!(eval("return struct.size('>!4bhi3dxc5')"), "26");
        assert_eq!(
            err("struct.size('s')"),
            "user_script:1: bad argument #1 to 'size' (option 's' has no fixed size)"
        );
        assert_eq!(
            err("struct.size('c0')"),
            "user_script:1: bad argument #1 to 'size' (option 'c0' has no fixed size)"
        );
        assert_eq!(err("struct.size('!0')"), "user_script:1: alignment 0 is not a power of 2");
        assert_eq!(err("struct.size('!3')"), "user_script:1: alignment 3 is not a power of 2");
        assert_eq!(
            err("struct.size('i33')"),
            "user_script:1: integral size 33 is larger than limit of 32"
        );
        assert_eq!(err("struct.size('i99999999999')"), "user_script:1: integral size overflow");
    }

    #[test]
    fn unpack_matches_redis() {
        let e = |c: &str| err(&format!("{{struct.unpack({c})}}"));
        assert_eq!(
            e("'b', 'a', 0"),
            "user_script:1: bad argument #3 to 'unpack' (offset must be 1 or greater)"
        );
        assert_eq!(
            e("'b', 'a', -1"),
            "user_script:1: bad argument #2 to 'unpack' (data string too short)"
        );
        assert_eq!(
            e("'b', 'a', 2"),
            "user_script:1: bad argument #2 to 'unpack' (data string too short)"
        );
        assert_eq!(
            e("'i', 'abc'"),
            "user_script:1: bad argument #2 to 'unpack' (data string too short)"
        );
        assert_eq!(e("'s', 'abc'"), "user_script:1: unfinished string in data");
        assert_eq!(e("'c0', 'abc'"), "user_script:1: format 'c0' needs a previous size");
        assert_eq!(
            e(""),
            "user_script:1: bad argument #1 to 'unpack' (string expected, got no value)"
        );
        assert_eq!(
            e("'z', 'a'"),
            "user_script:1: bad argument #1 to 'unpack' (invalid format option 'z')"
        );
        assert_eq!(eval("return table.concat({struct.unpack('bc0', '\\2abc')}, ',')"), "ab,4");
    }

    #[test]
    fn pack_matches_redis() {
        assert_eq!(eval("return struct.pack('I10', 2^64)"), "\\x00".repeat(10));
        assert_eq!(eval("return struct.pack('i', 1e30)"), "\\x00".repeat(4));
        assert_eq!(eval("return struct.pack('>i', -2)"), "\\xff\\xff\\xff\\xfe");
        assert_eq!(
            eval("return struct.pack('!4bih', 1, 2, 3)"),
            "\\x01\\x00\\x00\\x00\\x02\\x00\\x00\\x00\\x03\\x00"
        );
        assert_eq!(eval("return struct.pack('s', 'hi')"), "hi\\x00");
        assert_eq!(
            eval("return table.concat({struct.unpack('i16', string.rep('\\255', 16))}, ',')"),
            "-1,17"
        );
        assert_eq!(
            eval("return table.concat({struct.unpack('sx s', 'ab\\0\\0cd\\0')}, ',')"),
            "ab,cd,8"
        );
        assert_eq!(
            err("struct.pack('c5', 'abc')"),
            "user_script:1: bad argument #3 to 'pack' (string too short)"
        );
        assert_eq!(
            err("struct.pack('b')"),
            "user_script:1: bad argument #2 to 'pack' (number expected, got nil)"
        );
        assert_eq!(
            err("struct.pack('i', 'x')"),
            "user_script:1: bad argument #2 to 'pack' (number expected, got string)"
        );
        assert_eq!(
            err("struct.pack()"),
            "user_script:1: bad argument #1 to 'pack' (string expected, got no value)"
        );
        assert_eq!(
            err("struct.pack('z', 1)"),
            "user_script:1: bad argument #1 to 'pack' (invalid format option 'z')"
        );
    }
}
