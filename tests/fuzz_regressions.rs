//! Inputs that broke the parsers, replayed on every `cargo test` through the same checks the
//! fuzzers run (fuzz/harness.rs). Each lives in tests/fuzz-cases/<target>/ (target: idx,
//! weights or preprocess), named after what it broke. To keep a new crash from
//! `./build.sh fuzz`, copy fuzz/artifacts/<target>/crash-… there and fix the code until this
//! test passes.
#![cfg(not(target_arch = "wasm32"))]

#[path = "../fuzz/harness.rs"]
mod harness;

use std::panic::catch_unwind;
use std::path::{Path, PathBuf};

/// The check each fuzz target runs, by target name.
fn check_for(target: &str) -> fn(&[u8]) {
    match target {
        "idx" => harness::idx,
        "weights" => harness::weights,
        "preprocess" => harness::preprocess,
        other => panic!("tests/fuzz-cases/{other}: no fuzz target of that name"),
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    paths.sort();
    paths
}

#[test]
fn saved_crash_inputs_no_longer_break_anything() {
    let mut replayed = 0;
    let mut broken = Vec::new();
    for dir in files_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-cases")) {
        let check = check_for(dir.file_name().unwrap().to_str().unwrap());
        for input in files_in(&dir) {
            let bytes = std::fs::read(&input).unwrap();
            if catch_unwind(|| check(&bytes)).is_err() {
                broken.push(input);
            }
            replayed += 1;
        }
    }
    assert!(broken.is_empty(), "these inputs break the code again: {broken:?}");
    assert!(replayed > 0, "no saved inputs found in tests/fuzz-cases");
}
