//! Scripts that outlive `busy-reply-threshold`.
//!
//! A script runs on the command thread, so while it runs nothing else does. Like Redis,
//! Keel checks the script's running time from a Lua count hook; once it passes the
//! threshold the script is "timed out": the hook keeps serving the network between Lua
//! instructions, so other clients get `-BUSY` instead of silence, and can stop the script
//! with SCRIPT KILL or FUNCTION KILL (only if it has not written yet: a half-applied script
//! would break atomicity) or stop the server with SHUTDOWN NOSAVE.
//!
//! The serving is `net/service.rs`'s round (shared with start-up loading): each command
//! goes through `dispatch::execute`, whose gate answers `-BUSY` to everything not flagged
//! `allow_busy`.

use crate::config::P;
use crate::error::CmdError;
use crate::net::client::Client;
use crate::server::Server;
use bytes::Bytes;
use slab::Slab;
use std::time::Instant;

/// Lua instructions between two time checks, as in Redis.
pub const CHECK_EVERY: u32 = 100_000;

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

/// Busy-script state owned by the server.
#[derive(Default)]
pub struct Busy {
    /// The script in execution, if any.
    pub running: Option<Running>,
}

impl Busy {
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
    crate::net::service::serve(srv, clients, Some(running));
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
