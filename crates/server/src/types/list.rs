//! A list value (`TYPE` = `list`). First version: being written by the collections work.

/// A list.
#[derive(Clone, Debug, Default)]
pub struct ListValue {
    /// Number of elements.
    len: usize,
}

impl ListValue {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty (an empty collection is never stored: the key is deleted).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The name `OBJECT ENCODING` replies with.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }

    /// Heap bytes owned, approximately.
    pub fn heap_size(&self) -> usize {
        0
    }
}
