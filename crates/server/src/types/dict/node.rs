//! One entry of a [`super::Dict`]: the chain link, the value and the key in a single
//! allocation.
//!
//! Why one allocation: a keyspace entry used to be a node (link, value, key pointer) plus
//! a separate block for the key bytes. For a typical key of 10 to 30 bytes that second
//! block is a 16- or 32-byte allocator region, about a fifth of the whole entry. Placing
//! the key bytes right after the node's fields saves it: a small string key's entry is one
//! 64-byte region, an expire-table entry one 32-byte region.
//!
//! The block is laid out as [`Head`] (`repr(C)`: link, value, key length) with the key
//! bytes starting right after the length field, inside the head's trailing padding if it
//! has any. So no reference to a whole `Head` is ever formed (it would cover key bytes);
//! every access goes through a pointer to the one field it needs. A key of 4 GiB or more
//! (possible only with a raised `proto-max-bulk-len`) stores `u32::MAX` as its length and
//! its real length in the first 8 key bytes.
#![allow(unsafe_code)]

use super::Relocate;
use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::marker::PhantomData;
use std::mem::{align_of, offset_of, size_of};
use std::ptr::NonNull;

/// The fixed fields of a node, for their offsets (never read or written as a whole).
#[repr(C)]
struct Head<V> {
    next: Option<Node<V>>,
    value: V,
    key_len: u32,
}

/// An owned node: a thin pointer to its block (so a bucket or link is one word).
pub struct Node<V> {
    ptr: NonNull<u8>,
    _owns: PhantomData<Head<V>>,
}

// SAFETY: a node owns its value and its chain like a `Box` would; sending or sharing it is
// sending or sharing those.
unsafe impl<V: Send> Send for Node<V> {}
// SAFETY: as above; `&Node` only hands out shared references.
unsafe impl<V: Sync> Sync for Node<V> {}

/// The chain link stored in a bucket or a node.
pub type Link<V> = Option<Node<V>>;

/// Length marker of a key too long for the `u32` field.
const LONG: u32 = u32::MAX;

impl<V> Node<V> {
    const NEXT: usize = offset_of!(Head<V>, next);
    const VALUE: usize = offset_of!(Head<V>, value);
    const KEY_LEN: usize = offset_of!(Head<V>, key_len);
    const KEY: usize = Self::KEY_LEN + size_of::<u32>();
    /// Bytes of a node besides its key's.
    pub const FIXED: usize = Self::KEY;

    /// The block layout for a key of `len` bytes. At least the size of `Head`, so that each
    /// field pointer stays inside the block whatever the key length.
    fn layout(len: usize) -> Layout {
        let extra = if len >= LONG as usize { size_of::<u64>() } else { 0 };
        let size = (Self::KEY + extra).saturating_add(len).max(size_of::<Head<V>>());
        match Layout::from_size_align(size, align_of::<Head<V>>()) {
            Ok(l) => l,
            // Only a key near `isize::MAX` bytes, which no request can carry.
            Err(_) => handle_alloc_error(Layout::new::<Head<V>>()),
        }
    }

    /// Bytes of the block for a key of `len` bytes.
    pub fn block_size(len: usize) -> usize {
        Self::layout(len).size()
    }

    /// A node holding `key` and `value`, linked in front of `next`.
    pub fn new(key: &[u8], value: V, next: Link<V>) -> Node<V> {
        let layout = Self::layout(key.len());
        // SAFETY: the layout has a non-zero size (at least `size_of::<Head<V>>()`, which
        // holds a non-zero-sized link).
        let Some(ptr) = NonNull::new(unsafe { alloc(layout) }) else { handle_alloc_error(layout) };
        let base = ptr.as_ptr();
        // SAFETY: every write lands inside the block (its size covers `Head` and the key
        // area, see `layout`), at offsets aligned for the field written (`Head`'s own
        // offsets; the block is aligned for `Head`); the length field and the key bytes are
        // written unaligned-safe as plain bytes.
        unsafe {
            base.add(Self::NEXT).cast::<Link<V>>().write(next);
            base.add(Self::VALUE).cast::<V>().write(value);
            let mut at = base.add(Self::KEY);
            match u32::try_from(key.len()) {
                Ok(n) if n != LONG => base.add(Self::KEY_LEN).cast::<u32>().write(n),
                _ => {
                    base.add(Self::KEY_LEN).cast::<u32>().write(LONG);
                    at.cast::<u64>().write_unaligned(key.len() as u64);
                    at = at.add(size_of::<u64>());
                }
            }
            std::ptr::copy_nonoverlapping(key.as_ptr(), at, key.len());
        }
        Node { ptr, _owns: PhantomData }
    }

    /// Where the key bytes start, and how many there are.
    fn key_span(&self) -> (*const u8, usize) {
        let base = self.ptr.as_ptr().cast_const();
        // SAFETY: the length field was written by `new` and lies inside the block; a long
        // key's real length sits in the first 8 key bytes, also written by `new`.
        unsafe {
            let n = base.add(Self::KEY_LEN).cast::<u32>().read();
            if n != LONG {
                (base.add(Self::KEY), n as usize)
            } else {
                let at = base.add(Self::KEY);
                (at.add(size_of::<u64>()), at.cast::<u64>().read_unaligned() as usize)
            }
        }
    }

