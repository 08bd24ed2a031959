//! Keyspace notifications (`notify-keyspace-events`).
//!
//! A command that changes a key calls [`Ctx::notify`] with the event's class and name (the
//! same names Redis uses: `set`, `del`, `expire`, `lpush`, ...). When the class is enabled,
//! the event is published as a pub/sub message on `__keyspace@<db>__:<key>` (message: the
//! event) and/or `__keyevent@<db>__:<event>` (message: the key). Expirations found by the
//! keyspace itself (lazily or by the active cycle) are queued there and published here, in
//! order, before the events of the command that found them.

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

/// Publishes one event if its class is enabled.
pub fn publish(srv: &mut Server, class_bit: u32, event: &str, db: usize, key: &[u8]) {
    let flags = srv.notify_flags;
    if flags & class_bit == 0 || flags & (class::KEYSPACE | class::KEYEVENT) == 0 {
        return;
    }
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
}

/// Publishes the `expired` events the keyspace queued.
pub fn flush_expired(srv: &mut Server) {
    if srv.ks.expired_events.is_empty() {
        return;
    }
    for (db, key) in std::mem::take(&mut srv.ks.expired_events) {
        publish(srv, class::EXPIRED, "expired", db, &key);
    }
}

impl Ctx<'_> {
    /// Emits keyspace event `event` of class `class_bit` for `key` in the selected database.
    pub fn notify(&mut self, class_bit: u32, event: &str, key: &[u8]) {
        if self.srv.notify_flags == 0 {
            return;
        }
        flush_expired(self.srv);
        let db = self.db();
        publish(self.srv, class_bit, event, db, key);
    }
}
