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
    cargo build --release --features cuda --example xor_cuda
    cp target/release/examples/xor_cuda "$out/"
    cp benches/reference/pytorch_cuda.py "$out/"
    ls -la "$out"
    ;;
run)
    # Logs go to $OUT when the device tool sets it (they come back), else
    # beside the binaries.
    logs=${OUT:-$out}
    mkdir -p "$logs"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader || true
    echo "== CUDA tests"
    "$out/cuda-test" --test-threads=1 --nocapture 2>&1 | tee "$logs/tests.log" || true
    if grep -q "skipped, no CUDA device" "$logs/tests.log"; then
        echo "no GPU was usable: the tests skipped"; exit 1
    fi
    grep -q "test result: ok" "$logs/tests.log" || echo "CUDA TESTS FAILED (going on to measure)"
    echo "== the xor_cuda example"
    "$out/xor_cuda" 2>&1 | tail -8 | tee "$logs/xor_cuda.log" || true
    echo "== forma benches"
    "$out/cuda-bench" --bench 2>&1 | tee "$logs/bench.log" | grep -E "^cuda/|time:|thrpt:" || true
    echo "== PyTorch reference"
    python3 "$out/pytorch_cuda.py" | tee "$logs/pytorch.tsv"
    python3 - "$logs" <<'PY'
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
    for label in ("forma", "forma_unchecked"):
        tf = forma.get(f"cuda/mlp_64x4_sigmoid_b2^{log2}/{label}")
        if tf:
            rows = 1 << log2
            print(f"| MLP 64x4 sigmoid b2^{log2} ({label}) | {rows/tf:,.0f} samples/s ({tf*1e6:.0f} us) | {rows/tp:,.0f} samples/s ({tp*1e6:.0f} us) | {tp/tf:.2f} |")
PY
    if command -v compute-sanitizer >/dev/null; then
        echo "== compute-sanitizer memcheck on the primitive and one-step tests"
        rc=0
        timeout 100 compute-sanitizer --tool memcheck --error-exitcode 9 \
            "$out/cuda-test" --test-threads=1 every_primitive one_step fused_linear not_a_class \
            >"$logs/memcheck.log" 2>&1 || rc=$?
        echo "memcheck exit $rc (0: clean; 9: errors; 124: timed out)"
        grep -E "ERROR SUMMARY|test result" "$logs/memcheck.log" || true
    fi
    if command -v ncu >/dev/null; then
        echo "== ncu: the kernels of one MLP training step at batch 2^18 (clocks left alone)"
        timeout 120 ncu --clock-control none --launch-skip 400 --launch-count 40 \
            --metrics gpu__time_duration.sum --csv \
            "$out/cuda-bench" --bench 'mlp_64x4_sigmoid_b2.18/forma$' >"$logs/ncu.csv" 2>"$logs/ncu.err" || true
        python3 - "$logs/ncu.csv" <<'PY'
import csv, sys, collections
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
if not rows:
    print("ncu gave no rows"); sys.exit()
head = rows[0]
k, u, v = head.index("Kernel Name"), head.index("Metric Unit"), head.index("Metric Value")
tot = collections.defaultdict(lambda: [0, 0.0])
for r in rows[1:]:
    scale = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3}[r[u]]
    t = tot[r[k].split("(")[0]]
    t[0] += 1
    t[1] += float(r[v].replace(",", "")) * scale
for name, (n, us) in sorted(tot.items(), key=lambda x: -x[1][1]):
    print(f"{name:40s} {n:4d} launches {us:10.1f} us")
PY
    fi
    ;;
*)
    echo "usage: $0 build|run"; exit 2 ;;
esac
