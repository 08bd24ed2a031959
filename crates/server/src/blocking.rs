//! Blocking commands: clients parked on keys until a write makes a key ready.
//!
//! Keel follows Redis 7's model. A blocking handler (BLPOP, BZPOPMIN, XREAD BLOCK, ...) that
//! finds nothing to serve calls [`Ctx::block`]; dispatch then parks the client instead of
//! replying, remembering the whole command. Whenever a key that clients wait on is created
//! (the keyspace signals this itself) or explicitly signalled ready, the event loop executes
//! each waiting client's command again, oldest waiter first (FIFO per key). A command that
//! still finds nothing blocks again and keeps its place. At its deadline a client receives
//! the reply its command chose for a timeout (usually a null array).
//!
//! Where a client cannot block (inside MULTI, inside a script), [`Ctx::block`] returns false
//! and the handler replies as the non-blocking form would.
//!
//! A client may also block on no key at all (WAIT, WAITAOF): it waits for the AOF, and the
//! event loop runs its command again whenever the fsynced AOF position changes.

use crate::error::CmdError;
use crate::server::Ctx;
use bytes::Bytes;
use resp::Frame;
use std::collections::{BTreeSet, HashMap, VecDeque};

/// When a blocked client gives up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// Timeout 0: wait forever.
    Forever,
    /// At this Unix time in milliseconds.
    At(u64),
}

/// Parses a blocking timeout in seconds (fractions allowed) the way Redis does, into a
/// deadline relative to `now` (Unix ms). 0 means forever.
pub fn parse_timeout(arg: &[u8], now: u64) -> Result<Deadline, CmdError> {
    let secs = match crate::types::num::parse_f64(arg) {
        Some(secs) => secs,
        // Redis reads timeouts as long doubles: a number too big for a double is still a
        // number, just out of range.
        None => match std::str::from_utf8(arg).ok().and_then(|s| s.parse::<f64>().ok()) {
            Some(v) if v.is_infinite() && !arg.is_empty() && !arg[0].is_ascii_whitespace() => {
                return Err(CmdError::TimeoutOutOfRange)
            }
            _ => return Err(CmdError::TimeoutNotFloat),
        },
    };
    let ms = secs * 1000.0;
    if !ms.is_finite() || ms > i64::MAX as f64 {
        return Err(CmdError::TimeoutOutOfRange);
    }
    deadline_after(ms.ceil() as i64, now)
}

/// Parses a blocking timeout given in milliseconds (XREAD BLOCK, ...).
pub fn parse_timeout_ms(arg: &[u8], now: u64) -> Result<Deadline, CmdError> {
    let ms = crate::types::num::parse_i64(arg).ok_or(CmdError::TimeoutNotInteger)?;
    deadline_after(ms, now)
}

/// The deadline `ms` milliseconds after `now`; 0 waits forever, negative is an error.
fn deadline_after(ms: i64, now: u64) -> Result<Deadline, CmdError> {
    if ms < 0 {
        return Err(CmdError::TimeoutNegative);
    }
    if ms == 0 {
        return Ok(Deadline::Forever);
    }
    let at = (now as i64).checked_add(ms).ok_or(CmdError::TimeoutOutOfRange)?;
    Ok(Deadline::At(at as u64))
}

/// What a handler asked for when it called [`Ctx::block`].
#[derive(Debug)]
pub struct BlockRequest {
    /// Keys to wait on, in the selected database.
    pub keys: Vec<Bytes>,
    /// When to give up.
    pub deadline: Deadline,
    /// The reply sent at the deadline.
    pub on_timeout: Frame,
}

/// A parked client's state.
#[derive(Debug)]
pub struct BlockedState {
    /// Database of the keys.
    pub db: usize,
    /// The keys waited on.
    pub keys: Vec<Bytes>,
    /// When to give up.
    pub deadline: Deadline,
    /// Reply at the deadline (or on `CLIENT UNBLOCK ... TIMEOUT`).
    pub on_timeout: Frame,
    /// The whole command, executed again when a key is ready.
    pub argv: Vec<Bytes>,
}

/// Every parked client, by key and by deadline.
#[derive(Default, Debug)]
pub struct Blocking {
    /// (db, key) → waiting client slab keys, oldest first.
    waiting: HashMap<(usize, Bytes), VecDeque<usize>>,
    /// (deadline ms, client slab key) for clients with a timeout.
    deadlines: BTreeSet<(u64, usize)>,
    /// Set by [`Ctx::block`] during a handler; taken by dispatch.
    pub(crate) request: Option<BlockRequest>,
    /// Clients unblocked by `CLIENT UNBLOCK`, with the reply each gets.
    pub(crate) unblocked: Vec<(usize, Frame)>,
    /// Set while a parked client's command is executed again: if it would block again, it
    /// keeps its original place in the queues and its original deadline.
    pub(crate) retrying: bool,
    /// Set by dispatch when the retried command blocked again.
    pub(crate) reblocked: bool,
    /// Number of blocked clients (`blocked_clients`).
    pub count: usize,
    /// Blocked on keys (`blocked_keys`... `total_blocking_keys` in INFO).
    pub keys_count: usize,
    /// Clients blocked on no key, oldest first: they wait for the AOF.
    keyless: Vec<usize>,
    /// The fsynced AOF position those clients last ran for (see the event loop).
    pub(crate) fsynced_seen: Option<u64>,
    /// The timeout reply a command run again asked for when it blocked again: it replaces
    /// the one parked with the client (WAITAOF's counts may have grown meanwhile).
    pub(crate) renewed_on_timeout: Option<Frame>,
}

