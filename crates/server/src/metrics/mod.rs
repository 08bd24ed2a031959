//! Built-in metrics: a Prometheus text endpoint and a status page, served by the event loop.
//!
//! - `metrics-port` (Keel's own, 0 = off) opens HTTP listeners on the `bind` addresses.
//!   Each connection sends one request head (at most [`http::MAX_REQUEST`] bytes) and gets
//!   one response with `Connection: close`: `GET /metrics` the Prometheus text
//!   ([`prometheus`]), `GET /` the status page ([`page`]). Sockets are non-blocking and
//!   registered with the loop's poll; a response the socket does not take at once waits in
//!   the connection's buffer for a writable event, so a slow scraper never stalls commands.
//! - On the Redis port, a connection whose first line is `GET /<path> HTTP/1.x` is answered
//!   the same way (Redis would answer that line with an arity error, then close on the
//!   `Host:` line as a cross-protocol attack); any other first line is a Redis command.
//! - The figures come from the same places INFO reads ([`Snapshot`]); BullMQ queues from
//!   [`bullmq`]. The cron keeps one sample every [`SAMPLE_EVERY_MS`] for the last hour, the
//!   page's sparklines.

pub mod bullmq;
pub mod http;
pub mod page;
pub mod prometheus;

use crate::config::P;
use crate::net::client::Client;
use crate::server::Server;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use slab::Slab;
use std::collections::VecDeque;
use std::io::{self, Read, Write};

/// Tokens of the metrics listeners: `LISTENER_BASE + i`, below the client tokens.
const LISTENER_BASE: usize = 32;
/// At most this many metrics listeners (as many as `bind` addresses).
const MAX_LISTENERS: usize = 16;
/// Tokens of HTTP connections: `CONN_BASE + slab key`, far above any client token.
const CONN_BASE: usize = 1 << 40;
/// HTTP connections open at once; more are closed on accept.
const MAX_CONNS: usize = 64;
/// An HTTP connection that has not finished in this long is closed by the cron.
const CONN_TIMEOUT_MS: u64 = 10_000;
/// Interval of the history samples.
pub const SAMPLE_EVERY_MS: u64 = 10_000;
/// Samples kept: one hour.
pub const HISTORY_LEN: usize = 360;

/// One HTTP connection on the metrics port.
struct Conn {
    sock: TcpStream,
    /// The request bytes so far (bounded by [`http::MAX_REQUEST`] plus one read).
    req: Vec<u8>,
    /// The response, once built.
    out: Vec<u8>,
    /// How much of `out` was written.
    pos: usize,
    /// Accept time, Unix ms.
    since: u64,
}

/// One history point.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Unix ms.
    pub at: u64,
    /// `used_memory`.
    pub used: u64,
    /// Connected clients.
    pub clients: u64,
    /// `total_commands_processed` at that time.
    pub commands: u64,
    /// Each queue's backlog: ((db, name), jobs waiting).
    pub queues: Vec<(bullmq::QueueId, u64)>,
}

/// The metrics listeners, their connections and the history.
#[derive(Default)]
pub struct Metrics {
    listeners: Vec<TcpListener>,
    conns: Slab<Conn>,
    /// The last hour of samples, oldest first.
    pub history: VecDeque<Sample>,
    next_sample: u64,
}

/// What the Redis port made of a connection's first bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RedisPort {
    /// Not HTTP: parse commands as usual.
    NotHttp,
    /// An HTTP request head still arriving.
    Wait,
    /// Answered: the response is in the client's output buffer, the client closes after.
    Answered,
}

impl Metrics {
    /// Opens the `metrics-port` listeners on the `bind` addresses (none when the port is 0).
    pub fn bind(srv: &Server, registry: &Registry) -> io::Result<Metrics> {
        let mut m = Metrics::default();
        let port = srv.config.int(P::MetricsPort) as u16;
        if port == 0 {
            return Ok(m);
        }
        let backlog = srv.config.int(P::TcpBacklog) as i32;
        let binds = srv.config.str(P::Bind).to_string();
        m.listeners = crate::net::listener::bind_all(&binds, port, backlog, &srv.log)?;
        m.listeners.truncate(MAX_LISTENERS);
        for (i, l) in m.listeners.iter_mut().enumerate() {
            registry.register(l, Token(LISTENER_BASE + i), Interest::READABLE)?;
        }
        srv.log.notice(&format!("Metrics and status page on HTTP port {port}"));
        Ok(m)
    }

