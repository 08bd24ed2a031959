//! String values and their three encodings, as `OBJECT ENCODING` names them.
//!
//! Redis stores a string that reads as a 64-bit integer (at most 20 characters, strict
//! `string2ll` form) as the integer itself (`int`); a short string of up to 44 bytes as
//! `embstr`; anything longer, or any string modified in place (APPEND, SETRANGE), as `raw`.
//! Keel keeps the same three so `OBJECT ENCODING` answers the same, and so integer values
//! cost no heap.
//!
//! A [`StrValue`] is 24 bytes, the size every keyspace entry's value slot is built around:
//! an `embstr` of up to [`INLINE_MAX`] bytes lives inside it (no allocation at all, which is
//! what brings a small string key to Redis's cost), a longer one in a boxed slice, and a
//! `raw` string in a boxed [`Bytes`] so readers can share it without copying.

use super::dict::Relocate;
use super::{num, Value};
use crate::memory::defrag::Mover;
use bytes::{Bytes, BytesMut};

/// Longest string Redis stores as `embstr`.
pub const EMBSTR_MAX: usize = 44;

/// Raw strings longer than this are handed out shared rather than copied. Sharing a buffer
/// the first time allocates its reference count, which then stays with the value (32
/// bytes): worth it to avoid copying a big value on every read, not for a short one.
pub const SHARE_FROM: usize = 4096;

/// Longest `embstr` kept inline in the value itself.
pub const INLINE_MAX: usize = 22;

/// A string value.
#[derive(Clone, Debug, PartialEq)]
pub enum StrValue {
    /// `int`: the string is the decimal form of this integer.
    Int(i64),
    /// `embstr` of up to [`INLINE_MAX`] bytes: the first `len` bytes of `bytes` (the rest
    /// stay zero, so the derived equality is the string's).
    Inline {
        /// Length of the string.
        len: u8,
        /// The bytes.
        bytes: [u8; INLINE_MAX],
    },
    /// `embstr`: short and never modified in place.
    Embstr(Box<[u8]>),
    /// `raw`: long, or modified in place.
    Raw(Box<Bytes>),
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
        if b.len() <= INLINE_MAX {
            let mut bytes = [0u8; INLINE_MAX];
            bytes[..b.len()].copy_from_slice(b);
            StrValue::Inline { len: b.len() as u8, bytes }
        } else if b.len() <= EMBSTR_MAX {
            StrValue::Embstr(b.into())
        } else {
            StrValue::raw(Bytes::copy_from_slice(b))
        }
    }

    /// A `raw` string holding `b`.
    pub fn raw(b: Bytes) -> StrValue {
        StrValue::Raw(Box::new(b))
    }

    /// The encoding name for `OBJECT ENCODING`.
    pub fn encoding(&self) -> &'static str {
        match self {
            StrValue::Int(_) => "int",
            StrValue::Inline { .. } | StrValue::Embstr(_) => "embstr",
            StrValue::Raw(_) => "raw",
        }
    }

    /// The stored bytes, or `None` for an integer (which has no byte form stored).
    pub fn as_slice(&self) -> Option<&[u8]> {
        match self {
            StrValue::Int(_) => None,
            StrValue::Inline { len, bytes } => Some(&bytes[..usize::from(*len)]),
            StrValue::Embstr(b) => Some(b),
            StrValue::Raw(b) => Some(b),
        }
    }

    /// The value's bytes (an integer is formatted; a raw string of more than
    /// [`SHARE_FROM`] bytes is shared, not copied).
    pub fn to_bytes(&self) -> Bytes {
        match self {
            StrValue::Int(n) => Bytes::from(num::i64_bytes(*n)),
            StrValue::Raw(b) if b.len() > SHARE_FROM => (**b).clone(),
            other => Bytes::copy_from_slice(other.as_slice().unwrap_or_default()),
        }
    }

    /// Length in bytes of the string form.
    pub fn len(&self) -> usize {
        match self {
            StrValue::Int(n) => itoa::Buffer::new().format(*n).len(),
            other => other.as_slice().map_or(0, <[u8]>::len),
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
            other => other.as_slice().and_then(num::parse_i64),
        }
    }

    /// Appends `extra` in place; the value becomes `raw`, as Redis's APPEND leaves it even
    /// when `extra` is empty. Returns the new length.
    pub fn append(&mut self, extra: &[u8]) -> usize {
        self.edit_raw(|buf| buf.extend_from_slice(extra))
    }

    /// Overwrites bytes from `offset` with `data`, first growing the string with zero bytes
    /// if it is shorter than `offset + data.len()` (SETRANGE). The value becomes `raw`.
    /// Returns the new length. The caller has bounded `offset + data.len()`.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> usize {
        self.edit_raw(|buf| {
            let end = offset.saturating_add(data.len());
            if buf.len() < end {
                buf.resize(end, 0);
            }
            buf[offset..end].copy_from_slice(data);
        })
    }

    /// Runs `f` on the bytes as a growable buffer and stores the result as `raw`. When this
    /// value holds the only reference to its buffer, the buffer is reused (so repeated
    /// APPENDs are amortised O(1), as in Redis); otherwise it is copied once.
    fn edit_raw(&mut self, f: impl FnOnce(&mut BytesMut)) -> usize {
        let old = std::mem::replace(self, StrValue::Int(0));
        let mut buf = match old {
            StrValue::Raw(b) => (*b).try_into_mut().unwrap_or_else(|b| BytesMut::from(&b[..])),
            other => BytesMut::from(&other.to_bytes()[..]),
        };
        f(&mut buf);
        let len = buf.len();
        *self = StrValue::raw(buf.freeze());
        len
    }

    /// Active defragmentation's hook: offers the value's heap blocks (the boxed `embstr`;
    /// the box of a `raw` string and its buffer when not shared) to `mv`, which moves
    /// those sitting in sparse slabs. True if any moved.
    pub fn defrag(&mut self, mv: &mut Mover) -> bool {
        match self {
            StrValue::Int(_) | StrValue::Inline { .. } => false,
            StrValue::Embstr(b) => mv.relocate_bytes(b),
            StrValue::Raw(b) => {
                // Both are offered whatever the first did: each block is judged alone.
                let outer = mv.relocate(b);
                mv.relocate_shared(b) | outer
            }
        }
    }

    /// Heap bytes owned by the value.
    pub fn heap_size(&self) -> usize {
        match self {
            StrValue::Int(_) | StrValue::Inline { .. } => 0,
            StrValue::Embstr(b) => b.len(),
            StrValue::Raw(b) => std::mem::size_of::<Bytes>() + b.len(),
        }
    }
}

