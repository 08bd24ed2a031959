//! A client-side decoder for complete replies, RESP2 and RESP3. Used by tests, the
//! differential harness and tools; the server itself never parses replies.

use crate::Frame;
use bytes::Bytes;

/// A reply that is not valid RESP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadReply(pub String);

/// Nesting deeper than this is refused rather than recursed into.
const MAX_DEPTH: usize = 128;

/// Decodes one complete reply from the front of `buf`: `Ok(Some((frame, bytes_used)))`,
/// `Ok(None)` if the reply is not complete yet.
pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, BadReply> {
    decode_at(buf, 0)
}

fn decode_at(buf: &[u8], depth: usize) -> Result<Option<(Frame, usize)>, BadReply> {
    if depth > MAX_DEPTH {
        return Err(BadReply("nesting too deep".into()));
    }
    let Some(end) = memchr::memchr(b'\n', buf) else {
        return Ok(None);
    };
    if end == 0 || buf[end - 1] != b'\r' {
        return Err(BadReply("line without CR".into()));
    }
    let line = &buf[1..end - 1];
    let head = end + 1;
    let text = || Bytes::copy_from_slice(line);
    let int = || -> Result<i64, BadReply> {
        std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| BadReply(format!("bad number {:?}", String::from_utf8_lossy(line))))
    };
    let frame = match buf[0] {
        b'+' => Frame::Simple(text()),
        b'-' => Frame::Error(text()),
        b':' => Frame::Integer(int()?),
        b'_' => Frame::Null,
        b'#' => Frame::Boolean(line == b"t"),
        b',' => Frame::Double(match line {
            b"inf" => f64::INFINITY,
            b"-inf" => f64::NEG_INFINITY,
            _ => std::str::from_utf8(line).ok().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN),
        }),
        b'(' => Frame::BigNumber(text()),
        b'$' | b'=' => {
            let n = int()?;
            if n < 0 {
                return Ok(Some((Frame::Null, head)));
            }
            let n = n as usize;
            if buf.len() < head.saturating_add(n).saturating_add(2) {
                return Ok(None);
            }
            let data = Bytes::copy_from_slice(&buf[head..head + n]);
            let frame = if buf[0] == b'=' && n >= 4 {
                Frame::Verbatim("txt", data.slice(4..))
            } else {
                Frame::Bulk(data)
            };
            return Ok(Some((frame, head + n + 2)));
        }
        b'*' | b'~' | b'>' | b'%' => {
            let n = int()?;
            if n < 0 {
                return Ok(Some((Frame::NullArray, head)));
            }
            let count = if buf[0] == b'%' { n.saturating_mul(2) } else { n } as usize;
            let mut items = Vec::with_capacity(count.min(1024));
            let mut pos = head;
            for _ in 0..count {
                match decode_at(&buf[pos..], depth + 1)? {
                    Some((f, used)) => {
                        items.push(f);
                        pos += used;
                    }
                    None => return Ok(None),
                }
            }
            let frame = match buf[0] {
                b'*' => Frame::Array(items),
                b'~' => Frame::Set(items),
                b'>' => Frame::Push(items),
                _ => {
                    let mut pairs = Vec::with_capacity(items.len() / 2);
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    Frame::Map(pairs)
                }
            };
            return Ok(Some((frame, pos)));
        }
        other => return Err(BadReply(format!("unknown type byte {other:#x}"))),
    };
    Ok(Some((frame, head)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{encode, Proto};

    #[test]
    fn round_trip() {
        let f = Frame::Array(vec![
            Frame::Integer(-2),
            Frame::bulk(b"a\r\nb"),
            Frame::Map(vec![(Frame::simple("k"), Frame::Double(1.5))]),
            Frame::Set(vec![Frame::Boolean(true)]),
        ]);
        let mut out = Vec::new();
        encode(&f, Proto::Resp3, &mut out);
        let (back, used) = decode(&out).unwrap().unwrap();
        assert_eq!(used, out.len());
        assert_eq!(back, f);
        assert_eq!(decode(&out[..out.len() - 1]).unwrap(), None);
    }
}
