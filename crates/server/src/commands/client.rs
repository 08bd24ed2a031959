//! `CLIENT` and its subcommands: identity, listing, killing, reply modes and pauses.
//!
//! Keel has no replicas yet, so every connection is a "normal" or "pubsub" client; the
//! replies and errors are otherwise Redis's.

use super::connection::validate_client_name;
use super::spec::{acl, flags::*, unreachable_container, CommandSpec, KeyPos};
use crate::args::Args;
use crate::error::{c_prefix, CmdError};
use crate::net::client::{Client, ReplyMode};
use crate::server::{Ctx, Pause};
use crate::types::num;
use bytes::Bytes;
use resp::{Frame, Proto};
use std::fmt::Write as _;

/// Flags of the subcommands any client may use.
const PLAIN: u32 = NOSCRIPT | LOADING | STALE;
/// Flags of the subcommands that act on other clients or the whole server.
const ADMIN_SUB: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

/// Builds one subcommand row of the `connection` group.
const fn sub(
    name: &'static str,
    arity: i32,
    flags: u32,
    handler: super::spec::Handler,
    since: &'static str,
    summary: &'static str,
    complexity: &'static str,
) -> CommandSpec {
    CommandSpec::new(name, arity, flags, acl::CONNECTION, KeyPos::NONE, handler).doc(
        "connection",
        since,
        summary,
        complexity,
    )
}

const SUBCOMMANDS: &[CommandSpec] = &[
    sub(
        "caching",
        3,
        PLAIN,
        caching,
        "6.0.0",
        "Instructs the server whether to track the keys in the next request.",
        "O(1)",
    ),
    sub("getname", 2, PLAIN, getname, "2.6.9", "Returns the name of the connection.", "O(1)"),
    sub(
        "getredir",
        2,
        PLAIN,
        getredir,
        "6.0.0",
        "Returns the client ID to which the connection's tracking notifications are redirected.",
        "O(1)",
    ),
    sub(
        "help",
        2,
        LOADING | STALE,
        help,
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        "O(1)",
    ),
    sub("id", 2, PLAIN, id, "5.0.0", "Returns the unique client ID of the connection.", "O(1)"),
    sub("info", 2, PLAIN, info, "6.2.0", "Returns information about the connection.", "O(1)")
        .tips(&["nondeterministic_output"]),
    sub(
        "kill",
        -3,
        ADMIN_SUB,
        kill,
        "2.4.0",
        "Terminates open connections.",
        "O(N) where N is the number of client connections",
    ),
    sub(
        "list",
        -2,
        ADMIN_SUB,
        list,
        "2.4.0",
        "Lists open connections.",
        "O(N) where N is the number of client connections",
    )
    .tips(&["nondeterministic_output"]),
    sub(
        "no-evict",
        3,
        ADMIN_SUB,
        no_evict,
        "7.0.0",
        "Sets the client eviction mode of the connection.",
        "O(1)",
    ),
    sub(
        "no-touch",
        3,
        PLAIN,
        no_touch,
        "7.2.0",
        "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
        "O(1)",
    ),
    sub("pause", -3, ADMIN_SUB, pause, "3.0.0", "Suspends commands processing.", "O(1)"),
    sub(
        "reply",
        3,
        PLAIN,
        reply,
        "3.2.0",
        "Instructs the server whether to reply to commands.",
        "O(1)",
    ),
    sub(
        "setinfo",
        4,
        PLAIN,
        setinfo,
        "7.2.0",
        "Sets information specific to the client or connection.",
        "O(1)",
    ),
    sub("setname", 3, PLAIN, setname, "2.6.9", "Sets the connection name.", "O(1)"),
    sub(
        "tracking",
        -3,
        PLAIN,
        tracking,
        "6.0.0",
        "Controls server-assisted client-side caching for the connection.",
        "O(1). Some options may introduce additional complexity.",
    ),
    sub(
        "trackinginfo",
        2,
        PLAIN,
        trackinginfo,
        "6.2.0",
        "Returns information about server-assisted client-side caching for the connection.",
        "O(1)",
    ),
    sub(
        "unblock",
        -3,
        ADMIN_SUB,
        unblock,
        "5.0.0",
        "Unblocks a client blocked by a blocking command from a different connection.",
        "O(log N) where N is the number of client connections",
    ),
    sub(
        "unpause",
        2,
        ADMIN_SUB,
        unpause,
        "6.2.0",
        "Resumes processing of clients that were paused.",
        "O(N) Where N is the number of paused clients",
    ),
];

