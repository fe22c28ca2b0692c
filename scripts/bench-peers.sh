#!/usr/bin/env bash
# Builds the peers benchmark (benches/peers: the workloads of
# benches/reference/pytorch_reference.py in dfdx 0.13 and candle, CPU only) and
# runs each with --threads 1 and --threads 2, writing one JSON file per library
# and thread count, in the reference script's format ("library" in place of
# "torch"): OUT_DIR/dfdx_1.json, dfdx_2.json, candle_1.json, candle_2.json.
#
# Not part of CI: the first build downloads and compiles dfdx and candle (minutes).
# Usage: scripts/bench-peers.sh [OUT_DIR]   (default target/peers)
# Env: CARGO_TARGET_DIR (default /tmp/peers-target), CARGO_BUILD_JOBS (default 1),
#      PEERS_THREADS (thread counts, default "1 2").
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/peers}
mkdir -p "$out"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/peers-target}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
read -r -a threads <<< "${PEERS_THREADS:-1 2}"

for lib in dfdx candle; do
  start=$(date +%s)
  cargo build --release --locked --manifest-path benches/peers/Cargo.toml -p "peers-$lib" >&2
  echo "built peers-$lib in $(( $(date +%s) - start )) s" >&2
done
for lib in dfdx candle; do
  for t in "${threads[@]}"; do
    echo "== $lib, $t thread(s)" >&2
    "$CARGO_TARGET_DIR/release/peers-$lib" --threads "$t" > "$out/${lib}_$t.json"
  done
done
ls "$out"/*.json