    /// The key.
    #[inline]
    pub fn key(&self) -> &[u8] {
        let (at, len) = self.key_span();
        // SAFETY: `len` initialised bytes at `at`, owned by this node for as long as the
        // borrow of `self` lasts (nothing writes the key after `new`).
        unsafe { std::slice::from_raw_parts(at, len) }
    }

    /// The value.
    #[inline]
    pub fn value(&self) -> &V {
        // SAFETY: an initialised, aligned `V` inside the block, shared while `self` is.
        unsafe { &*self.ptr.as_ptr().add(Self::VALUE).cast::<V>() }
    }

    /// The value, mutably.
    #[inline]
    pub fn value_mut(&mut self) -> &mut V {
        // SAFETY: as in `value`, exclusive while `self` is borrowed mutably.
        unsafe { &mut *self.ptr.as_ptr().add(Self::VALUE).cast::<V>() }
    }

    /// The next node of the chain.
    #[inline]
    pub fn next(&self) -> Option<&Node<V>> {
        // SAFETY: an initialised, aligned link inside the block.
        unsafe { (*self.ptr.as_ptr().add(Self::NEXT).cast::<Link<V>>()).as_ref() }
    }

    /// The link to the next node, mutably.
    #[inline]
    pub fn next_mut(&mut self) -> &mut Link<V> {
        // SAFETY: as in `next`, exclusive while `self` is borrowed mutably.
        unsafe { &mut *self.ptr.as_ptr().add(Self::NEXT).cast::<Link<V>>() }
    }

    /// The key, the value and the link at once (they do not overlap), for iterators that
    /// hand out the first two and walk on through the third.
    #[inline]
    pub fn parts_mut(&mut self) -> (&[u8], &mut V, &mut Link<V>) {
        let (at, len) = self.key_span();
        let base = self.ptr.as_ptr();
        // SAFETY: three disjoint regions of the block (the key area starts after every
        // field of `Head` it could overlap but the padding, which holds no field), each
        // initialised; exclusive while `self` is borrowed mutably.
        unsafe {
            (
                std::slice::from_raw_parts(at, len),
                &mut *base.add(Self::VALUE).cast::<V>(),
                &mut *base.add(Self::NEXT).cast::<Link<V>>(),
            )
        }
    }

    /// Frees the node and returns its value. The node must be unlinked (its own link
    /// empty), which every caller ensures by taking it first.
    pub fn into_value(self) -> V {
        let node = std::mem::ManuallyDrop::new(self);
        let base = node.ptr.as_ptr();
        let layout = Self::layout(node.key().len());
        // SAFETY: the value is moved out exactly once and the block is then freed with the
        // layout it was allocated with; `ManuallyDrop` keeps `Drop` from touching it again.
        // The link is dropped in place first (empty for an unlinked node).
        unsafe {
            std::ptr::drop_in_place(base.add(Self::NEXT).cast::<Link<V>>());
            let value = base.add(Self::VALUE).cast::<V>().read();
            dealloc(base, layout);
            value
        }
    }

    /// Offers the node's block to the defragmenter, which may move it; true if it moved.
    pub fn relocate(&mut self, r: &mut impl Relocate) -> bool {
        let layout = Self::layout(self.key().len());
        // SAFETY: the block is a live allocation of the global allocator with exactly this
        // layout, and nothing else points into it while `self` is borrowed mutably (a
        // node's fields are reached only through its owner).
        match unsafe { r.relocate_block(self.ptr, layout) } {
            Some(moved) => {
                self.ptr = moved;
                true
            }
            None => false,
        }
    }
}

impl<V> Drop for Node<V> {
    fn drop(&mut self) {
        let base = self.ptr.as_ptr();
        let layout = Self::layout(self.key().len());
        // SAFETY: the link and the value are initialised and dropped once, then the block
        // is freed with its own layout. (Chains are unlinked iteratively by their owner
        // before dropping, so the link is usually empty and nothing recurses.)
        unsafe {
            std::ptr::drop_in_place(base.add(Self::NEXT).cast::<Link<V>>());
            std::ptr::drop_in_place(base.add(Self::VALUE).cast::<V>());
            dealloc(base, layout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_blocks_are_small() {
        for len in [0usize, 1, 12, 13, 100, 5000] {
            let key: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut n = Node::new(&key, vec![len; 3], None);
            assert_eq!(n.key(), &key[..]);
            assert_eq!(n.value(), &vec![len; 3]);
            n.value_mut().push(7);
            let tail = Node::new(b"tail", vec![1], None);
            *n.next_mut() = Some(tail);
            assert_eq!(n.next().map(|t| t.key()), Some(&b"tail"[..]));
            let (k, v, link) = n.parts_mut();
            assert_eq!((k, v.len()), (&key[..], 4));
            let tail = link.take().map(Node::into_value);
            assert_eq!(tail, Some(vec![1]));
            assert_eq!(n.into_value(), vec![len, len, len, 7]);
        }
        // A keyspace-like entry: 8 (link) + 40 (value) + 4 (length) + a 12-byte key fits
        // one 64-byte block; an expire entry (u64) with a 10-byte key 32 bytes.
        assert_eq!(Node::<[u64; 5]>::layout(12).size(), 64);
        assert_eq!(Node::<u64>::layout(10).size(), 30);
        assert_eq!(Node::<()>::layout(0).size(), size_of::<Head<()>>());
    }
}
