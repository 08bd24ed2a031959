//! Keyspace notifications (`notify-keyspace-events`).
//!
//! A command that changes a key calls [`Ctx::notify`] with the event's class and name (the
//! same names Redis uses: `set`, `del`, `expire`, `lpush`, ...). When the class is enabled,
//! the event is published as a pub/sub message on `__keyspace@<db>__:<key>` (message: the
//! event) and/or `__keyevent@<db>__:<event>` (message: the key). Expirations found by the
//! keyspace itself (lazily or by the active cycle), keys it adds (`new`) and read lookups
//! that miss (`keymiss`) are queued there and published here, in order, before the next
//! event of the command that raised them (or right after the command).

use crate::keyspace::{Keyspace, KsEvent};
use crate::pubsub::Kind;
use crate::server::{Ctx, Server};
use bytes::Bytes;

/// Event classes, as bits; the letters are `notify-keyspace-events`'.
pub mod class {
    /// `K`: publish on `__keyspace@<db>__:<key>`.
    pub const KEYSPACE: u32 = 1 << 0;
    /// `E`: publish on `__keyevent@<db>__:<event>`.
    pub const KEYEVENT: u32 = 1 << 1;
    /// `g`: generic commands (DEL, EXPIRE, RENAME, ...).
    pub const GENERIC: u32 = 1 << 2;
    /// `$`: string commands.
    pub const STRING: u32 = 1 << 3;
    /// `l`: list commands.
    pub const LIST: u32 = 1 << 4;
    /// `s`: set commands.
    pub const SET: u32 = 1 << 5;
    /// `h`: hash commands.
    pub const HASH: u32 = 1 << 6;
    /// `z`: sorted set commands.
    pub const ZSET: u32 = 1 << 7;
    /// `x`: expired events.
    pub const EXPIRED: u32 = 1 << 8;
    /// `e`: evicted events.
    pub const EVICTED: u32 = 1 << 9;
    /// `t`: stream commands.
    pub const STREAM: u32 = 1 << 10;
    /// `m`: key misses.
    pub const KEY_MISS: u32 = 1 << 11;
    /// `d`: module events.
    pub const MODULE: u32 = 1 << 12;
    /// `n`: new keys.
    pub const NEW: u32 = 1 << 13;
}

/// Parses `notify-keyspace-events` letters into class bits (the config layer has already
/// validated them).
pub fn parse(text: &str) -> u32 {
    let mut bits = 0;
    for c in text.chars() {
        bits |= match c {
            'K' => class::KEYSPACE,
            'E' => class::KEYEVENT,
            'g' => class::GENERIC,
            '$' => class::STRING,
            'l' => class::LIST,
            's' => class::SET,
            'h' => class::HASH,
            'z' => class::ZSET,
            'x' => class::EXPIRED,
            'e' => class::EVICTED,
            't' => class::STREAM,
            'm' => class::KEY_MISS,
            'd' => class::MODULE,
            'n' => class::NEW,
            'A' => {
                class::GENERIC
                    | class::STRING
                    | class::LIST
                    | class::SET
                    | class::HASH
                    | class::ZSET
                    | class::EXPIRED
                    | class::EVICTED
                    | class::STREAM
                    | class::MODULE
            }
            _ => 0,
        };
    }
    bits
}

/// Tells the keyspace which events it must queue by itself for `flags`.
pub fn configure(ks: &mut Keyspace, flags: u32) {
    ks.record_expired = flags & class::EXPIRED != 0;
    ks.record_new = flags & class::NEW != 0;
    ks.record_keymiss = flags & class::KEY_MISS != 0;
}

/// Publishes one event if its class is enabled. Messages for `caller`, the client whose
/// command raised the event, follow that command's reply (Redis 7.2 holds back push
/// messages to the running client until its reply is written, even inside MULTI).
pub fn publish(
    srv: &mut Server,
    class_bit: u32,
    event: &str,
    db: usize,
    key: &[u8],
    caller: Option<usize>,
) {
    let flags = srv.notify_flags;
    if flags & class_bit == 0 || flags & (class::KEYSPACE | class::KEYEVENT) == 0 {
        return;
    }
    let queued = srv.pubsub.outbox.len();
    let key = Bytes::copy_from_slice(key);
    if flags & class::KEYSPACE != 0 {
        let mut channel = format!("__keyspace@{db}__:").into_bytes();
        channel.extend_from_slice(&key);
        srv.pubsub.publish(
            Kind::Channel,
            &Bytes::from(channel),
            &Bytes::copy_from_slice(event.as_bytes()),
        );
    }
    if flags & class::KEYEVENT != 0 {
        let channel = Bytes::from(format!("__keyevent@{db}__:{event}"));
        srv.pubsub.publish(Kind::Channel, &channel, &key);
    }
    if let Some(cid) = caller {
        if srv.pubsub.outbox[queued..].iter().any(|(to, _)| *to == cid) {
            let fresh = srv.pubsub.outbox.split_off(queued);
            let (own, others): (Vec<_>, Vec<_>) = fresh.into_iter().partition(|(to, _)| *to == cid);
            srv.pubsub.outbox.extend(others);
            srv.pubsub.after_reply.extend(own);
        }
    }
}

/// Publishes the events the keyspace queued (expirations, new keys, key misses), in order,
/// with no running command (the cron's active expiry).
pub fn flush_expired(srv: &mut Server) {
    flush_queued(srv, None);
}

/// Publishes the events the keyspace queued while `caller`'s command ran.
pub fn flush_queued(srv: &mut Server, caller: Option<usize>) {
    if srv.ks.events.is_empty() {
        return;
    }
    for (event, db, key) in std::mem::take(&mut srv.ks.events) {
        let (class_bit, name) = match event {
            KsEvent::Expired => (class::EXPIRED, "expired"),
            KsEvent::New => (class::NEW, "new"),
            KsEvent::KeyMiss => (class::KEY_MISS, "keymiss"),
        };
        publish(srv, class_bit, name, db, &key, caller);
    }
}

impl Ctx<'_> {
    /// Emits keyspace event `event` of class `class_bit` for `key` in the selected database,
    /// after the events the keyspace queued so far (an expiration or new key found on the
    /// way comes first, as in Redis).
    pub fn notify(&mut self, class_bit: u32, event: &str, key: &[u8]) {
        let db = self.db();
        self.notify_in(db, class_bit, event, key);
    }

    /// As [`Ctx::notify`], for a key in database `db` (MOVE, COPY ... DB).
    pub fn notify_in(&mut self, db: usize, class_bit: u32, event: &str, key: &[u8]) {
        if self.srv.notify_flags == 0 {
            return;
        }
        flush_queued(self.srv, Some(self.cid));
        publish(self.srv, class_bit, event, db, key, Some(self.cid));
    }
}
