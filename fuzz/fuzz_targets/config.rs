//! cargo-fuzz target `config`: see `keel_server::testing::fuzz::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keel_server::testing::fuzz::config(data));
