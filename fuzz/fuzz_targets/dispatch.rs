//! cargo-fuzz target `dispatch`: see `keel_server::testing::fuzz::dispatch`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keel_server::testing::fuzz::dispatch(data));
