//! Active defragmentation (`activedefrag`) and `MEMORY PURGE`.
//!
//! **The problem.** jemalloc serves small allocations from slabs: runs of pages cut into
//! equal regions of one size class. After many deletions a slab may keep only a few live
//! regions, and as long as one region lives, its pages stay in use. The allocator's
//! `active` bytes (pages of slabs in use) then exceed its `allocated` bytes (regions
//! handed out): that excess is the fragmentation INFO reports as `allocator_frag_ratio`.
//!
//! **The cure.** Move the live regions out of sparse slabs into fuller ones, so the sparse
//! slabs empty and their pages can be returned. Rust code cannot move a heap block behind
//! a `Box` by itself, so this module does it by hand: ask jemalloc about the block
//! (`experimental.utilization.query`: its slab's free and total regions, the totals of its
//! size class, and the slab new allocations are taken from), and when the block's slab is
//! no fuller than the average slab of its class and is not that current slab, allocate a
//! new block bypassing the thread cache, copy the bytes, point the box at the copy and free
//! the old block, again bypassing the cache so the region goes straight back to its slab.
//! Full slabs are never emptied (nothing to gain); blocks outside slabs are left alone.
//!
//! **The cycle.** From the cron, once a second, the allocator's fragmentation is compared
//! with `active-defrag-threshold-lower` (percent) and `active-defrag-ignore-bytes`; above
//! both, a cycle starts with a CPU effort interpolated between `active-defrag-cycle-min`
//! and `active-defrag-cycle-max` as the fragmentation goes from the lower to the upper
//! threshold (a running cycle's effort may only rise). Each cron tick then spends that
//! share of the cron period walking the databases' tables with their SCAN cursors (keys,
//! then the expire table, database after database), offering every allocation of every
//! entry: the table node, the key, the value's heap blocks. The cycle ends when the walk
//! comes back to the start; the next check decides whether another is needed. Nothing runs
//! while a snapshot walks the keyspace (Redis likewise waits for its fork child).
//!
//! **Values.** Each type offers its own blocks through two hooks (see [`Value`]'s
//! `defrag_*` methods): its fixed blocks (boxes, vector buffers, packed buffers) and its
//! elements, walked from a resumable cursor (a table's SCAN cursor, a chunk index). A value
//! with more elements than `active-defrag-max-scan-fields` gets only its fixed blocks
//! moved in the main walk; its key goes to a pending list of the database, and the
//! following steps, before the walk goes on, move its elements in pieces of at most that
//! many, each piece one step of the time-budgeted loop, as Redis does with its
//! "defrag later" list. A pending key deleted or turned into another type or encoding in
//! the meantime is dropped. Lists count chunks (Redis counts quicklist nodes), tables
//! their entries, streams their nodes (each node's entry buffer is moved).
//! Never moved: the shared `Arc` values of packed hashes (their addresses live in many
//! buffers), the tree nodes of streams and consumer groups, and the bucket arrays of tables.

// Moving a block behind a `Box` and talking to jemalloc directly cannot be done in safe
// Rust: this module is the one place the crate allows `unsafe`, each block justified.
#![allow(unsafe_code)]

use crate::config::{Config, P};
use crate::keyspace::Db;
use crate::server::Server;
use crate::types::dict::{Dict, Relocate, RelocateStep};
use crate::types::Value;
use bytes::Bytes;
use std::alloc::Layout;
use std::collections::VecDeque;
use std::ffi::c_void;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tikv_jemalloc_sys as jem;

/// jemalloc's "all arenas" index (`MALLCTL_ARENAS_ALL`) for `arena.<i>.*` controls.
const ARENAS_ALL: usize = 4096;

/// Largest alignment a block from plain `malloc` (what the global allocator uses for a
/// layout with no larger alignment than its size) is guaranteed to have.
const MALLOC_ALIGN: usize = 16;

/// Scan steps between two looks at the clock.
const STEPS_PER_CLOCK_CHECK: u32 = 16;

/// How often the fragmentation is measured (it refreshes allocator-wide statistics).
const CHECK_PERIOD: Duration = Duration::from_secs(1);

/// What `experimental.utilization.query` writes (jemalloc's
/// `inspect_extent_util_stats_verbose_t`, fields in its order).
#[repr(C)]
struct Utilization {
    /// Start of the slab new allocations of this size class come from.
    slabcur_addr: *mut c_void,
    /// Free regions in the block's slab (0 for a block outside slabs).
    nfree: usize,
    /// Regions in the block's slab.
    nregs: usize,
    /// Bytes of the block's slab (or of the block itself outside slabs).
    size: usize,
    /// Free regions over all slabs of the size class.
    bin_nfree: usize,
    /// Regions over all slabs of the size class.
    bin_nregs: usize,
}

