//! `Server`: everything the command thread owns except the clients, and `Ctx`, what a
//! command handler gets to work with.
//!
//! **Invariant:** one thread owns a `Server` and runs commands one at a time; no locks.

use crate::aof::Propagation;
use crate::commands::spec::CommandSpec;
use crate::config::{Config, P};
use crate::error::CmdError;
use crate::keyspace::{Entry, Keyspace, Touch};
use crate::log::{Level, Logger};
use crate::net::client::Client;
use crate::stats::Stats;
use crate::types::Value;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use slab::Slab;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// How a requested shutdown should treat persistence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownMode {
    /// Save if save points are configured (plain SHUTDOWN, SIGTERM).
    Default,
    /// `SHUTDOWN NOSAVE`.
    NoSave,
    /// `SHUTDOWN SAVE`.
    Save,
}

/// A `CLIENT PAUSE` in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pause {
    /// Unix ms when the pause ends.
    pub until: u64,
    /// True for `CLIENT PAUSE ... ALL`, false for `WRITE`.
    pub all: bool,
}

/// The server's state, owned by the command thread.
pub struct Server {
    /// The databases.
    pub ks: Keyspace,
    /// Current configuration.
    pub config: Config,
    /// Counters for INFO.
    pub stats: Stats,
    /// The persistence hook.
    pub propagation: Propagation,
    /// Clients parked in blocking commands.
    pub blocking: crate::blocking::Blocking,
    /// Pub/sub subscriptions and the outbox of messages to deliver.
    pub pubsub: crate::pubsub::PubSub,
    /// Client-side caching: who is told about which keys.
    pub tracking: crate::tracking::Table,
    /// `notify-keyspace-events` as class bits (see `notify.rs`); 0 = off.
    pub notify_flags: u32,
    /// Log output.
    pub log: Logger,
    /// Unix ms at start.
    pub start_ms: u64,
    /// Monotonic start, for uptime.
    pub start_instant: Instant,
    /// 40 hex characters identifying this run (`run_id`).
    pub run_id: String,
    /// Next `CLIENT ID`.
    pub next_client_id: u64,
    /// Unix seconds of the last successful save (`LASTSAVE`).
    pub lastsave: u64,
    /// Set by SHUTDOWN or a signal; the event loop exits after this iteration.
    pub shutdown: Option<ShutdownMode>,
    /// Set by a handler whose success is answered by closing the connection rather than
    /// by a reply (SHUTDOWN); the event loop drops that one reply and clears the flag.
    pub suppress_reply: bool,
    /// `CLIENT PAUSE` state.
    pub pause: Option<Pause>,
    /// When set, the clock is frozen at this Unix ms (tests).
    pub fixed_clock: Option<u64>,
    /// Unix ms read at the start of the current event-loop iteration (0 = not running).
    pub cached_ms: u64,
    /// A monotonic reading and the wall time (Unix ms) at that instant.
    clock_base: Option<(Instant, u64)>,
    /// Set when some client was marked `close_asap`: before sleeping, the loop closes them.
    pub close_pending: bool,
    /// The TCP port actually listened on.
    pub port: u16,
    /// Random source for RANDOMKEY, sampling and ids.
    pub rng: SmallRng,
    /// Path of the running executable (`INFO server executable`).
    pub executable: String,
    /// The Lua VM and the script cache.
    pub scripting: crate::scripting::Scripting,
    /// RDB snapshot state (saves, background save, last load).
    pub rdb: crate::rdb::save::Persistence,
    /// The running script, for the busy-script gate.
    pub busy: crate::scripting::busy::Busy,
    /// The TLS settings of `tls-port`'s listeners, for `CONFIG SET tls-*` (None: no TLS).
    pub tls: Option<crate::net::tls::Settings>,
    /// The network service run while a busy script or the start-up load holds the thread.
    pub service: crate::net::service::Service,
    /// Start-up loading progress, for the `-LOADING` gate and INFO.
    pub loading: crate::loading::Loading,
    /// Memory accounting, eviction state and the warning flag.
    pub memory: crate::memory::Memory,
    /// Latency monitor events, per-command histograms and the slow log.
    pub latency: crate::latency::Latency,
    /// Clients in MONITOR mode.
    pub monitors: crate::monitor::Monitors,
    /// ACL users and the ACL log.
    pub acl: crate::acl::Acl,
}

impl Server {
    /// A server with `config`, nothing listening yet.
    pub fn new(config: Config) -> Server {
        crate::clock::calibrate();
        let dbs = config.int(P::Databases).max(1) as usize;
        let mut rng = SmallRng::from_os_rng();
        let run_id: String = (0..40)
            .map(|_| {
                let n: u8 = rand::Rng::random_range(&mut rng, 0..16);
                char::from_digit(u32::from(n), 16).unwrap_or('0')
            })
            .collect();
        let log = Logger {
            level: Level::from_word(config.word(P::Loglevel)),
            file: config.str(P::Logfile).to_string(),
            role: 'C',
        };
        let now = wall_ms();
        let notify_flags = crate::notify::parse(config.str(P::NotifyKeyspaceEvents));
        let mut ks = Keyspace::new(dbs);
        crate::notify::configure(&mut ks, notify_flags);
        crate::memory::configure(&mut ks, &config);
        let acl = crate::acl::Acl::startup(&config, &log);
        Server {
            ks,
            port: config.int(P::Port) as u16,
            config,
            stats: Stats::default(),
            // Opened by `aof::load::start` once the working directory is set.
            propagation: Propagation::default(),
            blocking: crate::blocking::Blocking::default(),
            pubsub: crate::pubsub::PubSub::default(),
            notify_flags,
            tracking: crate::tracking::Table::default(),
            log,
            start_ms: now,
            start_instant: Instant::now(),
            run_id,
            next_client_id: 1,
            lastsave: now / 1000,
            shutdown: None,
            suppress_reply: false,
            pause: None,
            fixed_clock: None,
            cached_ms: 0,
            clock_base: None,
            close_pending: false,
            rng,
            scripting: crate::scripting::Scripting::default(),
            rdb: crate::rdb::save::Persistence::default(),
            busy: crate::scripting::busy::Busy::default(),
            tls: None,
            service: crate::net::service::Service::default(),
            loading: crate::loading::Loading::default(),
            memory: crate::memory::Memory::new(),
            latency: crate::latency::Latency::default(),
            monitors: crate::monitor::Monitors::default(),
            acl,
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        }
    }

