// Reductions for bias gradients. Both add into a zeroed output with
// atomicAdd, one partial sum per block.
#include "forma.cuh"

// out[j] += sum over rows [blockIdx.y * chunk, ...) of dy[r][j], for a block
// of 32 x 8 threads covering 32 columns; out must be zeroed first.
extern "C" __global__ void forma_column_sums(int rows, int cols, int chunk, const float* __restrict__ dy,
                                             float* __restrict__ out) {
    __shared__ float partial[8][33];
    int col = blockIdx.x * 32 + threadIdx.x;
    int begin = blockIdx.y * chunk;
    int end = min(rows, begin + chunk);
    float s = 0.0f;
    if (col < cols) {
        for (long long r = begin + threadIdx.y; r < end; r += 8) s += dy[(size_t)r * cols + col];
    }
    partial[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && col < cols) {
        float t = 0.0f;
        for (int i = 0; i < 8; ++i) t += partial[i][threadIdx.x];
        atomicAdd(&out[col], t);
    }
}

// out[0] += sum of x[0..n); out must be zeroed first.
extern "C" __global__ void forma_sum(int n, const float* __restrict__ x, float* __restrict__ out) {
    float s = 0.0f;
    FORMA_FOR_EACH(i, n) { s += x[i]; }
    s = forma_block_sum(s);
    if (threadIdx.x == 0) atomicAdd(out, s);
}

// out[slot] += the number of elements of x[0..n) that are NaN or infinite:
// the trainer's finiteness checks, one per buffer, read back together.
extern "C" __global__ void forma_count_nonfinite(int n, const float* __restrict__ x, float* __restrict__ out,
                                                 int slot) {
    float s = 0.0f;
    FORMA_FOR_EACH(i, n) { s += isfinite(x[i]) ? 0.0f : 1.0f; }
    s = forma_block_sum(s);
    if (threadIdx.x == 0 && threadIdx.y == 0 && s != 0.0f) atomicAdd(&out[slot], s);
}

// out[r] = sum of x[r][0..cols), for every row: one block per row at a time
// (grid-stride over rows), its threads striding over the columns.
extern "C" __global__ void forma_row_sums(int rows, int cols, const float* __restrict__ x, float* __restrict__ out) {
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        float s = 0.0f;
        for (int c = threadIdx.x; c < cols; c += blockDim.x) s += x[(size_t)r * cols + c];
        s = forma_block_sum(s);
        if (threadIdx.x == 0) out[r] = s;
        __syncthreads();  // the block sum's shared memory is reused next row
    }
}
