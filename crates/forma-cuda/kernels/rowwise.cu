// Row-wise kernels: softmax, its backward, and softmax cross-entropy, one
// thread per row (class counts in forma's networks are small). The formulas
// are forma_core::math::rowwise's.
#include "forma.cuh"

// y = softmax(x) over each row of a rows x cols matrix.
extern "C" __global__ void forma_softmax(int rows, int cols, const float* __restrict__ x,
                                         float* __restrict__ y) {
    FORMA_FOR_EACH(r, rows) {
        const float* xr = x + (size_t)r * cols;
        float* yr = y + (size_t)r * cols;
        float m = -INFINITY, s = 0.0f;
        for (int k = 0; k < cols; ++k) m = fmaxf(m, xr[k]);
        for (int k = 0; k < cols; ++k) {
            yr[k] = expf(xr[k] - m);
            s += yr[k];
        }
        for (int k = 0; k < cols; ++k) yr[k] /= s;
    }
}

// dx = y * (dy - sum_k dy_k y_k), per row.
extern "C" __global__ void forma_softmax_backward(int rows, int cols, const float* __restrict__ y,
                                                  const float* __restrict__ dy, float* __restrict__ dx) {
    FORMA_FOR_EACH(r, rows) {
        size_t o = (size_t)r * cols;
        float dot = 0.0f;
        for (int k = 0; k < cols; ++k) dot += y[o + k] * dy[o + k];
        for (int k = 0; k < cols; ++k) dx[o + k] = y[o + k] * (dy[o + k] - dot);
    }
}

// grad = scale * (softmax(x) - onehot(label)) per row; *total += scale * sum
// of -ln softmax(x)[label]. Labels are exact floats below `classes` (checked
// on upload); one out of range makes its gradient row and the total NaN
// rather than read past the row.
extern "C" __global__ void forma_cross_entropy(int rows, int classes, float scale, const float* __restrict__ x,
                                               const float* __restrict__ labels, float* __restrict__ grad,
                                               float* __restrict__ total) {
    float sum = 0.0f;
    FORMA_FOR_EACH(r, rows) {
        const float* xr = x + (size_t)r * classes;
        float* gr = grad + (size_t)r * classes;
        float lf = labels[r];
        int label = (int)lf;
        // NaN, negative, fractional or too large: not a class (never an index).
        if (!(lf >= 0.0f && lf < (float)classes && truncf(lf) == lf)) {
            for (int k = 0; k < classes; ++k) gr[k] = NAN;
            sum += NAN;
            continue;
        }
        float m = -INFINITY, s = 0.0f;
        for (int k = 0; k < classes; ++k) m = fmaxf(m, xr[k]);
        for (int k = 0; k < classes; ++k) {
            gr[k] = expf(xr[k] - m);
            s += gr[k];
        }
        for (int k = 0; k < classes; ++k) gr[k] = gr[k] / s * scale;
        gr[label] -= scale;
        sum += logf(s) + m - xr[label];
    }
    sum = forma_block_sum(sum);
    if (threadIdx.x == 0) atomicAdd(total, scale * sum);
}
