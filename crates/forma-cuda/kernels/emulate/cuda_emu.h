// A CPU emulation of the small part of CUDA that forma's kernels use, so their
// indexing, tiling, split-K and reductions can be checked on a machine with
// no GPU (scripts/emulate-kernels.sh). Every CUDA thread of a block is a host
// thread; __syncthreads is a barrier; __shared__ variables are function
// statics, shared by the block's threads (blocks run one after another).
// It checks logic, not timing, memory model corner cases or performance.
#pragma once
#include <algorithm>
#include <atomic>
#include <barrier>
#include <cmath>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};
struct alignas(16) float4 {
    float x, y, z, w;
};

inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;
inline std::barrier<>* emu_barrier = nullptr;
inline std::vector<std::barrier<>*> emu_warp_barriers;
inline std::vector<float> emu_shuffle;

#define __global__
#define __device__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(n)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

using std::max;
using std::min;
using std::isfinite;

inline void __syncthreads() { emu_barrier->arrive_and_wait(); }

inline unsigned emu_tid() { return (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x; }

// Every thread of the warp calls this together (true of forma's kernels,
// which shuffle with the full mask); warps synchronise separately.
inline float __shfl_down_sync(unsigned, float v, int offset) {
    unsigned tid = emu_tid();
    std::barrier<>* warp = emu_warp_barriers[tid / 32];
    emu_shuffle[tid] = v;
    warp->arrive_and_wait();
    unsigned lane = tid & 31;
    float r = lane + offset < 32 && tid + offset < emu_shuffle.size() ? emu_shuffle[tid + offset] : v;
    warp->arrive_and_wait();
    return r;
}

inline float atomicAdd(float* p, float v) { return std::atomic_ref<float>(*p).fetch_add(v); }

// Runs kernel(args...) over grid x block, one host thread per CUDA thread.
template <class... P, class... A>
void emu_launch(void (*kernel)(P...), dim3 grid, dim3 block, A... args) {
    gridDim = grid;
    blockDim = block;
    unsigned n = block.x * block.y * block.z;
    emu_shuffle.assign(n, 0.0f);
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                std::barrier<> bar(n);
                emu_barrier = &bar;
                std::vector<std::unique_ptr<std::barrier<>>> warps;
                emu_warp_barriers.clear();
                for (unsigned w = 0; w < n; w += 32) {
                    warps.push_back(std::make_unique<std::barrier<>>(std::min(32u, n - w)));
                    emu_warp_barriers.push_back(warps.back().get());
                }
                std::vector<std::thread> threads;
                for (unsigned t = 0; t < n; ++t)
                    threads.emplace_back([=] {
                        blockIdx = {bx, by, bz};
                        threadIdx = {t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
                        kernel(static_cast<P>(args)...);
                    });
                for (auto& th : threads) th.join();
            }
}
