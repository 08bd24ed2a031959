//! The network service that runs while the command thread is held by something long: a
//! script past `busy-reply-threshold` (`scripting/busy.rs`) or the dataset loading at
//! start-up (`loading.rs`).
//!
//! The event loop is not polling then, so a round of this service does its work by hand:
//! it accepts on duplicates of the listening sockets (registered with a clone of the loop's
//! registry, so the loop owns the connections afterwards), reads every client without
//! waiting, runs each complete command through [`dispatch::execute`] (whose gates answer
//! `-BUSY` or `-LOADING` to what may not run now) and writes the replies at once. Clients
//! left with unwritten bytes are listed in [`Service::served`]: the event loop takes them
//! over when it runs again. No readiness event is lost: mio's epoll keeps reporting a
//! socket that got data until the loop polls it, even if a round already read some.

use super::client::Client;
use super::listener::Listener;
use super::NextCommand;
use crate::dispatch;
use crate::server::Server;
use mio::Registry;
use slab::Slab;

/// Bytes read from one client per round, so one busy pipeline cannot hold a round.
const READ_BUDGET: usize = 64 * 1024;

/// What the event loop lends the service.
struct Lent {
    registry: Registry,
    listeners: Vec<Listener>,
    buf: Vec<u8>,
}

/// The service's state, owned by the server.
#[derive(Default)]
pub struct Service {
    lent: Option<Lent>,
    /// Clients a round wrote to and that still have bytes to send.
    pub served: Vec<usize>,
}

impl Service {
    /// Lends the service a registry and duplicates of the listening sockets.
    pub fn set_net(&mut self, registry: Registry, listeners: Vec<Listener>) {
        self.lent = Some(Lent { registry, listeners, buf: vec![0; 16 * 1024] });
    }
}

/// One round: accept, read, run every complete command of every client except `skip` (the
/// one whose command holds the thread) and those parked in a blocking command, write the
/// replies.
pub fn serve(srv: &mut Server, clients: &mut Slab<Client>, skip: Option<usize>) {
    let Some(mut lent) = srv.service.lent.take() else { return };
    for l in &lent.listeners {
        super::accept_clients(srv, clients, &lent.registry, l);
    }
    let ready: Vec<usize> = clients
        .iter()
        .filter(|(k, c)| {
            Some(*k) != skip && c.sock.is_some() && c.blocked.is_none() && !c.close_asap
        })
        .map(|(k, _)| k)
        .collect();
    for cid in ready {
        let io = clients[cid].read_available(&mut lent.buf, READ_BUDGET);
        srv.stats.net_input_bytes += io.bytes as u64;
        while srv.shutdown.is_none() {
            let c = &mut clients[cid];
            if c.close_after_reply || c.close_asap || c.blocked.is_some() {
                break;
            }
            match super::next_command(srv, c) {
                NextCommand::Incomplete => break,
                NextCommand::Refused(frame) => super::queue_reply(c, &frame),
                NextCommand::Command(argv) => {
                    // Blocking commands are refused by the gates that make this service
                    // run, so a reply always comes.
                    let frame = dispatch::execute(srv, clients, cid, argv);
                    // SHUTDOWN suppresses its own reply, as in the event loop.
                    let suppressed = std::mem::take(&mut srv.suppress_reply);
                    let c = &mut clients[cid];
                    if let Some(frame) = frame.filter(|_| !suppressed) {
                        super::queue_reply(c, &frame);
                    }
                    // AUTH or HELLO may have authenticated the client: lift the parser's
                    // limits for unauthenticated input, as the event loop does.
                    c.parser.auth_required = !c.authenticated;
                }
            }
        }
        let c = &mut clients[cid];
        let out = c.write_available();
        srv.stats.net_output_bytes += out.bytes as u64;
        if io.closed || out.closed {
            c.close_asap = true;
            srv.close_pending = true;
        }
        if c.pending_out() > 0 && !srv.service.served.contains(&cid) {
            srv.service.served.push(cid);
        }
    }
    srv.service.lent = Some(lent);
}