/// The MIB of `experimental.utilization.query`, or `None` when blocks cannot be moved: the
/// global allocator is not jemalloc (the library used in-process by some tests), so Rust's
/// boxes do not come from the heap this module frees into, or the control is missing.
fn query_mib() -> Option<[usize; 3]> {
    static MIB: OnceLock<Option<[usize; 3]>> = OnceLock::new();
    *MIB.get_or_init(|| {
        if !jemalloc_is_global() {
            return None;
        }
        let mut mib = [0usize; 3];
        let mut len = mib.len();
        // SAFETY: the name is NUL-terminated; `mib` has room for `len` components and
        // jemalloc writes at most that many, then stores the count in `len`.
        let rc = unsafe {
            jem::mallctlnametomib(
                c"experimental.utilization.query".as_ptr(),
                mib.as_mut_ptr(),
                &mut len,
            )
        };
        (rc == 0 && len == mib.len()).then_some(mib)
    })
}

/// True if Rust's allocations go through jemalloc: an allocation made now shows in this
/// thread's jemalloc counter of allocated bytes.
fn jemalloc_is_global() -> bool {
    use tikv_jemalloc_ctl::thread::allocatedp;
    let Ok(counter) = allocatedp::read() else {
        return false;
    };
    let before = counter.get();
    let probe = std::hint::black_box(vec![0u8; 4096]);
    let after = counter.get();
    drop(probe);
    after.wrapping_sub(before) >= 4096
}

/// Moves blocks for one stretch of a cycle and counts what it did (see the module docs).
pub struct Mover {
    mib: [usize; 3],
    /// Move every block offered (unit tests of the types' hooks need moves they can count on).
    #[cfg(test)]
    always: bool,
    /// Blocks moved.
    pub hits: u64,
    /// Blocks looked at and left where they were.
    pub misses: u64,
}

impl Mover {
    /// A mover, or `None` when blocks cannot be moved in this process.
    pub fn new() -> Option<Mover> {
        Some(Mover {
            mib: query_mib()?,
            #[cfg(test)]
            always: false,
            hits: 0,
            misses: 0,
        })
    }

    /// A mover that moves every block it is offered, for tests.
    #[cfg(test)]
    pub fn always() -> Mover {
        let Some(mv) = Mover::new() else {
            panic!("jemalloc is the global allocator of the lib tests");
        };
        Mover { always: true, ..mv }
    }

    /// Whether the block starting at `ptr` should move: it lives in a slab that has free
    /// regions, is not the slab allocations currently come from, and is used no more than
    /// the average slab of its size class (so moving it fills a fuller slab).
    fn worth_moving(&self, ptr: *const u8) -> bool {
        #[cfg(test)]
        if self.always {
            return true;
        }
        let mut out = Utilization {
            slabcur_addr: std::ptr::null_mut(),
            nfree: 0,
            nregs: 0,
            size: 0,
            bin_nfree: 0,
            bin_nregs: 0,
        };
        let mut out_len = std::mem::size_of::<Utilization>();
        let mut input = ptr as *const c_void;
        // SAFETY: the MIB names `experimental.utilization.query`, which reads one pointer
        // from `newp` (`newlen` is its size) and writes exactly one `Utilization` (checked
        // through `out_len`) to `oldp`. `ptr` is the start of a live block of the global
        // allocator, which `query_mib` checked is this jemalloc, so the lookup finds it.
        let rc = unsafe {
            jem::mallctlbymib(
                self.mib.as_ptr(),
                self.mib.len(),
                (&mut out as *mut Utilization).cast(),
                &mut out_len,
                (&mut input as *mut *const c_void).cast(),
                std::mem::size_of::<*const c_void>(),
            )
        };
        if rc != 0 || out.nfree == 0 || out.bin_nregs == 0 {
            return false;
        }
        let (at, cur) = (ptr as usize, out.slabcur_addr as usize);
        if cur != 0 && (cur..cur.saturating_add(out.size)).contains(&at) {
            return false;
        }
        // used / nregs <= bin_used / bin_nregs, without division.
        let used = out.nregs.saturating_sub(out.nfree) as u128;
        let bin_used = out.bin_nregs.saturating_sub(out.bin_nfree) as u128;
        used * out.bin_nregs as u128 <= bin_used * out.nregs as u128
    }