/// The CLIENT family's table.
pub const COMMANDS: &[CommandSpec] =
    &[CommandSpec::new("client", -2, 0, 0, KeyPos::NONE, unreachable_container)
        .doc(
            "connection",
            "2.4.0",
            "A container for client connection commands.",
            "Depends on subcommand.",
        )
        .subs(SUBCOMMANDS)];

/// The error Redis gives when a CLIENT subcommand's arguments do not fit any of its forms.
fn bad_form(args: &Args) -> CmdError {
    args.subcommand_syntax("CLIENT")
}

/// Reads an `ON`/`OFF` switch (any letter case); anything else is a syntax error.
fn on_off(args: &mut Args) -> Result<bool, CmdError> {
    if args.eat("on") {
        Ok(true)
    } else if args.eat("off") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// `CLIENT ID`.
fn id(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(Frame::Integer(ctx.client_ref().id as i64))
}

/// `CLIENT GETNAME`: the name, or null when unnamed.
fn getname(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(ctx.client_ref().name.clone().map_or(Frame::Null, Frame::Bulk))
}

/// `CLIENT SETNAME connection-name`: an empty name removes the name.
fn setname(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let name = args.next_owned()?;
    validate_client_name(&name)?;
    ctx.client().name = (!name.is_empty()).then_some(name);
    Ok(Frame::ok())
}

/// `CLIENT SETINFO <LIB-NAME libname | LIB-VER libver>`: an empty value clears the field.
fn setinfo(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let attr = args.next_bytes()?;
    let value = args.next_owned()?;
    let is_name = attr.eq_ignore_ascii_case(b"lib-name");
    if !is_name && !attr.eq_ignore_ascii_case(b"lib-ver") {
        let mut text = b"ERR Unrecognized option '".to_vec();
        text.extend_from_slice(c_prefix(&attr, usize::MAX));
        text.push(b'\'');
        return Err(CmdError::dynamic(text));
    }
    if validate_client_name(&value).is_err() {
        let mut text = b"ERR ".to_vec();
        text.extend_from_slice(c_prefix(&attr, usize::MAX));
        text.extend_from_slice(b" cannot contain spaces, newlines or special characters.");
        return Err(CmdError::dynamic(text));
    }
    let value = (!value.is_empty()).then_some(value);
    let c = ctx.client();
    if is_name {
        c.lib_name = value;
    } else {
        c.lib_ver = value;
    }
    Ok(Frame::ok())
}

/// `CLIENT INFO`: the caller's `CLIENT LIST` line.
fn info(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let line = ctx.info_line(ctx.cid, args.argv());
    Ok(Frame::Verbatim("txt", Bytes::from(line)))
}

/// `CLIENT LIST [TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id [client-id ...]]`.
fn list(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let mut ids: Option<Vec<u64>> = None;
    let mut wanted: Option<ClientType> = None;
    if args.len() == 4 && args.eat("type") {
        wanted = Some(parse_client_type(args.next_ref()?)?);
    } else if args.len() > 3 && args.eat("id") {
        let mut v = Vec::new();
        for raw in args.rest() {
            let n = num::parse_i64(raw).ok_or(CmdError::Static("ERR Invalid client ID"))?;
            v.push(n as u64);
        }
        ids = Some(v);
    } else if args.len() != 2 {
        return Err(CmdError::Syntax);
    }
    let mut out = String::new();
    // Redis lists clients in connection order; slab slots are reused, ids are not.
    let mut shown: Vec<(u64, usize)> = ctx
        .clients
        .iter()
        .filter(|(k, c)| c.sock.is_some() || *k == ctx.cid)
        .filter(|(_, c)| {
            ids.as_ref().is_none_or(|ids| ids.contains(&c.id))
                && wanted.is_none_or(|t| t == client_type(c))
        })
        .map(|(k, c)| (c.id, k))
        .collect();
    shown.sort_unstable();
    for (_, k) in shown {
        out.push_str(&ctx.info_line(k, args.argv()));
    }
    Ok(Frame::Verbatim("txt", Bytes::from(out)))
}

/// The client classes `CLIENT LIST TYPE` and `CLIENT KILL TYPE` select.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientType {
    Normal,
    Pubsub,
    /// Replicas and masters: Keel has none yet, so this matches no client.
    Replication,
}

