// Shared device helpers for forma's kernels: the activation formulas (the
// same as forma_core::math::pointwise, in CUDA C) and a block-wide sum.
#pragma once

// Activation codes, as forma-cuda's Rust side passes them.
#define FORMA_IDENTITY 0
#define FORMA_SIGMOID 1
#define FORMA_RELU 2
#define FORMA_TANH 3
#define FORMA_LEAKY_RELU 4

// Bias layouts, as forma-cuda's Rust side passes them.
#define FORMA_BIAS_NONE 0
#define FORMA_BIAS_SHARED 1
#define FORMA_BIAS_PER_COLUMN 2

__device__ __forceinline__ float forma_act(int act, float slope, float x) {
    switch (act) {
    case FORMA_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case FORMA_RELU: return x <= 0.0f ? 0.0f : x;  // NaN stays NaN, as in PyTorch
    case FORMA_TANH: return tanhf(x);
    case FORMA_LEAKY_RELU: return x > 0.0f ? x : slope * x;
    default: return x;
    }
}

// dy/dx given the input x and the output y = f(x).
__device__ __forceinline__ float forma_act_grad(int act, float slope, float x, float y) {
    switch (act) {
    case FORMA_SIGMOID: return y * (1.0f - y);
    case FORMA_RELU: return x > 0.0f ? 1.0f : 0.0f;
    case FORMA_TANH: return 1.0f - y * y;
    case FORMA_LEAKY_RELU: return x > 0.0f ? 1.0f : slope;
    default: return 1.0f;
    }
}

// The sum of v over a block of blockDim.x * blockDim.y threads (a multiple of
// 32, at most 1024); the result is valid in thread 0. Every thread must call it.
__device__ __forceinline__ float forma_block_sum(float v) {
    __shared__ float warp_sums[32];
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    int tid = threadIdx.y * blockDim.x + threadIdx.x;
    int lane = tid & 31, warp = tid >> 5;
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    int warps = (blockDim.x * blockDim.y) >> 5;
    v = tid < warps ? warp_sums[tid] : 0.0f;
    if (warp == 0) {
        for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    }
    return v;
}

// Grid-stride loop over [0, n), with a 64-bit index: near n = 2^31 a 32-bit
// index would wrap negative on its last stride and still pass `i < n`.
#define FORMA_FOR_EACH(i, n)                                                              \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (long long)(n); \
         i += (long long)blockDim.x * gridDim.x)
