//! Client-side caching: CLIENT TRACKING's server half.
//!
//! In the default mode the server remembers, per key name, which tracking clients read it
//! (the keys of every read-only command they run); when such a key is modified, expires or
//! is flushed, each of them gets one `invalidate` message and is forgotten for that key. In
//! BCAST mode a client is told about every modified key that starts with one of its
//! prefixes, and nothing is remembered per key. Messages go to the client itself as a RESP3
//! push, or to its REDIRECT client, which receives them as a push (RESP3) or as a message on
//! the `__redis__:invalidate` channel (RESP2 subscriber).

use crate::net::client::Client;
use crate::server::Server;
use bytes::Bytes;
use resp::{Frame, Proto};
use slab::Slab;
use std::collections::{HashMap, HashSet};

/// The channel RESP2 redirect targets subscribe to.
pub const INVALIDATE_CHANNEL: &[u8] = b"__redis__:invalidate";

/// A client's tracking options (`CLIENT TRACKING ON ...`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Client id invalidations are sent to instead (0 = the client itself).
    pub redirect: u64,
    /// Broadcasting mode.
    pub bcast: bool,
    /// Track only after `CLIENT CACHING yes`.
    pub optin: bool,
    /// Track unless `CLIENT CACHING no`.
    pub optout: bool,
    /// No invalidations for the client's own writes.
    pub noloop: bool,
    /// BCAST prefixes (empty = every key).
    pub prefixes: Vec<Bytes>,
    /// `CLIENT CACHING` answer for the next command (OPTIN/OPTOUT).
    pub caching: Option<bool>,
}

/// Who is told when a key changes.
#[derive(Default, Debug)]
pub struct Table {
    /// Key → ids of clients that read it.
    keys: HashMap<Bytes, HashSet<u64>>,
    /// BCAST clients: id → prefixes.
    bcast: HashMap<u64, Vec<Bytes>>,
    /// Number of clients with tracking on (`tracking_clients`).
    pub clients: usize,
}

impl Table {
    /// Remembers that client `id` read `key`.
    pub fn remember(&mut self, id: u64, key: &[u8]) {
        self.keys.entry(Bytes::copy_from_slice(key)).or_default().insert(id);
    }

    /// Registers a BCAST client's prefixes.
    pub fn add_bcast(&mut self, id: u64, prefixes: Vec<Bytes>) {
        self.bcast.insert(id, prefixes);
    }

    /// Forgets client `id` entirely (tracking off or disconnect).
    pub fn forget(&mut self, id: u64) {
        self.bcast.remove(&id);
        self.keys.retain(|_, ids| {
            ids.remove(&id);
            !ids.is_empty()
        });
    }

    /// Number of keys remembered (`tracking_total_keys`).
    pub fn total_keys(&self) -> usize {
        self.keys.len()
    }

    /// Clients to tell that `key` changed (forgetting the key for them).
    fn targets(&mut self, key: &[u8]) -> Vec<u64> {
        let mut ids: Vec<u64> =
            self.keys.remove(key).map(|s| s.into_iter().collect()).unwrap_or_default();
        for (id, prefixes) in &self.bcast {
            if prefixes.is_empty() || prefixes.iter().any(|p| key.starts_with(p)) {
                ids.push(*id);
            }
        }
        ids
    }
}

/// Builds and queues the invalidation message(s) for the keys the last command changed
/// (`None` = everything, after a flush). `writer` is the client whose command did it.
pub fn invalidate(
    srv: &mut Server,
    clients: &Slab<Client>,
    keys: Option<Vec<Bytes>>,
    writer: Option<u64>,
) {
    if srv.tracking.clients == 0 {
        return;
    }
    // Per receiving client id, the keys to name (None = flush).
    let mut per_client: Vec<(u64, Option<Bytes>)> = Vec::new();
    match keys {
        Some(mut keys) => {
            // A command may touch a key several times (lookup, then store): one message.
            keys.sort_unstable();
            keys.dedup();
            for key in keys {
                for id in srv.tracking.targets(&key) {
                    per_client.push((id, Some(key.clone())));
                }
            }
        }
        None => {
            srv.tracking.keys.clear();
            for (_, c) in clients.iter() {
                if c.tracking.is_some() {
                    per_client.push((c.id, None));
                }
            }
        }
    }
    for (id, key) in per_client {
        let Some((cid, c)) = clients.iter().find(|(_, c)| c.id == id) else { continue };
        let Some(opts) = &c.tracking else { continue };
        if opts.noloop && writer == Some(id) {
            continue;
        }
        let keys_frame = match key {
            Some(k) => Frame::Array(vec![Frame::Bulk(k)]),
            // A flush is announced with a null where the key list would be.
            None => Frame::Null,
        };
        let (target, proto, subscribed) = if opts.redirect != 0 {
            match clients.iter().find(|(_, t)| t.id == opts.redirect) {
                Some((tcid, t)) => (tcid, t.proto, t.subs.iter().any(|s| s == INVALIDATE_CHANNEL)),
                None => {
                    if c.proto == Proto::Resp3 {
                        srv.pubsub.outbox.push((
                            cid,
                            Frame::Push(vec![
                                Frame::bulk(b"tracking-redir-broken"),
                                Frame::Integer(opts.redirect as i64),
                            ]),
                        ));
                    }
                    continue;
                }
            }
        } else {
            (cid, c.proto, c.subs.iter().any(|s| s == INVALIDATE_CHANNEL))
        };
        let frame = if proto == Proto::Resp3 {
            Frame::Push(vec![Frame::bulk(b"invalidate"), keys_frame])
        } else if subscribed {
            Frame::Push(vec![Frame::bulk(b"message"), Frame::bulk(INVALIDATE_CHANNEL), keys_frame])
        } else {
            continue;
        };
        // The writer's own invalidation follows its command's reply, as in Redis.
        if writer == Some(id) && target == cid {
            srv.pubsub.after_reply.push((target, frame));
        } else {
            srv.pubsub.outbox.push((target, frame));
        }
    }
}
