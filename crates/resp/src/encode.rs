//! Frame to bytes, for RESP2 or RESP3 clients.
//!
//! RESP3 types are downgraded for RESP2 clients exactly as Redis does it when a command's reply
//! is written for a protocol-2 connection:
//!
//! | RESP3            | RESP2                                  |
//! |------------------|----------------------------------------|
//! | null (`_`)       | `$-1` (strings) or `*-1` (arrays)      |
//! | map (`%`)        | flat array of key, value, key, value   |
//! | set (`~`)        | array                                  |
//! | double (`,`)     | bulk string of the same text           |
//! | boolean (`#`)    | integer 1 or 0                         |
//! | verbatim (`=`)   | bulk string of the text (no format)    |
//! | big number (`(`) | bulk string                            |
//! | push (`>`)       | array                                  |

use crate::Frame;

/// The protocol a connection speaks, chosen by `HELLO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Proto {
    /// RESP2, the default for new connections.
    #[default]
    Resp2,
    /// RESP3, after `HELLO 3`.
    Resp3,
}

/// Appends the wire form of `frame` for `proto` to `out`.
pub fn encode(frame: &Frame, proto: Proto, out: &mut Vec<u8>) {
    match frame {
        Frame::Simple(s) => line(out, b'+', s),
        Frame::Error(s) => line(out, b'-', s),
        Frame::Integer(n) => int_line(out, b':', *n),
        Frame::Bulk(b) => bulk(out, b),
        Frame::Null => match proto {
            Proto::Resp2 => out.extend_from_slice(b"$-1\r\n"),
            Proto::Resp3 => out.extend_from_slice(b"_\r\n"),
        },
        Frame::NullArray => match proto {
            Proto::Resp2 => out.extend_from_slice(b"*-1\r\n"),
            Proto::Resp3 => out.extend_from_slice(b"_\r\n"),
        },
        Frame::Array(items) => aggregate(out, b'*', items, proto),
        Frame::Set(items) => {
            aggregate(out, if proto == Proto::Resp3 { b'~' } else { b'*' }, items, proto)
        }
        Frame::Push(items) => {
            aggregate(out, if proto == Proto::Resp3 { b'>' } else { b'*' }, items, proto)
        }
        Frame::Map(pairs) => {
            match proto {
                Proto::Resp3 => len_line(out, b'%', pairs.len()),
                Proto::Resp2 => len_line(out, b'*', pairs.len() * 2),
            }
            for (k, v) in pairs {
                encode(k, proto, out);
                encode(v, proto, out);
            }
        }
        Frame::Double(d) => {
            let text = format_double(*d);
            match proto {
                Proto::Resp3 => line(out, b',', text.as_bytes()),
                Proto::Resp2 => bulk(out, text.as_bytes()),
            }
        }
        Frame::DoubleText(text) => match proto {
            Proto::Resp3 => line(out, b',', text),
            Proto::Resp2 => bulk(out, text),
        },
        Frame::Boolean(b) => match proto {
            Proto::Resp3 => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Proto::Resp2 => out.extend_from_slice(if *b { b":1\r\n" } else { b":0\r\n" }),
        },
        Frame::Verbatim(format, text) => match proto {
            Proto::Resp3 => {
                len_line(out, b'=', text.len() + 4);
                out.extend_from_slice(format.as_bytes());
                out.push(b':');
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\n");
            }
            Proto::Resp2 => bulk(out, text),
        },
        Frame::BigNumber(n) => match proto {
            Proto::Resp3 => line(out, b'(', n),
            Proto::Resp2 => bulk(out, n),
        },
    }
}

/// Formats a double the way Redis replies with one: `inf`, `-inf`, `nan`, otherwise the
/// shortest text that reads back as the same double, in `%g` style (exponent form below 1e-4
/// and from 1e17 up, as `%.17g` would choose).
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    // `{:e}` gives the shortest round-trip digits as `d.ddde±x`.
    let sci = format!("{d:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => return sci,
    };
    if !(-5..17).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    format!("{d}")
}

fn line(out: &mut Vec<u8>, tag: u8, text: &[u8]) {
    out.push(tag);
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

fn int_line(out: &mut Vec<u8>, tag: u8, n: i64) {
    let mut buf = itoa::Buffer::new();
    line(out, tag, buf.format(n).as_bytes());
}

fn len_line(out: &mut Vec<u8>, tag: u8, n: usize) {
    let mut buf = itoa::Buffer::new();
    line(out, tag, buf.format(n).as_bytes());
}

/// Appends a bulk string (`$len\r\ndata\r\n`).
pub fn bulk(out: &mut Vec<u8>, data: &[u8]) {
    len_line(out, b'$', data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

fn aggregate(out: &mut Vec<u8>, tag: u8, items: &[Frame], proto: Proto) {
    len_line(out, tag, items.len());
    for item in items {
        encode(item, proto, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn enc(f: &Frame, p: Proto) -> Vec<u8> {
        let mut v = Vec::new();
        encode(f, p, &mut v);
        v
    }

    #[test]
    fn downgrades_for_resp2() {
        let map = Frame::Map(vec![(Frame::bulk(b"a"), Frame::Integer(1))]);
        assert_eq!(enc(&map, Proto::Resp2), b"*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&map, Proto::Resp3), b"%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&Frame::Null, Proto::Resp2), b"$-1\r\n");
        assert_eq!(enc(&Frame::NullArray, Proto::Resp2), b"*-1\r\n");
        assert_eq!(enc(&Frame::NullArray, Proto::Resp3), b"_\r\n");
        assert_eq!(enc(&Frame::Boolean(true), Proto::Resp2), b":1\r\n");
        assert_eq!(enc(&Frame::Double(1.5), Proto::Resp2), b"$3\r\n1.5\r\n");
        assert_eq!(enc(&Frame::Double(1.5), Proto::Resp3), b",1.5\r\n");
        let v = Frame::Verbatim("txt", Bytes::from_static(b"hi"));
        assert_eq!(enc(&v, Proto::Resp3), b"=6\r\ntxt:hi\r\n");
        assert_eq!(enc(&v, Proto::Resp2), b"$2\r\nhi\r\n");
    }

    #[test]
    fn double_text() {
        assert_eq!(format_double(0.1), "0.1");
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(1e17), "1e+17");
        assert_eq!(format_double(1.5e-7), "1.5e-07");
        assert_eq!(format_double(12345.678), "12345.678");
    }
}
