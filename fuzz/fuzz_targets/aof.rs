//! cargo-fuzz target `aof`: see `keel_server::testing::fuzz::aof`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keel_server::testing::fuzz::aof(data));
