//! Networking: client state and listening sockets. Nothing here knows any command.

pub mod client;
pub mod listener;
