//! Connection commands: PING ECHO HELLO AUTH SELECT QUIT RESET.
//!
//! Authentication checks a user name and password against the ACL users (`crate::acl`);
//! `AUTH password` means the `default` user, whose password `requirepass` sets.

use super::spec::{acl, flags::*, CommandSpec, KeyPos};
use crate::args::Args;
use crate::error::CmdError;
use crate::net::client::ReplyMode;
use crate::server::Ctx;
use crate::types::num;
use bytes::Bytes;
use resp::{Frame, Proto};

/// Flags shared by the commands a client may send before authenticating.
const PRE_AUTH: u32 = NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY;

/// The connection family's table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("ping", -1, FAST, acl::CONNECTION, KeyPos::NONE, ping)
        .doc("connection", "1.0.0", "Returns the server's liveliness response.", "O(1)")
        .tips(&["request_policy:all_shards", "response_policy:all_succeeded"]),
    CommandSpec::new("echo", 2, LOADING | STALE | FAST, acl::CONNECTION, KeyPos::NONE, echo).doc(
        "connection",
        "1.0.0",
        "Returns the given string.",
        "O(1)",
    ),
    CommandSpec::new("auth", -2, PRE_AUTH, acl::CONNECTION, KeyPos::NONE, auth).doc(
        "connection",
        "1.0.0",
        "Authenticates the connection.",
        "O(N) where N is the number of passwords defined for the user",
    ),
    CommandSpec::new("hello", -1, PRE_AUTH, acl::CONNECTION, KeyPos::NONE, hello).doc(
        "connection",
        "6.0.0",
        "Handshakes with the Redis server.",
        "O(1)",
    ),
    CommandSpec::new("select", 2, LOADING | STALE | FAST, acl::CONNECTION, KeyPos::NONE, select)
        .doc("connection", "1.0.0", "Changes the selected database.", "O(1)"),
    CommandSpec::new("quit", -1, PRE_AUTH, acl::CONNECTION, KeyPos::NONE, quit).doc(
        "connection",
        "1.0.0",
        "Closes the connection.",
        "O(1)",
    ),
    CommandSpec::new("reset", 1, PRE_AUTH, acl::CONNECTION, KeyPos::NONE, reset).doc(
        "connection",
        "6.2.0",
        "Resets the connection.",
        "O(1)",
    ),
];

/// `PING [message]`: PONG, or the message as a bulk string.
fn ping(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    if args.remaining() > 1 {
        return Err(CmdError::WrongArity("ping".into()));
    }
    let message = if args.remaining() == 1 { Some(args.next_bytes()?) } else { None };
    // A RESP2 subscriber gets PING's answer in the shape of a pub/sub message.
    let c = ctx.client_ref();
    if c.proto == Proto::Resp2 && c.is_subscriber() {
        return Ok(super::pubsub::subscriber_pong(message));
    }
    Ok(match message {
        Some(m) => Frame::Bulk(m),
        None => Frame::simple("PONG"),
    })
}

/// `ECHO message`.
fn echo(_ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    Ok(Frame::Bulk(args.next_bytes()?))
}

