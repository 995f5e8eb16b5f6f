#![no_main]
//! libFuzzer target: see `harness::weights` for what must hold.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::weights(data));
