//! Stream value (`TYPE` = `stream`). First version: being written by the streams work.

/// A stream.
#[derive(Clone, Debug, Default)]
pub struct StreamValue {
    /// Number of entries.
    len: usize,
}

impl StreamValue {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the stream has no entries (an empty stream is still stored, unlike
    /// collections).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The name `OBJECT ENCODING` replies with.
    pub fn encoding(&self) -> &'static str {
        "stream"
    }

    /// Heap bytes owned, approximately.
    pub fn heap_size(&self) -> usize {
        0
    }
}