    /// The one way every block moves: if the block at `old` is worth moving, copies it bit
    /// for bit into a new block, frees the old one and returns the copy, counting a hit or a
    /// miss. Only layouts the global allocator serves with plain `malloc` (alignment at most
    /// 16 and at most the size) are moved, so a block from `mallocx` without alignment
    /// flags is one it could have handed out for them: jemalloc aligns a block of a size
    /// class at least to `min(size, 16)` rounded down to a power of two, which the
    /// alignment divides.
    ///
    /// # Safety
    /// `old` must be a live block of the global allocator allocated with `layout`, which
    /// nothing reads, writes or frees afterwards: after `Some`, its owner must point at the
    /// copy without running any destructor on the old block.
    unsafe fn move_block(&mut self, old: *mut u8, layout: Layout) -> Option<*mut u8> {
        let (size, align) = (layout.size(), layout.align());
        if size == 0 || align > MALLOC_ALIGN || align > size {
            return None;
        }
        if !self.worth_moving(old) {
            self.misses += 1;
            return None;
        }
        // SAFETY: `size` is not zero, as `mallocx` requires.
        let new = unsafe { jem::mallocx(size, jem::MALLOCX_TCACHE_NONE) }.cast::<u8>();
        if new.is_null() {
            return None;
        }
        // SAFETY: both blocks hold `size` bytes and are distinct allocations; the old one
        // is the caller's to give up (see above) and is freed once.
        unsafe {
            std::ptr::copy_nonoverlapping(old, new, size);
            free_block(old);
        }
        self.hits += 1;
        Some(new)
    }

    /// Offers the buffer of a string shared through [`Bytes`]: moved only when this is its
    /// only handle, and its allocation is exactly its length (so the string can be rebuilt
    /// around the copy without allocating anything else).
    pub fn relocate_shared(&mut self, b: &mut Bytes) -> bool {
        if b.is_empty() || !b.is_unique() {
            return false;
        }
        let buf = match std::mem::take(b).try_into_mut() {
            Ok(buf) => buf,
            Err(shared) => {
                *b = shared;
                return false;
            }
        };
        if buf.len() != buf.capacity() {
            *b = buf.freeze();
            return false;
        }
        let mut vec = Vec::<u8>::from(buf);
        let moved = self.relocate_vec(&mut vec);
        *b = Bytes::from(vec);
        moved
    }
}

impl Relocate for Mover {
    unsafe fn relocate_block(
        &mut self,
        ptr: std::ptr::NonNull<u8>,
        layout: std::alloc::Layout,
    ) -> Option<std::ptr::NonNull<u8>> {
        // SAFETY: the caller's guarantee is `move_block`'s.
        let new = unsafe { self.move_block(ptr.as_ptr(), layout) }?;
        std::ptr::NonNull::new(new)
    }

    fn relocate<T>(&mut self, b: &mut Box<T>) -> bool {
        let old: *mut T = &mut **b;
        // SAFETY: the box's block, allocated with `T`'s layout, borrowed mutably so nothing
        // else uses it; on a move the box is overwritten (not dropped) with one owning the
        // bitwise copy, so the moved value's destructor never runs on the old block.
        unsafe {
            let Some(new) = self.move_block(old.cast(), Layout::new::<T>()) else {
                return false;
            };
            std::ptr::write(b, Box::from_raw(new.cast::<T>()));
        }
        true
    }

    fn relocate_bytes(&mut self, b: &mut Box<[u8]>) -> bool {
        let len = b.len();
        let Ok(layout) = Layout::array::<u8>(len) else {
            return false;
        };
        // SAFETY: as in `relocate`, for a `[u8]` of `len` bytes.
        unsafe {
            let Some(new) = self.move_block(b.as_mut_ptr(), layout) else {
                return false;
            };
            std::ptr::write(b, Box::from_raw(std::ptr::slice_from_raw_parts_mut(new, len)));
        }
        true
    }
}

/// What the value types' hooks are given: [`Relocate`] plus vector buffers.
pub trait RelocateVec: Relocate {
    /// Offers a vector's buffer (its whole capacity; the elements themselves are not
    /// looked into).
    fn relocate_vec<T>(&mut self, v: &mut Vec<T>) -> bool;

    /// Offers a deque's buffer. The deque is turned into a vector and back, which keeps its
    /// buffer but may rotate the elements to its start (a memmove, no allocation).
    fn relocate_deque<T>(&mut self, d: &mut VecDeque<T>) -> bool {
        if d.capacity() == 0 {
            return false;
        }
        let mut v = Vec::from(std::mem::take(d));
        let moved = self.relocate_vec(&mut v);
        *d = VecDeque::from(v);
        moved
    }
}

