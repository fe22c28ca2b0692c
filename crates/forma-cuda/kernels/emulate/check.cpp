// Runs forma's CUDA kernels on the CPU emulation (cuda_emu.h) and compares
// them with float64 references: SGEMM in all three layouts at odd and tile-
// edge sizes, with and without vector loads and with split K; bias + act;
// activation backward; column sums with row chunks; the block reductions of
// forma_sum and forma_loss; SGD and Adam. Exit status 1 on any mismatch.
#include "cuda_emu.h"

#include <cstdio>
#include <random>

#include "../elementwise.cu"
#include "../gemm.cu"
#include "../loss.cu"
#include "../optim.cu"
#include "../reduce.cu"
#include "../rowwise.cu"

static int failures = 0;

static void expect(bool ok, const char* what, int i, double got, double want) {
    if (!ok) {
        if (failures < 20) std::printf("FAIL %s [%d]: got %.9g, want %.9g\n", what, i, got, want);
        ++failures;
    }
}

// Uniform in +-[0.1, 1): random and never zero.
static std::vector<float> nonzero(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(0.1f, 1.0f);
    std::vector<float> v(n);
    for (auto& x : v) x = (rng() & 1) ? u(rng) : -u(rng);
    return v;
}

static void check_sgemm(int layout, int m, int k, int n, unsigned splits) {
    auto a = nonzero((size_t)m * k, 1 + m), b = nonzero((size_t)k * n, 2 + n);
    std::vector<float> c((size_t)m * n, splits > 1 ? 0.0f : NAN);  // poisoned unless split
    auto at = [&](int i, int p) { return layout == 2 ? a[(size_t)p * m + i] : a[(size_t)i * k + p]; };
    auto bt = [&](int p, int j) { return layout == 0 ? b[(size_t)j * k + p] : b[(size_t)p * n + j]; };
    void (*f)(int, int, int, const float*, const float*, float*) =
        layout == 0 ? forma_sgemm_nt : layout == 1 ? forma_sgemm_nn : forma_sgemm_tn;
    dim3 grid{(unsigned)((m + 127) / 128), (unsigned)((n + 127) / 128), splits};
    emu_launch(f, grid, dim3{256, 1, 1}, m, n, k, a.data(), b.data(), c.data());
    const char* names[] = {"sgemm NT", "sgemm NN", "sgemm TN"};
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
            double want = 0, scale = 0;
            for (int p = 0; p < k; ++p) {
                want += (double)at(i, p) * bt(p, j);
                scale += std::fabs((double)at(i, p) * bt(p, j));
            }
            double got = c[(size_t)i * n + j];
            expect(std::fabs(got - want) <= 1e-5 * scale, names[layout], i * n + j, got, want);
        }
}

