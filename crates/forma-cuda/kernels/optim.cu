// Optimizer updates, torch.optim's rules (forma_core::math::pointwise's
// SgdStep and AdamStep).
#include "forma.cuh"

// SGD; v (the velocity) is read only when momentum != 0.
extern "C" __global__ void forma_sgd(int n, float lr, float momentum, float weight_decay, int nesterov,
                                     int first, float* __restrict__ p, const float* __restrict__ g,
                                     float* __restrict__ v) {
    FORMA_FOR_EACH(i, n) {
        float gi = weight_decay == 0.0f ? g[i] : g[i] + weight_decay * p[i];
        if (momentum != 0.0f) {
            float vi = first ? gi : momentum * v[i] + gi;
            v[i] = vi;
            gi = nesterov ? gi + momentum * vi : vi;
        }
        p[i] -= lr * gi;
    }
}

// Adam (decoupled = 0) or AdamW (decoupled = 1); bias1 = 1 - beta1^t, bias2 = 1 - beta2^t.
extern "C" __global__ void forma_adam(int n, float lr, float beta1, float beta2, float eps,
                                      float weight_decay, int decoupled, float bias1, float bias2,
                                      float* __restrict__ p, const float* __restrict__ g,
                                      float* __restrict__ m, float* __restrict__ v) {
    FORMA_FOR_EACH(i, n) {
        float gi = g[i], pi = p[i];
        if (decoupled) {
            pi *= 1.0f - lr * weight_decay;
        } else {
            gi += weight_decay * pi;
        }
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - lr * (mi / bias1) / (sqrtf(vi / bias2) + eps);
    }
}
