// SGEMM for the three layouts a layer needs, C[m x n] overwritten (or, with
// split K, accumulated into a zeroed C):
//   forma_sgemm_nt: C = A[m x k] . B[n x k]^T   (forward x . W^T)
//   forma_sgemm_nn: C = A[m x k] . B[k x n]     (input gradient dy . W)
//   forma_sgemm_tn: C = A[k x m]^T . B[k x n]   (weight gradient dy^T . x)
//
// One templated kernel: 128 x 128 tiles of C per block of 256 threads (grid
// x over rows, y over columns, z over splits of K), K in
// steps of 8 through shared memory, and an 8 x 8 register block per thread
// (rows ty*4 + {0..3} and 64 + ty*4 + {0..3}, columns likewise, so that
// shared-memory reads are float4 and conflict-free). Global loads are float4
// when the contiguous dimension is a multiple of 4, else scalar and
// bounds-checked. gridDim.z > 1 splits K; each split adds its part with
// atomicAdd (the caller zeroes C first).
//
// forma_sgemm_nt_bias_act is a linear layer's whole forward: the NT product
// with the bias added and the activation applied as each C element is
// written (never with split K).
#include "forma.cuh"

#define BM 128
#define BN 128
#define BK 8

// Loads the BK x 128 tile of operand P, (r, kk) for r in [r0, r0 + 128) and
// kk in [k0, k0 + BK), into S[kk][r]; zero where r >= R or kk >= k_lim.
// K_CONTIG: element (r, kk) is at P[r * K + kk]; else at P[kk * R + r].
template <bool K_CONTIG>
__device__ __forceinline__ void load_tile(const float* __restrict__ P, int R, int K, int k_lim,
                                          int r0, int k0, float (*S)[BM]) {
    int t = threadIdx.x;
    if (K_CONTIG) {
        int r = t >> 1, kk = (t & 1) * 4;
        int gr = r0 + r, gk = k0 + kk;
        float v[4];
        if ((K & 3) == 0 && gr < R && gk + 3 < k_lim) {
            float4 q = *reinterpret_cast<const float4*>(P + (size_t)gr * K + gk);
            v[0] = q.x; v[1] = q.y; v[2] = q.z; v[3] = q.w;
        } else {
            for (int j = 0; j < 4; ++j)
                v[j] = (gr < R && gk + j < k_lim) ? P[(size_t)gr * K + gk + j] : 0.0f;
        }
        for (int j = 0; j < 4; ++j) S[kk + j][r] = v[j];
    } else {
        int kk = t >> 5, r = (t & 31) * 4;
        int gr = r0 + r, gk = k0 + kk;
        if ((R & 3) == 0 && gk < k_lim && gr < R) {
            *reinterpret_cast<float4*>(&S[kk][r]) =
                *reinterpret_cast<const float4*>(P + (size_t)gk * R + gr);
        } else {
            for (int j = 0; j < 4; ++j)
                S[kk][r + j] = (gk < k_lim && gr + j < R) ? P[(size_t)gk * R + gr + j] : 0.0f;
        }
    }
}

// What is done to each element of C as it is written.
struct Epilogue {
    const float* bias;
    int bias_kind, act;
    float slope;
};

// The epilogue's activation, called (not inlined) from the 64 unrolled
// output slots: inlined, its switch (tanhf, expf) would multiply the kernel's
// code twentyfold.
__device__ __noinline__ float epilogue_act(int act, float slope, float x) {
    return forma_act(act, slope, x);
}

template <bool A_K_CONTIG, bool B_K_CONTIG, bool EPILOGUE>
__device__ __forceinline__ void sgemm(int m, int n, int k, const float* __restrict__ A,
                                      const float* __restrict__ B, float* __restrict__ C, Epilogue epi) {
    __shared__ __align__(16) float As[BK][BM];
    __shared__ __align__(16) float Bs[BK][BN];
    int row0 = blockIdx.x * BM, col0 = blockIdx.y * BN;
    int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;

    // This block's share of K (all of it unless split).
    int chunk = (((k + gridDim.z - 1) / gridDim.z) + BK - 1) / BK * BK;
    int k_begin = blockIdx.z * chunk;
    int k_end = min(k, k_begin + chunk);

    float acc[8][8];
    for (int i = 0; i < 8; ++i)
        for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

    for (int k0 = k_begin; k0 < k_end; k0 += BK) {
        // Elements at k_end and past it belong to the next split: masked.
        load_tile<A_K_CONTIG>(A, m, k, k_end, row0, k0, As);
        load_tile<B_K_CONTIG>(B, n, k, k_end, col0, k0, Bs);
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            float a[8], b[8];
            float4 a0 = *reinterpret_cast<const float4*>(&As[kk][ty * 4]);
            float4 a1 = *reinterpret_cast<const float4*>(&As[kk][64 + ty * 4]);
            float4 b0 = *reinterpret_cast<const float4*>(&Bs[kk][tx * 4]);
            float4 b1 = *reinterpret_cast<const float4*>(&Bs[kk][64 + tx * 4]);
            a[0] = a0.x; a[1] = a0.y; a[2] = a0.z; a[3] = a0.w;
            a[4] = a1.x; a[5] = a1.y; a[6] = a1.z; a[7] = a1.w;
            b[0] = b0.x; b[1] = b0.y; b[2] = b0.z; b[3] = b0.w;
            b[4] = b1.x; b[5] = b1.y; b[6] = b1.z; b[7] = b1.w;
#pragma unroll
            for (int i = 0; i < 8; ++i)
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }

    bool split = gridDim.z > 1;
    // Fully unrolled, so that acc stays in registers.
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        int r = row0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + (i - 4));
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            int c = col0 + (j < 4 ? tx * 4 + j : 64 + tx * 4 + (j - 4));
            if (r >= m || c >= n) continue;
            float v = acc[i][j];
            if (EPILOGUE) {
                float b = epi.bias_kind == FORMA_BIAS_SHARED       ? epi.bias[0]
                          : epi.bias_kind == FORMA_BIAS_PER_COLUMN ? epi.bias[c]
                                                                   : 0.0f;
                v = epilogue_act(epi.act, epi.slope, v + b);
            }
            if (split) atomicAdd(&C[(size_t)r * n + c], v);
            else C[(size_t)r * n + c] = v;
        }
    }
}

// A[m x k] row-major is K-contiguous; B[n x k] too.
extern "C" __global__ void __launch_bounds__(256)
forma_sgemm_nt(int m, int n, int k, const float* A, const float* B, float* C) {
    sgemm<true, true, false>(m, n, k, A, B, C, Epilogue{});
}

// C = act(A . B^T + bias): a linear layer's forward in one kernel.
extern "C" __global__ void __launch_bounds__(256)
forma_sgemm_nt_bias_act(int m, int n, int k, const float* A, const float* B, float* C, const float* bias,
                        int bias_kind, int act, float slope) {
    sgemm<true, true, true>(m, n, k, A, B, C, Epilogue{bias, bias_kind, act, slope});
}

// B[k x n]: element (col j, kk) at B[kk * n + j], contiguous along n.
extern "C" __global__ void __launch_bounds__(256)
forma_sgemm_nn(int m, int n, int k, const float* A, const float* B, float* C) {
    sgemm<true, false, false>(m, n, k, A, B, C, Epilogue{});
}

// A[k x m]: element (row i, kk) at A[kk * m + i], contiguous along m.
extern "C" __global__ void __launch_bounds__(256)
forma_sgemm_tn(int m, int n, int k, const float* A, const float* B, float* C) {
    sgemm<false, false, false>(m, n, k, A, B, C, Epilogue{});
}
