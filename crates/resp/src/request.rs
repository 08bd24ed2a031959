//! The request parser: a client's query buffer to command argument vectors.
//!
//! Clients send commands in two forms. Real clients send a *multibulk*: `*<argc>\r\n` followed
//! by `argc` bulk strings `$<len>\r\n<bytes>\r\n`. People typing into telnet (and redis-cli
//! for a few things) send an *inline* command: one line of space-separated words with
//! optional quoting.
//!
//! The parser is incremental, like Redis's: it keeps how far it got inside a multibulk (how
//! many arguments remain, the length of the bulk being read), so a 500 MB value arriving in
//! thousands of reads is scanned once, not once per read. Malformed input produces a
//! [`ProtocolError`] whose text is exactly what Redis sends (after `-ERR `) before it closes
//! the connection.

use bytes::{Buf, Bytes, BytesMut};

/// Longest inline command, and longest `*`/`$` header line, Redis accepts before the newline
/// arrives (`PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX: usize = 64 * 1024;

/// Largest multibulk count an unauthenticated client may announce.
const UNAUTH_MAX_ARGC: i64 = 10;
/// Largest bulk an unauthenticated client may announce.
const UNAUTH_MAX_BULK: i64 = 16384;

/// A malformed request. The server replies `-ERR <text>` and closes the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError(pub Bytes);

impl ProtocolError {
    fn new(s: &'static str) -> Self {
        ProtocolError(Bytes::from_static(s.as_bytes()))
    }

    /// The message after `-ERR ` (for example `Protocol error: invalid bulk length`).
    pub fn text(&self) -> &[u8] {
        &self.0
    }
}

/// Incremental parser state for one connection.
#[derive(Debug)]
pub struct RequestParser {
    /// Largest bulk string accepted (`proto-max-bulk-len`).
    pub max_bulk_len: i64,
    /// While true, the unauthenticated limits apply (10 arguments, 16 KB bulks).
    pub auth_required: bool,
    /// Arguments still expected in the current multibulk; 0 when between commands.
    remaining: i64,
    /// Length of the bulk being read, or -1 when its `$` header has not been read yet.
    bulk_len: i64,
    argv: Vec<Bytes>,
}

impl Default for RequestParser {
    fn default() -> Self {
        RequestParser {
            max_bulk_len: 512 * 1024 * 1024,
            auth_required: false,
            remaining: 0,
            bulk_len: -1,
            argv: Vec::new(),
        }
    }
}

impl RequestParser {
    /// True while a multibulk command has been started but not completed.
    pub fn in_progress(&self) -> bool {
        self.remaining > 0
    }

    /// Parses the next complete command from the front of `buf`, consuming its bytes.
    ///
    /// Returns `Ok(None)` when more bytes are needed, and `Ok(Some(argv))` for a command. An
    /// empty `argv` means an empty request (`*0`, `*-1` or a blank line) that runs nothing.
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        if self.remaining == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            if buf[0] != b'*' {
                return parse_inline(buf);
            }
            let Some(line) = header_line(buf, "Protocol error: too big mbulk count string")? else {
                return Ok(None);
            };
            let count = parse_i64(&buf[1..line]);
            let count = match count {
                Some(n) if n <= i64::from(i32::MAX) => n,
                _ => return Err(ProtocolError::new("Protocol error: invalid multibulk length")),
            };
            if count > UNAUTH_MAX_ARGC && self.auth_required {
                return Err(ProtocolError::new("Protocol error: unauthenticated multibulk length"));
            }
            buf.advance(line + 2);
            if count <= 0 {
                return Ok(Some(Vec::new()));
            }
            self.remaining = count;
            self.bulk_len = -1;
            // Never trust the announced count for allocation: a client could claim 2^31 args.
            self.argv = Vec::with_capacity(count.min(1024) as usize);
        }
        while self.remaining > 0 {
            if self.bulk_len < 0 {
                let Some(line) = header_line(buf, "Protocol error: too big bulk count string")?
                else {
                    return Ok(None);
                };
                if buf[0] != b'$' {
                    let mut text = b"Protocol error: expected '$', got '".to_vec();
                    text.push(buf[0]);
                    text.push(b'\'');
                    return Err(ProtocolError(Bytes::from(text)));
                }
                let len = match parse_i64(&buf[1..line]) {
                    Some(n) if n >= 0 && n <= self.max_bulk_len => n,
                    _ => return Err(ProtocolError::new("Protocol error: invalid bulk length")),
                };
                if len > UNAUTH_MAX_BULK && self.auth_required {
                    return Err(ProtocolError::new("Protocol error: unauthenticated bulk length"));
                }
                buf.advance(line + 2);
                self.bulk_len = len;
                // Reserve room for the whole bulk once, so a large value is not copied on
                // every buffer growth (bounded by proto-max-bulk-len, checked above).
                let want = len as usize + 2;
                if buf.capacity() < want && len >= 32 * 1024 {
                    buf.reserve(want - buf.len());
                }
            }
            let len = self.bulk_len as usize;
            if buf.len() < len + 2 {
                return Ok(None);
            }
            let arg = buf.split_to(len).freeze();
            buf.advance(2);
            self.argv.push(arg);
            self.bulk_len = -1;
            self.remaining -= 1;
        }
        Ok(Some(std::mem::take(&mut self.argv)))
    }
}