    /// True for the tokens [`Metrics::on_event`] handles.
    pub fn owns(token: Token) -> bool {
        (LISTENER_BASE..LISTENER_BASE + MAX_LISTENERS).contains(&token.0) || token.0 >= CONN_BASE
    }

    /// Handles readiness of a metrics listener or connection.
    pub fn on_event(
        &mut self,
        token: Token,
        registry: &Registry,
        srv: &mut Server,
        clients: &Slab<Client>,
    ) {
        if token.0 >= CONN_BASE {
            self.serve(token.0 - CONN_BASE, registry, srv, clients);
            return;
        }
        let Some(l) = self.listeners.get(token.0 - LISTENER_BASE) else { return };
        loop {
            let mut sock = match l.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    srv.log.verbose(&format!("Accepting metrics connection: {e}"));
                    return;
                }
            };
            if self.conns.len() >= MAX_CONNS {
                continue; // dropped: closed at once
            }
            let entry = self.conns.vacant_entry();
            let token = Token(CONN_BASE + entry.key());
            if registry.register(&mut sock, token, Interest::READABLE).is_err() {
                continue;
            }
            let since = srv.now_ms();
            entry.insert(Conn { sock, req: Vec::new(), out: Vec::new(), pos: 0, since });
        }
    }

    /// Reads a connection's request, answers it once complete, writes what the socket
    /// takes, and closes the connection when done or broken.
    fn serve(&mut self, key: usize, registry: &Registry, srv: &mut Server, clients: &Slab<Client>) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        let mut broken = false;
        if conn.out.is_empty() {
            let mut chunk = [0u8; 4096];
            loop {
                match conn.sock.read(&mut chunk) {
                    Ok(0) => {
                        broken = true;
                        break;
                    }
                    Ok(n) => {
                        conn.req.extend_from_slice(&chunk[..n]);
                        if conn.req.len() > http::MAX_REQUEST {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        broken = true;
                        break;
                    }
                }
            }
            let response = match http::parse(&conn.req) {
                http::Head::Incomplete if !broken => return,
                http::Head::Incomplete => None,
                http::Head::TooLarge => Some(http::error(431, "request too large")),
                http::Head::Bad => Some(http::error(400, "bad request")),
                http::Head::Request { method, path } => {
                    let route = http::route(method, path);
                    Some(respond(route, srv, clients, &self.history))
                }
            };
            let Some(conn) = self.conns.get_mut(key) else { return };
            match response {
                Some(r) => conn.out = r,
                None => return self.close(key, registry),
            }
        }
        let Some(conn) = self.conns.get_mut(key) else { return };
        while conn.pos < conn.out.len() {
            match conn.sock.write(&conn.out[conn.pos..]) {
                Ok(0) => return self.close(key, registry),
                Ok(n) => conn.pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let token = Token(CONN_BASE + key);
                    let _ = registry.reregister(&mut conn.sock, token, Interest::WRITABLE);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(key, registry),
            }
        }
        self.close(key, registry);
    }

    fn close(&mut self, key: usize, registry: &Registry) {
        if let Some(mut conn) = self.conns.try_remove(key) {
            let _ = registry.deregister(&mut conn.sock);
        }
    }

    /// The cron's part: BullMQ discovery, the history sample, stale connections.
    pub fn cron(&mut self, srv: &mut Server, clients: &Slab<Client>, registry: &Registry) {
        let cap = srv.config.int(P::MetricsMaxQueues).max(0) as usize;
        bullmq::cron(&mut srv.ks, srv.config.str(P::MetricsBullmqPrefix), cap);
        let now = srv.now_ms();
        if now >= self.next_sample {
            self.next_sample = now + SAMPLE_EVERY_MS;
            let queues = bullmq::collect(&mut srv.ks, false)
                .into_iter()
                .map(|q| ((q.db, q.name.clone()), q.backlog()))
                .collect();
            let sample = Sample {
                at: now,
                used: crate::memory::used(srv),
                clients: connected(clients),
                commands: srv.stats.commands,
                queues,
            };
            if self.history.len() == HISTORY_LEN {
                self.history.pop_front();
            }
            self.history.push_back(sample);
        }
        let stale: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| now.saturating_sub(c.since) > CONN_TIMEOUT_MS)
            .map(|(k, _)| k)
            .collect();
        for key in stale {
            self.close(key, registry);
        }
    }

    /// Answers an HTTP request arriving on the Redis port as a connection's first bytes.
    /// Only a first line of the form `GET /<path> HTTP/1.x` counts: Redis answers such a
    /// line with an arity error, so no valid command is taken away. A client that must
    /// authenticate gets 401.
    pub fn redis_port(
        &self,
        srv: &mut Server,
        clients: &mut Slab<Client>,
        cid: usize,
    ) -> RedisPort {
        let Some(c) = clients.get(cid) else { return RedisPort::NotHttp };
        if c.commands != 0 || c.close_after_reply || !c.query.starts_with(b"GET /") {
            return RedisPort::NotHttp;
        }
        let Some(nl) = c.query.iter().position(|&b| b == b'\n') else {
            // The inline parser would wait for the line too; past the HTTP bound it is left
            // to the parser's own inline limit.
            return if c.query.len() > http::MAX_REQUEST {
                RedisPort::NotHttp
            } else {
                RedisPort::Wait
            };
        };
        if http::request_line(&c.query[..nl]).is_none() {
            return RedisPort::NotHttp;
        }
        let route = match http::parse(&c.query) {
            http::Head::Incomplete => return RedisPort::Wait,
            http::Head::Request { method, path } => Ok(http::route(method, path)),
            http::Head::TooLarge => Err(http::error(431, "request too large")),
            http::Head::Bad => Err(http::error(400, "bad request")),
        };
        let authenticated = c.authenticated;
        srv.log.verbose(&format!("HTTP request on the Redis port from {}", c.addr));
        let response = match route {
            Ok(_) if !authenticated => http::error(401, "NOAUTH: requirepass is set"),
            Ok(route) => respond(route, srv, clients, &self.history),
            Err(r) => r,
        };
        let Some(c) = clients.get_mut(cid) else { return RedisPort::NotHttp };
        c.query.clear();
        c.out.extend_from_slice(&response);
        c.close_after_reply = true;
        RedisPort::Answered
    }
}

