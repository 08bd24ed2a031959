//! Values stored in the keyspace, with Redis's type and encoding names.
//!
//! Types know nothing of RESP or error texts: they return plain results, and the command
//! layer turns them into replies.

pub mod dict;
pub mod num;
pub mod string;

pub use string::StrValue;

/// A value in the keyspace. Later collections (lists, hashes, sets, sorted sets, streams)
/// become more variants.
#[derive(Clone, Debug)]
pub enum Value {
    /// A string (`TYPE` = `string`).
    Str(StrValue),
}

impl Value {
    /// The name `TYPE` replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
        }
    }

    /// The name `OBJECT ENCODING` replies with.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
        }
    }

    /// Bytes this value owns on the heap, approximately (for memory reports).
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_size(),
        }
    }
}
