//! Keel: a Redis-compatible server for job queues.
//!
//! Module map, top to bottom (a layer calls only the layers below it):
//! - [`event_loop`]: the mio loop; sockets, reading, the persist-then-reply stage, cron.
//! - [`net`]: client state and listeners; knows no command.
//! - [`dispatch`]: lookup, generic gates, stats, propagation hand-off.
//! - [`commands`]: the command table and one file per command family; thin handlers.
//! - [`keyspace`]: databases, lazy and active expiry; the only way to add or delete keys.
//! - [`types`]: values and their encodings; no RESP, no error texts.
//!
//! Beside them: [`config`] (the parameter table), [`error`] (every error text), [`info`]
//! (INFO rendering), [`stats`], [`aof`] (the persistence hook), [`log`], [`memory`]
//! (accounting, `maxmemory` eviction and the OOM gate), [`metrics`] (Prometheus endpoint and
//! status page).

pub mod acl;
pub mod aof;
pub mod args;
pub mod blocking;
pub mod clock;
pub mod commands;
pub mod config;
pub mod dispatch;
pub mod error;
pub mod event_loop;
pub mod glob;
pub mod info;
pub mod keyspace;
pub mod latency;
pub mod loading;
pub mod log;
pub mod memory;
pub mod metrics;
pub mod monitor;
pub mod net;
pub mod notify;
pub mod pubsub;
pub mod rdb;
pub mod scripting;
pub mod server;
pub mod stats;
pub mod testing;
pub mod tracking;
pub mod types;

/// The Redis version Keel reports (`redis_version`): clients gate features on it.
pub const REDIS_VERSION: &str = "7.2.4";
/// Keel's own version (`keel_version`).
pub const KEEL_VERSION: &str = env!("CARGO_PKG_VERSION");