impl RelocateVec for Mover {
    fn relocate_vec<T>(&mut self, v: &mut Vec<T>) -> bool {
        let (len, cap) = (v.len(), v.capacity());
        let Ok(layout) = Layout::array::<T>(cap) else {
            return false;
        };
        // SAFETY: the vector's buffer, allocated with the layout of `cap` elements and
        // borrowed mutably; on a move the vector is overwritten (not dropped) with one
        // owning the bitwise copy of the whole buffer (`len` initialised elements, then
        // spare capacity), so no element is dropped or duplicated.
        unsafe {
            let Some(new) = self.move_block(v.as_mut_ptr().cast(), layout) else {
                return false;
            };
            std::ptr::write(v, Vec::from_raw_parts(new.cast::<T>(), len, cap));
        }
        true
    }
}

/// The step of an element walk with nothing (left) to offer.
pub const NO_STEP: RelocateStep = RelocateStep { cursor: 0, entries: 0, moved: 0 };

/// The piece of an element walk over `len` indexed items that starts at index `cursor`:
/// the items to offer (at most `max`, at least one if any is left) and the cursor after
/// them, 0 once the last item is covered.
pub fn index_piece(len: usize, cursor: u64, max: usize) -> (std::ops::Range<usize>, u64) {
    let from = usize::try_from(cursor).unwrap_or(usize::MAX).min(len);
    let to = from.saturating_add(max.max(1)).min(len);
    (from..to, if to < len { to as u64 } else { 0 })
}

/// Up to `max` entries (at least one SCAN step) of table `d` from `cursor`, each entry's
/// node, key and value (through `value`) offered to `r`: the element walk of every
/// table-backed value. The returned cursor is 0 once the table is covered.
pub fn relocate_dict<V, R: Relocate>(
    d: &mut Dict<V>,
    r: &mut R,
    cursor: u64,
    max: usize,
    mut value: impl FnMut(&mut R, &mut V) -> bool,
) -> RelocateStep {
    let mut done = RelocateStep { cursor, entries: 0, moved: 0 };
    loop {
        let step = d.scan_relocate(done.cursor, r, &mut value);
        done.cursor = step.cursor;
        done.entries += step.entries;
        done.moved += step.moved;
        if done.cursor == 0 || done.entries >= max {
            return done;
        }
    }
}

/// Frees a block the global allocator handed out, bypassing the thread cache so the region
/// returns to its slab at once (the point of moving it away).
///
/// # Safety
/// `ptr` must be a live block of the global allocator (which is jemalloc) that nothing
/// uses or frees afterwards.
unsafe fn free_block(ptr: *mut u8) {
    // SAFETY: guaranteed by the caller.
    unsafe { jem::dallocx(ptr.cast(), jem::MALLOCX_TCACHE_NONE) };
}

impl Value {
    /// Offers the value's fixed blocks (everything but its elements); true if any moved.
    fn defrag_fixed(&mut self, mv: &mut Mover) -> bool {
        // `|`, not `||`: every block is offered, each judged alone.
        match self {
            Value::Str(s) => s.defrag(mv),
            Value::List(l) => mv.relocate(l) | l.defrag_fixed(mv),
            Value::Hash(h) => h.defrag_fixed(mv),
            Value::Set(s) => mv.relocate(s) | s.defrag_fixed(mv),
            Value::ZSet(z) => z.defrag_fixed(mv),
            Value::Stream(s) => mv.relocate(s),
        }
    }

    /// How many elements the element walk covers (compared with
    /// `active-defrag-max-scan-fields`); 0 for values moved whole by `defrag_fixed`.
    fn defrag_elements(&self) -> usize {
        match self {
            Value::List(l) => l.defrag_elements(),
            Value::Hash(h) => h.defrag_elements(),
            Value::Set(s) => s.defrag_elements(),
            Value::ZSet(z) => z.defrag_elements(),
            Value::Stream(s) => s.defrag_elements(),
            Value::Str(_) => 0,
        }
    }

    /// Offers up to `max` elements (at least one step) from `cursor`; the returned cursor
    /// is 0 once all are covered.
    fn defrag_elements_from(&mut self, mv: &mut Mover, cursor: u64, max: usize) -> RelocateStep {
        match self {
            Value::List(l) => l.defrag_elements_from(mv, cursor, max),
            Value::Hash(h) => h.defrag_elements_from(mv, cursor, max),
            Value::Set(s) => s.defrag_elements_from(mv, cursor, max),
            Value::ZSet(z) => z.defrag_elements_from(mv, cursor, max),
            Value::Stream(s) => s.defrag_elements_from(mv, cursor, max),
            Value::Str(_) => NO_STEP,
        }
    }