impl Blocking {
    /// True if some client waits on `key` in `db`.
    pub fn has_waiters(&self, db: usize, key: &[u8]) -> bool {
        !self.waiting.is_empty() && self.waiting.contains_key(&(db, Bytes::copy_from_slice(key)))
    }

    /// Registers client `cid` as waiting on `state`'s keys.
    pub fn park(&mut self, cid: usize, state: &BlockedState) {
        for key in &state.keys {
            let q = self.waiting.entry((state.db, key.clone())).or_default();
            if !q.contains(&cid) {
                q.push_back(cid);
            }
        }
        if let Deadline::At(t) = state.deadline {
            self.deadlines.insert((t, cid));
        }
        if state.keys.is_empty() {
            self.keyless.push(cid);
        }
        self.count += 1;
        self.keys_count = self.waiting.len();
    }

    /// Removes client `cid` from every queue it is in.
    pub fn unpark(&mut self, cid: usize, state: &BlockedState) {
        for key in &state.keys {
            let k = (state.db, key.clone());
            if let Some(q) = self.waiting.get_mut(&k) {
                q.retain(|&c| c != cid);
                if q.is_empty() {
                    self.waiting.remove(&k);
                }
            }
        }
        if let Deadline::At(t) = state.deadline {
            self.deadlines.remove(&(t, cid));
        }
        if state.keys.is_empty() {
            self.keyless.retain(|&c| c != cid);
        }
        self.count = self.count.saturating_sub(1);
        self.keys_count = self.waiting.len();
    }

    /// Clients waiting on `key`, oldest first.
    pub fn waiters(&self, db: usize, key: &Bytes) -> Vec<usize> {
        self.waiting
            .get(&(db, key.clone()))
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Clients blocked on no key (waiting for the AOF), oldest first.
    pub fn keyless_waiters(&self) -> Vec<usize> {
        self.keyless.clone()
    }

    /// Every (db, key) some client waits on.
    pub fn all_keys(&self) -> Vec<(usize, Bytes)> {
        self.waiting.keys().cloned().collect()
    }

    /// The earliest deadline of any blocked client.
    pub fn next_deadline(&self) -> Option<u64> {
        self.deadlines.iter().next().map(|&(t, _)| t)
    }

    /// Clients whose deadline is at or before `now`.
    pub fn expired(&self, now: u64) -> Vec<usize> {
        self.deadlines.iter().take_while(|&&(t, _)| t <= now).map(|&(_, c)| c).collect()
    }
}

impl Ctx<'_> {
    /// `CLIENT UNBLOCK`: releases the blocked client with id `id`, replying its timeout
    /// reply or, with `error`, the UNBLOCKED error. Returns false if no such client is
    /// blocked.
    pub fn unblock_client(&mut self, id: u64, error: bool) -> bool {
        let Some(cid) =
            self.clients.iter().find(|(_, c)| c.id == id && c.blocked.is_some()).map(|(k, _)| k)
        else {
            return false;
        };
        let Some(state) = self.clients[cid].blocked.take() else { return false };
        self.srv.blocking.unpark(cid, &state);
        let reply = if error {
            Frame::Error(Bytes::from(CmdError::Unblocked.text()))
        } else {
            state.on_timeout
        };
        self.srv.blocking.unblocked.push((cid, reply));
        true
    }

    /// Asks to park the calling client on `keys` until one becomes ready or `deadline`
    /// passes, when it gets `on_timeout`. Returns false when the client cannot block (MULTI,
    /// scripts): the handler must then reply as the non-blocking form. After a true return
    /// the handler returns `Ok(Frame::Null)`, which is not sent.
    pub fn block(&mut self, keys: Vec<Bytes>, deadline: Deadline, on_timeout: Frame) -> bool {
        if !self.client_ref().can_block() {
            return false;
        }
        if self.srv.blocking.retrying {
            self.srv.blocking.renewed_on_timeout = Some(on_timeout.clone());
        }
        self.srv.blocking.request = Some(BlockRequest { keys, deadline, on_timeout });
        true
    }

    /// Marks `key` ready for clients blocked on it (for writes that do not create the key,
    /// such as XADD to an existing stream). Creating a key signals by itself.
    pub fn signal_ready(&mut self, key: &[u8]) {
        let db = self.db();
        self.srv.ks.signal_ready(db, key);
    }
}
