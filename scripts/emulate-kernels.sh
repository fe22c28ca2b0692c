#!/usr/bin/env bash
# Runs every CUDA kernel on a CPU emulation of CUDA (one host thread per CUDA
# thread, barriers for __syncthreads and warp shuffles) against float64
# references: the kernels' indexing, tiling, split K and reductions are
# checked on machines without a GPU. Needs g++ with C++20 (<barrier>).
set -euo pipefail
cd "$(dirname "$0")/../crates/forma-cuda/kernels"
bin=$(mktemp -d)/check
g++ -std=c++20 -O1 -pthread -Wall -Wextra -Wno-unknown-pragmas -Werror -o "$bin" emulate/check.cpp
"$bin"
