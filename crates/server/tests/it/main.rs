//! TCP integration tests: a real keel-server on a free loopback port, real clients.

#[path = "../common/mod.rs"]
mod common;

mod config;
mod connection;
mod expire;
mod protocol;
mod real_clients;