/// Parses a client type name; unknown names are an error.
fn parse_client_type(name: &[u8]) -> Result<ClientType, CmdError> {
    let is = |t: &[u8]| name.eq_ignore_ascii_case(t);
    if is(b"normal") {
        Ok(ClientType::Normal)
    } else if is(b"pubsub") {
        Ok(ClientType::Pubsub)
    } else if is(b"master") || is(b"slave") || is(b"replica") {
        Ok(ClientType::Replication)
    } else {
        let mut text = b"ERR Unknown client type '".to_vec();
        text.extend_from_slice(c_prefix(name, usize::MAX));
        text.push(b'\'');
        Err(CmdError::dynamic(text))
    }
}

/// The class a connection belongs to.
fn client_type(c: &Client) -> ClientType {
    if c.is_subscriber() {
        ClientType::Pubsub
    } else {
        ClientType::Normal
    }
}

/// Redis's static reply buffer: replies beyond it go to a list of blocks (`oll`, `omem`).
const REPLY_CHUNK: usize = 16 * 1024;

/// What a client's `CLIENT LIST` line shows beyond the client's own fields.
#[derive(Default)]
struct LineExtras<'a> {
    /// In MONITOR mode (`O`).
    monitor: bool,
    /// A WATCHed key was touched (`d`).
    dirty_cas: bool,
    /// Tracking redirects to a client that is gone (`R`).
    broken_redirect: bool,
    /// The running command's arguments, for the caller's own line: Redis's query buffer
    /// still holds it, so it counts in `qbuf` and `argv-mem`.
    running: Option<&'a [Bytes]>,
}

impl Ctx<'_> {
    /// The `CLIENT LIST` line of the client in slot `k`; `argv` is the running command's.
    fn info_line(&self, k: usize, argv: &[Bytes]) -> String {
        let c = &self.clients[k];
        let extras = LineExtras {
            monitor: self.srv.monitors.contains(c.id),
            dirty_cas: self.srv.ks.watches.is_dirty(c.id),
            broken_redirect: c.tracking.as_ref().is_some_and(|t| {
                t.redirect != 0 && !self.clients.iter().any(|(_, o)| o.id == t.redirect)
            }),
            running: (k == self.cid).then_some(argv),
        };
        render_line(c, self.now, &extras)
    }
}

/// A client's `CLIENT LIST` line from its own fields alone (for reports made outside a
/// CLIENT command, such as ACL LOG's `client-info`).
pub fn info_line(c: &Client, now: u64) -> String {
    render_line(c, now, &LineExtras::default())
}