/// Finds the `\r` that ends a `*`/`$` header line, requiring the `\n` after it to be present
/// too. Errors when no line end shows up within [`INLINE_MAX`] bytes.
fn header_line(buf: &BytesMut, too_big: &'static str) -> Result<Option<usize>, ProtocolError> {
    match memchr::memchr(b'\r', buf) {
        Some(pos) if pos + 1 < buf.len() => Ok(Some(pos)),
        Some(_) => Ok(None),
        None if buf.len() > INLINE_MAX => Err(ProtocolError::new(too_big)),
        None => Ok(None),
    }
}

fn parse_inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        if buf.len() > INLINE_MAX {
            return Err(ProtocolError::new("Protocol error: too big inline request"));
        }
        return Ok(None);
    };
    let end = if nl > 0 && buf[nl - 1] == b'\r' { nl - 1 } else { nl };
    let args = split_args(&buf[..end]);
    buf.advance(nl + 1);
    match args {
        Some(args) => Ok(Some(args.into_iter().map(Bytes::from).collect())),
        None => Err(ProtocolError::new("Protocol error: unbalanced quotes in request")),
    }
}

/// Splits a line into arguments with Redis's inline quoting rules (`sdssplitargs`): words are
/// separated by white space; `"..."` understands `\n \r \t \b \a \\ \"` and `\xHH`; `'...'`
/// understands only `\'`; a closing quote must be followed by white space or the end.
/// Returns `None` for unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    // Redis splits a C string, so a NUL byte ends the line.
    let line = match memchr::memchr(0, line) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let mut out = Vec::new();
    let mut i = 0;
    let n = line.len();
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    loop {
        while i < n && is_space(line[i]) {
            i += 1;
        }
        if i >= n {
            return Some(out);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && line[i + 2].is_ascii_hexdigit()
                    && line[i + 3].is_ascii_hexdigit()
                {
                    cur.push(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if in_sq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' => {
                        break;
                    }
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        out.push(cur);
    }
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// Parses a decimal integer with Redis's strict rules (`string2ll`): optional `-`, no `+`, no
/// leading zeros, no spaces, within i64. `"0"` is valid, `"-0"` and `"007"` are not.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !(b'1'..=b'9').contains(&digits[0]) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else {
        i64::try_from(v).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> (Vec<Vec<Bytes>>, Option<ProtocolError>) {
        let mut p = RequestParser::default();
        let mut buf = BytesMut::from(input);
        let mut cmds = Vec::new();
        loop {
            match p.parse(&mut buf) {
                Ok(Some(c)) => cmds.push(c),
                Ok(None) => return (cmds, None),
                Err(e) => return (cmds, Some(e)),
            }
        }
    }

    #[test]
    fn multibulk_and_pipeline() {
        let (cmds, err) = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n");
        assert!(err.is_none());
        assert_eq!(
            cmds,
            vec![vec![Bytes::from("GET"), Bytes::from("k")], vec![Bytes::from("PING")]]
        );
    }

    #[test]
    fn byte_at_a_time() {
        let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
        let mut p = RequestParser::default();
        let mut buf = BytesMut::new();
        let mut got = None;
        for &b in input.iter() {
            buf.extend_from_slice(&[b]);
            if let Some(c) = p.parse(&mut buf).unwrap() {
                got = Some(c);
            }
        }
        assert_eq!(got.unwrap()[2], Bytes::from("hello"));
    }

    #[test]
    fn inline_quoting() {
        assert_eq!(
            split_args(b"set \"a b\" 'c\\'d' \"\\x41\\n\"").unwrap(),
            vec![b"set".to_vec(), b"a b".to_vec(), b"c'd".to_vec(), b"A\n".to_vec()]
        );
        assert!(split_args(b"set \"abc").is_none());
        assert!(split_args(b"set \"abc\"x").is_none());
        let (cmds, _) = parse_all(b"PING\r\n\r\necho hi\n");
        assert_eq!(cmds.len(), 3);
        assert!(cmds[1].is_empty());
    }

    #[test]
    fn protocol_errors() {
        let e = |input: &[u8]| parse_all(input).1.map(|e| String::from_utf8(e.0.to_vec()).unwrap());
        assert_eq!(e(b"*x\r\n").unwrap(), "Protocol error: invalid multibulk length");
        assert_eq!(e(b"*1\r\n$-1\r\n").unwrap(), "Protocol error: invalid bulk length");
        assert_eq!(e(b"*1\r\nfoo\r\n").unwrap(), "Protocol error: expected '$', got 'f'");
        assert_eq!(e(b"*3000000000\r\n").unwrap(), "Protocol error: invalid multibulk length");
        assert_eq!(e(b"set \"x\r\n").unwrap(), "Protocol error: unbalanced quotes in request");
        let big = vec![b'a'; INLINE_MAX + 1];
        assert_eq!(e(&big).unwrap(), "Protocol error: too big inline request");
    }

    #[test]
    fn strict_integers() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-0"), None);
        assert_eq!(parse_i64(b"007"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b" 1"), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            crate::fuzz_decode_request(&data);
            crate::fuzz_decode_reply(&data);
        }
    }
}
