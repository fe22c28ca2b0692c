// Losses: each element's gradient, and the scaled sum of the terms added to a
// zeroed total. The formulas are forma_core::math::pointwise::LossKind's.
#include "forma.cuh"

#define FORMA_SQUARED_ERROR 0
#define FORMA_BCE 1
#define FORMA_BCE_WITH_LOGITS 2

// grad[i] = scale * d term / d p; *total += scale * sum of terms.
extern "C" __global__ void forma_loss(int kind, int n, float factor, float scale,
                                      const float* __restrict__ pred, const float* __restrict__ target,
                                      float* __restrict__ grad, float* __restrict__ total) {
    float sum = 0.0f;
    FORMA_FOR_EACH(i, n) {
        float p = pred[i], t = target[i], l, d;
        if (kind == FORMA_SQUARED_ERROR) {
            float e = p - t;
            l = factor * e * e;
            d = 2.0f * factor * e;
        } else if (kind == FORMA_BCE && !(p >= 0.0f && p <= 1.0f)) {
            l = d = nanf("");  // not a probability: NaN, never a clamped log
        } else if (kind == FORMA_BCE) {
            float log_p = fmaxf(logf(p), -100.0f);
            float log_q = fmaxf(logf(1.0f - p), -100.0f);
            l = -(t * log_p + (1.0f - t) * log_q);
            d = (p - t) / fmaxf((1.0f - p) * p, 1e-12f);
        } else {
            l = fmaxf(p, 0.0f) - p * t + logf(1.0f + expf(-fabsf(p)));
            float sig;
            if (p >= 0.0f) {
                sig = 1.0f / (1.0f + expf(-p));
            } else {
                float e = expf(p);
                sig = e / (1.0f + e);
            }
            d = sig - t;
        }
        grad[i] = scale * d;
        sum += l;
    }
    sum = forma_block_sum(sum);
    if (threadIdx.x == 0) atomicAdd(total, scale * sum);
}
