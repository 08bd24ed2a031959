//! The event loop, in the shape of Redis's `ae`: one thread, mio readiness, timers.
//!
//! Each iteration:
//! 1. wait for readiness, no longer than until the next cron tick;
//! 2. accept new connections; read every readable socket into its query buffer and run
//!    every complete command in arrival order, encoding replies into the client's output
//!    buffer (nothing is written to a socket yet);
//! 3. before sleeping: hand this iteration's writes to the persistence stage, and only
//!    then write replies to sockets, keeping unsent bytes for the next writable event;
//! 4. run the cron (`hz` times a second): active expiry, client timeouts, pause expiry.
//!
//! **Invariant:** no reply leaves the process before the write it acknowledges has been
//! handed to persistence (step 3's order), which is why this is an explicit loop rather than
//! tasks on an async runtime.

use crate::blocking::BlockedState;
use crate::config::P;
use crate::dispatch;
use crate::keyspace::expire;
use crate::metrics::{Metrics, RedisPort};
use crate::net::client::{Client, ReplyMode};
use crate::net::listener::{self, Listener, Stream};
use crate::server::{Server, ShutdownMode};
use mio::{Events, Interest, Poll, Token};
use resp::Frame;
use slab::Slab;
use std::io;
use std::time::{Duration, Instant};

use crate::net::{NextCommand, CLIENT_BASE};
const SIGNAL_TOKEN: Token = Token(63);
/// Woken by the AOF fsync and rewrite threads when they finish something.
const AOF_TOKEN: Token = Token(62);
/// Bytes read per `read` call.
const READ_CHUNK: usize = 16 * 1024;
/// Bytes read from one client per loop iteration before moving on, for fairness: a client
/// pipelining without pause must not hold the loop for whole megabytes of commands while
/// others wait (a client left with unread bytes is read again next iteration).
const READ_BUDGET: usize = 64 * 1024;

/// The running server: state plus sockets.
pub struct EventLoop {
    /// The command thread's state.
    pub srv: Server,
    /// Connected clients, keyed by slab index.
    pub clients: Slab<Client>,
    poll: Poll,
    listeners: Vec<Listener>,
    /// Clients with replies to write in before-sleep.
    pending_write: Vec<usize>,
    /// Clients with commands held back by `CLIENT PAUSE`.
    paused: Vec<usize>,
    signals: signal_hook_mio::v1_0::Signals,
    unix_path: Option<String>,
    /// Scratch buffer every socket read goes through.
    read_buf: Vec<u8>,
    /// Clients just unblocked whose buffered input must be processed.
    resume: Vec<usize>,
    /// Clients whose last read stopped at the fairness budget: the socket (or a TLS
    /// stream's buffers) may hold more, and no new readiness event would announce it.
    reread: Vec<usize>,
    /// Replies waiting for the AOF (`appendfsync always`).
    gate: crate::aof::gate::Gate,
    /// The metrics port's listeners and connections, and the status page's history.
    metrics: Metrics,
    /// `client-output-buffer-limit`, parsed.
    out_limits: OutputLimits,
}

