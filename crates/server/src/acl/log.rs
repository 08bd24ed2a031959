//! The ACL log: recent denials (commands, keys, channels, failed AUTH), newest first.
//!
//! As in Redis, a denial like one of the 10 newest entries (same reason, context, object
//! and user, within 60 s) updates that entry (count, time, client) and moves it to the
//! front instead of adding a new one; the log keeps at most `acllog-max-len` entries.

use bytes::Bytes;
use resp::Frame;
use std::collections::VecDeque;

/// Entries closer in time than this (ms) may be grouped.
const GROUPING_MS: u64 = 60_000;
/// How many of the newest entries are searched for a match.
const GROUPING_SCAN: usize = 10;

/// What was denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The command.
    Command,
    /// A key.
    Key,
    /// A channel.
    Channel,
    /// A failed AUTH.
    Auth,
}

impl Reason {
    fn word(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Channel => "channel",
            Reason::Auth => "auth",
        }
    }
}

/// Where the denied command was run from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// Sent by the client.
    Toplevel,
    /// Queued in, or run by, a transaction.
    Multi,
    /// Called by a script.
    Lua,
}

impl Context {
    fn word(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

/// One log entry.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Denials grouped into this entry.
    pub count: u64,
    /// What was denied.
    pub reason: Reason,
    /// Where.
    pub context: Context,
    /// The command name, key, channel, or (for AUTH) the user name tried.
    pub object: Bytes,
    /// The user the client was (or tried to be) authenticated as.
    pub username: Bytes,
    /// Unix ms of the latest denial.
    pub updated: u64,
    /// The client's `CLIENT LIST` line at the latest denial (without newline).
    pub client_info: String,
    /// Sequence number of the entry.
    pub id: u64,
    /// Unix ms of the first denial.
    pub created: u64,
}

/// Denials by reason since start or `CONFIG RESETSTAT` (INFO's `acl_access_denied_*`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    /// Failed AUTH.
    pub auth: u64,
    /// Denied commands.
    pub command: u64,
    /// Denied keys.
    pub key: u64,
    /// Denied channels.
    pub channel: u64,
}

/// The log.
#[derive(Clone, Debug, Default)]
pub struct Log {
    entries: VecDeque<Entry>,
    next_id: u64,
    /// Every denial counted, grouped or not.
    pub counters: Counters,
}

impl Log {
    /// Records a denial (fields of `e` other than count/id/created are used), keeping at
    /// most `max_len` entries.
    pub fn add(&mut self, mut e: Entry, max_len: usize) {
        let counter = match e.reason {
            Reason::Auth => &mut self.counters.auth,
            Reason::Command => &mut self.counters.command,
            Reason::Key => &mut self.counters.key,
            Reason::Channel => &mut self.counters.channel,
        };
        *counter += 1;
        let similar = |x: &Entry| {
            x.reason == e.reason
                && x.context == e.context
                && x.updated.abs_diff(e.updated) <= GROUPING_MS
                && x.object == e.object
                && x.username == e.username
        };
        if let Some(at) = self.entries.iter().take(GROUPING_SCAN).position(similar) {
            if let Some(mut old) = self.entries.remove(at) {
                old.count += 1;
                old.updated = e.updated;
                old.client_info = std::mem::take(&mut e.client_info);
                self.entries.push_front(old);
            }
            return;
        }
        e.count = 1;
        e.id = self.next_id;
        e.created = e.updated;
        self.next_id += 1;
        self.entries.push_front(e);
        self.entries.truncate(max_len);
    }

    /// `ACL LOG RESET`.
    pub fn reset(&mut self) {
        self.entries.clear();
    }

    /// The newest `count` entries as `ACL LOG` replies them.
    pub fn reply(&self, count: usize, now: u64) -> Frame {
        let field = |k: &'static str, v: Frame| (Frame::bulk(k.as_bytes()), v);
        Frame::Array(
            self.entries
                .iter()
                .take(count)
                .map(|e| {
                    Frame::Map(vec![
                        field("count", Frame::Integer(e.count as i64)),
                        field("reason", Frame::bulk(e.reason.word().as_bytes())),
                        field("context", Frame::bulk(e.context.word().as_bytes())),
                        field("object", Frame::Bulk(e.object.clone())),
                        field("username", Frame::Bulk(e.username.clone())),
                        field(
                            "age-seconds",
                            Frame::Double(now.saturating_sub(e.updated) as f64 / 1000.0),
                        ),
                        field("client-info", Frame::bulk(e.client_info.as_bytes())),
                        field("entry-id", Frame::Integer(e.id as i64)),
                        field("timestamp-created", Frame::Integer(e.created as i64)),
                        field("timestamp-last-updated", Frame::Integer(e.updated as i64)),
                    ])
                })
                .collect(),
        )
    }
}