/// Builds the response to a routed request.
fn respond(
    route: http::Route,
    srv: &mut Server,
    clients: &Slab<Client>,
    history: &VecDeque<Sample>,
) -> Vec<u8> {
    match route {
        http::Route::Metrics => {
            let snap = Snapshot::gather(srv, clients);
            let body = prometheus::render(&snap);
            http::response(200, "text/plain; version=0.0.4; charset=utf-8", body.as_bytes())
        }
        http::Route::Page => {
            let snap = Snapshot::gather(srv, clients);
            let body = page::render(&snap, history);
            http::response(200, "text/html; charset=utf-8", body.as_bytes())
        }
        http::Route::NotFound => http::error(404, "not found: try /metrics or /"),
        http::Route::NotAllowed => http::error(405, "method not allowed"),
    }
}

/// Clients with a socket (INFO's `connected_clients`).
fn connected(clients: &Slab<Client>) -> u64 {
    clients.iter().filter(|(_, c)| c.sock.is_some()).count() as u64
}

/// Every figure a scrape or the page shows, read once from where INFO reads it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Unix ms.
    pub now: u64,
    /// `uptime_in_seconds`.
    pub uptime: u64,
    /// `used_memory`.
    pub used: u64,
    /// `maxmemory` (0 = no limit).
    pub maxmemory: u64,
    /// `used_memory_rss`.
    pub rss: u64,
    /// `mem_fragmentation_ratio`.
    pub frag: f64,
    /// `connected_clients`.
    pub clients: u64,
    /// `blocked_clients`.
    pub blocked: u64,
    /// `total_commands_processed`.
    pub commands: u64,
    /// Per command: (name, calls, microseconds), by name.
    pub per_command: Vec<(String, u64, u64)>,
    /// Per error code: (code, count).
    pub errors: Vec<(String, u64)>,
    /// `keyspace_hits`.
    pub hits: u64,
    /// `keyspace_misses`.
    pub misses: u64,
    /// `expired_keys`.
    pub expired: u64,
    /// `evicted_keys`.
    pub evicted: u64,
    /// Non-empty databases: (db, keys, keys with an expire time).
    pub dbs: Vec<(usize, u64, u64)>,
    /// `aof_enabled`.
    pub aof_enabled: bool,
    /// `aof_last_write_status` is ok.
    pub aof_write_ok: bool,
    /// `aof_last_bgrewrite_status` is ok.
    pub aof_rewrite_ok: bool,
    /// `aof_rewrite_in_progress`.
    pub aof_rewriting: bool,
    /// `rdb_last_bgsave_status` is ok.
    pub rdb_ok: bool,
    /// `rdb_bgsave_in_progress`.
    pub rdb_saving: bool,
    /// `rdb_changes_since_last_save`.
    pub rdb_changes: u64,
    /// `rdb_last_save_time` (Unix seconds).
    pub last_save: u64,
    /// `total_net_input_bytes`.
    pub net_in: u64,
    /// `total_net_output_bytes`.
    pub net_out: u64,
    /// The tracked BullMQ queues.
    pub queues: Vec<bullmq::QueueFigures>,
    /// Queues seen but not exported for `metrics-max-queues`.
    pub queues_truncated: bool,
}

