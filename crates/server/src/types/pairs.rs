//! `Pairs`: a small hash's fields and values in one byte buffer, with long values that
//! many hashes repeat stored once and shared.
//!
//! The buffer is a sequence of entries `len(field) field header(value) value`. Lengths are
//! LEB128 varints (one byte up to 127), so a lookup skips whole entries without reading
//! their bytes. A value's header is the varint of `len << 1 | shared`: an inline value
//! follows as `len` bytes; a shared one as the 8-byte address of an `Arc<[u8]>` of `len`
//! bytes that the entry holds one strong reference to.
//!
//! Why share: a job queue stores thousands of job hashes whose options (`opts` in BullMQ:
//! attempts, backoff, removal policy) are the same JSON for every job of a queue, often
//! 80 to 200 bytes of a 300-byte job. Keeping that value once instead of per job moves the
//! job's buffer one or two allocator size classes down. A value is shared only once it has
//! been seen twice in a row in its slot of a small per-thread table ([`SLOTS`] slots keyed
//! by the value's hash), so unique values (job `data`) never pay for a shared copy, and the
//! table bounds what it keeps alive to [`SLOTS`] × [`SHARE_MAX`] bytes.
//!
//! This is the one place the hash type needs `unsafe`: the buffer owns strong references it
//! stores as addresses. Every function that adds, copies or removes a shared entry keeps
//! the count of each `Arc` equal to the number of entries (plus table slots) naming it.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::hash::BuildHasher;
use std::sync::Arc;

/// Shortest value worth sharing: the entry keeps an 8-byte address instead.
pub const SHARE_MIN: usize = 32;
/// Longest value shared (bounds the memory the candidate table can keep alive).
pub const SHARE_MAX: usize = 1024;
/// Slots of the per-thread candidate table.
const SLOTS: usize = 256;
/// Bytes of a shared entry's address.
const ADDR: usize = std::mem::size_of::<usize>();

/// One slot of the candidate table.
#[derive(Default)]
struct Slot {
    /// Hash of the last value seen here that is not `shared`.
    seen: u64,
    /// The value being shared from this slot.
    shared: Option<Arc<[u8]>>,
}

thread_local! {
    static CANDIDATES: RefCell<Vec<Slot>> = const { RefCell::new(Vec::new()) };
}

/// The shared copy to store for `v`, if `v` should be shared: it is already shared from
/// its slot, or this is the second time in a row the slot sees it.
fn share(v: &[u8]) -> Option<Arc<[u8]>> {
    if !(SHARE_MIN..=SHARE_MAX).contains(&v.len()) {
        return None;
    }
    let h = foldhash::fast::FixedState::default().hash_one(v);
    CANDIDATES.with_borrow_mut(|slots| {
        if slots.is_empty() {
            slots.resize_with(SLOTS, Slot::default);
        }
        let slot = &mut slots[(h % SLOTS as u64) as usize];
        match &slot.shared {
            Some(a) if **a == *v => Some(a.clone()),
            _ if slot.seen == h => {
                let a: Arc<[u8]> = Arc::from(v);
                slot.shared = Some(a.clone());
                slot.seen = 0;
                Some(a)
            }
            _ => {
                slot.seen = h;
                None
            }
        }
    })
}

/// Appends `n` as a LEB128 varint.
fn put_len(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads a varint at the start of `buf`: the number and what follows.
fn take_len(buf: &[u8]) -> Option<(usize, &[u8])> {
    let mut n = 0usize;
    let mut shift = 0u32;
    for (i, &b) in buf.iter().enumerate() {
        n |= usize::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some((n, &buf[i + 1..]));
        }
        shift += 7;
    }
    None
}

/// Bytes the varint for `n` takes.
fn len_size(n: usize) -> usize {
    (usize::BITS - (n | 1).leading_zeros()).div_ceil(7) as usize
}

/// Most bytes one pair can take in the buffer (the inline form; a shared value takes less).
pub fn entry_size(field: &[u8], value: &[u8]) -> usize {
    len_size(field.len()) + field.len() + len_size(value.len() << 1) + value.len()
}

/// A value as encoded in the buffer.
enum Stored<'a> {
    Inline(&'a [u8]),
    /// The address bytes of a shared value of this length.
    Shared([u8; ADDR], usize),
}