impl EventLoop {
    /// Binds every configured address and prepares the loop.
    pub fn bind(mut srv: Server) -> io::Result<EventLoop> {
        let poll = Poll::new()?;
        let mut listeners = Vec::new();
        let port = srv.config.int(P::Port) as u16;
        let backlog = srv.config.int(P::TcpBacklog) as i32;
        if port != 0 {
            let binds = srv.config.str(P::Bind).to_string();
            let tcp = listener::bind_all(&binds, port, backlog, &srv.log)?;
            listeners.extend(tcp.into_iter().map(Listener::Tcp));
        }
        let tls_port = srv.config.int(P::TlsPort) as u16;
        if tls_port != 0 {
            let tls = crate::net::tls::server_config(&srv.config, &srv.log).map_err(|e| {
                srv.log.warning(&e);
                srv.log.warning("Failed to configure TLS. Check logs for more info.");
                io::Error::new(io::ErrorKind::InvalidInput, e)
            })?;
            let binds = srv.config.str(P::Bind).to_string();
            let tcp = listener::bind_all(&binds, tls_port, backlog, &srv.log)?;
            let tls = crate::net::tls::Settings::new(tls);
            srv.tls = Some(tls.clone());
            listeners.extend(tcp.into_iter().map(|l| Listener::Tls(l, tls.clone())));
        }
        let unix = srv.config.str(P::Unixsocket).to_string();
        let unix_path = if unix.is_empty() {
            None
        } else {
            let _ = std::fs::remove_file(&unix);
            let l = mio::net::UnixListener::bind(&unix)?;
            let perm = srv.config.int(P::Unixsocketperm);
            if perm != 0 {
                use std::os::unix::fs::PermissionsExt;
                let _ =
                    std::fs::set_permissions(&unix, std::fs::Permissions::from_mode(perm as u32));
            }
            listeners.push(Listener::Unix(l));
            Some(unix)
        };
        for (i, l) in listeners.iter_mut().enumerate() {
            poll.registry().register(l, Token(i), Interest::READABLE)?;
        }
        let mut signals = signal_hook_mio::v1_0::Signals::new([
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGINT,
        ])?;
        poll.registry().register(&mut signals, SIGNAL_TOKEN, Interest::READABLE)?;
        srv.port = port;
        let metrics = Metrics::bind(&srv, poll.registry())?;
        let dups = listeners.iter().map(Listener::try_clone).collect::<io::Result<Vec<_>>>()?;
        srv.service.set_net(poll.registry().try_clone()?, dups);
        srv.propagation
            .set_waker(std::sync::Arc::new(mio::Waker::new(poll.registry(), AOF_TOKEN)?));
        Ok(EventLoop {
            srv,
            clients: Slab::new(),
            poll,
            listeners,
            pending_write: Vec::new(),
            paused: Vec::new(),
            signals,
            unix_path,
            read_buf: vec![0; READ_CHUNK],
            resume: Vec::new(),
            reread: Vec::new(),
            gate: crate::aof::gate::Gate::default(),
            metrics,
            out_limits: OutputLimits::default(),
        })
    }

