use bytes::Bytes;

/// One reply value, in the richest (RESP3) form.
///
/// A command handler builds a `Frame`; the connection encodes it for the client's protocol.
/// RESP2 has fewer types, so [`crate::encode`] downgrades: maps become flat arrays, sets become
/// arrays, doubles and big numbers become bulk strings, booleans become integers.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// `+OK`: a status line. Must not contain CR or LF.
    Simple(Bytes),
    /// `-ERR ...`: an error line without the leading `-`, starting with its code.
    Error(Bytes),
    /// `:42`.
    Integer(i64),
    /// `$3 foo`: a binary-safe string.
    Bulk(Bytes),
    /// The null a missing string gives: `$-1` in RESP2, `_` in RESP3.
    Null,
    /// The null a missing array gives: `*-1` in RESP2, `_` in RESP3.
    NullArray,
    /// `*N`: an ordered list of frames.
    Array(Vec<Frame>),
    /// `%N`: key/value pairs (a flat array of 2N in RESP2).
    Map(Vec<(Frame, Frame)>),
    /// `~N`: an unordered collection (an array in RESP2).
    Set(Vec<Frame>),
    /// `,1.5`: a double (a bulk string in RESP2), printed in the shortest form that reads
    /// back the same.
    Double(f64),
    /// A double whose text the command chose (Redis's 17-decimal "human" form for geo
    /// coordinates): `,<text>` in RESP3, a bulk string of the same text in RESP2.
    DoubleText(Bytes),
    /// `#t`/`#f` (`:1`/`:0` in RESP2).
    Boolean(bool),
    /// `=N txt:...`: text with a 3-letter format (a bulk string of the text in RESP2).
    Verbatim(&'static str, Bytes),
    /// `(123...`: an integer outside i64 (a bulk string in RESP2).
    BigNumber(Bytes),
    /// `>N`: an out-of-band message such as a pub/sub message (an array in RESP2).
    Push(Vec<Frame>),
}

impl Frame {
    /// The `+OK` reply.
    pub const fn ok() -> Frame {
        Frame::Simple(Bytes::from_static(b"OK"))
    }

    /// A status reply from static text.
    pub const fn simple(s: &'static str) -> Frame {
        Frame::Simple(Bytes::from_static(s.as_bytes()))
    }

    /// A bulk string copied from a byte slice.
    pub fn bulk(b: &[u8]) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(b))
    }

    /// A bulk string holding the decimal form of an integer.
    pub fn bulk_int(n: i64) -> Frame {
        let mut buf = itoa::Buffer::new();
        Frame::bulk(buf.format(n).as_bytes())
    }

    /// True for error frames.
    pub fn is_error(&self) -> bool {
        matches!(self, Frame::Error(_))
    }
}