/// `AUTH [username] password`.
fn auth(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let (user, pass) = match args.remaining() {
        1 => (None, args.next_bytes()?),
        2 => (Some(args.next_bytes()?), args.next_bytes()?),
        _ => return Err(CmdError::Syntax),
    };
    let typed = args.get(0).cloned().unwrap_or_default();
    ctx.authenticate(&typed, user.as_deref(), &pass)?;
    Ok(Frame::ok())
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`: optionally switches the
/// protocol, authenticates and names the connection, then describes the server. The new
/// protocol is set before the reply is encoded, so `HELLO 3` is answered in RESP3.
fn hello(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let mut proto = None;
    if args.remaining() > 0 {
        let ver = num::parse_i64(args.next_ref()?)
            .ok_or(CmdError::Static("ERR Protocol version is not an integer or out of range"))?;
        proto = Some(match ver {
            2 => Proto::Resp2,
            3 => Proto::Resp3,
            _ => return Err(CmdError::NoProto),
        });
    }
    let mut creds: Option<(Bytes, Bytes)> = None;
    let mut name: Option<Bytes> = None;
    while args.remaining() > 0 {
        let more = args.remaining() - 1;
        let opt = args.next_bytes()?;
        if opt.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            creds = Some((args.next_bytes()?, args.next_bytes()?));
        } else if opt.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            let n = args.next_owned()?;
            validate_client_name(&n)?;
            name = Some(n);
        } else {
            let mut text = b"ERR Syntax error in HELLO option '".to_vec();
            text.extend_from_slice(crate::error::c_prefix(&opt, 128));
            text.push(b'\'');
            return Err(CmdError::dynamic(text));
        }
    }
    if let Some((user, pass)) = &creds {
        let typed = args.get(0).cloned().unwrap_or_default();
        ctx.authenticate(&typed, Some(user), pass)?;
    }
    if !ctx.client_ref().authenticated {
        return Err(CmdError::Static(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
             HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and \
             select the RESP protocol version at the same time",
        ));
    }
    let c = ctx.client();
    // Naming happens only once authentication passed: a rejected HELLO changes nothing.
    if let Some(n) = name {
        c.name = Some(n);
    }
    if let Some(p) = proto {
        c.proto = p;
    }
    let proto_num = if c.proto == Proto::Resp3 { 3 } else { 2 };
    let field = |k: &'static str, v: Frame| (Frame::bulk(k.as_bytes()), v);
    Ok(Frame::Map(vec![
        field("server", Frame::bulk(b"redis")),
        field("version", Frame::bulk(crate::REDIS_VERSION.as_bytes())),
        field("proto", Frame::Integer(proto_num)),
        field("id", Frame::Integer(c.id as i64)),
        field("mode", Frame::bulk(b"standalone")),
        field("role", Frame::bulk(b"master")),
        field("modules", Frame::Array(Vec::new())),
    ]))
}

/// Redis accepts client names made only of printable ASCII without spaces (`!` to `~`);
/// shared by `CLIENT SETNAME` and `HELLO SETNAME`.
pub fn validate_client_name(name: &[u8]) -> Result<(), CmdError> {
    if name.iter().all(|b| (b'!'..=b'~').contains(b)) {
        Ok(())
    } else {
        Err(CmdError::BadClientName)
    }
}

/// `SELECT index`.
fn select(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let id = args.next_i64()?;
    // Redis reads the index as a C int and says so when it does not fit.
    let id = i32::try_from(id).map_err(|_| {
        CmdError::Static("ERR value is out of range, value must between -2147483648 and 2147483647")
    })?;
    let id = usize::try_from(id).map_err(|_| CmdError::DbIndexOutOfRange)?;
    if id >= ctx.srv.ks.db_count() {
        return Err(CmdError::DbIndexOutOfRange);
    }
    ctx.client().db = id;
    Ok(Frame::ok())
}

/// `QUIT`: OK, then the connection closes once the reply is written.
fn quit(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    ctx.client().close_after_reply = true;
    Ok(Frame::ok())
}

/// `RESET`: back to the state of a fresh connection (database 0, RESP2, no name, replies on,
/// no eviction/touch overrides, and logged out when a password is required).
fn reset(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    let open = ctx.srv.acl.default_nopass();
    super::transactions::unwatch_all(ctx);
    ctx.unsubscribe_all_silently();
    let id = ctx.client_ref().id;
    ctx.srv.monitors.remove(id);
    let c = ctx.client();
    c.multi = None;
    c.db = 0;
    c.proto = Proto::Resp2;
    c.name = None;
    c.reply_mode = ReplyMode::On;
    c.no_evict = false;
    c.no_touch = false;
    c.authenticated = open;
    c.user = "default".into();
    Ok(Frame::simple("RESET"))
}

impl Ctx<'_> {
    /// Checks `user`/`pass` against the ACL users and logs the caller in on success; a
    /// failure is recorded in the ACL log (reason `auth`). `user` is `None` for the
    /// one-argument `AUTH password` form, which means `default`.
    fn authenticate(
        &mut self,
        typed: &Bytes,
        user: Option<&[u8]>,
        pass: &[u8],
    ) -> Result<(), CmdError> {
        let name: &[u8] = match user {
            // `AUTH password` makes no sense for a user without a password.
            None if self.srv.acl.default_user().is_some_and(|u| u.nopass) => {
                return Err(CmdError::AuthNotConfigured)
            }
            None => b"default",
            Some(u) => u,
        };
        let key = crate::acl::name_of(name);
        if !self.srv.acl.users.get(&key).is_some_and(|u| u.accepts(pass)) {
            // The log names the command as typed (AUTH or HELLO).
            let c = &self.clients[self.cid];
            let (reason, who) = (crate::acl::log::Reason::Auth, Bytes::copy_from_slice(name));
            crate::acl::log_denial(self.srv, c, self.cid, reason, typed.clone(), who);
            return Err(CmdError::WrongPass);
        }
        let c = self.client();
        c.authenticated = true;
        c.user = key;
        Ok(())
    }
}
