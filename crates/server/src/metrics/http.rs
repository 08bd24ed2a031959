//! The little HTTP/1.1 the metrics endpoint needs: one `GET` per connection, answered with
//! `Connection: close`. Requests are bounded ([`MAX_REQUEST`]); bodies are never read.

/// The largest request head accepted; a longer one is answered 431 and closed.
pub const MAX_REQUEST: usize = 8 * 1024;

/// What a connection's buffered bytes hold so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Head<'a> {
    /// The head has not ended yet.
    Incomplete,
    /// The head is over [`MAX_REQUEST`] bytes.
    TooLarge,
    /// Not an HTTP/1.x request line.
    Bad,
    /// A complete request head.
    Request {
        /// The method, as sent.
        method: &'a [u8],
        /// The path without its query string.
        path: &'a [u8],
    },
}

/// Parses the request line `METHOD TARGET HTTP/1.x`, or None when `line` is not one. Used
/// on the Redis port too, where such a line marks an HTTP client rather than a command.
pub fn request_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    let http1 = version.len() == 8 && version.starts_with(b"HTTP/1.");
    if parts.next().is_some() || !http1 || method.is_empty() || !target.starts_with(b"/") {
        return None;
    }
    let path = target.split(|&b| b == b'?').next().unwrap_or(target);
    Some((method, path))
}

/// Parses what has arrived of a request.
pub fn parse(buf: &[u8]) -> Head<'_> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        // A bare-LF client ends its head with "\n\n".
        return match buf.windows(2).position(|w| w == b"\n\n") {
            Some(end) => head_of(&buf[..end]),
            None if buf.len() > MAX_REQUEST => Head::TooLarge,
            None => Head::Incomplete,
        };
    };
    if end > MAX_REQUEST {
        return Head::TooLarge;
    }
    head_of(&buf[..end])
}

fn head_of(head: &[u8]) -> Head<'_> {
    let line = head.split(|&b| b == b'\n').next().unwrap_or(head);
    match request_line(line) {
        Some((method, path)) => Head::Request { method, path },
        None => Head::Bad,
    }
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Route {
    /// `GET /metrics`: the Prometheus text.
    Metrics,
    /// `GET /`: the status page.
    Page,
    /// Another path.
    NotFound,
    /// Another method.
    NotAllowed,
}

/// Routes a request.
pub fn route(method: &[u8], path: &[u8]) -> Route {
    if method != b"GET" {
        return Route::NotAllowed;
    }
    match path {
        b"/metrics" => Route::Metrics,
        b"/" => Route::Page,
        _ => Route::NotFound,
    }
}

/// A complete response with `Connection: close`.
pub fn response(status: u16, content_type: &str, body: &[u8]) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n",
        body.len()
    )
    .into_bytes();
    if status == 405 {
        out.extend_from_slice(b"Allow: GET\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// A plain-text error response.
pub fn error(status: u16, text: &str) -> Vec<u8> {
    response(status, "text/plain; charset=utf-8", format!("{text}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        assert_eq!(request_line(b"GET /metrics HTTP/1.1\r"), Some((&b"GET"[..], &b"/metrics"[..])));
        assert_eq!(request_line(b"GET /?x=1 HTTP/1.0"), Some((&b"GET"[..], &b"/"[..])));
        assert_eq!(request_line(b"GET /key"), None);
        assert_eq!(request_line(b"GET key HTTP/1.1"), None);
        assert_eq!(request_line(b"GET /a HTTP/2.0"), None);
        assert_eq!(request_line(b"GET /a HTTP/1.1 extra"), None);
    }

    #[test]
    fn heads() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n"), Head::Incomplete);
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            Head::Request { method: b"GET", path: b"/" }
        );
        assert_eq!(
            parse(b"POST /metrics HTTP/1.0\n\n"),
            Head::Request { method: b"POST", path: b"/metrics" }
        );
        assert_eq!(parse(b"hello\r\n\r\n"), Head::Bad);
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_REQUEST + 10, b'a');
        assert_eq!(parse(&big), Head::TooLarge);
    }

    #[test]
    fn routes_and_responses() {
        assert_eq!(route(b"GET", b"/metrics"), Route::Metrics);
        assert_eq!(route(b"GET", b"/"), Route::Page);
        assert_eq!(route(b"GET", b"/x"), Route::NotFound);
        assert_eq!(route(b"HEAD", b"/"), Route::NotAllowed);
        let r = String::from_utf8(response(200, "text/plain", b"hi")).unwrap_or_default();
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(r.contains("Content-Length: 2\r\nCache-Control: no-store\r\nConnection: close\r\n"));
        assert!(r.ends_with("\r\n\r\nhi"));
        let r = String::from_utf8(error(405, "no")).unwrap_or_default();
        assert!(r.contains("Allow: GET\r\n"));
    }
}
