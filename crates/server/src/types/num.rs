//! Number parsing and formatting with Redis's rules.
//!
//! Redis is strict about integers (`string2ll`: no `+`, no leading zeros, no spaces) and uses
//! `strtod` for doubles (accepting `inf`, exponents, but refusing `nan`, trailing junk and
//! leading spaces). Every command that reads a number goes through this module, so the
//! accepted forms are the same everywhere.

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

/// Formats an integer in decimal into a fresh byte vector.
pub fn i64_bytes(n: i64) -> Vec<u8> {
    itoa::Buffer::new().format(n).as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
