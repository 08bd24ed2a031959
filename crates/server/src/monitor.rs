//! `MONITOR`: clients that receive a line for every command the server runs.
//!
//! Redis 7 feeds monitors after a command ran (so `SELECT 1` shows db 1 and EXEC follows
//! the commands it ran), except for scripts: EVAL, EVALSHA and FCALL are fed before they
//! run, so the commands a script calls (shown with the address `lua`) follow it. Admin
//! commands and refused commands are never shown, and passwords are redacted.
//!
//! A monitor is remembered by slab key and client id, so a closed monitor whose slot was
//! reused is recognised and dropped without the event loop having to tell this module.
//! With no monitor the feed is one emptiness test.

use crate::args::Args;
use crate::commands::spec::{acl, flags, CommandSpec, KeyPos};
use crate::config::P;
use crate::error::CmdError;
use crate::net::client::Client;
use crate::server::{Ctx, Server};
use bytes::Bytes;
use resp::Frame;
use slab::Slab;

/// The MONITOR command's table row (family `server`).
pub const COMMANDS: &[CommandSpec] = &[CommandSpec::new(
    "monitor",
    1,
    flags::ADMIN | flags::NOSCRIPT | flags::LOADING | flags::STALE,
    acl::ADMIN | acl::SLOW | acl::DANGEROUS,
    KeyPos::NONE,
    monitor,
)
.doc("server", "1.0.0", "Listens for all requests received by the server in real-time.", "")];

/// The monitoring clients: (slab key, client id).
#[derive(Debug, Default)]
pub struct Monitors {
    list: Vec<(usize, u64)>,
}

impl Monitors {
    /// True when nobody monitors: the only cost of the feed then.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Whether the client with id `id` is a monitor.
    pub fn contains(&self, id: u64) -> bool {
        self.list.iter().any(|&(_, i)| i == id)
    }

    /// Ends monitor mode for client `id` (RESET).
    pub fn remove(&mut self, id: u64) {
        self.list.retain(|&(_, i)| i != id);
    }
}

/// `MONITOR`: from now on the caller receives every command as a status line. A monitor
/// asking again gets no reply at all; inside MULTI it is refused.
fn monitor(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    let (cid, id) = (ctx.cid, ctx.client_ref().id);
    if ctx.client_ref().in_exec {
        return Err(CmdError::Static("ERR MONITOR isn't allowed for DENY BLOCKING client"));
    }
    if ctx.srv.monitors.contains(id) {
        ctx.srv.suppress_reply = true;
        return Ok(Frame::ok());
    }
    ctx.srv.monitors.list.push((cid, id));
    Ok(Frame::ok())
}

/// The refusal Redis gives a monitor (to Redis, a kind of replica) that sends a command
/// reading or writing the keyspace.
pub fn gate(srv: &Server, client: &Client, spec: &CommandSpec) -> Result<(), CmdError> {
    if !srv.monitors.is_empty()
        && spec.has(flags::READONLY | flags::WRITE | flags::MAY_REPLICATE)
        && srv.monitors.contains(client.id)
    {
        return Err(CmdError::Static("ERR Replica can't interact with the keyspace"));
    }
    Ok(())
}

/// Feeds `argv` to the monitors if `spec` is shown at this point: `before` is the call
/// before the handler (scripts only), otherwise after it. A blocked command re-run when its
/// key is ready was already shown when it first ran.
pub fn feed(
    srv: &mut Server,
    clients: &Slab<Client>,
    cid: usize,
    spec: &CommandSpec,
    argv: &[Bytes],
    before: bool,
) {
    if srv.monitors.is_empty() || spec.has(flags::ADMIN) || srv.blocking.retrying {
        return;
    }
    if spec.has(flags::SKIP_MONITOR) != before {
        return;
    }
    // Drop monitors that closed (their slot is gone or now holds another client).
    srv.monitors.list.retain(|&(k, id)| clients.get(k).is_some_and(|c| c.id == id));
    let Some(c) = clients.get(cid) else { return };
    let line = render(srv, c, spec, argv, in_script(srv, cid));
    let targets: Vec<usize> = srv.monitors.list.iter().map(|&(k, _)| k).collect();
    for k in targets {
        let frame = Frame::Simple(line.clone());
        // A monitor's own command is shown after its reply, as Redis appends the line to
        // the output buffer after the command wrote its reply.
        if k == cid {
            srv.pubsub.after_reply.push((k, frame));
        } else {
            srv.pubsub.outbox.push((k, frame));
        }
    }
}

/// True while client `cid`'s script is running: the command being run is the script's
/// (other clients served meanwhile by the busy-script service are not).
pub fn in_script(srv: &Server, cid: usize) -> bool {
    srv.busy.running.as_ref().is_some_and(|r| r.cid == cid)
}

/// One monitor line (without the `+` and CRLF the encoder adds):
/// `<secs>.<micros> [<db> <addr>] "arg" "arg"...`.
fn render(srv: &Server, c: &Client, spec: &CommandSpec, argv: &[Bytes], script: bool) -> Bytes {
    let us = crate::server::wall_us();
    let addr = if script {
        "lua".to_string()
    } else if c.unix {
        format!("unix:{}", srv.config.str(P::Unixsocket))
    } else {
        c.addr.clone()
    };
    let mut out =
        format!("{}.{:06} [{} {}]", us / 1_000_000, us % 1_000_000, c.db, addr).into_bytes();
    for a in redacted(spec, argv) {
        out.push(b' ');
        quote(&mut out, &a);
    }
    Bytes::from(out)
}

/// Appends `s` quoted the way Redis's `sdscatrepr` quotes: printable bytes as they are,
/// `"` and `\` escaped, the usual control characters by name, anything else as `\xNN`.
pub fn quote(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// The arguments as MONITOR and SLOWLOG show them: passwords given to AUTH and HELLO ...
/// AUTH replaced by `(redacted)`. Like Redis, only forms that got as far as reading the
/// password are redacted (AUTH with too many arguments, or HELLO with a bad protocol
/// version, is shown as sent).
pub fn redacted(spec: &CommandSpec, argv: &[Bytes]) -> Vec<Bytes> {
    let mut out = argv.to_vec();
    let hidden = Bytes::from_static(b"(redacted)");
    match spec.name {
        "auth" if argv.len() <= 3 => out.iter_mut().skip(1).for_each(|a| *a = hidden.clone()),
        "hello" if argv.len() >= 2 && matches!(&argv[1][..], b"2" | b"3") => {
            let mut j = 2;
            while j < argv.len() {
                let more = argv.len() - 1 - j;
                if argv[j].eq_ignore_ascii_case(b"auth") && more >= 2 {
                    out[j + 1] = hidden.clone();
                    out[j + 2] = hidden.clone();
                    j += 3;
                } else if argv[j].eq_ignore_ascii_case(b"setname") && more >= 1 {
                    j += 2;
                } else {
                    break;
                }
            }
        }
        _ => {}
    }
    out
}