/// One `CLIENT LIST` line, fields in Redis 7.2's order, newline-terminated.
fn render_line(c: &Client, now: u64, x: &LineExtras<'_>) -> String {
    let mut flags = String::new();
    let bcast = c.tracking.as_ref().is_some_and(|t| t.bcast);
    for (on, ch) in [
        (x.monitor, 'O'),
        (c.is_subscriber(), 'P'),
        (c.multi.is_some(), 'x'),
        (c.blocked.is_some(), 'b'),
        (c.tracking.is_some(), 't'),
        (x.broken_redirect, 'R'),
        (bcast, 'B'),
        (x.dirty_cas, 'd'),
        (c.close_after_reply, 'c'),
        (c.close_asap, 'A'),
        (c.unix, 'U'),
        (c.no_evict, 'e'),
        (c.no_touch, 'T'),
    ] {
        if on {
            flags.push(ch);
        }
    }
    if flags.is_empty() {
        flags.push('N');
    }
    fn text(b: &Option<Bytes>) -> std::borrow::Cow<'_, str> {
        b.as_deref().map(String::from_utf8_lossy).unwrap_or_default()
    }
    // Arguments the client holds: the running command's, or a parked command's.
    let held: &[Bytes] = x.running.or(c.blocked.as_ref().map(|b| &b.argv[..])).unwrap_or(&[]);
    let argv_mem: usize = held.iter().map(Bytes::len).sum();
    let qbuf = c.query.len() + x.running.map_or(0, multibulk_len);
    let qbuf_free = c.query.capacity().saturating_sub(c.query.len());
    let multi_mem = c.multi_memory();
    let pending = c.pending_out();
    let obl = pending.min(REPLY_CHUNK);
    let omem = pending - obl;
    let oll = omem.div_ceil(REPLY_CHUNK);
    let tot_mem = c.memory_usage() + argv_mem;
    let events = if c.writable_interest { "rw" } else { "r" };
    let resp = if c.proto == Proto::Resp3 { 3 } else { 2 };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} \
             ssub={} multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} \
             obl={} oll={} omem={} tot-mem={} events={} cmd={} user={} redir={} resp={} \
             lib-name={} lib-ver={}",
        c.id,
        c.addr,
        c.laddr,
        c.fd,
        text(&c.name),
        now.saturating_sub(c.ctime) / 1000,
        now.saturating_sub(c.last_interaction) / 1000,
        flags,
        c.db,
        c.subs.len(),
        c.psubs.len(),
        c.ssubs.len(),
        c.multi.as_ref().map_or(-1, |m| m.queue.len() as i64),
        qbuf,
        qbuf_free,
        argv_mem,
        multi_mem,
        c.out.capacity().max(REPLY_CHUNK),
        c.out.capacity(),
        obl,
        oll,
        omem,
        tot_mem,
        events,
        c.last_cmd.map(|r| r.full_name()).unwrap_or(std::borrow::Cow::Borrowed("NULL")),
        c.user,
        c.tracking.as_ref().map_or(-1, |t| t.redirect as i64),
        resp,
        text(&c.lib_name),
        text(&c.lib_ver),
    );
    s
}

/// Bytes of `argv` encoded as a multibulk request, as it sat in the query buffer.
fn multibulk_len(argv: &[Bytes]) -> usize {
    let digits = |n: usize| n.to_string().len();
    let items: usize = argv.iter().map(|a| 1 + digits(a.len()) + 2 + a.len() + 2).sum();
    1 + digits(argv.len()) + 2 + items
}

/// What `CLIENT KILL` matches; `None` fields match everything.
#[derive(Default)]
struct KillFilter {
    addr: Option<Bytes>,
    laddr: Option<Bytes>,
    id: Option<u64>,
    user: Option<Bytes>,
    kind: Option<ClientType>,
    skip_me: bool,
    /// Only clients connected at least this many seconds (0 = any).
    max_age: i64,
}

impl KillFilter {
    fn matches(&self, c: &Client, is_me: bool, now: u64) -> bool {
        let age = (now.saturating_sub(c.ctime) / 1000) as i64;
        !(is_me && self.skip_me)
            && (self.max_age == 0 || age >= self.max_age)
            && self.addr.as_ref().is_none_or(|a| a == c.addr.as_bytes())
            && self.laddr.as_ref().is_none_or(|a| a == c.laddr.as_bytes())
            && self.id.is_none_or(|id| id == c.id)
            && self.user.as_ref().is_none_or(|u| u == c.user.as_bytes())
            && self.kind.is_none_or(|t| t == client_type(c))
    }
}