    /// The main walk's share of a value: its fixed blocks, and its elements too unless
    /// there are more than `max` (returned as `(moved, deferred)`).
    fn defrag(&mut self, mv: &mut Mover, max: usize) -> (bool, bool) {
        let moved = self.defrag_fixed(mv);
        if self.defrag_elements() > max {
            return (moved, true);
        }
        // Unbounded pieces; a walk in phases (sorted sets) still takes one per phase.
        let (mut moved, mut cursor) = (moved, 0);
        loop {
            let step = self.defrag_elements_from(mv, cursor, usize::MAX);
            moved |= step.moved > 0;
            cursor = step.cursor;
            if cursor == 0 {
                return (moved, false);
            }
        }
    }
}

/// A big value whose elements are moved in pieces after the main walk passed its key.
#[derive(Debug)]
struct Later {
    key: Bytes,
    /// Its type and encoding when deferred: a value that changed them is dropped, since
    /// the cursor would not mean the same thing any more.
    kind: (&'static str, &'static str),
    /// Where its element walk resumes.
    cursor: u64,
}

/// Counters for INFO stats.
#[derive(Debug, Default, Clone, Copy)]
pub struct DefragStats {
    /// Blocks moved (`active_defrag_hits`).
    pub hits: u64,
    /// Blocks looked at and not moved (`active_defrag_misses`).
    pub misses: u64,
    /// Keys with at least one block moved (`active_defrag_key_hits`).
    pub key_hits: u64,
    /// Keys looked at with none moved (`active_defrag_key_misses`).
    pub key_misses: u64,
    /// Time spent in finished cycles (`total_active_defrag_time`).
    pub total: Duration,
}

/// Which table of a database the cycle is walking.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Table {
    /// The keys and their values.
    #[default]
    Keys,
    /// The expire table (its own copy of each key).
    Expires,
}

/// The defragmenter's state, kept in [`super::Memory`].
#[derive(Debug, Default)]
pub struct Defrag {
    /// CPU effort of the running cycle in percent, 0 when none runs
    /// (`active_defrag_running`).
    pub running: u32,
    /// When the running cycle started.
    started: Option<Instant>,
    /// When the fragmentation was last measured.
    checked: Option<Instant>,
    /// Where the walk is: database, table, SCAN cursor.
    db: usize,
    table: Table,
    cursor: u64,
    /// Blocks moved by the running cycle, for its log line.
    cycle_hits: u64,
    /// Big values of database `db` waiting for their elements to be moved (see the module
    /// docs), processed before the walk goes on.
    later: VecDeque<Later>,
    /// Counters for INFO stats.
    pub stats: DefragStats,
}

impl Defrag {
    /// `current_active_defrag_time`: how long the running cycle has been going.
    pub fn current(&self) -> Duration {
        self.started.map(|t| t.elapsed()).unwrap_or_default()
    }

    /// `total_active_defrag_time`: finished cycles plus the running one.
    pub fn total(&self) -> Duration {
        self.stats.total + self.current()
    }

    /// Ends the running cycle (finished or abandoned); the next one starts from scratch.
    fn stop(&mut self) {
        self.stats.total += self.current();
        self.running = 0;
        self.started = None;
        self.db = 0;
        self.table = Table::Keys;
        self.cursor = 0;
        self.cycle_hits = 0;
        self.later.clear();
    }
}

/// The allocator's fragmentation as (percent over 100, bytes), from `active`/`allocated`.
fn fragmentation() -> (f64, u64) {
    let a = super::allocator_stats();
    let pct = a.active as f64 * 100.0 / a.allocated.max(1) as f64 - 100.0;
    (pct, a.active.saturating_sub(a.allocated))
}

/// The effort a cycle deserves for fragmentation `pct`/`bytes`, or `None` when below the
/// thresholds.
fn effort(c: &Config, pct: f64, bytes: u64) -> Option<u32> {
    let lower = c.int(P::ActiveDefragThresholdLower) as f64;
    let upper = c.int(P::ActiveDefragThresholdUpper) as f64;
    let (min, max) = (c.int(P::ActiveDefragCycleMin), c.int(P::ActiveDefragCycleMax));
    if pct < lower || bytes < c.int(P::ActiveDefragIgnoreBytes).max(0) as u64 {
        return None;
    }
    let span = upper - lower;
    let at = if span > 0.0 { (pct - lower) / span } else { 1.0 };
    let e = min as f64 + at * (max - min) as f64;
    // Clamped to [min, max], whichever order the two are configured in.
    let e = e.max(min.min(max) as f64).min(min.max(max) as f64);
    Some(e as u32)
}

