//! cargo-fuzz target `rdb`: see `keel_server::testing::fuzz::rdb`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keel_server::testing::fuzz::rdb(data));
