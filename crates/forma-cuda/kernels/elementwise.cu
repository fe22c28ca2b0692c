// Elementwise kernels: bias + activation (a linear layer's epilogue, or an
// activation layer with no bias), activation backward, fill and copy.
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
