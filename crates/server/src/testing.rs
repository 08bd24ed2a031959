//! In-process command harness: runs argv through the real dispatch against a `Server` with
//! a test clock, with no sockets. This is the fast, deterministic layer of the test suite:
//! time moves only when a test says so.

pub mod fuzz;

use crate::config::Config;
use crate::dispatch;
use crate::net::client::Client;
use crate::server::Server;
use bytes::Bytes;
use resp::{Frame, Proto};
use slab::Slab;

/// A server plus one connected (socketless) client.
pub struct Harness {
    /// The server state.
    pub srv: Server,
    /// Its clients; `cid` is the one commands run as.
    pub clients: Slab<Client>,
    /// The client commands run as.
    pub cid: usize,
}

impl Harness {
    /// A server with default configuration and the clock frozen at `now_ms`.
    pub fn new(now_ms: u64) -> Harness {
        Harness::with_config(Config::default(), now_ms)
    }

    /// A server with `config` and the clock frozen at `now_ms`.
    pub fn with_config(config: Config, now_ms: u64) -> Harness {
        let mut srv = Server::new(config);
        srv.fixed_clock = Some(now_ms);
        let mut clients = Slab::new();
        let id = srv.new_client_id();
        let cid = clients.insert(Client::new(
            id,
            None,
            "127.0.0.1:1".into(),
            "127.0.0.1:0".into(),
            -1,
            now_ms,
        ));
        Harness { srv, clients, cid }
    }

    /// Moves the test clock forward.
    pub fn advance(&mut self, ms: u64) {
        let now = self.srv.now_ms();
        self.srv.fixed_clock = Some(now + ms);
    }

    /// Runs one command and returns its reply frame (`None` if it blocked).
    pub fn run(&mut self, argv: &[&str]) -> Option<Frame> {
        let argv: Vec<Bytes> = argv.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect();
        dispatch::execute(&mut self.srv, &mut self.clients, self.cid, argv)
    }

    /// Runs one command and returns its reply as RESP2 text.
    pub fn cmd(&mut self, argv: &[&str]) -> String {
        let mut out = Vec::new();
        if let Some(frame) = self.run(argv) {
            resp::encode(&frame, Proto::Resp2, &mut out);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Runs the server's cron work that does not need sockets (active expiry).
    pub fn active_expire(&mut self) {
        let now = self.srv.now_ms();
        let effort = self.srv.config.int(crate::config::P::ActiveExpireEffort);
        crate::keyspace::expire::active_expire_cycle(&mut self.srv.ks, 10, effort, now);
    }
}