/// `CLIENT KILL ip:port` or `CLIENT KILL <ID id | TYPE type | USER name | ADDR ip:port |
/// LADDR ip:port | SKIPME yes|no | MAXAGE seconds> ...`. The old form answers OK or "No such client"; the new
/// form counts the clients it closed. The caller is closed after its reply is written,
/// others before the server next sleeps.
fn kill(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let old_form = args.len() == 3;
    let mut f = KillFilter { skip_me: !old_form, ..KillFilter::default() };
    if old_form {
        f.addr = Some(args.next_bytes()?);
    } else {
        while args.remaining() > 0 {
            let opt = args.next_bytes()?;
            if args.remaining() == 0 {
                return Err(CmdError::Syntax);
            }
            let val = args.next_bytes()?;
            let is = |kw: &[u8]| opt.eq_ignore_ascii_case(kw);
            if is(b"id") {
                let n = num::parse_i64(&val)
                    .filter(|&n| n > 0)
                    .ok_or(CmdError::Static("ERR client-id should be greater than 0"))?;
                f.id = Some(n as u64);
            } else if is(b"type") {
                f.kind = Some(parse_client_type(&val)?);
            } else if is(b"addr") {
                f.addr = Some(val);
            } else if is(b"laddr") {
                f.laddr = Some(val);
            } else if is(b"user") {
                if !ctx.srv.acl.users.contains_key(&*String::from_utf8_lossy(&val)) {
                    let mut text = b"ERR No such user '".to_vec();
                    text.extend_from_slice(c_prefix(&val, usize::MAX));
                    text.push(b'\'');
                    return Err(CmdError::dynamic(text));
                }
                f.user = Some(val);
            } else if is(b"maxage") {
                // Redis 7.4's filter: clients connected at least that many seconds.
                f.max_age = num::parse_i64(&val)
                    .ok_or(CmdError::Static("ERR maxage is not an integer or out of range"))?;
            } else if is(b"skipme") {
                f.skip_me = if val.eq_ignore_ascii_case(b"yes") {
                    true
                } else if val.eq_ignore_ascii_case(b"no") {
                    false
                } else {
                    return Err(CmdError::Syntax);
                };
            } else {
                return Err(CmdError::Syntax);
            }
        }
    }
    let (me, now) = (ctx.cid, ctx.now);
    let doomed: Vec<usize> = ctx
        .clients
        .iter()
        .filter(|&(k, c)| c.sock.is_some() && f.matches(c, k == me, now))
        .map(|(k, _)| k)
        .collect();
    let killed = i64::try_from(doomed.len()).unwrap_or(i64::MAX);
    for id in doomed {
        ctx.close_client(id);
    }
    match (old_form, killed) {
        (true, 0) => Err(CmdError::NoSuchClient),
        (true, _) => Ok(Frame::ok()),
        (false, n) => Ok(Frame::Integer(n)),
    }
}

/// `CLIENT REPLY ON|OFF|SKIP`. Only ON is answered: the event loop sends a reply only when
/// the mode after the command is ON.
fn reply(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let mode = if args.eat("on") {
        ReplyMode::On
    } else if args.eat("off") {
        ReplyMode::Off
    } else if args.eat("skip") {
        ReplyMode::SkipNext
    } else {
        return Err(CmdError::Syntax);
    };
    ctx.client().reply_mode = mode;
    Ok(Frame::ok())
}

/// `CLIENT NO-EVICT ON|OFF`.
fn no_evict(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let on = on_off(args)?;
    ctx.client().no_evict = on;
    Ok(Frame::ok())
}

/// `CLIENT NO-TOUCH ON|OFF`: reads by this client leave the keys' LRU/LFU data alone.
fn no_touch(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let on = on_off(args)?;
    ctx.client().no_touch = on;
    Ok(Frame::ok())
}

