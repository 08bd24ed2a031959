//! WATCH: optimistic locking for MULTI/EXEC.
//!
//! A client that WATCHes keys has its next EXEC refused if any of them was modified in the
//! meantime, by anyone (itself included). Keys are invalidated when a write command that
//! changed the dataset looked them up for writing, created, deleted or re-timed them, when
//! they expire, and when FLUSHDB/FLUSHALL/SWAPDB replaces a database holding them.
//!
//! A command's key touches are held as *pending* until dispatch knows whether it changed
//! anything (the dirty counter moved): a write that turns out to be a no-op, such as SETNX
//! on an existing key, must not break other clients' transactions.

use bytes::Bytes;
use std::collections::{HashMap, HashSet};

/// Who watches what.
#[derive(Default, Debug)]
pub struct Watches {
    /// (db, key) → ids of clients watching it.
    keys: HashMap<(usize, Bytes), Vec<u64>>,
    /// Clients whose watched keys were touched: their EXEC fails.
    dirty: HashSet<u64>,
    /// Keys the running command may modify.
    pending: Vec<(usize, Bytes)>,
}

impl Watches {
    /// True if any client watches any key (otherwise touching costs nothing).
    pub fn any(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Client `id` starts watching `key` in `db`.
    pub fn watch(&mut self, id: u64, db: usize, key: &Bytes) {
        let list = self.keys.entry((db, key.clone())).or_default();
        if !list.contains(&id) {
            list.push(id);
        }
    }

    /// Client `id` stops watching everything in `keys`, and its dirty mark is cleared.
    pub fn unwatch_all(&mut self, id: u64, keys: &[(usize, Bytes)]) {
        for k in keys {
            if let Some(list) = self.keys.get_mut(k) {
                list.retain(|&c| c != id);
                if list.is_empty() {
                    self.keys.remove(k);
                }
            }
        }
        self.dirty.remove(&id);
    }

    /// True if client `id`'s transaction must be refused.
    pub fn is_dirty(&self, id: u64) -> bool {
        self.dirty.contains(&id)
    }

    /// Notes that the running command may modify `key`.
    pub(super) fn maybe_touch(&mut self, db: usize, key: &[u8]) {
        if self.any() && self.keys.contains_key(&(db, Bytes::copy_from_slice(key))) {
            self.pending.push((db, Bytes::copy_from_slice(key)));
        }
    }

    /// Marks the watchers of `key` dirty at once (expiry).
    pub(super) fn touch(&mut self, db: usize, key: &[u8]) {
        if self.any() {
            if let Some(ids) = self.keys.get(&(db, Bytes::copy_from_slice(key))) {
                self.dirty.extend(ids.iter().copied());
            }
        }
    }

    /// Watched keys of database `db`.
    pub(super) fn keys_in(&self, db: usize) -> Vec<Bytes> {
        self.keys.keys().filter(|(d, _)| *d == db).map(|(_, k)| k.clone()).collect()
    }

    /// Called by dispatch after each command: pending touches become real if the command
    /// changed the dataset.
    pub fn settle(&mut self, changed: bool) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        if changed {
            for k in pending {
                if let Some(ids) = self.keys.get(&k) {
                    self.dirty.extend(ids.iter().copied());
                }
            }
        }
    }
}