/// The cron's share: starts, paces and ends cycles (see the module docs).
pub fn cron(srv: &mut Server) {
    if !srv.config.bool(P::Activedefrag) {
        // Turned off mid-cycle: the next cycle starts from scratch.
        if srv.memory.defrag.running > 0 {
            srv.memory.defrag.stop();
        }
        return;
    }
    if srv.ks.snapshot_owner().is_some() {
        return;
    }
    let Some(mut mv) = Mover::new() else {
        return;
    };
    let due = srv.memory.defrag.checked.is_none_or(|t| t.elapsed() >= CHECK_PERIOD);
    if due {
        srv.memory.defrag.checked = Some(Instant::now());
        let (pct, bytes) = fragmentation();
        if let Some(e) = effort(&srv.config, pct, bytes) {
            let d = &mut srv.memory.defrag;
            if d.running == 0 {
                d.started = Some(Instant::now());
                srv.log.verbose(&format!(
                    "Starting active defrag, frag={pct:.0}%, frag_bytes={bytes}, cpu={e}%"
                ));
            }
            // A running cycle may speed up, never slow down (as in Redis).
            d.running = d.running.max(e);
        }
    }
    let running = srv.memory.defrag.running;
    if running == 0 {
        return;
    }
    let hz = srv.config.int(P::Hz).clamp(1, 500) as u64;
    let budget = Duration::from_micros((1_000_000 * u64::from(running) / hz / 100).max(1));
    if walk(srv, &mut mv, budget) {
        let d = &mut srv.memory.defrag;
        let ms = d.current().as_millis();
        let moved = d.cycle_hits;
        d.stop();
        let (pct, bytes) = fragmentation();
        srv.log.verbose(&format!(
            "Active defrag done in {ms}ms, reallocated={moved}, frag={pct:.0}%, frag_bytes={bytes}"
        ));
    }
}

/// Walks the keyspace for up to `budget`, resuming where the previous call stopped.
/// Returns true when the walk has covered every database (the cycle is over).
fn walk(srv: &mut Server, mv: &mut Mover, budget: Duration) -> bool {
    let start = Instant::now();
    let max =
        usize::try_from(srv.config.int(P::ActiveDefragMaxScanFields)).unwrap_or(usize::MAX).max(1);
    let d = &mut srv.memory.defrag;
    let mut steps = 0u32;
    let done = loop {
        if d.db >= srv.ks.db_count() {
            break true;
        }
        let db = srv.ks.db_mut(d.db);
        if !d.later.is_empty() {
            later_step(db, &mut d.later, mv, max);
            // A piece may be a thousand elements: look at the clock after each.
            if start.elapsed() >= budget {
                break false;
            }
            continue;
        }
        let step = relocate_step(db, d.table, d.cursor, mv, max, &mut d.later);
        if d.table == Table::Keys {
            d.stats.key_hits += step.moved as u64;
            d.stats.key_misses += (step.entries - step.moved) as u64;
        }
        d.cursor = step.cursor;
        if d.cursor == 0 {
            match d.table {
                Table::Keys => d.table = Table::Expires,
                Table::Expires => {
                    d.table = Table::Keys;
                    d.db += 1;
                }
            }
        }
        steps += 1;
        if steps.is_multiple_of(STEPS_PER_CLOCK_CHECK) && start.elapsed() >= budget {
            break false;
        }
    };
    d.stats.hits += mv.hits;
    d.stats.misses += mv.misses;
    d.cycle_hits += mv.hits;
    done
}

/// One SCAN step of the defragmenter over one table of `db`: the one place entries are
/// relocated, so that sharing a key between the two tables (as Redis does) would only
/// need a change here. Keys of values with more than `max` elements join `later`.
fn relocate_step(
    db: &mut Db,
    table: Table,
    cursor: u64,
    mv: &mut Mover,
    max: usize,
    later: &mut VecDeque<Later>,
) -> RelocateStep {
    match table {
        Table::Keys => {
            let mut deferred = false;
            let step = db.dict.scan_relocate(cursor, mv, |mv, e| {
                let (moved, big) = e.value.defrag(mv, max);
                deferred |= big;
                moved
            });
            if deferred {
                // The relocating walk does not show keys: the same step again, read-only,
                // finds those of the big values (the table has not changed in between).
                db.dict.scan(cursor, |key, e| {
                    if e.value.defrag_elements() > max {
                        let kind = (e.value.type_name(), e.value.encoding());
                        later.push_back(Later {
                            key: Bytes::copy_from_slice(key),
                            kind,
                            cursor: 0,
                        });
                    }
                });
            }
            step
        }
        Table::Expires => db.expires.scan_relocate(cursor, mv, |_, _| false),
    }
}