    /// Runs until shutdown. Returns the process exit code.
    pub fn run(&mut self) -> i32 {
        let mut events = Events::with_capacity(1024);
        let mut next_cron = Instant::now();
        loop {
            let hz = self.srv.config.int(P::Hz).clamp(1, 500) as u64;
            let period = Duration::from_micros(1_000_000 / hz);
            let mut timeout = next_cron.saturating_duration_since(Instant::now());
            if !self.reread.is_empty() {
                timeout = Duration::ZERO;
            }
            if let Some(deadline) = self.srv.blocking.next_deadline() {
                let wait = Duration::from_millis(deadline.saturating_sub(self.srv.now_ms()));
                timeout = timeout.min(wait);
            }
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.srv.log.warning(&format!("poll failed: {e}"));
                }
            }
            let woke = Instant::now();
            self.srv.update_cached_time(woke, woke >= next_cron);
            for cid in std::mem::take(&mut self.reread) {
                self.read_client(cid);
            }
            for ev in events.iter() {
                let t = ev.token();
                if t == SIGNAL_TOKEN {
                    self.on_signal();
                } else if t == AOF_TOKEN {
                    // An fsync or rewrite finished: before_sleep releases what waited on it.
                } else if Metrics::owns(t) {
                    self.metrics.on_event(t, self.poll.registry(), &mut self.srv, &self.clients);
                } else if t.0 < CLIENT_BASE {
                    self.accept(t.0);
                } else {
                    let cid = t.0 - CLIENT_BASE;
                    if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                        self.read_client(cid);
                    }
                    if ev.is_writable() && self.clients.contains(cid) {
                        self.mark_write(cid);
                    }
                }
            }
            if self.srv.blocking.count > 0 {
                self.expire_blocked();
                self.wake_aof_waiters();
            }
            self.resume_unblocked();
            if woke >= next_cron {
                self.cron();
                next_cron = Instant::now() + period;
            }
            self.before_sleep();
            // INFO's eventloop_* figures: the iteration's work, poll's wait left out.
            let worked = u64::try_from(woke.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.srv.stats.count_cycle(worked);
            if let Some(mode) = self.srv.shutdown {
                if self.finish_shutdown(mode) {
                    return 0;
                }
            }
        }
    }

    fn on_signal(&mut self) {
        let sigs: Vec<i32> = self.signals.pending().collect();
        for s in sigs {
            let name = if s == signal_hook::consts::SIGINT { "SIGINT" } else { "SIGTERM" };
            self.srv.log.warning(&format!("Received {name} scheduling shutdown..."));
            self.srv.shutdown.get_or_insert(ShutdownMode::Default);
        }
    }

    /// Performs a requested shutdown. Returns false if it had to be aborted.
    fn finish_shutdown(&mut self, mode: ShutdownMode) -> bool {
        self.srv.log.warning("User requested shutdown...");
        // The snapshot on exit (a SHUTDOWN command already made it; a signal did not).
        if crate::rdb::save::save_on_shutdown(&mut self.srv, mode).is_err() {
            self.srv.shutdown = None;
            return false;
        }
        // The final AOF write and fsync, then every held reply may go.
        self.srv.propagation.flush_sync(&self.srv.log);
        self.gate.release_all(&mut self.clients);
        self.flush_all_replies();
        remove_runtime_files(&self.srv, self.unix_path.as_deref());
        self.srv.log.warning("Redis is now ready to exit, bye bye...");
        true
    }

    fn flush_all_replies(&mut self) {
        let ids: Vec<usize> = self.clients.iter().map(|(k, _)| k).collect();
        for cid in ids {
            self.write_client(cid);
        }
    }

    fn accept(&mut self, li: usize) {
        if let Some(l) = self.listeners.get(li) {
            crate::net::accept_clients(&mut self.srv, &mut self.clients, self.poll.registry(), l);
        }
    }

    fn read_client(&mut self, cid: usize) {
        let Some(c) = self.clients.get_mut(cid) else { return };
        let io = c.read_available(&mut self.read_buf, READ_BUDGET);
        let (total, closed) = (io.bytes, io.closed);
        self.srv.stats.net_input_bytes += total as u64;
        if total >= READ_BUDGET && !closed && !self.reread.contains(&cid) {
            self.reread.push(cid);
        }
        // A TLS handshake message that did not fit in the socket waits for writability.
        if c.sock.as_ref().is_some_and(Stream::wants_write) {
            self.mark_write(cid);
        }
        self.process_input(cid);
        if closed {
            self.close_client(cid);
            return;
        }
        let limit = self.srv.config.int(P::ClientQueryBufferLimit) as usize;
        if let Some(c) = self.clients.get(cid) {
            if c.query.len() > limit {
                self.srv.log.warning(&format!(
                    "Closing client that reached max query buffer length: id={} addr={} (qbuf initial bytes: {:?})",
                    c.id,
                    c.addr,
                    String::from_utf8_lossy(&c.query[..c.query.len().min(64)])
                ));
                self.close_client(cid);
            }
        }
    }

    /// Runs every complete command in the client's query buffer.
    fn process_input(&mut self, cid: usize) {
        loop {
            match self.metrics.redis_port(&mut self.srv, &mut self.clients, cid) {
                RedisPort::NotHttp => {}
                RedisPort::Wait => return,
                RedisPort::Answered => return self.mark_write(cid),
            }
            let Some(c) = self.clients.get_mut(cid) else { return };
            // A blocked client's later commands wait in its query buffer until it is served.
            if c.close_after_reply || c.close_asap || c.blocked.is_some() {
                return;
            }
            if self.srv.pause.is_some() && !c.query.is_empty() {
                // Held back entirely while paused; re-run when the pause ends. A WRITE pause
                // still lets reads through, decided per command below.
                if self.srv.pause.is_some_and(|p| p.all) {
                    if !self.paused.contains(&cid) {
                        self.paused.push(cid);
                    }
                    return;
                }
            }
            let argv = match crate::net::next_command(&mut self.srv, c) {
                NextCommand::Command(argv) => argv,
                NextCommand::Incomplete => return,
                NextCommand::Refused(frame) => {
                    self.reply(cid, &frame);
                    return;
                }
            };
            if let Some(p) = self.srv.pause {
                if !p.all && is_write_for_pause(&argv) {
                    // Put the command back in front: re-encode it into the buffer head.
                    let mut again = Vec::new();
                    crate::aof::encode_command(&mut again, &argv);
                    again.extend_from_slice(&c.query);
                    c.query = bytes::BytesMut::from(&again[..]);
                    if !self.paused.contains(&cid) {
                        self.paused.push(cid);
                    }
                    return;
                }
            }
            if c.reply_mode == ReplyMode::SkipNext {
                c.reply_mode = ReplyMode::Skip;
            }
            let outcome = self.execute(cid, argv);
            self.after_command();
            if self.srv.shutdown.is_some() && !self.srv.suppress_reply {
                // SHUTDOWN NOSAVE came while this client's script was busy: the server stops
                // without answering it, as Redis does.
                return;
            }
            let Some(frame) = outcome else {
                // Parked by a blocking command: its reply comes when a key is ready or at
                // the deadline.
                return;
            };
            let Some(c) = self.clients.get_mut(cid) else { return };
            // A reply is sent only if replies are on once the command ran: this drops replies
            // under OFF and SKIP and the answers to CLIENT REPLY OFF/SKIP themselves, but
            // acknowledges CLIENT REPLY ON.
            let now_on = c.reply_mode == ReplyMode::On;
            if c.reply_mode == ReplyMode::Skip {
                c.reply_mode = ReplyMode::On;
            }
            let suppressed = std::mem::take(&mut self.srv.suppress_reply);
            if now_on && !suppressed {
                self.reply(cid, &frame);
            }
            for (target, frame) in std::mem::take(&mut self.srv.pubsub.after_reply) {
                self.reply(target, &frame);
            }
            if let Some(c) = self.clients.get_mut(cid) {
                c.parser.auth_required = !c.authenticated;
            }
            if self.srv.shutdown.is_some() {
                return;
            }
        }
    }

    /// After every command: serve clients blocked on keys the command made ready, and
    /// deliver replies to clients unblocked by CLIENT UNBLOCK.
    fn after_command(&mut self) {
        // Clients the network service (busy script, start-up loading) answered and could
        // not finish writing to.
        for cid in std::mem::take(&mut self.srv.service.served) {
            self.mark_write(cid);
        }
        // Bounded: each round serves what the previous one made ready (BLMOVE chains).
        for _ in 0..1000 {
            let mut ready = std::mem::take(&mut self.srv.ks.ready);
            if std::mem::take(&mut self.srv.ks.all_ready) {
                ready.extend(self.srv.blocking.all_keys());
            }
            let unblocked = std::mem::take(&mut self.srv.blocking.unblocked);
            let outbox = std::mem::take(&mut self.srv.pubsub.outbox);
            if ready.is_empty() && unblocked.is_empty() && outbox.is_empty() {
                break;
            }
            for (cid, frame) in outbox {
                self.reply(cid, &frame);
            }
            for (cid, frame) in unblocked {
                self.reply(cid, &frame);
                self.resume.push(cid);
            }
            for (db, key) in ready {
                for cid in self.srv.blocking.waiters(db, &key) {
                    self.retry_blocked(cid, db, &key);
                }
            }
        }
        self.srv.ks.track_ready = self.srv.blocking.count > 0;
    }

    /// Executes a blocked client's command again because `key` is ready. A client waits for
    /// one type (its command's family): a key now holding another type, or gone, leaves it
    /// waiting, as in Redis. If the command still finds nothing it stays parked where it was,
    /// with its original deadline.
    fn retry_blocked(&mut self, cid: usize, db: usize, key: &bytes::Bytes) {
        let Some(argv) =
            self.clients.get(cid).and_then(|c| c.blocked.as_ref()).map(|b| b.argv.clone())
        else {
            return;
        };
        let spec = dispatch::resolve(&argv).ok().map(|r| r.spec);
        let waits_for = spec.and_then(awaited_type);
        // XREADGROUP depends on its group, which goes with the key: it is told when the key
        // disappears and re-run when its type changes; other waiters keep waiting.
        let group_reader = spec.is_some_and(|s| s.name == "xreadgroup");
        let holds = self.srv.ks.db(db).dict().get(key).map(|e| e.value.type_name());
        if holds.is_none() && group_reader {
            if let Some(state) = self.clients.get_mut(cid).and_then(|c| c.blocked.take()) {
                self.srv.blocking.unpark(cid, &state);
                let err = crate::error::CmdError::StreamKeyGone;
                self.srv.stats.count_error(&err.code());
                self.reply(cid, &Frame::Error(bytes::Bytes::from(err.text())));
                self.resume.push(cid);
            }
            return;
        }
        if waits_for.is_some() && holds != waits_for && !group_reader {
            return;
        }
        let Some(state) = self.clients.get_mut(cid).and_then(|c| c.blocked.take()) else { return };
        let selected = self.clients[cid].db;
        self.clients[cid].db = state.db;
        self.srv.blocking.retrying = true;
        let outcome = self.execute(cid, argv);
        self.srv.blocking.retrying = false;
        if let Some(c) = self.clients.get_mut(cid) {
            c.db = selected;
        }
        let renewed = self.srv.blocking.renewed_on_timeout.take();
        if std::mem::take(&mut self.srv.blocking.reblocked) {
            if let Some(c) = self.clients.get_mut(cid) {
                c.blocked =
                    Some(BlockedState { on_timeout: renewed.unwrap_or(state.on_timeout), ..state });
            }
            return;
        }
        self.srv.blocking.unpark(cid, &state);
        if let Some(frame) = outcome {
            self.reply(cid, &frame);
            self.resume.push(cid);
        }
    }

    /// Runs one command for `cid`; when it fed the AOF, the position of that write becomes
    /// the client's last write (what WAITAOF waits for). Commands an EXEC or a script runs
    /// count with it, as Redis records the offset after the whole command.
    fn execute(&mut self, cid: usize, argv: Vec<bytes::Bytes>) -> Option<Frame> {
        let fed = self.srv.propagation.fed;
        let outcome = dispatch::execute(&mut self.srv, &mut self.clients, cid, argv);
        if self.srv.propagation.fed != fed {
            let seq = self.srv.propagation.pending_seq();
            if let Some(c) = self.clients.get_mut(cid) {
                c.aof_woff = seq;
            }
        }
        outcome
    }

    /// Runs again the commands of clients blocked on no key (WAITAOF, WAIT) when the
    /// fsynced AOF position changed: an fsync ended, or the log was opened or closed.
    fn wake_aof_waiters(&mut self) {
        let fsynced = self.srv.propagation.fsynced();
        if fsynced == self.srv.blocking.fsynced_seen {
            return;
        }
        self.srv.blocking.fsynced_seen = fsynced;
        for cid in self.srv.blocking.keyless_waiters() {
            let Some(db) = self.clients.get(cid).and_then(|c| c.blocked.as_ref()).map(|b| b.db)
            else {
                continue;
            };
            self.retry_blocked(cid, db, &bytes::Bytes::new());
        }
    }

    /// Replies to blocked clients whose deadline has passed.
    fn expire_blocked(&mut self) {
        let now = self.srv.now_ms();
        for cid in self.srv.blocking.expired(now) {
            if let Some(state) = self.clients.get_mut(cid).and_then(|c| c.blocked.take()) {
                self.srv.blocking.unpark(cid, &state);
                self.reply(cid, &state.on_timeout);
                self.resume.push(cid);
            }
        }
        self.srv.ks.track_ready = self.srv.blocking.count > 0;
    }

    /// Runs the pipelined commands that waited behind a blocking command.
    fn resume_unblocked(&mut self) {
        while !self.resume.is_empty() {
            let list = std::mem::take(&mut self.resume);
            for cid in list {
                self.process_input(cid);
            }
        }
    }

    /// Encodes `frame` for the client and queues it for before-sleep.
    fn reply(&mut self, cid: usize, frame: &Frame) {
        let Some(c) = self.clients.get_mut(cid) else { return };
        if c.sock.is_none() {
            return;
        }
        crate::net::queue_reply(c, frame);
        self.check_output_limit(cid);
        self.mark_write(cid);
    }

    /// `client-output-buffer-limit`: a client that does not read its replies (a normal
    /// client) or its messages (a subscriber) is disconnected instead of growing the
    /// server's memory without bound: at once when its pending output reaches the hard
    /// limit, or once it has stayed at or past the soft limit for more than the soft
    /// seconds. As in Redis, the first time over the soft limit only starts the clock, and a
    /// doomed client gets no more of its replies. Replica limits wait for replication.
    fn check_output_limit(&mut self, cid: usize) {
        self.out_limits.refresh(self.srv.config.str(P::ClientOutputBufferLimit));
        let now_s = self.srv.now_ms() / 1000;
        let Some(c) = self.clients.get_mut(cid) else { return };
        let limit = if c.is_subscriber() { self.out_limits.pubsub } else { self.out_limits.normal };
        if c.close_asap || (limit.hard == 0 && limit.soft == 0) {
            return;
        }
        let used = c.pending_out() as u64;
        let over_soft = limit.soft > 0 && used >= limit.soft;
        let soft_expired = match (over_soft, c.soft_limit_since) {
            (false, _) => {
                c.soft_limit_since = None;
                false
            }
            (true, None) => {
                c.soft_limit_since = Some(now_s * 1000);
                false
            }
            (true, Some(since)) => now_s.saturating_sub(since / 1000) > limit.secs,
        };
        if (limit.hard > 0 && used >= limit.hard) || soft_expired {
            c.close_asap = true;
            self.srv.close_pending = true;
            let info = crate::commands::client::info_line(c, now_s * 1000);
            self.srv.log.warning(&format!(
                "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
                info.trim_end()
            ));
        }
    }

    /// `maxmemory-clients` (client eviction, as Redis 7): while the clients together hold
    /// at least the limit, the biggest is closed first. Clients marked `CLIENT NO-EVICT`
    /// count towards the total but are never evicted (as in Redis, others go in their
    /// place). A percentage is of `maxmemory` (no limit without one); like Redis, the limit
    /// is never below 128 KiB, so a bad setting cannot lock everyone out.
    fn evict_clients(&mut self) {
        let setting = self.srv.config.int(P::MaxmemoryClients);
        let limit = match setting {
            0 => return,
            n if n > 0 => n as u64,
            pct => {
                let max = self.srv.config.int(P::Maxmemory).max(0) as u64;
                if max == 0 {
                    return;
                }
                (max as f64 * (-pct) as f64 / 100.0) as u64
            }
        }
        .max(128 * 1024);
        let mut total = 0;
        let mut usage: Vec<(usize, u64)> = Vec::new();
        for (k, c) in self.clients.iter().filter(|(_, c)| c.sock.is_some() && !c.close_asap) {
            let mem = c.memory_usage() as u64;
            total += mem;
            if !c.no_evict {
                usage.push((k, mem));
            }
        }
        if total < limit {
            return;
        }
        usage.sort_unstable_by_key(|&(_, mem)| std::cmp::Reverse(mem));
        let now = self.srv.now_ms();
        for (cid, mem) in usage {
            if total < limit {
                break;
            }
            if let Some(c) = self.clients.get(cid) {
                let info = crate::commands::client::info_line(c, now);
                self.srv.log.verbose(&format!("Evicting client: {}", info.trim_end()));
            }
            self.srv.stats.evicted_clients += 1;
            self.close_client(cid);
            total -= mem;
        }
    }

    fn mark_write(&mut self, cid: usize) {
        if let Some(c) = self.clients.get_mut(cid) {
            if !c.write_pending {
                c.write_pending = true;
                self.pending_write.push(cid);
            }
        }
    }

    /// Step 3: persist, then write replies (or hold them until the AOF may acknowledge
    /// them: a later batch's replies never overtake an earlier batch's).
    fn before_sleep(&mut self) {
        crate::aof::rewrite::poll(&mut self.srv);
        let policy = crate::aof::FsyncPolicy::from_word(self.srv.config.word(P::Appendfsync));
        let now = self.srv.now_ms();
        // Redis's `aof-write` latency event: handing the iteration's writes to the file.
        let hold = crate::latency::timed(&mut self.srv, "aof-write", |srv| {
            srv.propagation.before_replies(policy, now, &srv.log)
        });
        let pending = std::mem::take(&mut self.pending_write);
        match hold.or(self.gate.newest()) {
            Some(seq) => {
                pending.into_iter().for_each(|cid| self.gate.hold(&mut self.clients, cid, seq))
            }
            None => pending.into_iter().for_each(|cid| self.write_client(cid)),
        }
        if self.gate.newest().is_some() {
            let done = self.srv.propagation.released(policy);
            for cid in self.gate.release(&mut self.clients, done) {
                self.write_client(cid);
            }
        }
        self.evict_clients();
        // Clients killed by CLIENT KILL, SHUTDOWN or output limits.
        if !std::mem::take(&mut self.srv.close_pending) {
            return;
        }
        let doomed: Vec<usize> =
            self.clients.iter().filter(|(_, c)| c.close_asap).map(|(k, _)| k).collect();
        for cid in doomed {
            self.close_client(cid);
        }
    }

    fn write_client(&mut self, cid: usize) {
        let mut close;
        let want_writable;
        let written;
        {
            let Some(c) = self.clients.get_mut(cid) else { return };
            c.write_pending = false;
            // Doomed (output limits, CLIENT KILL): closed in before-sleep without more
            // output, as Redis skips such clients when it writes.
            if c.close_asap {
                return;
            }
            let io = c.write_available();
            (close, want_writable, written) = (io.closed, io.blocked, io.bytes as u64);
            // A TLS stream may still hold the last records (want_writable): not yet.
            if c.out_pos == c.out.len() && c.close_after_reply && !want_writable {
                close = true;
            }
            let Some(sock) = c.sock.as_mut() else { return };
            let interest = if want_writable {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let token = Token(CLIENT_BASE + cid);
            // Re-register only when the interest changes: an epoll_ctl per reply would
            // double the system calls of a request.
            if !close && want_writable != c.writable_interest {
                c.writable_interest = want_writable;
                let _ = self.poll.registry().reregister(sock, token, interest);
            }
        }
        self.srv.stats.net_output_bytes += written;
        if close {
            self.close_client(cid);
        }
    }

    fn close_client(&mut self, cid: usize) {
        if let Some(mut c) = self.clients.try_remove(cid) {
            if let Some(state) = c.blocked.take() {
                self.srv.blocking.unpark(cid, &state);
            }
            for (kind, names) in [
                (crate::pubsub::Kind::Channel, &c.subs),
                (crate::pubsub::Kind::Pattern, &c.psubs),
                (crate::pubsub::Kind::Shard, &c.ssubs),
            ] {
                for name in names {
                    self.srv.pubsub.remove(kind, name, cid);
                }
            }
            if c.tracking.is_some() {
                self.srv.tracking.forget(c.id);
                self.srv.tracking.clients -= 1;
                self.srv.ks.tracking_on = self.srv.tracking.clients > 0;
            }
            if !c.watched.is_empty() {
                let keys: Vec<(usize, bytes::Bytes)> =
                    c.watched.drain(..).map(|(d, k, _)| (d, k)).collect();
                self.srv.ks.watches.unwatch_all(c.id, &keys);
            }
            if let Some(sock) = c.sock.as_mut() {
                let _ = self.poll.registry().deregister(sock);
            }
            self.pending_write.retain(|&x| x != cid);
            self.paused.retain(|&x| x != cid);
            self.gate.forget(cid);
        }
    }

    /// Gives back client buffers a burst grew, as Redis's client cron does: an empty query
    /// or output buffer is released when it grew past 64 KiB or its client has been idle
    /// for 2 seconds, so a bulk load or a pool of idle connections does not keep megabytes.
    fn release_idle_buffers(&mut self, now: u64) {
        const KEEP: usize = 64 * 1024;
        for (_, c) in self.clients.iter_mut() {
            let idle = now.saturating_sub(c.last_interaction) > 2000;
            if c.query.is_empty() && c.query.capacity() > 0 && (idle || c.query.capacity() > KEEP) {
                c.query = bytes::BytesMut::new();
            }
            if c.out.is_empty() && c.out.capacity() > 0 && (idle || c.out.capacity() > KEEP) {
                c.out = Vec::new();
            }
        }
    }

    /// The periodic tasks, `hz` times a second.
    fn cron(&mut self) {
        let now = self.srv.now_ms();
        let hz = self.srv.config.int(P::Hz).clamp(1, 500) as u32;
        let effort = self.srv.config.int(P::ActiveExpireEffort);
        self.srv.stats.sample(now);
        crate::latency::timed(&mut self.srv, "expire-cycle", |srv| {
            expire::active_expire_cycle(&mut srv.ks, hz, effort, now);
        });
        self.srv.propagation.feed_expired(&mut self.srv.ks);
        crate::aof::rewrite::cron(&mut self.srv);
        crate::memory::cron(&mut self.srv);
        crate::latency::timed(&mut self.srv, "active-defrag-cycle", crate::memory::defrag::cron);
        self.metrics.cron(&mut self.srv, &self.clients, self.poll.registry());
        crate::rdb::save::cron(&mut self.srv);
        crate::notify::flush_expired(&mut self.srv);
        if self.srv.ks.tracking_on && !self.srv.ks.invalidated.is_empty() {
            let keys = std::mem::take(&mut self.srv.ks.invalidated);
            crate::tracking::invalidate(&mut self.srv, &self.clients, Some(keys), None);
        }
        self.after_command();
        if self.srv.config.bool(P::Activerehashing) {
            // Redis gives rehashing 1 ms per cron tick.
            self.srv.ks.rehash(Duration::from_millis(1));
        }
        // Client idle timeout.
        let timeout = self.srv.config.int(P::Timeout) as u64;
        if timeout > 0 {
            let idle: Vec<usize> = self
                .clients
                .iter()
                // As in Redis, monitors and clients waiting in a blocking command or for
                // messages are not idle: their silence is expected.
                .filter(|(_, c)| {
                    c.sock.is_some()
                        && !self.srv.monitors.contains(c.id)
                        && c.blocked.is_none()
                        && !c.is_subscriber()
                        && now.saturating_sub(c.last_interaction) / 1000 > timeout
                })
                .map(|(k, _)| k)
                .collect();
            for cid in idle {
                self.srv.log.verbose("Closing idle client");
                self.close_client(cid);
            }
        }
        self.release_idle_buffers(now);
        // End of CLIENT PAUSE: run what was held back.
        if let Some(p) = self.srv.pause {
            if now >= p.until {
                self.srv.pause = None;
            }
        }
        if self.srv.pause.is_none() && !self.paused.is_empty() {
            let held = std::mem::take(&mut self.paused);
            for cid in held {
                self.process_input(cid);
            }
        }
    }
}

