#![no_main]
//! libFuzzer target: see `harness::preprocess` for what must hold.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::preprocess(data));