/// The raw pointer a shared entry's address bytes name.
fn shared_ptr(addr: [u8; ADDR], len: usize) -> *const [u8] {
    std::ptr::slice_from_raw_parts(usize::from_ne_bytes(addr) as *const u8, len)
}

/// One entry read from the start of `buf`: field, value, and what follows.
fn take_entry(buf: &[u8]) -> Option<(&[u8], Stored<'_>, &[u8])> {
    let (flen, rest) = take_len(buf)?;
    let (field, rest) = rest.split_at_checked(flen)?;
    let (header, rest) = take_len(rest)?;
    let len = header >> 1;
    if header & 1 == 1 {
        let (addr, rest) = rest.split_first_chunk::<ADDR>()?;
        Some((field, Stored::Shared(*addr, len), rest))
    } else {
        let (value, rest) = rest.split_at_checked(len)?;
        Some((field, Stored::Inline(value), rest))
    }
}

/// The pairs of a small hash, in insertion order.
#[derive(Default)]
pub struct Pairs {
    /// The entries (see the module documentation).
    buf: Box<[u8]>,
}

/// The pairs of a buffer, in order.
pub struct Iter<'a> {
    rest: &'a [u8],
}

impl<'a> Iter<'a> {
    /// The next entry with its value still encoded.
    fn next_stored(&mut self) -> Option<(&'a [u8], Stored<'a>)> {
        let (field, value, rest) = take_entry(self.rest)?;
        self.rest = rest;
        Some((field, value))
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (field, value) = self.next_stored()?;
        let value = match value {
            Stored::Inline(v) => v,
            // SAFETY: the entry holds a strong reference to this `Arc<[u8]>` of `len`
            // bytes (module invariant), so the allocation outlives the borrow of the
            // buffer, which cannot drop the entry while `'a` lasts.
            Stored::Shared(addr, len) => unsafe { &*shared_ptr(addr, len) },
        };
        Some((field, value))
    }
}

impl Pairs {
    /// Every pair, in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { rest: &self.buf }
    }

    /// Bytes of the buffer itself.
    pub fn buf_len(&self) -> usize {
        self.buf.len()
    }

    /// Heap bytes owned: the buffer plus each shared value divided among its holders.
    pub fn heap_size(&self) -> usize {
        let mut shared = 0;
        self.for_each_shared(&self.buf, |addr, len| {
            // SAFETY: a strong reference held by this buffer's entry (module invariant)
            // keeps the Arc alive for the call; it is borrowed, not released.
            let a = std::mem::ManuallyDrop::new(unsafe { Arc::from_raw(shared_ptr(addr, len)) });
            shared += len / Arc::strong_count(&a).max(1);
        });
        self.buf.len() + shared
    }

    /// Calls `f` with each shared entry of `region` (a run of whole entries of this buffer).
    fn for_each_shared(&self, region: &[u8], mut f: impl FnMut([u8; ADDR], usize)) {
        let mut it = Iter { rest: region };
        while let Some((_, value)) = it.next_stored() {
            if let Stored::Shared(addr, len) = value {
                f(addr, len);
            }
        }
    }

    /// The byte range of `field`'s entry in the buffer, and its value.
    pub fn find(&self, field: &[u8]) -> Option<(std::ops::Range<usize>, &[u8])> {
        let mut it = self.iter();
        loop {
            let start = self.buf.len() - it.rest.len();
            let (k, v) = it.next()?;
            if k == field {
                return Some((start..self.buf.len() - it.rest.len(), v));
            }
        }
    }

    /// Replaces `range` (whole entries) of the buffer with `with`, keeping the allocation
    /// exactly as long as the entries, and releases the shared values the old entries held.
    fn splice(&mut self, range: std::ops::Range<usize>, with: Vec<u8>) {
        let mut v = std::mem::take(&mut self.buf).into_vec();
        let removed: Vec<u8> = v.splice(range, with).collect();
        self.buf = v.into_boxed_slice();
        release_all(&removed);
    }

    /// Sets `field` to `value`; true if the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        let mut entry = Vec::with_capacity(entry_size(field, value));
        put_len(&mut entry, field.len());
        entry.extend_from_slice(field);
        match share(value) {
            Some(a) => {
                put_len(&mut entry, value.len() << 1 | 1);
                // The entry now owns this strong reference (released by `release_all`).
                let addr = Arc::into_raw(a) as *const u8 as usize;
                entry.extend_from_slice(&addr.to_ne_bytes());
            }
            None => {
                put_len(&mut entry, value.len() << 1);
                entry.extend_from_slice(value);
            }
        }
        match self.find(field).map(|(range, _)| range) {
            Some(range) => {
                self.splice(range, entry);
                false
            }
            None => {
                let end = self.buf.len();
                self.splice(end..end, entry);
                true
            }
        }
    }

    /// Removes `field`; true if it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self.find(field).map(|(range, _)| range) {
            Some(range) => {
                self.splice(range, Vec::new());
                true
            }
            None => false,
        }
    }
}