/// On exit: removes the unix socket file (if one was bound) and the pid file.
pub fn remove_runtime_files(srv: &Server, unix_path: Option<&str>) {
    if let Some(path) = unix_path {
        srv.log.notice("Removing the unix socket file.");
        let _ = std::fs::remove_file(path);
    }
    let pidfile = srv.config.str(P::Pidfile);
    if !pidfile.is_empty() {
        srv.log.notice("Removing the pid file.");
        let _ = std::fs::remove_file(pidfile);
    }
}

/// One class's line of `client-output-buffer-limit`; zero means no limit.
#[derive(Clone, Copy, Default)]
struct Limit {
    hard: u64,
    soft: u64,
    secs: u64,
}

/// `client-output-buffer-limit` for the classes Keel has clients of, re-parsed only when the
/// parameter's text changes (the check runs on every reply).
#[derive(Default)]
struct OutputLimits {
    text: String,
    normal: Limit,
    pubsub: Limit,
}

impl OutputLimits {
    fn refresh(&mut self, text: &str) {
        if self.text == text {
            return;
        }
        self.text = text.to_string();
        let words: Vec<&str> = text.split_whitespace().collect();
        let num = |t: &str| crate::config::parse_memory(t).unwrap_or(0).max(0) as u64;
        for chunk in words.chunks(4) {
            if let [class, hard, soft, secs] = chunk {
                let limit = Limit { hard: num(hard), soft: num(soft), secs: num(secs) };
                match class.to_ascii_lowercase().as_str() {
                    "normal" => self.normal = limit,
                    "pubsub" => self.pubsub = limit,
                    _ => {}
                }
            }
        }
    }
}

/// The type of key a blocking command waits for, by its ACL category.
fn awaited_type(spec: &crate::commands::spec::CommandSpec) -> Option<&'static str> {
    use crate::commands::spec::acl;
    if spec.acl & acl::LIST != 0 {
        Some("list")
    } else if spec.acl & acl::SORTEDSET != 0 {
        Some("zset")
    } else if spec.acl & acl::STREAM != 0 {
        Some("stream")
    } else {
        None
    }
}

/// Whether a command must wait during `CLIENT PAUSE WRITE` (writes, and commands that may
/// replicate such as EVAL, PUBLISH).
fn is_write_for_pause(argv: &[bytes::Bytes]) -> bool {
    use crate::commands::spec::flags;
    match dispatch::resolve(argv) {
        Ok(r) => r.spec.has(flags::WRITE) || r.spec.has(flags::MAY_REPLICATE),
        Err(_) => false,
    }
}
