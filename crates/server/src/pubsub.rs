//! Pub/sub state: who is subscribed to which channels and patterns, and message fan-out.
//!
//! Messages are not written to sockets here: [`Ctx::deliver`] queues a frame for a client
//! in the server's outbox, and the event loop encodes each frame for its receiver's protocol
//! (a RESP3 push, or a plain array for RESP2) right after the command that produced it.

use crate::server::Ctx;
use bytes::Bytes;
use resp::Frame;
use std::collections::HashMap;

/// Which of the three subscription kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// SUBSCRIBE channels.
    Channel,
    /// PSUBSCRIBE patterns.
    Pattern,
    /// SSUBSCRIBE shard channels.
    Shard,
}

/// Server-wide subscriptions: name → subscribed clients (slab keys), oldest first.
#[derive(Default, Debug)]
pub struct PubSub {
    channels: HashMap<Bytes, Vec<usize>>,
    patterns: HashMap<Bytes, Vec<usize>>,
    shards: HashMap<Bytes, Vec<usize>>,
    /// Frames to deliver, in order, to (client, frame).
    pub(crate) outbox: Vec<(usize, Frame)>,
    /// Frames for the calling client that must follow its command's reply.
    pub(crate) after_reply: Vec<(usize, Frame)>,
}

impl PubSub {
    fn map(&mut self, kind: Kind) -> &mut HashMap<Bytes, Vec<usize>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shards,
        }
    }

    fn map_ref(&self, kind: Kind) -> &HashMap<Bytes, Vec<usize>> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shards,
        }
    }

    /// Adds `cid` to `name`'s subscribers.
    pub fn add(&mut self, kind: Kind, name: &Bytes, cid: usize) {
        let list = self.map(kind).entry(name.clone()).or_default();
        if !list.contains(&cid) {
            list.push(cid);
        }
    }

    /// Removes `cid` from `name`'s subscribers.
    pub fn remove(&mut self, kind: Kind, name: &Bytes, cid: usize) {
        let map = self.map(kind);
        if let Some(list) = map.get_mut(name) {
            list.retain(|&c| c != cid);
            if list.is_empty() {
                map.remove(name);
            }
        }
    }

    /// Names with at least one subscriber.
    pub fn names(&self, kind: Kind) -> impl Iterator<Item = &Bytes> {
        self.map_ref(kind).keys()
    }

    /// Number of subscribers of `name`.
    pub fn count(&self, kind: Kind, name: &[u8]) -> usize {
        self.map_ref(kind).get(name).map_or(0, Vec::len)
    }

    /// Number of distinct names with subscribers.
    pub fn len(&self, kind: Kind) -> usize {
        self.map_ref(kind).len()
    }

    /// True when nobody is subscribed to anything.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.patterns.is_empty() && self.shards.is_empty()
    }

    /// Queues `message` on `channel` to every subscriber (and, unless `Shard`, to every
    /// client with a matching pattern). Returns the number of receivers.
    pub fn publish(&mut self, kind: Kind, channel: &Bytes, message: &Bytes) -> usize {
        let mut n = 0;
        let tag = if kind == Kind::Shard { "smessage" } else { "message" };
        let direct = self.map_ref(kind).get(channel).cloned().unwrap_or_default();
        for cid in direct {
            self.outbox.push((cid, push(&[tag.as_bytes(), channel, message])));
            n += 1;
        }
        if kind == Kind::Channel {
            let mut hits = Vec::new();
            for (pattern, cids) in &self.patterns {
                if crate::glob::matches(pattern, channel, false) {
                    for &cid in cids {
                        hits.push((cid, push(&[b"pmessage", pattern, channel, message])));
                    }
                }
            }
            n += hits.len();
            self.outbox.extend(hits);
        }
        n
    }
}

/// A push frame of bulk strings (an array for RESP2 clients).
pub fn push(items: &[&[u8]]) -> Frame {
    Frame::Push(items.iter().map(|i| Frame::bulk(i)).collect())
}

impl Ctx<'_> {
    /// Drops every subscription of the calling client without confirmations (RESET).
    pub fn unsubscribe_all_silently(&mut self) {
        let cid = self.cid;
        let c = &mut self.clients[cid];
        let lists = [
            (Kind::Channel, std::mem::take(&mut c.subs)),
            (Kind::Pattern, std::mem::take(&mut c.psubs)),
            (Kind::Shard, std::mem::take(&mut c.ssubs)),
        ];
        for (kind, names) in lists {
            for name in names {
                self.srv.pubsub.remove(kind, &name, cid);
            }
        }
    }

    /// Queues `frame` for client `cid` (the caller included); it is encoded for that
    /// client's protocol after the running command.
    pub fn deliver(&mut self, cid: usize, frame: Frame) {
        self.srv.pubsub.outbox.push((cid, frame));
    }
}
