//! Networking: client state and listening sockets. Nothing here knows any command.

pub mod client;
pub mod listener;
pub mod service;
pub mod tls;

use crate::config::P;
use crate::server::Server;
use client::Client;
use listener::{Listener, Stream};
use mio::{Interest, Registry, Token};
use resp::Frame;
use slab::Slab;
use std::io::{self, Write};
use std::time::Duration;

/// Tokens below this are listeners and signals; clients use `CLIENT_BASE + slab key`.
pub const CLIENT_BASE: usize = 64;

/// Accepts every pending connection on `listener`, registering each with `registry` under
/// the client token scheme. Shared by the event loop and the network service, which keeps
/// accepting while a long script runs (a SCRIPT KILL usually comes on a new connection) or
/// the dataset loads.
pub fn accept_clients(
    srv: &mut Server,
    clients: &mut Slab<Client>,
    registry: &Registry,
    listener: &Listener,
) {
    loop {
        let accepted = match listener.accept() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => {
                srv.log.warning(&format!("Accepting client connection: {e}"));
                return;
            }
        };
        srv.stats.connections += 1;
        let mut stream = accepted.stream;
        let maxclients = srv.config.int(P::Maxclients) as usize;
        if clients.len() >= maxclients {
            let mut out = Vec::new();
            let text = crate::error::CmdError::MaxClients.text();
            resp::encode(&Frame::Error(bytes::Bytes::from(text)), resp::Proto::Resp2, &mut out);
            let _ = stream.write(&out);
            srv.stats.rejected_connections += 1;
            continue;
        }
        if crate::acl::protected_refuses(srv, &accepted.addr, matches!(stream, Stream::Unix(_))) {
            let _ = stream.write(crate::acl::PROTECTED_DENIED);
            continue;
        }
        if let Some(t) = stream.tcp() {
            let secs = srv.config.int(P::TcpKeepalive);
            if secs > 0 {
                let ka = socket2::TcpKeepalive::new()
                    .with_time(Duration::from_secs(secs as u64))
                    .with_interval(Duration::from_secs((secs as u64 / 3).max(1)));
                let _ = socket2::SockRef::from(t).set_tcp_keepalive(&ka);
            }
        }
        let now = srv.now_ms();
        let id = srv.new_client_id();
        let fd = stream.fd();
        let entry = clients.vacant_entry();
        let cid = entry.key();
        let token = Token(CLIENT_BASE + cid);
        if registry.register(&mut stream, token, Interest::READABLE).is_err() {
            continue;
        }
        let mut client = Client::new(id, Some(stream), accepted.addr, accepted.laddr, fd, now);
        client.authenticated = srv.acl.default_nopass();
        client.parser.auth_required = !client.authenticated;
        client.parser.max_bulk_len = srv.config.int(P::ProtoMaxBulkLen);
        entry.insert(client);
    }
}

/// The next thing in a client's query buffer.
pub enum NextCommand {
    /// A complete command.
    Command(Vec<bytes::Bytes>),
    /// Nothing complete yet.
    Incomplete,
    /// A protocol error: the reply to send before the connection closes.
    Refused(Frame),
}

/// Parses the next command out of `c`'s query buffer, skipping empty inline lines. A
/// protocol error is logged and counted, the buffer dropped and the client marked to close
/// once the error reply is written, as Redis does.
pub fn next_command(srv: &mut Server, c: &mut Client) -> NextCommand {
    loop {
        match c.parser.parse(&mut c.query) {
            Ok(Some(argv)) if argv.is_empty() => continue,
            Ok(Some(argv)) => return NextCommand::Command(argv),
            Ok(None) => return NextCommand::Incomplete,
            Err(e) => {
                let mut text = b"ERR ".to_vec();
                text.extend_from_slice(e.text());
                srv.log.verbose(&format!(
                    "Protocol error ({}) from client: id={} addr={}",
                    String::from_utf8_lossy(e.text()),
                    c.id,
                    c.addr
                ));
                srv.stats.count_error("ERR");
                c.query.clear();
                c.close_after_reply = true;
                return NextCommand::Refused(Frame::Error(bytes::Bytes::from(text)));
            }
        }
    }
}

/// Encodes `frame` into the client's output buffer in its protocol.
pub fn queue_reply(c: &mut Client, frame: &Frame) {
    if c.sock.is_some() {
        resp::encode(frame, c.proto, &mut c.out);
    }
}
