//! Per-connection state: identity, selected database, protocol, buffers, flags.

use bytes::{Bytes, BytesMut};
use resp::{Proto, RequestParser};

use super::listener::Stream;

/// What `CLIENT REPLY` chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    /// Replies are sent.
    On,
    /// Replies are dropped until `CLIENT REPLY ON`.
    Off,
    /// The reply of the next command is dropped.
    SkipNext,
    /// Dropping the reply of the current command (set from SkipNext when it starts).
    Skip,
}

/// Commands queued between MULTI and EXEC.
#[derive(Debug, Default)]
pub struct MultiState {
    /// The queued commands, in order.
    pub queue: Vec<Vec<Bytes>>,
    /// Set when a command could not be queued (unknown, wrong arity...): EXEC then fails
    /// with EXECABORT.
    pub aborted: bool,
}

/// One client connection (or a fake client with no socket, for scripts and AOF replay).
pub struct Client {
    /// Unique, increasing id (`CLIENT ID`).
    pub id: u64,
    /// Name from `CLIENT SETNAME` / `HELLO SETNAME`.
    pub name: Option<Bytes>,
    /// Selected database.
    pub db: usize,
    /// Protocol chosen by `HELLO`.
    pub proto: Proto,
    /// True once `AUTH` succeeded or when no password is required.
    pub authenticated: bool,
    /// Authenticated user name.
    pub user: String,
    /// `CLIENT REPLY` state.
    pub reply_mode: ReplyMode,
    /// Close once pending replies are written (QUIT, protocol error).
    pub close_after_reply: bool,
    /// Close at the next opportunity, without writing more (CLIENT KILL, limits).
    pub close_asap: bool,
    /// `CLIENT NO-EVICT`.
    pub no_evict: bool,
    /// `CLIENT NO-TOUCH`.
    pub no_touch: bool,
    /// Peer address as `ip:port` (or the socket path for Unix sockets).
    pub addr: String,
    /// Local address as `ip:port`.
    pub laddr: String,
    /// File descriptor number, or -1 for fake clients.
    pub fd: i32,
    /// Creation time, Unix ms.
    pub ctime: u64,
    /// Last command time, Unix ms (for `idle` and `timeout`).
    pub last_interaction: u64,
    /// Full name of the last command run (`CLIENT LIST cmd=`).
    pub last_cmd: Option<crate::dispatch::Resolved>,
    /// `CLIENT SETINFO LIB-NAME`.
    pub lib_name: Option<Bytes>,
    /// `CLIENT SETINFO LIB-VER`.
    pub lib_ver: Option<Bytes>,
    /// True for a Unix-socket connection.
    pub unix: bool,
    /// Bytes read but not parsed yet.
    pub query: BytesMut,
    /// Incremental parser state.
    pub parser: RequestParser,
    /// Encoded replies not written yet.
    pub out: Vec<u8>,
    /// How much of `out` was already written.
    pub out_pos: usize,
    /// How much of `out` may be written, when replies past that point wait for the AOF
    /// fsync they acknowledge (`appendfsync always`, see `event_loop.rs`); None = all.
    pub out_limit: Option<usize>,
    /// The socket; `None` for fake clients.
    pub sock: Option<Stream>,
    /// Queued in the event loop's list of clients with replies to write.
    pub write_pending: bool,
    /// Registered for writable events (a reply did not fit in the socket buffer).
    pub writable_interest: bool,
    /// Set while the client waits in a blocking command.
    pub blocked: Option<crate::blocking::BlockedState>,
    /// Channels subscribed with SUBSCRIBE, in order.
    pub subs: Vec<Bytes>,
    /// Patterns subscribed with PSUBSCRIBE.
    pub psubs: Vec<Bytes>,
    /// Shard channels subscribed with SSUBSCRIBE.
    pub ssubs: Vec<Bytes>,
    /// Since when (Unix ms) the output buffer has been over the soft limit of its class.
    pub soft_limit_since: Option<u64>,
    /// CLIENT TRACKING options while tracking is on.
    pub tracking: Option<crate::tracking::Options>,
    /// Set between MULTI and EXEC/DISCARD.
    pub multi: Option<MultiState>,
    /// True while EXEC runs this client's queued commands.
    pub in_exec: bool,
    /// WATCHed keys: (db, key, whether it was already expired when watched).
    pub watched: Vec<(usize, Bytes, bool)>,
    /// Commands run on this connection (for tests and CLIENT INFO `tot-cmds` later).
    pub commands: u64,
    /// AOF position of this client's last write (`Propagation::pending_seq` when it was
    /// made; 0 before any): what WAITAOF waits to see fsynced.
    pub aof_woff: u64,
}

