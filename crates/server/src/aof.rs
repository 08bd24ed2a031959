//! The persistence hook in the event loop's "persist before acknowledging" stage.
//!
//! Dispatch feeds every write command that changed the dataset to [`Propagation::feed`];
//! the event loop calls [`Propagation::before_replies`] after executing an iteration's
//! commands and before writing any reply to a socket. That ordering is the durability
//! invariant: no client hears "OK" for a write the AOF has not been handed.
//!
//! The AOF files themselves (multi-part layout, fsync policies, rewrite) are the
//! persistence issue's work; until then `appendonly` is accepted but not in effect, and the
//! encoded commands are counted and dropped here (COMPATIBILITY.md says so).

use bytes::Bytes;

/// Write commands waiting for the persistence stage.
#[derive(Default, Debug)]
pub struct Propagation {
    buf: Vec<u8>,
    /// Database the last fed command ran in, so a `SELECT` is emitted on change.
    last_db: Option<usize>,
    /// Commands fed since start (for tests and INFO later).
    pub fed: u64,
    /// True with `appendonly yes`: commands are encoded for the log.
    pub enabled: bool,
    /// Set by a handler whose effect must be logged as other commands (SET EX as SET PXAT,
    /// EXPIRE as PEXPIREAT, INCRBYFLOAT as SET, ...); taken by dispatch.
    pub(crate) rewrite: Option<Vec<Vec<Bytes>>>,
}

impl Propagation {
    /// A propagation stage that encodes commands only when `enabled` (`appendonly yes`).
    pub fn new(enabled: bool) -> Propagation {
        Propagation { enabled, ..Propagation::default() }
    }

    /// Appends a write command in RESP form, preceded by `SELECT` when the database changes.
    /// Nothing is encoded while no log is enabled (`appendonly no`): the count still moves.
    pub fn feed(&mut self, db: usize, argv: &[Bytes]) {
        self.fed += 1;
        if !self.enabled {
            return;
        }
        if self.last_db != Some(db) {
            let n = itoa::Buffer::new().format(db).to_string();
            encode_command(&mut self.buf, &[Bytes::from_static(b"SELECT"), Bytes::from(n)]);
            self.last_db = Some(db);
        }
        encode_command(&mut self.buf, argv);
    }

    /// Runs before replies of this loop iteration are written: hands the buffered commands
    /// to the log. Returns the bytes handed over.
    pub fn before_replies(&mut self) -> usize {
        let n = self.buf.len();
        self.buf.clear();
        n
    }
}

/// Encodes argv as a RESP multibulk, the form AOF files store commands in.
pub fn encode_command(out: &mut Vec<u8>, argv: &[Bytes]) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(argv.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in argv {
        resp::encode::bulk(out, a);
    }
}
