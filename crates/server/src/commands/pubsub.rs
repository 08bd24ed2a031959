//! Pub/sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH, PUBSUB.
//!
//! Subscribing replies once per channel, so these handlers deliver their confirmations
//! through the outbox (see `pubsub.rs`) and suppress their own single reply.

use super::spec::{flags::*, unreachable_container, CommandSpec, KeyPos};
use crate::args::Args;
use crate::error::CmdError;
use crate::pubsub::Kind;
use crate::server::Ctx;
use bytes::Bytes;
use resp::Frame;

const PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("channels", -2, PUBSUB | LOADING | STALE, 0, KeyPos::NONE, channels)
        .doc("pubsub", "2.8.0", "Returns the active channels.", "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)"),
    CommandSpec::new("numsub", -2, PUBSUB | LOADING | STALE, 0, KeyPos::NONE, numsub)
        .doc("pubsub", "2.8.0", "Returns a count of subscribers to channels.", "O(N) for the NUMSUB subcommand, where N is the number of requested channels"),
    CommandSpec::new("numpat", 2, PUBSUB | LOADING | STALE, 0, KeyPos::NONE, numpat)
        .doc("pubsub", "2.8.0", "Returns a count of unique pattern subscriptions.", "O(1)"),
    CommandSpec::new("shardchannels", -2, PUBSUB | LOADING | STALE, 0, KeyPos::NONE, shardchannels)
        .doc("pubsub", "7.0.0", "Returns the active shard channels.", "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels)."),
    CommandSpec::new("shardnumsub", -2, PUBSUB | LOADING | STALE, 0, KeyPos::NONE, shardnumsub)
        .doc("pubsub", "7.0.0", "Returns the count of subscribers of shard channels.", "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels"),
    CommandSpec::new("help", 2, LOADING | STALE, 0, KeyPos::NONE, help)
        .doc("pubsub", "6.2.0", "Returns helpful text about the different subcommands.", "O(1)"),
];

