//! Scripts that outlive `busy-reply-threshold`.
//!
//! A script runs on the command thread, so while it runs nothing else does. Like Redis,
//! Keel checks the script's running time from a Lua count hook; once it passes the
//! threshold the script is "timed out": the hook keeps serving the network between Lua
//! instructions, so other clients get `-BUSY` instead of silence, and can stop the script
//! with SCRIPT KILL or FUNCTION KILL (only if it has not written yet: a half-applied script
//! would break atomicity) or stop the server with SHUTDOWN NOSAVE.
//!
//! The busy service accepts connections and reads sockets itself (through a clone of the
//! event loop's registry and duplicates of its listeners), then runs each command through
//! [`dispatch::execute`], whose gate answers `-BUSY` to everything not flagged
//! `allow_busy`. Replies are written straight away; clients left with unwritten bytes are
//! handed back to the event loop when the script ends.

use crate::config::P;
use crate::dispatch;
use crate::error::CmdError;
use crate::net::client::Client;
use crate::net::listener::Listener;
use crate::net::{self, NextCommand};
use crate::server::Server;
use bytes::Bytes;
use mio::Registry;
use slab::Slab;
use std::time::Instant;

/// Lua instructions between two time checks, as in Redis.
pub const CHECK_EVERY: u32 = 100_000;

/// Bytes read from one client per busy-service round.
const READ_BUDGET: usize = 64 * 1024;

/// The script in execution.
#[derive(Debug)]
pub struct Running {
    /// The client that called it.
    pub cid: usize,
    /// EVAL family (true) or FCALL (false): decides which KILL applies and the texts.
    pub eval: bool,
    /// Function name (FCALL) or `f_<sha1>` (EVAL), for the log and FUNCTION STATS.
    pub name: String,
    /// The FCALL command line, for FUNCTION STATS (empty for EVAL, whose stats are refused).
    pub command: Vec<Bytes>,
    /// When it started.
    pub start: Instant,
    /// Past the threshold: other clients are being answered `-BUSY`.
    pub timed_out: bool,
    /// Asked to stop by SCRIPT KILL / FUNCTION KILL.
    pub killed: bool,
    /// Ran a write command: it can no longer be killed.
    pub wrote: bool,
}

/// What the event loop lends the busy service.
struct Net {
    registry: Registry,
    listeners: Vec<Listener>,
    buf: Vec<u8>,
}

/// Busy-script state owned by the server.
#[derive(Default)]
pub struct Busy {
    /// The script in execution, if any.
    pub running: Option<Running>,
    net: Option<Net>,
    /// Clients the busy service wrote to and that still have bytes to send.
    pub served: Vec<usize>,
}

impl Busy {
    /// Lends the busy service a registry and duplicates of the listening sockets.
    pub fn set_net(&mut self, registry: Registry, listeners: Vec<Listener>) {
        self.net = Some(Net { registry, listeners, buf: vec![0; 16 * 1024] });
    }

    /// Starts tracking a script; returns the previous state for nested calls to restore.
    pub fn begin(
        &mut self,
        cid: usize,
        eval: bool,
        name: String,
        command: Vec<Bytes>,
    ) -> Option<Running> {
        let running = Running {
            cid,
            eval,
            name,
            command,
            start: Instant::now(),
            timed_out: false,
            killed: false,
            wrote: false,
        };
        self.running.replace(running)
    }

    /// Marks the running script as having written: SCRIPT KILL no longer applies.
    pub fn mark_write(&mut self) {
        if let Some(r) = self.running.as_mut() {
            r.wrote = true;
        }
    }

    /// The dispatch gate: while a timed-out script runs, commands from other clients that
    /// are not flagged `allow_busy` get `-BUSY`.
    pub fn refuse(&self, cid: usize, allow_busy: bool) -> Result<(), CmdError> {
        match &self.running {
            Some(r) if r.timed_out && r.cid != cid && !allow_busy => Err(busy_error(r.eval)),
            _ => Ok(()),
        }
    }

