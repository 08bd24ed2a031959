//! cargo-fuzz target `restore`: see `keel_server::testing::fuzz::restore`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keel_server::testing::fuzz::restore(data));
