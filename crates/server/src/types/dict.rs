//! Temporary stand-in for the incremental-rehash dict (being written); same API.
use std::collections::HashMap;

/// Hash table keyed by byte strings.
pub struct Dict<V> {
    map: HashMap<Box<[u8]>, V>,
}

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> Dict<V> {
    /// Empty dict.
    pub fn new() -> Self {
        Dict { map: HashMap::new() }
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }
    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    /// Lookup.
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.map.get(key)
    }
    /// Lookup.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.map.get_mut(key)
    }
    /// Contains.
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.map.contains_key(key)
    }
    /// Insert.
    pub fn insert(&mut self, key: Box<[u8]>, value: V) -> Option<V> {
        self.map.insert(key, value)
    }
    /// Remove.
    pub fn remove(&mut self, key: &[u8]) -> Option<(Box<[u8]>, V)> {
        self.map.remove_entry(key)
    }
    /// Iterate.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> {
        self.map.iter().map(|(k, v)| (&k[..], v))
    }
    /// Scan (stand-in: everything at once).
    pub fn scan(&self, _cursor: u64, mut f: impl FnMut(&[u8], &V)) -> u64 {
        for (k, v) in &self.map {
            f(k, v);
        }
        0
    }
}
