// Elementwise kernels: bias + activation (a linear layer's epilogue, or an
// activation layer with no bias), activation backward, fill and copy, and
// the algebra a user's layer is written in (binary ops, axpby).
#include "forma.cuh"

// y[i][j] = act(x[i][j] + bias), over rows x cols; x may equal y (in place).
extern "C" __global__ void forma_bias_act(int rows, int cols, const float* x, const float* bias,
                                          int bias_kind, int act, float slope, float* y) {
    int n = rows * cols;
    FORMA_FOR_EACH(i, n) {
        float b = bias_kind == FORMA_BIAS_SHARED       ? bias[0]
                  : bias_kind == FORMA_BIAS_PER_COLUMN ? bias[i % cols]
                                                       : 0.0f;
        y[i] = forma_act(act, slope, x[i] + b);
    }
}

// dx = dy * act'(x, y) over n elements.
extern "C" __global__ void forma_act_backward(int n, int act, float slope, const float* __restrict__ x,
                                              const float* __restrict__ y, const float* __restrict__ dy,
                                              float* __restrict__ dx) {
    FORMA_FOR_EACH(i, n) { dx[i] = dy[i] * forma_act_grad(act, slope, x[i], y[i]); }
}

extern "C" __global__ void forma_fill(int n, float value, float* __restrict__ y) {
    FORMA_FOR_EACH(i, n) { y[i] = value; }
}

extern "C" __global__ void forma_copy(int n, const float* __restrict__ x, float* __restrict__ y) {
    FORMA_FOR_EACH(i, n) { y[i] = x[i]; }
}

#define FORMA_ADD 0
#define FORMA_SUB 1
#define FORMA_MUL 2

// out = a op b over n elements (forma_core::Binary).
extern "C" __global__ void forma_binary(int n, int op, const float* __restrict__ a, const float* __restrict__ b,
                                        float* __restrict__ out) {
    FORMA_FOR_EACH(i, n) {
        float x = a[i], y = b[i];
        out[i] = op == FORMA_ADD ? x + y : op == FORMA_SUB ? x - y : x * y;
    }
}

// y = alpha * x + beta * y over n elements.
extern "C" __global__ void forma_axpby(int n, float alpha, const float* __restrict__ x, float beta,
                                       float* __restrict__ y) {
    FORMA_FOR_EACH(i, n) { y[i] = alpha * x[i] + beta * y[i]; }
}