/// `CLIENT PAUSE timeout [WRITE|ALL]`: holds clients' commands (all, or only writes) for
/// `timeout` ms. A pause already in force is only ever lengthened or made stricter.
fn pause(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    if args.len() > 4 {
        return Err(bad_form(args));
    }
    // Redis checks the mode before the timeout.
    let timeout = args.next_bytes()?;
    let all = if args.remaining() == 0 || args.eat("all") {
        true
    } else if args.eat("write") {
        false
    } else {
        return Err(CmdError::Static("ERR CLIENT PAUSE mode must be WRITE or ALL"));
    };
    let ms = num::parse_i64(&timeout)
        .ok_or(CmdError::Static("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(CmdError::TimeoutNegative);
    }
    let until = ctx.now.saturating_add(ms as u64);
    let p = match ctx.srv.pause {
        Some(old) => Pause { until: old.until.max(until), all: old.all || all },
        None => Pause { until, all },
    };
    ctx.srv.pause = Some(p);
    Ok(Frame::ok())
}

/// `CLIENT UNPAUSE`.
fn unpause(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    ctx.srv.pause = None;
    Ok(Frame::ok())
}

/// `CLIENT UNBLOCK client-id [TIMEOUT|ERROR]`: 1 if the client was blocked and is now
/// released. No Keel command blocks yet, so the answer is always 0.
fn unblock(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    if args.len() > 4 {
        return Err(bad_form(args));
    }
    // Redis checks the reason before the client id.
    let id = args.next_bytes()?;
    let mut error = false;
    if args.remaining() > 0 {
        if args.eat("error") {
            error = true;
        } else if !args.eat("timeout") {
            return Err(CmdError::Static("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"));
        }
    }
    let id = num::parse_i64(&id).ok_or(CmdError::NotInteger)?;
    let done = u64::try_from(id).is_ok_and(|id| ctx.unblock_client(id, error));
    Ok(Frame::Integer(i64::from(done)))
}

/// `CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX prefix ...] [BCAST] [OPTIN] [OPTOUT]
/// [NOLOOP]`: client-side caching (see `tracking.rs`).
fn tracking(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let on = on_off(args)?;
    let mut opts = crate::tracking::Options::default();
    while args.remaining() > 0 {
        if args.eat("redirect") {
            if opts.redirect != 0 {
                return Err(CmdError::Static(
                    "ERR A client can only redirect to a single other client",
                ));
            }
            let id = num::parse_i64(args.next_ref()?).ok_or(CmdError::NotInteger)?;
            opts.redirect = u64::try_from(id).unwrap_or(0);
            // Redis checks the target as soon as it reads the option.
            if !ctx.clients.iter().any(|(_, c)| c.id == opts.redirect) {
                return Err(CmdError::Static(
                    "ERR The client ID you want redirect to does not exist",
                ));
            }
        } else if args.eat("prefix") {
            opts.prefixes.push(args.next_bytes()?);
        } else if args.eat("bcast") {
            opts.bcast = true;
        } else if args.eat("optin") {
            opts.optin = true;
        } else if args.eat("optout") {
            opts.optout = true;
        } else if args.eat("noloop") {
            opts.noloop = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let id = ctx.client_ref().id;
    if !on {
        if ctx.client().tracking.take().is_some() {
            ctx.srv.tracking.forget(id);
            ctx.srv.tracking.clients -= 1;
        }
        ctx.srv.ks.tracking_on = ctx.srv.tracking.clients > 0;
        return Ok(Frame::ok());
    }
    if !opts.bcast && !opts.prefixes.is_empty() {
        return Err(CmdError::Static("ERR PREFIX option requires BCAST mode to be enabled"));
    }
    let old = ctx.client_ref().tracking.clone();
    if old.as_ref().is_some_and(|o| o.bcast != opts.bcast) {
        return Err(CmdError::Static("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    if opts.bcast && (opts.optin || opts.optout) {
        return Err(CmdError::Static("ERR OPTIN and OPTOUT are not compatible with BCAST"));
    }
    if opts.optin && opts.optout {
        return Err(CmdError::Static("ERR You can't specify both OPTIN mode and OPTOUT mode"));
    }
    if old.as_ref().is_some_and(|o| (opts.optin && o.optout) || (opts.optout && o.optin)) {
        return Err(CmdError::Static("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    for (i, a) in opts.prefixes.iter().enumerate() {
        for b in &opts.prefixes[i + 1..] {
            if a.starts_with(b) || b.starts_with(a) {
                return Err(CmdError::dynamic(format!(
                    "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(a),
                    String::from_utf8_lossy(b)
                )));
            }
        }
    }
    if old.is_none() {
        ctx.srv.tracking.clients += 1;
    }
    if opts.bcast {
        let mut prefixes = old.map(|o| o.prefixes).unwrap_or_default();
        prefixes.extend(opts.prefixes.iter().cloned());
        opts.prefixes = prefixes;
        ctx.srv.tracking.add_bcast(id, opts.prefixes.clone());
    }
    ctx.client().tracking = Some(opts);
    ctx.srv.ks.tracking_on = true;
    Ok(Frame::ok())
}

/// `CLIENT CACHING YES|NO`: in OPTIN mode, track the next command's keys; in OPTOUT mode,
/// do not.
fn caching(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let word = args.next_bytes()?;
    let Some(opts) = ctx.client().tracking.as_mut().filter(|o| o.optin || o.optout) else {
        return Err(CmdError::Static(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    };
    if word.eq_ignore_ascii_case(b"yes") {
        if !opts.optin {
            return Err(CmdError::Static(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
        opts.caching = Some(true);
    } else if word.eq_ignore_ascii_case(b"no") {
        if !opts.optout {
            return Err(CmdError::Static(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
        opts.caching = Some(false);
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(Frame::ok())
}

/// `CLIENT GETREDIR`: the redirect client id, 0 without redirect, -1 with tracking off.
fn getredir(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(Frame::Integer(ctx.client_ref().tracking.as_ref().map_or(-1, |o| o.redirect as i64)))
}

/// `CLIENT TRACKINGINFO`: flags, redirect and prefixes of this connection's tracking.
fn trackinginfo(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    let (flags, redirect, prefixes) = match &ctx.client_ref().tracking {
        None => (vec![Frame::bulk(b"off")], -1, Vec::new()),
        Some(o) => {
            let mut flags = vec![Frame::bulk(b"on")];
            for (set, name) in [
                (o.bcast, "bcast"),
                (o.optin, "optin"),
                (o.optout, "optout"),
                (o.caching == Some(true), "caching-yes"),
                (o.caching == Some(false), "caching-no"),
                (o.noloop, "noloop"),
            ] {
                if set {
                    flags.push(Frame::bulk(name.as_bytes()));
                }
            }
            let broken = o.redirect != 0 && !ctx.clients.iter().any(|(_, c)| c.id == o.redirect);
            if broken {
                flags.push(Frame::bulk(b"broken_redirect"));
            }
            (flags, o.redirect as i64, o.prefixes.iter().map(|p| Frame::Bulk(p.clone())).collect())
        }
    };
    Ok(Frame::Map(vec![
        (Frame::bulk(b"flags"), Frame::Set(flags)),
        (Frame::bulk(b"redirect"), Frame::Integer(redirect)),
        (Frame::bulk(b"prefixes"), Frame::Array(prefixes)),
    ]))
}

/// The lines of `CLIENT HELP`.
const HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "NO-TOUCH (ON|OFF)",
    "    Will not touch LRU/LFU stats when this mode is on.",
    "HELP",
    "    Prints this help.",
];

/// `CLIENT HELP`.
fn help(_ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(help_reply(HELP))
}

/// A HELP reply: one status line per line of text (shared with `COMMAND HELP`).
pub fn help_reply(lines: &[&'static str]) -> Frame {
    Frame::Array(lines.iter().map(|l| Frame::simple(l)).collect())
}
