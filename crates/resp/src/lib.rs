//! RESP2/RESP3 codec for Keel.
//!
//! This crate turns bytes into frames and frames into bytes. It does no I/O and knows nothing
//! about the server: no sockets, no commands, no keyspace. That keeps it fast to test and easy
//! to fuzz (see [`fuzz_decode_request`] and [`fuzz_decode_reply`]).
//!
//! - [`request`]: the incremental request parser a server uses on a client's query buffer
//!   (multibulk and inline forms), with Redis's exact `Protocol error: ...` texts.
//! - [`Frame`]: one reply value of any RESP3 type.
//! - [`encode`]: a [`Frame`] to bytes for protocol 2 or 3, downgrading RESP3 types for RESP2
//!   clients the way Redis does.
//! - [`reply`]: a client-side decoder for complete replies (used by tests and tools).
#![warn(missing_docs)]

pub mod encode;
mod frame;
pub mod reply;
pub mod request;

pub use encode::{encode, Proto};
pub use frame::Frame;
pub use request::{ProtocolError, RequestParser};

/// Fuzz entry point: feeds arbitrary bytes to a request parser with default limits and drains
/// every complete command. It must never panic, whatever the input.
pub fn fuzz_decode_request(data: &[u8]) {
    let mut parser = RequestParser::default();
    let mut buf = bytes::BytesMut::from(data);
    while let Ok(Some(_)) = parser.parse(&mut buf) {}
}

/// Fuzz entry point: decodes arbitrary bytes as replies. It must never panic.
pub fn fuzz_decode_reply(data: &[u8]) {
    let mut pos = 0;
    while let Ok(Some((_, used))) = reply::decode(&data[pos..]) {
        if used == 0 {
            break;
        }
        pos += used;
    }
}
