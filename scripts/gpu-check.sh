#!/usr/bin/env bash
# The CUDA check in two halves.
#
#   scripts/gpu-check.sh build   (here, with Rust and libcuda1; no GPU needed)
#       builds the CUDA test and bench binaries with --features cuda and copies
#       them, with the PyTorch reference and the example data, to device-bin/
#       (git-ignored), ready to carry to a GPU machine.
#   scripts/gpu-check.sh run     (on the GPU machine, from the repository root)
#       runs every CUDA test (they fail, not skip, when a GPU is present and a
#       result is wrong), then the benches and PyTorch's reference in the same
#       call, and prints a table: forma beside PyTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
out=device-bin

case "${1:-}" in
build)
    export CUDA_LIBRARY_PATH=${CUDA_LIBRARY_PATH:-/usr}
    rm -rf "$out" && mkdir -p "$out"
    for kind in test bench; do
        if [ $kind = test ]; then
            args=(test --release --features cuda --test cuda --no-run)
        else
            args=(bench --features cuda --bench cuda --no-run)
        fi
        exe=$(cargo "${args[@]}" --message-format=json 2>/dev/null |
            python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "cuda":
        print(m["executable"])' | tail -1)
        cp "$exe" "$out/cuda-$kind"
    done
    cp benches/reference/pytorch_cuda.py "$out/"
    ls -la "$out"
    ;;
run)
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    echo "== CUDA tests"
    "$out/cuda-test" --test-threads=1 2>&1 | tee "$out/tests.log"
    if grep -q "skipped, no CUDA device" "$out/tests.log"; then
        echo "no GPU was usable: the tests skipped"; exit 1
    fi
    echo "== forma benches"
    "$out/cuda-bench" --bench 2>&1 | tee "$out/bench.log" | grep -E "^cuda/|time:|thrpt:" || true
    echo "== PyTorch reference"
    python3 "$out/pytorch_cuda.py" | tee "$out/pytorch.tsv"
    python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
units = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
forma, name = {}, None
for line in open(f"{out}/bench.log"):
    m = re.match(r"^(cuda/\S+)", line)
    if m:
        name = m.group(1)
    m = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
    if m and name:
        forma[name] = float(m.group(1)) * units[m.group(2)]
torch = dict(l.split("\t") for l in open(f"{out}/pytorch.tsv").read().split("\n") if "\t" in l)
print(f"\n| workload | forma | PyTorch | forma / PyTorch speed |")
print("|---|---|---|---|")
for n in (1024, 4096):
    tp = float(torch[f"sgemm_{n}"])
    for layout in ("Nt", "Nn", "Tn"):
        tf = forma.get(f"cuda/sgemm_{n}/forma_{layout}")
        if tf:
            print(f"| SGEMM {n}³ {layout} | {2*n**3/tf/1e9:.0f} GFLOP/s | {2*n**3/tp/1e9:.0f} GFLOP/s (cuBLAS, TF32 off) | {tp/tf:.2f} |")
for log2 in (14, 18):
    tp = float(torch[f"mlp_b2^{log2}"])
    tf = forma.get(f"cuda/mlp_64x4_sigmoid_b2^{log2}/forma")
    if tf:
        rows = 1 << log2
        print(f"| MLP 64x4 sigmoid b2^{log2} | {rows/tf:,.0f} samples/s | {rows/tp:,.0f} samples/s | {tp/tf:.2f} |")
PY
    ;;
*)
    echo "usage: $0 build|run"; exit 2 ;;
esac
