//! TCP integration tests: a real keel-server on a free loopback port, real clients.

// Test code may panic on unexpected failures: that is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod abuse;
mod acl;
mod aof;
mod busy;
mod config;
mod connection;
mod defrag;
mod durability;
mod expire;
mod functions;
mod geo_notify;
mod info;
mod limits;
mod list_blocking;
mod loading;
mod memory;
mod monitor;
mod notifications;
mod protocol;
mod pubsub;
mod rdb;
mod real_clients;
mod redis_cli;
mod snapshot;
mod stream_blocking;
mod tls;
mod tracking;
mod transactions;
mod waitaof;
mod zset_blocking;