impl Value {
    /// The string inside, or `None` for another type (the caller answers WRONGTYPE).
    // Until the collection types land, `Str` is the only variant and this pattern cannot
    // fail; the allow keeps the function correct both before and after they do.
    pub fn as_str_mut(&mut self) -> Option<&mut StrValue> {
        if let Value::Str(s) = self {
            Some(s)
        } else {
            None
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
        assert_eq!(StrValue::from_bytes(b"-0").encoding(), "embstr");
        assert_eq!(StrValue::from_bytes(b"9223372036854775807").encoding(), "int");
        assert_eq!(StrValue::from_bytes(b"9223372036854775808").encoding(), "embstr");
        assert_eq!(std::mem::size_of::<StrValue>(), 24);
    }

    #[test]
    fn inline_and_boxed_embstr_read_back() {
        for n in [0, 1, INLINE_MAX, INLINE_MAX + 1, EMBSTR_MAX, EMBSTR_MAX + 1] {
            let b: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            let v = StrValue::from_bytes_no_int(&b);
            assert_eq!(v.to_bytes(), Bytes::from(b.clone()));
            assert_eq!((v.len(), v.as_slice()), (n, Some(&b[..])));
            assert_eq!(v.encoding(), if n <= EMBSTR_MAX { "embstr" } else { "raw" });
            assert_eq!(v, StrValue::from_bytes_no_int(&b));
        }
        let v = StrValue::from_bytes(b"\x00\xff");
        assert_eq!(v.heap_size(), 0);
        assert_eq!(v.as_i64(), None);
    }

    #[test]
    fn in_place_edits_make_raw() {
        let mut v = StrValue::from_bytes(b"12");
        assert_eq!(v.append(b""), 2);
        assert_eq!(v.encoding(), "raw");
        assert_eq!(v.append(b"3"), 3);
        assert_eq!(v.to_bytes(), Bytes::from_static(b"123"));
        let mut w = StrValue::from_bytes(b"ab");
        assert_eq!(w.write_at(4, b"xy"), 6);
        assert_eq!(w.to_bytes(), Bytes::from_static(b"ab\0\0xy"));
        assert_eq!(w.write_at(0, b"Z"), 6);
        assert_eq!(w.to_bytes(), Bytes::from_static(b"Zb\0\0xy"));
        // A reader holding the old bytes keeps them.
        let held = w.to_bytes();
        w.append(b"!");
        assert_eq!(held, Bytes::from_static(b"Zb\0\0xy"));
        assert_eq!(w.len(), 7);
    }
}
