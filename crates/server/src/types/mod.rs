//! Values stored in the keyspace, with Redis's type and encoding names.
//!
//! Types know nothing of RESP or error texts: they return plain results, and the command
//! layer turns them into replies.

pub mod dict;
pub mod geohash;
pub mod hash;
pub mod hll;
pub mod list;
pub mod num;
pub mod pairs;
pub mod set;
pub mod stream;
pub mod string;
pub mod zset;

pub use hash::HashValue;
pub use list::ListValue;
pub use set::SetValue;
pub use stream::StreamValue;
pub use string::StrValue;
pub use zset::ZSetValue;

/// A value in the keyspace. Streams become one more variant later.
#[derive(Clone, Debug)]
pub enum Value {
    /// A string (`TYPE` = `string`); bitmaps and HyperLogLogs are strings too.
    Str(StrValue),
    /// A list (`TYPE` = `list`). The list, set and stream variants are boxed: every key's
    /// entry is as large as the largest variant, so keeping them inline would cost every
    /// string and hash key a hundred bytes more.
    List(Box<ListValue>),
    /// A hash (`TYPE` = `hash`).
    Hash(HashValue),
    /// A set (`TYPE` = `set`).
    Set(Box<SetValue>),
    /// A sorted set (`TYPE` = `zset`); geo indexes are sorted sets too.
    ZSet(ZSetValue),
    /// A stream (`TYPE` = `stream`).
    Stream(Box<StreamValue>),
}

impl Value {
    /// The name `TYPE` replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// The name `OBJECT ENCODING` replies with.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            Value::List(v) => v.encoding(),
            Value::Hash(v) => v.encoding(),
            Value::Set(v) => v.encoding(),
            Value::ZSet(v) => v.encoding(),
            Value::Stream(v) => v.encoding(),
        }
    }

    /// Bytes this value owns on the heap, approximately (for memory reports).
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_size(),
            // The boxed variants also own their box.
            Value::List(v) => std::mem::size_of::<ListValue>() + v.heap_size(),
            Value::Hash(v) => v.heap_size(),
            Value::Set(v) => std::mem::size_of::<SetValue>() + v.heap_size(),
            Value::ZSet(v) => v.heap_size(),
            Value::Stream(v) => std::mem::size_of::<StreamValue>() + v.heap_size(),
        }
    }
}