    /// Current Unix time in ms (the test clock if one is set), as cached by the event loop
    /// at the start of each iteration: reading the clock for every command cost several
    /// percent of a pipelined run, and commands of one iteration may share a time.
    pub fn now_ms(&self) -> u64 {
        self.fixed_clock.unwrap_or(if self.cached_ms != 0 { self.cached_ms } else { wall_ms() })
    }

    /// Refreshes the cached time after a wake-up, from a monotonic reading the event loop
    /// already took: the wall clock is read only when `resync` (once per cron tick), and in
    /// between advanced by the monotonic clock, so each loop iteration costs one clock read.
    pub fn update_cached_time(&mut self, now: Instant, resync: bool) {
        if resync || self.clock_base.is_none() {
            self.clock_base = Some((now, wall_ms()));
        }
        if let Some((base, base_ms)) = self.clock_base {
            self.cached_ms = base_ms + now.saturating_duration_since(base).as_millis() as u64;
        }
    }

    /// Allocates the next client id.
    pub fn new_client_id(&mut self) -> u64 {
        let id = self.next_client_id;
        self.next_client_id += 1;
        id
    }
}

/// Wall-clock Unix time in milliseconds.
pub fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Wall-clock Unix time in microseconds.
pub fn wall_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// What a handler works with: the server, all clients, which one is calling, and the
/// command's time snapshot (one reading of the clock per command, so a key cannot expire
/// halfway through it).
pub struct Ctx<'a> {
    /// The server state.
    pub srv: &'a mut Server,
    /// Every client (CLIENT LIST/KILL need the others).
    pub clients: &'a mut Slab<Client>,
    /// Slab key of the calling client.
    pub cid: usize,
    /// The command time snapshot, Unix ms.
    pub now: u64,
    /// The running command's table row.
    pub spec: &'static CommandSpec,
}

impl Ctx<'_> {
    /// The calling client.
    pub fn client(&mut self) -> &mut Client {
        &mut self.clients[self.cid]
    }

    /// Closes client `id` (CLIENT KILL, ACL changes): the caller once its reply is written,
    /// another client with a socket before its next command is read.
    pub fn close_client(&mut self, id: usize) {
        let Some(c) = self.clients.get_mut(id) else { return };
        if id == self.cid {
            c.close_after_reply = true;
        } else if c.sock.is_some() {
            c.close_asap = true;
            self.srv.close_pending = true;
        }
    }

    /// The calling client, read-only.
    pub fn client_ref(&self) -> &Client {
        &self.clients[self.cid]
    }

    /// The selected database index.
    pub fn db(&self) -> usize {
        self.clients[self.cid].db
    }

    fn touch_mode(&self) -> Touch {
        if self.clients[self.cid].no_touch {
            Touch::No
        } else {
            Touch::Yes
        }
    }

    /// Looks up `key` for reading in the selected database (lazy expiry, hit/miss stats).
    pub fn lookup_read(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let (db, now, touch) = (self.db(), self.now, self.touch_mode());
        self.srv.ks.lookup_read(db, key, now, touch)
    }

    /// Looks up `key` for writing in the selected database.
    pub fn lookup_write(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let (db, now) = (self.db(), self.now);
        self.srv.ks.lookup_write(db, key, now)
    }

    /// Reads a string value: `Ok(None)` if missing, `WRONGTYPE` if another type.
    pub fn read_str(
        &mut self,
        key: &[u8],
    ) -> Result<Option<&mut crate::types::StrValue>, CmdError> {
        match self.lookup_read(key) {
            None => Ok(None),
            Some(Entry { value: Value::Str(s), .. }) => Ok(Some(s)),
            Some(_) => Err(CmdError::WrongType),
        }
    }

    /// Stores a value in the selected database; `keep_ttl` keeps an existing expire time.
    pub fn set_value(&mut self, key: &[u8], value: Value, keep_ttl: bool) {
        let (db, now) = (self.db(), self.now);
        self.srv.ks.set(db, key, value, now, keep_ttl);
    }

    /// Makes the running write command reach the AOF as `commands` instead of as sent (for
    /// relative times made absolute, and results made deterministic).
    pub fn propagate_as(&mut self, commands: Vec<Vec<bytes::Bytes>>) {
        self.srv.propagation.rewrite = Some(commands);
    }

    /// Deletes `key` from the selected database.
    pub fn delete(&mut self, key: &[u8]) -> bool {
        let (db, now) = (self.db(), self.now);
        self.srv.ks.delete(db, key, now)
    }

    /// Sets an absolute expire time (Unix ms) on an existing key.
    pub fn set_expire(&mut self, key: &[u8], when: u64) -> bool {
        let db = self.db();
        self.srv.ks.set_expire(db, key, when)
    }

    /// The expire time of `key`, if any.
    pub fn get_expire(&self, key: &[u8]) -> Option<u64> {
        self.srv.ks.get_expire(self.db(), key)
    }
}
