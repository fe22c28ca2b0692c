#!/usr/bin/env bash
# Regenerates the committed PTX beside each CUDA kernel source:
#   crates/forma-cuda/kernels/NAME.cu -> NAME.ptx (.version 7.8, .target sm_75)
# with nvcc 11.8 and -arch=compute_75, so one PTX JIT-compiles on Turing
# through Hopper. The build never runs this; only a kernel change needs it.
# nvcc on Debian 12: add `contrib non-free` to the apt sources, then
#   apt-get install --no-install-recommends nvidia-cuda-toolkit
set -euo pipefail
cd "$(dirname "$0")/../crates/forma-cuda/kernels"
nvcc --version | tail -1
for cu in *.cu; do
    nvcc -ptx -arch=compute_75 "$cu" -o "${cu%.cu}.ptx"
    grep -q '^.version 7.8' "${cu%.cu}.ptx" || { echo "${cu%.cu}.ptx: expected .version 7.8 (nvcc 11.8)"; exit 1; }
    echo "$cu -> ${cu%.cu}.ptx"
done
# What the PTX was generated from: scripts/check-ptx.sh fails when a source
# changed without regenerating.
sha256sum *.cu *.cuh >ptx-sources.sha256
echo "ptx-sources.sha256 updated"