    /// `SCRIPT KILL` (`eval`) or `FUNCTION KILL`: stops the running script if it may be
    /// stopped, with Redis's reply for each case.
    pub fn kill(&mut self, eval: bool) -> Result<(), CmdError> {
        let Some(r) = self.running.as_mut().filter(|r| r.timed_out) else {
            return Err(CmdError::Static("NOTBUSY No scripts in execution right now."));
        };
        if r.wrote {
            return Err(CmdError::Static("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."));
        }
        if r.eval != eval {
            return Err(busy_error(r.eval));
        }
        r.killed = true;
        Ok(())
    }
}

/// Redis's `-BUSY` text for an EVAL script or a function.
pub fn busy_error(eval: bool) -> CmdError {
    if eval {
        CmdError::Static(
            "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
        )
    } else {
        CmdError::Static(
            "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.",
        )
    }
}

/// Called from the Lua hook every [`CHECK_EVERY`] instructions. Returns the error the
/// script must raise to stop (killed, or the server is shutting down), if any.
pub fn tick(srv: &mut Server, clients: &mut Slab<Client>) -> Option<&'static [u8]> {
    let threshold = srv.config.int(P::BusyReplyThreshold);
    let r = srv.busy.running.as_mut()?;
    if !r.timed_out {
        let elapsed = r.start.elapsed().as_millis();
        if threshold <= 0 || elapsed < threshold as u128 {
            return None;
        }
        r.timed_out = true;
        let (kill, name) = (if r.eval { "SCRIPT KILL" } else { "FUNCTION KILL" }, r.name.clone());
        srv.log.warning(&format!("Slow script detected: still in execution after {elapsed} milliseconds. You can try killing the script using the {kill} command. Script name is: {name}."));
    }
    let running = r.cid;
    serve(srv, clients, running);
    stop_reason(srv)
}

/// The error a script must stop with: killed, or the server is shutting down.
pub fn stop_reason(srv: &Server) -> Option<&'static [u8]> {
    let r = srv.busy.running.as_ref()?;
    if r.killed {
        // Redis words it this way for FUNCTION KILL too.
        Some(b"ERR Script killed by user with SCRIPT KILL...")
    } else if srv.shutdown.is_some() {
        Some(b"ERR Server is shutting down")
    } else {
        None
    }
}

/// One round of network service while a script is busy: accept, read, run every complete
/// command (the dispatch gate refuses most), write the replies.
fn serve(srv: &mut Server, clients: &mut Slab<Client>, running: usize) {
    let Some(mut net) = srv.busy.net.take() else { return };
    for l in &net.listeners {
        net::accept_clients(srv, clients, &net.registry, l);
    }
    let ready: Vec<usize> = clients
        .iter()
        .filter(|(k, c)| *k != running && c.sock.is_some() && c.blocked.is_none())
        .map(|(k, _)| k)
        .collect();
    for cid in ready {
        let io = clients[cid].read_available(&mut net.buf, READ_BUDGET);
        srv.stats.net_input_bytes += io.bytes as u64;
        while srv.shutdown.is_none() {
            let c = &mut clients[cid];
            if c.close_after_reply || c.close_asap || c.blocked.is_some() {
                break;
            }
            match net::next_command(srv, c) {
                NextCommand::Incomplete => break,
                NextCommand::Refused(frame) => net::queue_reply(c, &frame),
                NextCommand::Command(argv) => {
                    // A blocking command gets -BUSY from the gate, so a reply always comes.
                    let frame = dispatch::execute(srv, clients, cid, argv);
                    // SHUTDOWN suppresses its own reply, as in the event loop.
                    let suppressed = std::mem::take(&mut srv.suppress_reply);
                    if let Some(frame) = frame.filter(|_| !suppressed) {
                        net::queue_reply(&mut clients[cid], &frame);
                    }
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
        if c.pending_out() > 0 && !srv.busy.served.contains(&cid) {
            srv.busy.served.push(cid);
        }
    }
    srv.busy.net = Some(net);
}
