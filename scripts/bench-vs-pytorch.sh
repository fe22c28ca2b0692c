#!/usr/bin/env bash
# Runs forma's CPU training-step benchmarks and the same workloads in PyTorch
# eager (benches/reference/pytorch_reference.py) one after the other on this
# machine, then prints one table: workload, forma, PyTorch, ratio; with the
# peers (dfdx, candle) as further columns when target/peers holds their JSON
# (scripts/bench-peers.sh: run it in the same session, it is not rerun here).
#
# Needs PyTorch in benches/reference/.venv (kept out of CI, about 3 GB):
#   python3 -m venv benches/reference/.venv
#   benches/reference/.venv/bin/pip install torch numpy
# Usage: scripts/bench-vs-pytorch.sh [THREADS...]   (PyTorch's thread counts, default "1 2";
#        forma uses its thread pool; FORMA_THREADS=1 forma for one thread)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=("${@:-1 2}")
[ $# -gt 0 ] || threads=(1 2)
py=benches/reference/.venv/bin/python
[ -x "$py" ] || { echo "PyTorch venv missing: see the comment at the top of $0" >&2; exit 1; }

cargo bench --bench training_step -- --noplot >&2
refs=()
for t in "${threads[@]}"; do
  "$py" benches/reference/pytorch_reference.py --threads "$t" > "target/pytorch_reference_$t.json"
  refs+=("target/pytorch_reference_$t.json")
done
# The peers' columns too, if scripts/bench-peers.sh has been run.
shopt -s nullglob
peers=(target/peers/dfdx_*.json target/peers/candle_*.json)
python3 scripts/bench_table.py target/criterion "${refs[@]}" "${peers[@]}"