impl Client {
    /// A new client with the server's defaults.
    pub fn new(
        id: u64,
        sock: Option<Stream>,
        addr: String,
        laddr: String,
        fd: i32,
        now: u64,
    ) -> Client {
        Client {
            id,
            name: None,
            db: 0,
            proto: Proto::Resp2,
            authenticated: true,
            user: "default".into(),
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            close_asap: false,
            no_evict: false,
            no_touch: false,
            unix: addr.starts_with('/'),
            addr,
            laddr,
            fd,
            ctime: now,
            last_interaction: now,
            last_cmd: None,
            lib_name: None,
            lib_ver: None,
            query: BytesMut::with_capacity(16 * 1024),
            parser: RequestParser::default(),
            out: Vec::new(),
            out_pos: 0,
            out_limit: None,
            sock,
            commands: 0,
            aof_woff: 0,
            blocked: None,
            multi: None,
            tracking: None,
            subs: Vec::new(),
            psubs: Vec::new(),
            ssubs: Vec::new(),
            soft_limit_since: None,
            in_exec: false,
            watched: Vec::new(),
            write_pending: false,
            writable_interest: false,
        }
    }

    /// Whether a blocking command may park this client: only real connections outside
    /// MULTI and scripts.
    pub fn can_block(&self) -> bool {
        self.sock.is_some() && self.multi.is_none() && !self.in_exec
    }

    /// True while subscribed to any channel, pattern or shard channel.
    pub fn is_subscriber(&self) -> bool {
        !(self.subs.is_empty() && self.psubs.is_empty() && self.ssubs.is_empty())
    }

    /// Memory this client holds for `maxmemory-clients`: its buffers (allocated size, as
    /// a slow reader or a client sending a huge request grows them), the commands queued in
    /// MULTI, and the client structure itself.
    pub fn memory_usage(&self) -> usize {
        self.query.capacity()
            + self.out.capacity()
            + self.multi_memory()
            + std::mem::size_of::<Client>()
    }

    /// Bytes of the commands queued in MULTI (`CLIENT LIST multi-mem`): as Redis counts
    /// them, each argument's bytes plus one object pointer per argument.
    pub fn multi_memory(&self) -> usize {
        self.multi.as_ref().map_or(0, |m| {
            m.queue.iter().flatten().map(|a| a.len() + std::mem::size_of::<usize>()).sum()
        })
    }

    /// Bytes of replies waiting to be written.
    pub fn pending_out(&self) -> usize {
        self.out.len() - self.out_pos
    }
}

/// What one round of socket I/O did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Io {
    /// Bytes moved.
    pub bytes: usize,
    /// The peer closed or the socket failed: the client must go.
    pub closed: bool,
    /// Writing stopped short on a full socket buffer.
    pub blocked: bool,
}

impl Client {
    /// Reads what the socket has (up to `budget` bytes) through `buf` into the query
    /// buffer. Reading through one reusable buffer and appending only what arrived avoids a
    /// zeroed chunk per read, which would cost a memset per command.
    pub fn read_available(&mut self, buf: &mut [u8], budget: usize) -> Io {
        use std::io::{ErrorKind, Read};
        let mut io = Io::default();
        let Some(sock) = self.sock.as_mut() else { return io };
        while io.bytes < budget {
            match sock.read(buf) {
                Ok(0) => {
                    io.closed = true;
                    break;
                }
                Ok(n) => {
                    self.query.extend_from_slice(&buf[..n]);
                    io.bytes += n;
                    if n < buf.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    io.closed = true;
                    break;
                }
            }
        }
        io
    }

    /// Writes as much of the output buffer as the socket takes; a fully written buffer is
    /// reset (and shrunk when a big reply left it large).
    pub fn write_available(&mut self) -> Io {
        use std::io::{ErrorKind, Write};
        let mut io = Io::default();
        let Some(sock) = self.sock.as_mut() else { return io };
        let end = self.out_limit.map_or(self.out.len(), |l| l.min(self.out.len()));
        while self.out_pos < end {
            match sock.write(&self.out[self.out_pos..end]) {
                Ok(0) => {
                    io.closed = true;
                    break;
                }
                Ok(n) => {
                    self.out_pos += n;
                    io.bytes += n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    io.blocked = true;
                    break;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    io.closed = true;
                    break;
                }
            }
        }
        // TLS may keep encrypted records after taking the plaintext: they must go too
        // before the client counts as written (plain sockets hold nothing here).
        if !io.closed && !io.blocked {
            match sock.flush() {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => io.blocked = true,
                Err(_) => io.closed = true,
            }
        }
        // A held buffer keeps its positions: the limits waiting to be released index it.
        if self.out_pos == self.out.len() && self.out_limit.is_none() {
            self.out.clear();
            self.out_pos = 0;
            if self.out.capacity() > 64 * 1024 {
                self.out.shrink_to(16 * 1024);
            }
        }
        io
    }
}
