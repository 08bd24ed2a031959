//! Replies held until the AOF write they depend on is durable (`appendfsync always`, or
//! a write postponed behind a slow fsync).
//!
//! Each event-loop iteration whose replies must wait gets a batch tagged with the write
//! sequence number it waits for; every client with replies in that iteration gets a mark
//! in the batch: how far its output buffer may be written once the batch is released
//! (`Client::out_limit`). Batches are released strictly in order, so a reply produced
//! later (a reader's included, which may show data of a batch not yet on disk) never
//! leaves before an earlier batch's fsync. While any batch waits, every new reply joins
//! the newest batch.

use crate::net::client::Client;
use slab::Slab;
use std::collections::{HashMap, VecDeque};

/// How far one client's output may go once a batch is released.
#[derive(Debug)]
struct Mark {
    cid: usize,
    /// The client's id, so a slab slot reused by a new connection is not released early.
    id: u64,
    len: usize,
}

/// The held batches, oldest first.
#[derive(Debug, Default)]
pub struct Gate {
    batches: VecDeque<(u64, Vec<Mark>)>,
    /// Clients with held output, and how many marks name them.
    marks: HashMap<usize, u32>,
}

impl Gate {
    /// The sequence the newest batch waits for, if any waits: new replies must join it.
    pub fn newest(&self) -> Option<u64> {
        self.batches.back().map(|b| b.0)
    }

    /// Holds `cid`'s output as it is now until sequence `seq` is released.
    pub fn hold(&mut self, clients: &mut Slab<Client>, cid: usize, seq: u64) {
        let Some(c) = clients.get_mut(cid) else { return };
        c.write_pending = false;
        // Bytes before this point were released already (or are older replies a full
        // socket kept): at worst they wait a little longer.
        c.out_limit.get_or_insert(c.out_pos);
        *self.marks.entry(cid).or_insert(0) += 1;
        let mark = Mark { cid, id: c.id, len: c.out.len() };
        match self.batches.back_mut() {
            Some((s, marks)) if *s == seq => marks.push(mark),
            _ => self.batches.push_back((seq, vec![mark])),
        }
    }

    /// Releases every batch up to sequence `done`: raises the clients' output limits (or
    /// lifts them once no mark names the client) and returns the clients to write to.
    pub fn release(&mut self, clients: &mut Slab<Client>, done: u64) -> Vec<usize> {
        let mut ready = Vec::new();
        while self.batches.front().is_some_and(|b| b.0 <= done) {
            let Some((_, marks)) = self.batches.pop_front() else { break };
            for m in marks {
                let Some(c) = clients.get_mut(m.cid).filter(|c| c.id == m.id) else { continue };
                let Some(n) = self.marks.get_mut(&m.cid) else { continue };
                *n -= 1;
                if *n == 0 {
                    self.marks.remove(&m.cid);
                    c.out_limit = None;
                } else {
                    c.out_limit = Some(m.len);
                }
                ready.push(m.cid);
            }
        }
        ready
    }

    /// Releases everything (shutdown, after the final fsync).
    pub fn release_all(&mut self, clients: &mut Slab<Client>) {
        self.batches.clear();
        for (cid, _) in self.marks.drain() {
            if let Some(c) = clients.get_mut(cid) {
                c.out_limit = None;
            }
        }
    }

    /// Forgets a closed client.
    pub fn forget(&mut self, cid: usize) {
        self.marks.remove(&cid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(clients: &mut Slab<Client>, id: u64) -> usize {
        clients.insert(Client::new(id, None, String::new(), String::new(), -1, 0))
    }

    #[test]
    fn batches_are_released_in_order_up_to_their_marks() {
        let mut clients = Slab::new();
        let (a, b) = (client(&mut clients, 1), client(&mut clients, 2));
        let mut gate = Gate::default();
        clients[a].out.extend_from_slice(b"+first\r\n");
        gate.hold(&mut clients, a, 1);
        // The next batch executes while the first one's fsync runs: a reader's reply and a
        // second reply to `a` join batch 2.
        clients[a].out.extend_from_slice(b"+second\r\n");
        clients[b].out.extend_from_slice(b"$1\r\nx\r\n");
        gate.hold(&mut clients, a, 2);
        gate.hold(&mut clients, b, 2);
        assert_eq!(gate.newest(), Some(2));
        assert_eq!(clients[a].out_limit, Some(0));
        assert_eq!(clients[b].out_limit, Some(0));
        assert!(gate.release(&mut clients, 0).is_empty());
        assert_eq!(gate.release(&mut clients, 1), vec![a]);
        assert_eq!(clients[a].out_limit, Some(8), "only the first batch's reply may go");
        assert_eq!(clients[b].out_limit, Some(0));
        let mut ready = gate.release(&mut clients, 5);
        ready.sort_unstable();
        assert_eq!(ready, vec![a, b]);
        assert_eq!((clients[a].out_limit, clients[b].out_limit), (None, None));
        assert_eq!(gate.newest(), None);
    }

    #[test]
    fn a_reused_slot_is_not_released_by_an_old_mark() {
        let mut clients = Slab::new();
        let a = client(&mut clients, 1);
        let mut gate = Gate::default();
        gate.hold(&mut clients, a, 1);
        clients.remove(a);
        gate.forget(a);
        let again = client(&mut clients, 9);
        assert_eq!(again, a);
        gate.hold(&mut clients, again, 2);
        assert!(gate.release(&mut clients, 1).is_empty());
        assert_eq!(clients[again].out_limit, Some(0));
        assert_eq!(gate.release(&mut clients, 2), vec![again]);
        assert_eq!(clients[again].out_limit, None);
    }
}