int main() {
    std::setvbuf(stdout, nullptr, _IONBF, 0);
    // Shapes: single element, odd, multiples of 4 (float4 loads), tile edges.
    int shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {4, 8, 4}, {127, 129, 131}, {128, 16, 128}, {130, 12, 260}};
    for (auto& s : shapes)
        for (int layout = 0; layout < 3; ++layout) check_sgemm(layout, s[0], s[1], s[2], 1);
    // Split K: chunks of 8-multiples, an uneven last chunk, a chunk past k.
    for (int layout = 0; layout < 3; ++layout) {
        check_sgemm(layout, 20, 1000, 36, 3);
        check_sgemm(layout, 9, 50, 5, 8);
    }
    // The fused linear forward: act(A . B^T + bias) for every bias layout and activation.
    {
        // Two tiles of rows, three of columns (grid y > 1); a negative leaky slope.
        int m = 130, k = 12, n = 300;
        float slope = -0.2f;
        auto a = nonzero((size_t)m * k, 20), b = nonzero((size_t)k * n, 21), bias = nonzero(n, 22);
        for (int kind = 0; kind <= 2; ++kind)
            for (int act = 0; act <= 4; ++act) {
                std::vector<float> c((size_t)m * n, NAN);
                emu_launch(forma_sgemm_nt_bias_act, dim3{2, 3, 1}, dim3{256, 1, 1}, m, n, k, a.data(), b.data(), c.data(),
                           bias.data(), kind, act, slope);
                for (int i = 0; i < m; ++i)
                    for (int j = 0; j < n; ++j) {
                        double v = kind == 1 ? bias[0] : kind == 2 ? bias[j] : 0.0;
                        for (int p = 0; p < k; ++p) v += (double)a[(size_t)i * k + p] * b[(size_t)j * k + p];
                        double want = act == 1 ? 1 / (1 + std::exp(-v)) : act == 2 ? std::max(v, 0.0)
                                    : act == 3 ? std::tanh(v) : act == 4 ? (v > 0 ? v : slope * v) : v;
                        double got = c[(size_t)i * n + j];
                        expect(std::fabs(got - want) <= 1e-5, "sgemm_nt_bias_act", i * n + j, got, want);
                    }
            }
    }
    std::printf("sgemm checked\n");

    // bias + activation, every activation and bias layout, in and out of place.
    int rows = 37, cols = 13, n = rows * cols;
    auto x = nonzero(n, 3), bias = nonzero(cols, 4), dy = nonzero(n, 5);
    for (int act = 0; act <= 4; ++act)
        for (int kind = 0; kind <= 2; ++kind) {
            std::vector<float> y(n, NAN), inplace = x;
            emu_launch(forma_bias_act, dim3{2}, dim3{64}, rows, cols, x.data(), bias.data(), kind, act, 0.1f, y.data());
            emu_launch(forma_bias_act, dim3{2}, dim3{64}, rows, cols, inplace.data(), bias.data(), kind, act, 0.1f,
                       inplace.data());
            for (int i = 0; i < n; ++i) {
                double b = kind == 1 ? bias[0] : kind == 2 ? bias[i % cols] : 0.0;
                double v = x[i] + b;
                double want = act == 1 ? 1 / (1 + std::exp(-v)) : act == 2 ? std::max(v, 0.0)
                            : act == 3 ? std::tanh(v) : act == 4 ? (v > 0 ? v : 0.1 * v) : v;
                expect(std::fabs(y[i] - want) <= 1e-6 * std::max(1.0, std::fabs(want)), "bias_act", i, y[i], want);
                expect(inplace[i] == y[i], "bias_act in place", i, inplace[i], y[i]);
            }
            std::vector<float> out(n, NAN);
            emu_launch(forma_act_backward, dim3{3}, dim3{32}, n, act, 0.1f, x.data(), y.data(), dy.data(), out.data());
            for (int i = 0; i < n; ++i) {
                double d = act == 1 ? y[i] * (1 - y[i]) : act == 2 ? (x[i] > 0) : act == 3 ? 1 - (double)y[i] * y[i]
                         : act == 4 ? (x[i] > 0 ? 1 : 0.1) : 1;
                expect(std::fabs(out[i] - dy[i] * d) <= 1e-6, "act_backward", i, out[i], dy[i] * d);
            }
        }
    std::printf("bias_act, act_backward checked\n");

    // Column sums over row chunks (rows not a multiple of the chunk or of 8).
    {
        int r = 1000, c = 45, chunk = 256;
        auto g = nonzero((size_t)r * c, 6);
        std::vector<float> out(c, 0.0f);
        emu_launch(forma_column_sums, dim3{(unsigned)((c + 31) / 32), (unsigned)((r + chunk - 1) / chunk)}, dim3{32, 8},
                   r, c, chunk, g.data(), out.data());
        for (int j = 0; j < c; ++j) {
            double want = 0;
            for (int i = 0; i < r; ++i) want += g[(size_t)i * c + j];
            expect(std::fabs(out[j] - want) <= 1e-4, "column_sums", j, out[j], want);
        }
        std::vector<float> total(1, 0.0f);
        emu_launch(forma_sum, dim3{3}, dim3{128}, r * c, g.data(), total.data());
        double want = 0;
        for (float v : g) want += v;
        expect(std::fabs(total[0] - want) <= 1e-3, "sum", 0, total[0], want);
    }
    std::printf("column_sums, sum checked\n");

    // Counting non-finite values (the trainer's checks), into one slot of many.
    {
        int n = 5000;
        auto x = nonzero(n, 13);
        x[0] = NAN;
        x[4999] = INFINITY;
        x[2500] = -INFINITY;
        std::vector<float> counts(3, 0.0f);
        emu_launch(forma_count_nonfinite, dim3{3}, dim3{128}, n, x.data(), counts.data(), 1);
        emu_launch(forma_count_nonfinite, dim3{2}, dim3{64}, n - 1, x.data() + 1, counts.data(), 2);
        expect(counts[0] == 0.0f, "count_nonfinite other slot", 0, counts[0], 0);
        expect(counts[1] == 3.0f, "count_nonfinite", 1, counts[1], 3);
        expect(counts[2] == 2.0f, "count_nonfinite offset", 2, counts[2], 2);
        // ReLU keeps NaN (PyTorch's relu(NaN) is NaN); other values as max(0, x).
        expect(std::isnan(forma_act(FORMA_RELU, 0.0f, NAN)), "relu(NaN)", 0, forma_act(FORMA_RELU, 0.0f, NAN), NAN);
        expect(forma_act(FORMA_RELU, 0.0f, -2.0f) == 0.0f, "relu(-2)", 0, forma_act(FORMA_RELU, 0.0f, -2.0f), 0);
        expect(forma_act(FORMA_RELU, 0.0f, 3.0f) == 3.0f, "relu(3)", 0, forma_act(FORMA_RELU, 0.0f, 3.0f), 3);
    }
    std::printf("count_nonfinite, relu(NaN) checked\n");

    // The algebra of user layers: binary ops, axpby, row sums.
    {
        int n = 1000;
        auto a = nonzero(n, 14), b = nonzero(n, 15);
        for (int op = 0; op < 3; ++op) {
            std::vector<float> out(n, NAN);
            emu_launch(forma_binary, dim3{3}, dim3{64}, n, op, a.data(), b.data(), out.data());
            for (int i = 0; i < n; ++i) {
                double want = op == 0 ? (double)a[i] + b[i] : op == 1 ? (double)a[i] - b[i] : (double)a[i] * b[i];
                expect(std::fabs(out[i] - want) <= 1e-6, "binary", i, out[i], want);
            }
        }
        auto y = b;
        emu_launch(forma_axpby, dim3{2}, dim3{128}, n, 0.5f, a.data(), -2.0f, y.data());
        for (int i = 0; i < n; ++i) {
            double want = 0.5 * a[i] - 2.0 * b[i];
            expect(std::fabs(y[i] - want) <= 1e-6, "axpby", i, y[i], want);
        }
        int r = 37, c = 300;
        auto m = nonzero((size_t)r * c, 16);
        std::vector<float> sums(r, NAN);
        emu_launch(forma_row_sums, dim3{5}, dim3{128}, r, c, m.data(), sums.data());
        for (int i = 0; i < r; ++i) {
            double want = 0;
            for (int j = 0; j < c; ++j) want += m[(size_t)i * c + j];
            expect(std::fabs(sums[i] - want) <= 1e-4, "row_sums", i, sums[i], want);
        }
    }
    std::printf("binary, axpby, row_sums checked\n");

    // Losses: the gradient per element and the block-reduced total.
    {
        auto t = nonzero(n, 7);
        std::vector<float> p(n);
        for (int i = 0; i < n; ++i) {
            t[i] = std::fabs(t[i]);
            p[i] = 0.5f + 0.45f * x[i];
        }
        for (int kind = 0; kind <= 2; ++kind) {
            const float* pred = kind == 1 ? p.data() : x.data();
            float factor = kind == 0 ? 0.5f : 1.0f, scale = kind == 0 ? 1.0f : 1.0f / n;
            std::vector<float> grad(n, NAN), total(1, 0.0f);
            emu_launch(forma_loss, dim3{2}, dim3{96}, kind, n, factor, scale, pred, t.data(), grad.data(), total.data());
            double want = 0;
            for (int i = 0; i < n; ++i) {
                double q = pred[i], tt = t[i], l, d;
                if (kind == 0) {
                    l = factor * (q - tt) * (q - tt);
                    d = 2 * factor * (q - tt);
                } else if (kind == 1) {
                    l = -(tt * std::max(std::log(q), -100.0) + (1 - tt) * std::max(std::log(1 - q), -100.0));
                    d = (q - tt) / std::max((1 - q) * q, 1e-12);
                } else {
                    l = std::max(q, 0.0) - q * tt + std::log(1 + std::exp(-std::fabs(q)));
                    d = 1 / (1 + std::exp(-q)) - tt;
                }
                want += scale * l;
                expect(std::fabs(grad[i] - scale * d) <= 1e-5 * std::max(1.0, std::fabs(scale * d)), "loss gradient", i,
                       grad[i], scale * d);
            }
            expect(std::fabs(total[0] - want) <= 1e-5 * std::max(1.0, std::fabs(want)), "loss total", kind, total[0], want);
        }
    }
    // Bce on a value that is not a probability: NaN total and gradient.
    {
        std::vector<float> p = {0.5f, -0.25f, 0.75f}, t = {1.0f, 0.0f, 1.0f}, grad(3, 0.0f), total(1, 0.0f);
        emu_launch(forma_loss, dim3{1}, dim3{32}, 1, 3, 1.0f, 1.0f / 3, p.data(), t.data(), grad.data(), total.data());
        expect(std::isnan(total[0]), "bce total with p < 0", 1, total[0], NAN);
        expect(std::isnan(grad[1]) && !std::isnan(grad[0]), "bce gradient with p < 0", 1, grad[1], NAN);
    }
    std::printf("loss checked\n");

    // SGD (with momentum, Nesterov, first step) and Adam(W).
    {
        auto p0 = nonzero(n, 8), g = nonzero(n, 9), v0 = nonzero(n, 10);
        for (int variant = 0; variant < 3; ++variant) {
            float mu = variant ? 0.9f : 0.0f;
            int nesterov = variant == 2, first = variant == 1;
            auto p = p0, v = v0;
            emu_launch(forma_sgd, dim3{2}, dim3{64}, n, 0.1f, mu, 0.01f, nesterov, first, p.data(), g.data(), v.data());
            for (int i = 0; i < n; ++i) {
                double gi = g[i] + 0.01 * p0[i], vi = v0[i], step = gi;
                if (mu != 0) {
                    vi = first ? gi : mu * vi + gi;
                    step = nesterov ? gi + mu * vi : vi;
                }
                double want = p0[i] - 0.1 * step;
                expect(std::fabs(p[i] - want) <= 1e-6, "sgd", i, p[i], want);
            }
        }
        for (int decoupled = 0; decoupled < 2; ++decoupled) {
            auto p = p0, m = g, v = v0;
            for (auto& e : v) e = std::fabs(e);
            auto vstart = v;
            float b1 = 0.9f, b2 = 0.999f, bias1 = 1 - 0.9f * 0.9f * 0.9f, bias2 = 1 - 0.999f * 0.999f * 0.999f;
            emu_launch(forma_adam, dim3{2}, dim3{64}, n, 0.01f, b1, b2, 1e-8f, 0.01f, decoupled, bias1, bias2, p.data(),
                       x.data(), m.data(), v.data());
            for (int i = 0; i < n; ++i) {
                double pi = p0[i], gi = x[i];
                if (decoupled) pi *= 1 - 0.01 * 0.01; else gi += 0.01 * pi;
                double mi = b1 * g[i] + (1 - b1) * gi, vi = b2 * vstart[i] + (1 - b2) * gi * gi;
                double want = pi - 0.01 * (mi / bias1) / (std::sqrt(vi / bias2) + 1e-8);
                expect(std::fabs(p[i] - want) <= 1e-5, "adam", i, p[i], want);
            }
        }
    }
    std::printf("sgd, adam checked\n");

    // Row-wise: softmax, its backward, cross-entropy (rows not a multiple of the block).
    {
        int r = 70, k = 10;
        auto lx = nonzero((size_t)r * k, 11), g = nonzero((size_t)r * k, 12);
        std::vector<float> y((size_t)r * k, NAN), dx((size_t)r * k, NAN), grad((size_t)r * k, NAN), labels(r),
            total(1, 0.0f);
        for (int i = 0; i < r; ++i) labels[i] = (float)((i * 7) % k);
        emu_launch(forma_softmax, dim3{2}, dim3{32}, r, k, lx.data(), y.data());
        emu_launch(forma_softmax_backward, dim3{2}, dim3{32}, r, k, y.data(), g.data(), dx.data());
        emu_launch(forma_cross_entropy, dim3{2}, dim3{32}, r, k, 1.0f / r, lx.data(), labels.data(), grad.data(),
                   total.data());
        double want_total = 0;
        for (int i = 0; i < r; ++i) {
            const float* xr = &lx[(size_t)i * k];
            double m = -INFINITY, s = 0, dot = 0;
            for (int c = 0; c < k; ++c) m = std::max(m, (double)xr[c]);
            for (int c = 0; c < k; ++c) s += std::exp(xr[c] - m);
            for (int c = 0; c < k; ++c) dot += (double)y[(size_t)i * k + c] * g[(size_t)i * k + c];
            int label = (i * 7) % k;
            want_total += (std::log(s) + m - xr[label]) / r;
            for (int c = 0; c < k; ++c) {
                size_t o = (size_t)i * k + c;
                double p = std::exp(xr[c] - m) / s;
                expect(std::fabs(y[o] - p) <= 1e-6, "softmax", (int)o, y[o], p);
                double d = y[o] * (g[o] - dot);
                expect(std::fabs(dx[o] - d) <= 1e-6, "softmax_backward", (int)o, dx[o], d);
                double ge = (p - (c == label)) / r;
                expect(std::fabs(grad[o] - ge) <= 1e-6, "cross_entropy gradient", (int)o, grad[o], ge);
            }
        }
        expect(std::fabs(total[0] - want_total) <= 1e-5 * std::max(1.0, want_total), "cross_entropy total", 0, total[0],
               want_total);
        // Labels that are not classes (NaN, negative, fractional, too large)
        // make their row and the total NaN, and are never used as an index.
        for (float bad : {NAN, -0.5f, 2.5f, 10.0f, 1e9f}) {
            auto l2 = labels;
            l2[3] = bad;
            std::vector<float> g2((size_t)r * k, 0.0f), t2(1, 0.0f);
            emu_launch(forma_cross_entropy, dim3{2}, dim3{32}, r, k, 1.0f / r, lx.data(), l2.data(), g2.data(), t2.data());
            expect(std::isnan(t2[0]), "cross_entropy total with a bad label", 3, t2[0], NAN);
            expect(std::isnan(g2[3 * k]), "cross_entropy gradient row of a bad label", 3, g2[3 * k], NAN);
            expect(!std::isnan(g2[4 * k]), "cross_entropy gradient of a good row", 4, g2[4 * k], 0);
        }
    }
    std::printf("softmax, softmax_backward, cross_entropy checked\n");

    if (failures) {
        std::printf("%d mismatches\n", failures);
        return 1;
    }
    std::printf("all kernels match their float64 references on the CPU emulation\n");
    return 0;
}
