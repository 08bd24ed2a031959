//! cargo-fuzz target `resp_request`: see `keel_server::testing::fuzz::resp_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keel_server::testing::fuzz::resp_request(data));