/// The pub/sub family's table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("subscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, 0, KeyPos::NONE, subscribe)
        .doc("pubsub", "2.0.0", "Listens for messages published to channels.", "O(N) where N is the number of channels to subscribe to."),
    CommandSpec::new("unsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, 0, KeyPos::NONE, unsubscribe)
        .doc("pubsub", "2.0.0", "Stops listening to messages posted to channels.", "O(N) where N is the number of channels to unsubscribe."),
    CommandSpec::new("psubscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, 0, KeyPos::NONE, psubscribe)
        .doc("pubsub", "2.0.0", "Listens for messages published to channels that match one or more patterns.", "O(N) where N is the number of patterns to subscribe to."),
    CommandSpec::new("punsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, 0, KeyPos::NONE, punsubscribe)
        .doc("pubsub", "2.0.0", "Stops listening to messages published to channels that match one or more patterns.", "O(N) where N is the number of patterns to unsubscribe."),
    CommandSpec::new("ssubscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, 0, KeyPos::ALL, ssubscribe)
        .doc("pubsub", "7.0.0", "Listens for messages published to shard channels.", "O(N) where N is the number of shard channels to subscribe to.")
        .key_flags(&["not_key"]),
    CommandSpec::new("sunsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, 0, KeyPos::ALL, sunsubscribe)
        .doc("pubsub", "7.0.0", "Stops listening to messages posted to shard channels.", "O(N) where N is the number of shard channels to unsubscribe.")
        .key_flags(&["not_key"]),
    CommandSpec::new("publish", 3, PUBSUB | LOADING | STALE | FAST, 0, KeyPos::NONE, publish)
        .doc("pubsub", "2.0.0", "Posts a message to a channel.", "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client)."),
    CommandSpec::new("spublish", 3, PUBSUB | LOADING | STALE | FAST, 0, KeyPos::ONE, spublish)
        .doc("pubsub", "7.0.0", "Post a message to a shard channel", "O(N) where N is the number of clients subscribed to the receiving shard channel.")
        .key_flags(&["not_key"]),
    CommandSpec::new("pubsub", -2, 0, 0, KeyPos::NONE, unreachable_container)
        .doc("pubsub", "2.8.0", "A container for Pub/Sub commands.", "Depends on subcommand.")
        .subs(PUBSUB_SUBCOMMANDS),
];

/// True for the commands a RESP2 client in subscriber mode may still send.
pub fn allowed_in_subscriber_mode(name: &str) -> bool {
    matches!(
        name,
        "ping"
            | "subscribe"
            | "ssubscribe"
            | "psubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "punsubscribe"
            | "quit"
            | "reset"
    )
}

impl Ctx<'_> {
    /// The calling client's subscriptions of `kind`.
    fn subs_mut(&mut self, kind: Kind) -> &mut Vec<Bytes> {
        let c = self.client();
        match kind {
            Kind::Channel => &mut c.subs,
            Kind::Pattern => &mut c.psubs,
            Kind::Shard => &mut c.ssubs,
        }
    }

    /// The count a (un)subscribe confirmation carries: channels plus patterns, or shard
    /// channels alone for the sharded commands.
    fn sub_count(&self, kind: Kind) -> i64 {
        let c = self.client_ref();
        let n = match kind {
            Kind::Shard => c.ssubs.len(),
            _ => c.subs.len() + c.psubs.len(),
        };
        n as i64
    }

    fn confirm(&mut self, tag: &str, name: Option<&Bytes>, kind: Kind) {
        let count = self.sub_count(kind);
        let name = name.map_or(Frame::Null, |n| Frame::Bulk(n.clone()));
        let frame = Frame::Push(vec![Frame::bulk(tag.as_bytes()), name, Frame::Integer(count)]);
        let cid = self.cid;
        self.deliver(cid, frame);
    }
}

fn subscribe_generic(
    ctx: &mut Ctx<'_>,
    args: &mut Args,
    kind: Kind,
    tag: &str,
) -> Result<Frame, CmdError> {
    while args.remaining() > 0 {
        let name = args.next_owned()?;
        if !ctx.subs_mut(kind).contains(&name) {
            ctx.subs_mut(kind).push(name.clone());
            let cid = ctx.cid;
            ctx.srv.pubsub.add(kind, &name, cid);
        }
        ctx.confirm(tag, Some(&name), kind);
    }
    ctx.srv.suppress_reply = true;
    Ok(Frame::Null)
}

fn unsubscribe_generic(
    ctx: &mut Ctx<'_>,
    args: &mut Args,
    kind: Kind,
    tag: &str,
) -> Result<Frame, CmdError> {
    let names: Vec<Bytes> =
        if args.remaining() == 0 { ctx.subs_mut(kind).clone() } else { args.rest().to_vec() };
    if names.is_empty() {
        ctx.confirm(tag, None, kind);
    }
    for name in names {
        ctx.subs_mut(kind).retain(|n| *n != name);
        let cid = ctx.cid;
        ctx.srv.pubsub.remove(kind, &name, cid);
        ctx.confirm(tag, Some(&name), kind);
    }
    ctx.srv.suppress_reply = true;
    Ok(Frame::Null)
}

/// `SUBSCRIBE channel [channel ...]`: one `subscribe` confirmation per channel.
fn subscribe(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    subscribe_generic(ctx, args, Kind::Channel, "subscribe")
}

/// `UNSUBSCRIBE [channel ...]`: all channels when none is named.
fn unsubscribe(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    unsubscribe_generic(ctx, args, Kind::Channel, "unsubscribe")
}

/// `PSUBSCRIBE pattern [pattern ...]`.
fn psubscribe(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    subscribe_generic(ctx, args, Kind::Pattern, "psubscribe")
}

/// `PUNSUBSCRIBE [pattern ...]`.
fn punsubscribe(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    unsubscribe_generic(ctx, args, Kind::Pattern, "punsubscribe")
}

/// `SSUBSCRIBE shardchannel [shardchannel ...]`.
fn ssubscribe(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    subscribe_generic(ctx, args, Kind::Shard, "ssubscribe")
}

/// `SUNSUBSCRIBE [shardchannel ...]`.
fn sunsubscribe(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    unsubscribe_generic(ctx, args, Kind::Shard, "sunsubscribe")
}

/// `PUBLISH channel message`: the number of clients that received it.
fn publish(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let channel = args.next_bytes()?;
    let message = args.next_bytes()?;
    Ok(Frame::Integer(ctx.srv.pubsub.publish(Kind::Channel, &channel, &message) as i64))
}

/// `SPUBLISH shardchannel message`.
fn spublish(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let channel = args.next_bytes()?;
    let message = args.next_bytes()?;
    Ok(Frame::Integer(ctx.srv.pubsub.publish(Kind::Shard, &channel, &message) as i64))
}

fn list_names(ctx: &mut Ctx<'_>, args: &mut Args, kind: Kind) -> Result<Frame, CmdError> {
    if args.remaining() > 1 {
        // Redis answers an extra argument with its combined unknown-subcommand error.
        let sub = String::from_utf8_lossy(&args.argv()[1]).into_owned();
        return Err(CmdError::dynamic(format!(
            "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try PUBSUB HELP."
        )));
    }
    let pattern = if args.remaining() == 1 { Some(args.next_bytes()?) } else { None };
    let names = ctx
        .srv
        .pubsub
        .names(kind)
        .filter(|n| pattern.as_ref().is_none_or(|p| crate::glob::matches(p, n, false)))
        .map(|n| Frame::Bulk(n.clone()))
        .collect();
    Ok(Frame::Array(names))
}

/// `PUBSUB CHANNELS [pattern]`.
fn channels(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    list_names(ctx, args, Kind::Channel)
}

/// `PUBSUB SHARDCHANNELS [pattern]`.
fn shardchannels(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    list_names(ctx, args, Kind::Shard)
}

fn count_subs(ctx: &mut Ctx<'_>, args: &mut Args, kind: Kind) -> Result<Frame, CmdError> {
    let mut pairs = Vec::new();
    while args.remaining() > 0 {
        let name = args.next_bytes()?;
        let n = ctx.srv.pubsub.count(kind, &name) as i64;
        pairs.push((Frame::Bulk(name), Frame::Integer(n)));
    }
    Ok(Frame::Map(pairs))
}

/// `PUBSUB NUMSUB [channel ...]`: channel, count pairs.
fn numsub(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    count_subs(ctx, args, Kind::Channel)
}

/// `PUBSUB SHARDNUMSUB [shardchannel ...]`.
fn shardnumsub(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    count_subs(ctx, args, Kind::Shard)
}

/// `PUBSUB NUMPAT`: distinct patterns subscribed by anyone.
fn numpat(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(Frame::Integer(ctx.srv.pubsub.len(Kind::Pattern) as i64))
}

/// `PUBSUB HELP`.
fn help(_ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    let lines = [
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help.",
    ];
    Ok(Frame::Array(
        lines.iter().map(|l| Frame::Simple(Bytes::from_static(l.as_bytes()))).collect(),
    ))
}

/// The subscribe-mode reply to PING for RESP2 clients: `["pong", message]`.
pub fn subscriber_pong(message: Option<Bytes>) -> Frame {
    let msg = message.unwrap_or_default();
    Frame::Array(vec![Frame::bulk(b"pong"), Frame::Bulk(msg)])
}