/// Releases the strong references the entries in `region` hold.
fn release_all(region: &[u8]) {
    let mut it = Iter { rest: region };
    while let Some((_, value)) = it.next_stored() {
        if let Stored::Shared(addr, len) = value {
            // SAFETY: the entry being removed owned exactly this one strong reference,
            // created by `Arc::into_raw` on an `Arc<[u8]>` of `len` bytes.
            drop(unsafe { Arc::from_raw(shared_ptr(addr, len)) });
        }
    }
}

impl Clone for Pairs {
    fn clone(&self) -> Self {
        self.for_each_shared(&self.buf, |addr, len| {
            // SAFETY: the entry holds a live strong reference to this Arc; the copied entry
            // in the new buffer takes one more.
            unsafe { Arc::increment_strong_count(shared_ptr(addr, len)) }
        });
        Pairs { buf: self.buf.clone() }
    }
}

impl Drop for Pairs {
    fn drop(&mut self) {
        release_all(&self.buf);
    }
}

impl Pairs {
    /// Offers the buffer to the defragmenter. Only the buffer moves: the shared values it
    /// names by address stay where they are, as other hashes name them too.
    pub fn defrag(&mut self, mv: &mut impl crate::types::dict::Relocate) -> bool {
        mv.relocate_bytes(&mut self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for (n, size) in
            [(0usize, 1), (1, 1), (127, 1), (128, 2), (16383, 2), (16384, 3), (1 << 30, 5)]
        {
            let mut out = Vec::new();
            put_len(&mut out, n);
            assert_eq!((out.len(), len_size(n)), (size, size));
            assert_eq!(take_len(&out), Some((n, &[][..])));
        }
        assert!(take_len(&[0x85]).is_none());
        assert!(take_entry(&[1, b'f', 10, 1]).is_none(), "a value longer than the buffer");
    }

    /// A value the candidate table has not seen (each test thread has its own table).
    fn opts(tag: u8) -> Vec<u8> {
        let mut v = b"{\"attempts\":3,\"backoff\":{\"type\":\"exponential\"}} ".to_vec();
        v.push(tag);
        v
    }

    #[test]
    fn a_repeated_value_is_stored_once() {
        let o = opts(1);
        let mut jobs: Vec<Pairs> = (0..100).map(|_| Pairs::default()).collect();
        for (i, p) in jobs.iter_mut().enumerate() {
            assert!(p.set(b"name", b"send-invoice"));
            assert!(p.set(b"opts", &o));
            assert!(p.set(b"data", format!("{{\"order\":{i}}}").as_bytes()));
        }
        // The first sighting is inline; from the second on the value is shared.
        let inline = entry_size(b"opts", &o);
        assert!(jobs[0].buf_len() > jobs[1].buf_len());
        assert_eq!(jobs[0].buf_len() - jobs[1].buf_len(), inline - (1 + 4 + 1 + ADDR));
        for p in &jobs {
            assert_eq!(p.find(b"opts").map(|(_, v)| v), Some(&o[..]));
        }
        let shared = CANDIDATES
            .with_borrow(|s| s.iter().filter_map(|s| s.shared.clone()).find(|a| **a == *o));
        let shared = shared.expect("the value is in the table");
        // 99 entries and the table slot (and `shared` here).
        assert_eq!(Arc::strong_count(&shared), 101);
        let copy = jobs[5].clone();
        assert_eq!(Arc::strong_count(&shared), 102);
        drop(copy);
        jobs[7].remove(b"opts");
        jobs[8].set(b"opts", b"short");
        assert_eq!(jobs[8].find(b"opts").map(|(_, v)| v), Some(&b"short"[..]));
        assert_eq!(Arc::strong_count(&shared), 99);
        jobs.clear();
        assert_eq!(Arc::strong_count(&shared), 2);
    }

    #[test]
    fn short_long_and_unique_values_stay_inline() {
        let mut p = Pairs::default();
        let long = vec![b'x'; SHARE_MAX + 1];
        for _ in 0..3 {
            p.set(b"short", b"abc");
            p.set(b"long", &long);
        }
        assert_eq!(p.buf_len(), entry_size(b"short", b"abc") + entry_size(b"long", &long));
        // Values seen once stay inline.
        let (a, b) = (opts(2), opts(3));
        let mut q = Pairs::default();
        q.set(b"a", &a);
        q.set(b"b", &b);
        assert_eq!(q.iter().collect::<Vec<_>>(), vec![(&b"a"[..], &a[..]), (&b"b"[..], &b[..])]);
        assert_eq!(q.heap_size(), q.buf_len());
    }

    /// A hash as plain pairs, in insertion order.
    type Model = Vec<(Vec<u8>, Vec<u8>)>;

    /// Random sets, removes, clones and drops over a few hashes, checked against a plain
    /// model; at the end only the table's slots hold the shared values.
    #[test]
    fn random_edits_match_a_model() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
        let values: Vec<Vec<u8>> = (0..6u8).map(|i| vec![b'a' + i; 20 + 40 * i as usize]).collect();
        let mut hashes: Vec<(Pairs, Model)> = Vec::new();
        for _ in 0..5_000 {
            if hashes.is_empty() || rng.random_ratio(1, 50) {
                hashes.push((Pairs::default(), Vec::new()));
            }
            let h = rng.random_range(0..hashes.len());
            let field = vec![b'f', rng.random_range(0..8u8)];
            match rng.random_range(0..10) {
                0 => {
                    let copy = (hashes[h].0.clone(), hashes[h].1.clone());
                    hashes.push(copy);
                }
                1 => drop(hashes.swap_remove(h)),
                2 | 3 => {
                    let (p, model) = &mut hashes[h];
                    let had = model.iter().position(|(f, _)| *f == field);
                    assert_eq!(p.remove(&field), had.is_some());
                    if let Some(i) = had {
                        model.remove(i);
                    }
                }
                _ => {
                    let (p, model) = &mut hashes[h];
                    let v = values[rng.random_range(0..values.len())].clone();
                    let had = model.iter().position(|(f, _)| *f == field);
                    assert_eq!(p.set(&field, &v), had.is_none());
                    match had {
                        Some(i) => model[i].1 = v,
                        None => model.push((field, v)),
                    }
                }
            }
        }
        for (p, model) in &hashes {
            let got: Model = p.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            assert_eq!(&got, model);
        }
        hashes.clear();
        CANDIDATES.with_borrow(|slots| {
            for a in slots.iter().filter_map(|s| s.shared.as_ref()) {
                assert_eq!(Arc::strong_count(a), 1, "a reference leaked");
            }
        });
    }

    #[test]
    fn edits_keep_entries_intact() {
        let mut p = Pairs::default();
        let long = vec![b'z'; 300];
        p.set(b"a", b"");
        p.set(b"", b"empty field");
        p.set(b"b\x00\xff", &long);
        p.set(b"b\x00\xff", &long);
        p.set(b"a", b"again");
        assert_eq!(p.find(b"").map(|(_, v)| v), Some(&b"empty field"[..]));
        assert!(p.remove(b""));
        assert!(!p.remove(b""));
        let all: Vec<(&[u8], &[u8])> = p.iter().collect();
        assert_eq!(all, vec![(&b"a"[..], &b"again"[..]), (&b"b\x00\xff"[..], &long[..])]);
        // The second write of `long` shared it: the buffer holds its address, and the
        // heap size counts half of it (the other holder is the table).
        assert_eq!(p.buf_len(), entry_size(b"a", b"again") + 1 + 3 + 2 + ADDR);
        assert_eq!(p.heap_size(), p.buf_len() + 300 / 2);
    }
}