/// One piece of the first pending big value of `db`: up to `max` elements. The value is
/// dropped from the list once covered, or if its key is gone or holds another kind of
/// value now.
fn later_step(db: &mut Db, later: &mut VecDeque<Later>, mv: &mut Mover, max: usize) {
    let Some(item) = later.front_mut() else {
        return;
    };
    let finished = match db.dict.get_mut(&item.key) {
        Some(e) if (e.value.type_name(), e.value.encoding()) == item.kind => {
            item.cursor = e.value.defrag_elements_from(mv, item.cursor, max).cursor;
            item.cursor == 0
        }
        _ => true,
    };
    if finished {
        later.pop_front();
    }
}

/// `MEMORY PURGE`: returns the unused dirty pages of every arena to the system. Without
/// jemalloc as the global allocator there is nothing of ours to purge, which is fine too.
pub fn purge() {
    let name = format!("arena.{ARENAS_ALL}.purge\0");
    // SAFETY: the name is NUL-terminated; the purge control reads and writes nothing, so
    // every other argument is null or zero.
    unsafe {
        jem::mallctl(
            name.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The lib test binary installs jemalloc as the global allocator (memory/mod.rs tests).

    #[test]
    fn boxes_move_and_keep_their_contents() {
        let Some(mut mv) = Mover::new() else {
            panic!("jemalloc is the global allocator of the lib tests");
        };
        // Many boxes, most freed: the survivors sit in sparse slabs.
        let mut all: Vec<Box<[u64; 5]>> = (0..20_000u64).map(|i| Box::new([i; 5])).collect();
        let mut keys: Vec<Box<[u8]>> =
            (0..20_000u32).map(|i| format!("key:{i:08}").into_bytes().into()).collect();
        let mut shared: Vec<Bytes> =
            (0..20_000u32).map(|i| Bytes::from(vec![(i % 251) as u8; 100])).collect();
        let keep = |i: usize| i.is_multiple_of(7);
        let mut n = 0;
        all.retain(|_| (keep(n), n += 1).0);
        n = 0;
        keys.retain(|_| (keep(n), n += 1).0);
        n = 0;
        shared.retain(|_| (keep(n), n += 1).0);
        let held = shared[1].clone();
        for b in &mut all {
            mv.relocate(b);
        }
        for k in &mut keys {
            mv.relocate_bytes(k);
        }
        let moved_shared = shared.iter_mut().map(|b| mv.relocate_shared(b)).filter(|m| *m).count();
        assert!(mv.hits > 0, "hits {} misses {}", mv.hits, mv.misses);
        assert!(moved_shared > 0);
        for (j, b) in all.iter().enumerate() {
            assert_eq!(**b, [(j * 7) as u64; 5]);
        }
        for (j, k) in keys.iter().enumerate() {
            assert_eq!(&k[..], format!("key:{:08}", j * 7).as_bytes());
        }
        for (j, b) in shared.iter().enumerate() {
            assert_eq!(&b[..], &[((j * 7) % 251) as u8; 100][..]);
        }
        // A buffer with a second handle is never moved.
        assert!(!mv.relocate_shared(&mut shared[1]));
        assert_eq!(held, shared[1]);
        // Nothing to move in an empty box.
        let mut empty: Box<[u8]> = Box::new([]);
        assert!(!mv.relocate_bytes(&mut empty));
        purge();
    }

    /// Every element of a value as bytes, in a canonical order.
    fn contents(v: &Value) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = match v {
            Value::Str(s) => vec![s.to_bytes().to_vec()],
            Value::List(l) => l.iter().map(<[u8]>::to_vec).collect(),
            Value::Set(s) => s.iter().map(|m| m.to_vec()).collect(),
            Value::ZSet(z) => z.iter().map(|(m, s)| [m, &s.to_be_bytes()[..]].concat()).collect(),
            Value::Hash(h) => h.iter().map(|(f, v)| [f, b"=", v].concat()).collect(),
            Value::Stream(s) => s
                .raw_nodes()
                .flat_map(|n| n.entries)
                .map(|(id, deleted, fields)| format!("{id:?}{deleted}{fields:?}").into_bytes())
                .collect(),
        };
        if matches!(v, Value::Set(_) | Value::Hash(_)) {
            out.sort();
        }
        out
    }

    /// One value of each type and encoding, big ones with `n` elements.
    fn sample_values(n: usize) -> Vec<Value> {
        use crate::types::{
            hash, set, stream, zset, HashValue, ListValue, SetValue, StreamValue, ZSetValue,
        };
        let elem = |i: usize| format!("element:{i}:{}", "x".repeat(i % 40)).into_bytes();
        let opts = b"{\"attempts\":3,\"backoff\":{\"type\":\"exponential\",\"delay\":1000}}";
        let mut out = Vec::new();
        let mut list = ListValue::new();
        for i in 0..n {
            list.push(-2, &[&elem(i)], i % 3 == 0);
        }
        out.push(Value::List(Box::new(list)));
        let hlim = hash::Limits { max_entries: 128, max_value: 64 };
        // Three job-like hashes with the same `opts`, which they come to share.
        for _ in 0..3 {
            let mut job = HashValue::new();
            for f in ["name", "data", "opts", "timestamp"] {
                job.set(f.as_bytes(), if f == "opts" { opts } else { b"some value" }, hlim);
            }
            out.push(Value::Hash(job));
        }
        let mut big = HashValue::new();
        for i in 0..n {
            big.set(&elem(i), &elem(i + 1), hlim);
        }
        out.push(Value::Hash(big));
        let slim =
            set::SetLimits { intset_entries: 512, listpack_entries: 128, listpack_value: 64 };
        let mut ints = SetValue::with_encoding(set::SetEncoding::Intset);
        let mut packed = SetValue::with_encoding(set::SetEncoding::Listpack);
        let mut table = SetValue::with_encoding(set::SetEncoding::Hashtable);
        for i in 0..n {
            ints.add(i.to_string().as_bytes(), &slim);
            table.add(&elem(i), &slim);
        }
        for i in 0..50 {
            packed.add(&elem(i), &slim);
        }
        out.extend([ints, packed, table].map(|s| Value::Set(Box::new(s))));
        let zlim = zset::Limits { max_entries: 128, max_value: 64 };
        let (mut zsmall, mut zbig) = (ZSetValue::default(), ZSetValue::default());
        for i in 0..n {
            zbig.insert(&elem(i), i as f64 / 3.0, zlim);
        }
        for i in 0..50 {
            zsmall.insert(&elem(i), -(i as f64), zlim);
        }
        assert!(zbig.is_skiplist() && !zsmall.is_skiplist());
        out.extend([Value::ZSet(zsmall), Value::ZSet(zbig)]);
        let mut st = StreamValue::new();
        for i in 0..n {
            let id = stream::StreamId { ms: i as u64 + 1, seq: 0 };
            st.append(id, &[Bytes::from_static(b"f"), Bytes::from(elem(i))], 4096, 100);
        }
        out.push(Value::Stream(Box::new(st)));
        out
    }

    #[test]
    fn every_type_moves_whole_or_in_pieces_and_keeps_its_contents() {
        for max in [usize::MAX, 7] {
            let mut values = sample_values(2000);
            let before: Vec<_> = values.iter().map(contents).collect();
            let mut mv = Mover::always();
            for v in &mut values {
                let hits = mv.hits;
                let (moved, deferred) = v.defrag(&mut mv, max);
                assert!(moved, "{}", v.encoding());
                assert_eq!(deferred, v.defrag_elements() > max, "{}", v.encoding());
                if deferred {
                    // The pending walk: pieces of at most `max` elements until done.
                    let (mut cursor, mut pieces) = (0, 0);
                    loop {
                        let step = v.defrag_elements_from(&mut mv, cursor, max);
                        assert!(step.entries <= max + 64, "{} {}", v.encoding(), step.entries);
                        pieces += 1;
                        cursor = step.cursor;
                        if cursor == 0 {
                            break;
                        }
                    }
                    assert!(pieces > 2, "{}", v.encoding());
                }
                // Every element (chunk, table entry, skiplist node) had a block moved.
                let moved = (mv.hits - hits) as usize;
                assert!(moved > v.defrag_elements(), "{}: {moved}", v.encoding());
            }
            let after: Vec<_> = values.iter().map(contents).collect();
            assert!(before == after, "contents changed (max {max})");
        }
    }

    #[test]
    fn effort_follows_fragmentation() {
        let mut c = Config::default();
        c.set_text(P::ActiveDefragIgnoreBytes as usize, "1000").unwrap();
        assert_eq!(effort(&c, 5.0, 1 << 20), None);
        assert_eq!(effort(&c, 50.0, 999), None);
        assert_eq!(effort(&c, 10.0, 1 << 20), Some(1));
        assert_eq!(effort(&c, 55.0, 1 << 20), Some(13));
        assert_eq!(effort(&c, 100.0, 1 << 20), Some(25));
        assert_eq!(effort(&c, 900.0, 1 << 20), Some(25));
    }
}
