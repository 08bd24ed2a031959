//! Number parsing and formatting with Redis's rules.
//!
//! Redis is strict about integers (`string2ll`: no `+`, no leading zeros, no spaces) and uses
//! `strtod` for doubles (accepting `inf`, exponents, but refusing `nan`, trailing junk and
//! leading spaces). Every command that reads a number goes through this module, so the
//! accepted forms are the same everywhere.

mod longdouble;

pub use longdouble::AddError;

/// Parses an integer with Redis's strict `string2ll` rules.
pub fn parse_i64(b: &[u8]) -> Option<i64> {
    resp::request::parse_i64(b)
}

/// Parses a double the way Redis's `getDoubleFromObject` does: the whole argument must be a
/// number, no leading space, not NaN, and not out of the double's range.
pub fn parse_f64(b: &[u8]) -> Option<f64> {
    if b.is_empty() || b.len() > 5 * 1024 || b[0].is_ascii_whitespace() {
        return None;
    }
    let s = std::str::from_utf8(b).ok()?;
    let lower = s.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    // Rust accepts "nan" and "infinity" spellings strtod also accepts; NaN is refused below.
    let v: f64 = match body {
        "inf" | "infinity" => {
            if lower.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            }
        }
        _ if body.starts_with("0x") => {
            let v = parse_hex_float(&body[2..])?;
            if lower.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => {
            if body.starts_with("nan") || body.starts_with("inf") {
                return None;
            }
            s.parse().ok()?
        }
    };
    if v.is_nan() {
        return None;
    }
    // strtod reports ERANGE for overflow; Rust gives infinity for a finite spelling.
    if v.is_infinite() && !body.starts_with("inf") {
        return None;
    }
    Some(v)
}

/// The hexadecimal floats C's `strtod` reads (`0x10`, `0x1.8p3`, `0x.4p-1`), which Redis
/// therefore accepts wherever it takes a double; `text` is what follows the `0x`.
pub(crate) fn parse_hex_float(text: &str) -> Option<f64> {
    let (mantissa, exponent) = match text.split_once('p') {
        Some((m, e)) => (m, Some(e)),
        None => (text, None),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let digit = |c: char| c.to_digit(16).map(f64::from);
    let mut v = 0.0f64;
    for c in int_part.chars() {
        v = v * 16.0 + digit(c)?;
    }
    let mut scale = 1.0 / 16.0;
    for c in frac_part.chars() {
        v += digit(c)? * scale;
        scale /= 16.0;
    }
    if let Some(e) = exponent {
        let unsigned = e.strip_prefix(['+', '-']).unwrap_or(e);
        if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let e: i32 = e.parse().ok()?;
        v *= 2f64.powi(e);
    }
    Some(v)
}

/// Formats an integer in decimal into a fresh byte vector.
pub fn i64_bytes(n: i64) -> Vec<u8> {
    itoa::Buffer::new().format(n).as_bytes().to_vec()
}

/// INCRBYFLOAT's arithmetic: adds the numbers written in `current` and `incr` in extended
/// precision and returns the sum in Redis's "human" form: 17 decimals with trailing zeros
/// (and then a bare dot) removed, and `-0` written as `0`.
pub fn add_long_double(current: &[u8], incr: &[u8]) -> Result<Vec<u8>, AddError> {
    let mut text = longdouble::add(current, incr)?;
    trim_fixed(&mut text);
    Ok(text)
}

/// Trims a `%.17Lf` rendering the way Redis's `ld2string` does in its human mode.
pub(crate) fn trim_fixed(text: &mut Vec<u8>) {
    if text.contains(&b'.') {
        while text.last() == Some(&b'0') {
            text.pop();
        }
        if text.last() == Some(&b'.') {
            text.pop();
        }
    }
    // A tiny negative sum prints as "-0.000..." and trims to "-0"; Redis shows "0".
    if text == b"-0" {
        *text = b"0".to_vec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_like_ld2string() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"3.00000000000000000", b"3"),
            (b"0.30000000000000000", b"0.3"),
            (b"-0.00000000000000000", b"0"),
            (b"10.50000000000000000", b"10.5"),
            (b"100", b"100"),
            (b"", b""),
        ];
        for (input, want) in cases {
            let mut v = input.to_vec();
            trim_fixed(&mut v);
            assert_eq!(&v[..], *want, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn long_double_sums() {
        assert_eq!(add_long_double(b"0.1", b"0.2"), Ok(b"0.3".to_vec()));
        assert_eq!(add_long_double(b"10.5", b"0.1"), Ok(b"10.6".to_vec()));
        assert_eq!(add_long_double(b"0", b"5.0e3"), Ok(b"5000".to_vec()));
        assert_eq!(add_long_double(b"1", b"-1"), Ok(b"0".to_vec()));
        assert_eq!(add_long_double(b"0", b"0x10"), Ok(b"16".to_vec()));
        assert_eq!(add_long_double(b"0", b" 1"), Err(AddError::NotFloat));
        assert_eq!(add_long_double(b"0", b"1 "), Err(AddError::NotFloat));
        assert_eq!(add_long_double(b"0", b"1\x002"), Err(AddError::NotFloat));
        assert_eq!(add_long_double(b"0", b"nan"), Err(AddError::NotFloat));
        assert_eq!(add_long_double(b"0", b""), Err(AddError::NotFloat));
        assert_eq!(add_long_double(b"0", b"1e99999"), Err(AddError::NotFloat));
        assert_eq!(add_long_double(b"0", b"inf"), Err(AddError::NanOrInfinity));
        assert_eq!(add_long_double(b"abc", b"1"), Err(AddError::NotFloat));
    }

    #[test]
    fn doubles() {
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"1 "), None);
        assert_eq!(parse_f64(b"1e400"), None);
        assert_eq!(parse_f64(b""), None);
        assert_eq!(parse_f64(b".5"), Some(0.5));
        assert_eq!(parse_f64(b"0x10"), Some(16.0));
        assert_eq!(parse_f64(b"0x1.8p3"), Some(12.0));
        assert_eq!(parse_f64(b"-0X1P-2"), Some(-0.25));
        assert_eq!(parse_f64(b"0x"), None);
        assert_eq!(parse_f64(b"0x1p"), None);
        assert_eq!(parse_f64(b"0xg"), None);
    }
}