impl Snapshot {
    /// Reads every figure.
    pub fn gather(srv: &mut Server, clients: &Slab<Client>) -> Snapshot {
        let rep = crate::memory::Report::gather(srv, clients);
        let mut per_command: Vec<(String, u64, u64)> =
            srv.stats.cmd.iter().map(|(n, s)| (n.clone(), s.calls, s.usec)).collect();
        per_command.sort();
        let dbs = srv
            .ks
            .dbs()
            .iter()
            .enumerate()
            .filter(|(_, d)| !d.is_empty())
            .map(|(i, d)| (i, d.len() as u64, d.expires_len() as u64))
            .collect();
        let queues = bullmq::collect(&mut srv.ks, true);
        let aof = &srv.propagation;
        Snapshot {
            now: srv.now_ms(),
            uptime: srv.start_instant.elapsed().as_secs(),
            used: rep.used,
            maxmemory: srv.config.int(P::Maxmemory).max(0) as u64,
            rss: rep.rss,
            frag: rep.ratios()[3].0,
            clients: connected(clients),
            blocked: srv.blocking.count as u64,
            commands: srv.stats.commands,
            per_command,
            errors: srv.stats.errors.iter().map(|(c, n)| (c.clone(), *n)).collect(),
            hits: srv.ks.stats.hits,
            misses: srv.ks.stats.misses,
            expired: srv.ks.stats.expired,
            evicted: srv.stats.evicted_keys,
            dbs,
            aof_enabled: aof.log.is_some(),
            aof_write_ok: aof.stats.last_write_ok,
            aof_rewrite_ok: aof.stats.last_rewrite_ok,
            aof_rewriting: aof.rewrite_job.is_some(),
            rdb_ok: srv.rdb.last_ok,
            rdb_saving: srv.rdb.in_progress(),
            rdb_changes: crate::rdb::save::changes_since_save(srv),
            last_save: srv.lastsave,
            net_in: srv.stats.net_input_bytes,
            net_out: srv.stats.net_output_bytes,
            queues,
            queues_truncated: srv.ks.queues.overflow,
        }
    }
}
