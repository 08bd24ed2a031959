//! String values and their three encodings, as `OBJECT ENCODING` names them.
//!
//! Redis stores a string that reads as a 64-bit integer (at most 20 characters, strict
//! `string2ll` form) as the integer itself (`int`); a short string of up to 44 bytes as
//! `embstr`; anything longer, or any string modified in place (APPEND, SETRANGE), as `raw`.
//! Keel keeps the same three so `OBJECT ENCODING` answers the same, and so integer values
//! cost no heap.

use super::num;
use bytes::Bytes;

/// Longest string Redis stores as `embstr`.
pub const EMBSTR_MAX: usize = 44;

/// A string value.
#[derive(Clone, Debug, PartialEq)]
pub enum StrValue {
    /// `int`: the string is the decimal form of this integer.
    Int(i64),
    /// `embstr`: short and never modified in place.
    Embstr(Bytes),
    /// `raw`: long, or modified in place.
    Raw(Bytes),
}

impl StrValue {
    /// The encoding Redis picks when it stores a value a client sent (`tryObjectEncoding`).
    pub fn from_bytes(b: &[u8]) -> StrValue {
        if b.len() <= 20 {
            if let Some(n) = num::parse_i64(b) {
                return StrValue::Int(n);
            }
        }
        StrValue::from_bytes_no_int(b)
    }

    /// A string stored without trying the integer encoding (`embstr` or `raw` by length).
    pub fn from_bytes_no_int(b: &[u8]) -> StrValue {
        if b.len() <= EMBSTR_MAX {
            StrValue::Embstr(Bytes::copy_from_slice(b))
        } else {
            StrValue::Raw(Bytes::copy_from_slice(b))
        }
    }

    /// The encoding name for `OBJECT ENCODING`.
    pub fn encoding(&self) -> &'static str {
        match self {
            StrValue::Int(_) => "int",
            StrValue::Embstr(_) => "embstr",
            StrValue::Raw(_) => "raw",
        }
    }

    /// The value's bytes (an integer is formatted).
    pub fn to_bytes(&self) -> Bytes {
        match self {
            StrValue::Int(n) => Bytes::from(num::i64_bytes(*n)),
            StrValue::Embstr(b) | StrValue::Raw(b) => b.clone(),
        }
    }

    /// Length in bytes of the string form.
    pub fn len(&self) -> usize {
        match self {
            StrValue::Int(n) => itoa::Buffer::new().format(*n).len(),
            StrValue::Embstr(b) | StrValue::Raw(b) => b.len(),
        }
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value as an integer, if it reads as one (for INCR and friends).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            StrValue::Int(n) => Some(*n),
            StrValue::Embstr(b) | StrValue::Raw(b) => num::parse_i64(b),
        }
    }

    /// Heap bytes owned by the value.
    pub fn heap_size(&self) -> usize {
        match self {
            StrValue::Int(_) => 0,
            StrValue::Embstr(b) | StrValue::Raw(b) => b.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(StrValue::from_bytes(b"123").encoding(), "int");
        assert_eq!(StrValue::from_bytes(b"0123").encoding(), "embstr");
        assert_eq!(StrValue::from_bytes(&[b'a'; 44]).encoding(), "embstr");
        assert_eq!(StrValue::from_bytes(&[b'a'; 45]).encoding(), "raw");
        assert_eq!(StrValue::Int(-5).to_bytes(), Bytes::from_static(b"-5"));
    }
}
