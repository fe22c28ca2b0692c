//! One training step (forward, loss, backward, SGD update) of each tutorial
//! network, reported per step and in samples per second.

use std::hint::black_box;
use std::time::Duration;

use criterion::{
    BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};
use forma::core::Float;
use forma::layers::Initialize;
use forma::prelude::*;

/// The XOR tutorial's net, with its final Sigmoid (an `Mlp` ends in a Linear).
type Xor = seq!(@type Linear<2, 2>, Sigmoid, Linear<2, 1>, Sigmoid);

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    g
}

fn random<E: Float, const C: usize>(rows: usize, seed: u64) -> Batch<E, C> {
    let mut v = vec![E::ZERO; rows * C];
    Init::Uniform {
        low: 0.0,
        high: 1.0,
    }
    .fill(1, 1, &mut forma::rng(seed), &mut v)
    .expect("valid init");
    Batch::from_flat(&v).expect("rows * C values")
}

fn mazur(c: &mut Criterion) {
    let net = seq!(
        Linear::<2, 2, f64, SharedBias>::from_weights([[0.2, 0.1], [0.4, 0.15]], [0.3])
            .expect("finite weights"),
        Sigmoid,
        Linear::<2, 2, f64, SharedBias>::from_weights([[0.65, 0.7], [0.45, 0.3]], [0.5])
            .expect("finite weights"),
        Sigmoid
    );
    let x = Tensor::from_array([[0.2, 0.1]]);
    let t = Tensor::from_array([[0.99, 0.01]]);
    let mut trainer = Trainer::new(net, HalfSumSquares, Sgd::new(0.5).expect("lr"));
    let mut g = group(c, "step/mazur_2-2-2_f64_b1");
    g.throughput(Throughput::Elements(1));
    g.bench_function("forma", |b| {
        b.iter(|| trainer.step(black_box(&x), black_box(&t)).expect("finite"))
    });
    g.finish();
}

/// Seed 000's step written as one expression (`forma::expr`), beside the same
/// step through layers and `Trainer`: both in one group, one run.
fn mazur_expression_vs_layers(c: &mut Criterion) {
    use forma::expr::{Mat, Scalar, constant, var};
    type W = [[f64; 2]; 2];
    struct Params {
        w1: W,
        b1: f64,
        w2: W,
        b2: f64,
    }
    fn expression_step(p: &mut Params) -> f64 {
        let x = constant::<Mat<1, 2>, f64>([[0.2, 0.1]]);
        let t = constant::<Mat<1, 2>, f64>([[0.99, 0.01]]);
        let (w1, b1) = (var::<0, Mat<2, 2>, f64>(p.w1), var::<1, Scalar, f64>(p.b1));
        let (w2, b2) = (var::<2, Mat<2, 2>, f64>(p.w2), var::<3, Scalar, f64>(p.b2));
        let o = ((x.matmul(w1) + b1).sigmoid().matmul(w2) + b2).sigmoid();
        let loss = ((t - o).powi(2) * 0.5).sum();
        let (value, (g1, gb1, g2, gb2)) = loss.vjp(&1.0, (w1, b1, w2, b2)).expect("distinct ids");
        for (w, g) in p.w1.as_flattened_mut().iter_mut().zip(g1.as_flattened()) {
            *w -= 0.5 * g;
        }
        for (w, g) in p.w2.as_flattened_mut().iter_mut().zip(g2.as_flattened()) {
            *w -= 0.5 * g;
        }
        p.b1 -= 0.5 * gb1;
        p.b2 -= 0.5 * gb2;
        value
    }
    let mut g = group(c, "step/mazur_expression_vs_layers_f64");
    g.throughput(Throughput::Elements(1));
    let mut p = Params {
        w1: [[0.2, 0.4], [0.1, 0.15]],
        b1: 0.3,
        w2: [[0.65, 0.45], [0.7, 0.3]],
        b2: 0.5,
    };
    g.bench_function("expression", |b| {
        b.iter(|| expression_step(black_box(&mut p)))
    });
    let net = seq!(
        Linear::<2, 2, f64, SharedBias>::from_weights([[0.2, 0.1], [0.4, 0.15]], [0.3])
            .expect("finite weights"),
        Sigmoid,
        Linear::<2, 2, f64, SharedBias>::from_weights([[0.65, 0.7], [0.45, 0.3]], [0.5])
            .expect("finite weights"),
        Sigmoid
    );
    let x = Tensor::from_array([[0.2, 0.1]]);
    let t = Tensor::from_array([[0.99, 0.01]]);
    let mut trainer = Trainer::new(net, HalfSumSquares, Sgd::new(0.5).expect("lr"));
    g.bench_function("layers", |b| {
        b.iter(|| trainer.step(black_box(&x), black_box(&t)).expect("finite"))
    });
    g.finish();
}

fn xor(c: &mut Criterion) {
    let x = Batch::<f32, 2>::from_rows(&[[0., 0.], [0., 1.], [1., 0.], [1., 1.]]);
    let y = Batch::<f32, 1>::from_rows(&[[0.], [1.], [1.], [0.]]);
    let mut trainer = Trainer::new(
        Xor::initialize(&mut forma::rng(1)),
        Bce,
        Sgd::new(0.5).expect("lr"),
    );
    // The floor for this step's formulas: the same arithmetic written out by
    // hand for this one network (see `HandXor`), from the same untrained
    // weights, checked against forma first.
    let mut hand = HandXor::of(trainer.model());
    hand.agrees_with_forma();
    let mut g = group(c, "step/xor_2-2-1_f32_b4");
    g.throughput(Throughput::Elements(4));
    g.bench_function("forma", |b| {
        b.iter(|| trainer.step(black_box(&x), black_box(&y)).expect("finite"))
    });
    g.bench_function("hand_fused", |b| {
        b.iter(|| hand.step(black_box(&XOR_X), black_box(&XOR_Y)))
    });
    g.finish();
}

const XOR_X: [[f32; 2]; 4] = [[0., 0.], [0., 1.], [1., 0.], [1., 1.]];
const XOR_Y: [f32; 4] = [0., 1., 1., 0.];

/// The XOR step (2-2-1, biases, sigmoids, mean BCE, SGD at 0.5) written out
/// by hand in plain loops over arrays: no checks, no dispatch, no layer
/// walk, no buffers, everything inlined into one function. It computes
/// forma's formulas (`1 / (1 + exp_fast(-z))`, BCE's clamped logarithms and
/// its division, in f32), so its time is the floor of this step as forma
/// defines it: what remains of forma's time above it is the framework's.
struct HandXor {
    w1: [[f32; 2]; 2],
    b1: [f32; 2],
    w2: [f32; 2],
    b2: f32,
}

impl HandXor {
    fn of(net: &Xor) -> Self {
        let (l1, l2) = (&net.0, &net.1.1.0);
        Self {
            w1: *l1.weight(),
            b1: [l1.bias()[0], l1.bias()[1]],
            w2: l2.weight()[0],
            b2: l2.bias()[0],
        }
    }

    /// One step; returns the mean loss. Index loops, as the formulas read.
    #[inline(always)]
    #[allow(clippy::needless_range_loop)]
    fn step(&mut self, x: &[[f32; 2]; 4], y: &[f32; 4]) -> f32 {
        let sigmoid = |z: f32| 1.0 / (1.0 + (-z).exp_fast());
        let (mut h, mut p) = ([[0f32; 2]; 4], [0f32; 4]);
        for r in 0..4 {
            for j in 0..2 {
                h[r][j] = sigmoid(x[r][0] * self.w1[j][0] + x[r][1] * self.w1[j][1] + self.b1[j]);
            }
            p[r] = sigmoid(h[r][0] * self.w2[0] + h[r][1] * self.w2[1] + self.b2);
        }
        let (mut loss, mut dz2) = (0f32, [0f32; 4]);
        for r in 0..4 {
            let (p, t) = (p[r], y[r]);
            let log_p = p.ln_fast().max(-100.0);
            let log_q = (1.0 - p).ln_fast().max(-100.0);
            loss += -(t * log_p + (1.0 - t) * log_q);
            let dp = 0.25 * ((p - t) / ((1.0 - p) * p).max(1e-12));
            dz2[r] = dp * (p * (1.0 - p));
        }
        let (mut gw1, mut gb1, mut gw2, mut gb2) = ([[0f32; 2]; 2], [0f32; 2], [0f32; 2], 0f32);
        for r in 0..4 {
            gb2 += dz2[r];
            for j in 0..2 {
                gw2[j] += h[r][j] * dz2[r];
                let dz1 = dz2[r] * self.w2[j] * (h[r][j] * (1.0 - h[r][j]));
                gb1[j] += dz1;
                gw1[j][0] += x[r][0] * dz1;
                gw1[j][1] += x[r][1] * dz1;
            }
        }
        let lr = 0.5;
        for j in 0..2 {
            self.w2[j] -= lr * gw2[j];
            self.b1[j] -= lr * gb1[j];
            self.w1[j][0] -= lr * gw1[j][0];
            self.w1[j][1] -= lr * gw1[j][1];
        }
        self.b2 -= lr * gb2;
        0.25 * loss
    }

    /// Trains a copy and forma's `Trainer` from the same weights (untrained:
    /// the losses then change from step to step) for 200 steps and panics
    /// unless every loss and, at the end, every parameter agree to rounding
    /// (the two may sum in different orders), so the floor computes the
    /// same step.
    fn agrees_with_forma(&self) {
        let mut hand = HandXor { ..*self };
        let net = seq!(
            Linear::<2, 2>::from_weights(self.w1, self.b1).expect("finite"),
            Sigmoid,
            Linear::<2, 1>::from_weights([self.w2], [self.b2]).expect("finite"),
            Sigmoid
        );
        let mut trainer = Trainer::new(net, Bce, Sgd::new(0.5).expect("lr"));
        let x = Batch::<f32, 2>::from_rows(&XOR_X);
        let y = Batch::<f32, 1>::from_rows(&XOR_Y.map(|v| [v]));
        for step in 0..200 {
            let (want, got) = (
                trainer.step(&x, &y).expect("finite"),
                hand.step(&XOR_X, &XOR_Y),
            );
            assert!(
                (want - got).abs() <= 1e-5 * want.abs() + 1e-7,
                "step {step}: forma's loss {want}, the hand-fused step's {got}"
            );
        }
        let want = HandXor::of(trainer.model());
        let pairs = want.w1.as_flattened().iter().zip(hand.w1.as_flattened());
        let pairs = pairs.chain(want.b1.iter().zip(&hand.b1));
        let pairs = pairs.chain(want.w2.iter().zip(&hand.w2));
        for (i, (w, h)) in pairs.chain([(&want.b2, &hand.b2)]).enumerate() {
            assert!(
                (w - h).abs() <= 1e-4 * w.abs() + 1e-6,
                "parameter {i} after 200 steps: forma's {w}, the hand-fused step's {h}"
            );
        }
    }
}

/// A training step of iris's shape (2 inputs, 32 hidden, 1 output, BCE,
/// batch 100) for the network type `$net`, as the group `$name`.
macro_rules! iris_shaped {
    ($c:expr, $name:literal, $net:ty) => {{
        let x = random::<f32, 2>(100, 1);
        let y = random::<f32, 1>(100, 2).map(|v| if v > 0.5 { 1.0 } else { 0.0 });
        let mut trainer = Trainer::new(
            <$net>::initialize(&mut forma::rng(3)),
            Bce,
            Sgd::new(0.001).expect("lr"),
        );
        let mut g = group($c, $name);
        g.throughput(Throughput::Elements(100));
        g.bench_function("forma", |b| {
            b.iter(|| trainer.step(black_box(&x), black_box(&y)).expect("finite"))
        });
        g.finish();
    }};
}

fn iris(c: &mut Criterion) {
    type Net = seq!(@type Linear<2, 32, f32, NoBias>, Sigmoid, Linear<32, 1, f32, NoBias>, Sigmoid);
    iris_shaped!(c, "step/iris_2-32-1_f32_b100", Net);
}

/// Iris's shape with a tanh hidden layer: the tanh pass of 3,200 values,
/// where a sigmoid has its own kernel.
fn iris_tanh(c: &mut Criterion) {
    type Net = seq!(@type Linear<2, 32, f32, NoBias>, Tanh, Linear<32, 1, f32, NoBias>, Sigmoid);
    iris_shaped!(c, "step/iris_tanh_2-32-1_f32_b100", Net);
}

fn two_layer_for<E: Float>(c: &mut Criterion) {
    type Net<E> = seq!(@type Linear<1000, 100, E, NoBias>, ReLU, Linear<100, 10, E, NoBias>);
    let x = random::<E, 1000>(64, 4);
    let y = random::<E, 10>(64, 5);
    // A tiny rate keeps the loss finite however long criterion runs.
    let mut trainer = Trainer::new(
        Net::<E>::initialize(&mut forma::rng(6)),
        SumSquares,
        Sgd::new(1e-9).expect("lr"),
    );
    let mut g = group(c, &format!("step/two_layer_64x1000-100-10_{}", E::NAME));
    g.throughput(Throughput::Elements(64));
    g.bench_function("forma", |b| {
        b.iter(|| trainer.step(black_box(&x), black_box(&y)).expect("finite"))
    });
    g.finish();
}

fn two_layer(c: &mut Criterion) {
    two_layer_for::<f32>(c);
    two_layer_for::<f64>(c);
}

fn regression(c: &mut Criterion) {
    type Net = seq!(@type Linear<50, 30, f32, NoBias>, ReLU, Linear<30, 1, f32, NoBias>);
    let x = random::<f32, 50>(30, 10);
    let y = random::<f32, 1>(30, 11);
    let mut trainer = Trainer::new(
        Net::initialize(&mut forma::rng(12)),
        HalfMse,
        Sgd::new(0.01).expect("lr"),
    );
    let mut g = group(c, "step/regression_50-30-1_f32_b30");
    g.throughput(Throughput::Elements(30));
    g.bench_function("forma", |b| {
        b.iter(|| trainer.step(black_box(&x), black_box(&y)).expect("finite"))
    });
    g.finish();
}

type Mnist = Mlp3<784, 256, 128, 10>;

fn mnist(c: &mut Criterion) {
    let x = random::<f32, 784>(128, 7);
    let labels = Classes::<usize, 10>::from_labels((0..128).map(|i| (i * 7) % 10).collect())
        .expect("labels below 10");
    let mut trainer = Trainer::new(
        Mnist::initialize(&mut forma::rng(8)),
        SoftmaxCrossEntropy,
        Sgd::new(0.01).expect("lr"),
    );
    let mut g = group(c, "step/mnist_784-256-128-10_f32_b128");
    g.throughput(Throughput::Elements(128));
    g.bench_function("forma", |b| {
        b.iter(|| {
            trainer
                .step(black_box(&x), black_box(&labels))
                .expect("finite")
        })
    });
    g.finish();
}

fn mnist_inference(c: &mut Criterion) {
    let net = Mnist::initialize(&mut forma::rng(8));
    for batch in [1usize, 1024] {
        let x = random::<f32, 784>(batch, 9);
        let mut cache = net.cache(&Cpu, batch).expect("cache");
        let mut g = group(c, &format!("infer/mnist_784-256-128-10_f32_b{batch}"));
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function("forma", |b| {
            b.iter(|| {
                let y = net.forward(&Cpu, black_box(&x), &mut cache);
                black_box(y.expect("forward").as_slice()[0])
            })
        });
        g.finish();
    }
}

/// The price of the per-step checks (issue 11): the same step with
/// `with_checks(true)` (the default, "checked") and `with_checks(false)`
/// ("unchecked"), side by side in one group per network, in one run.
fn checks(c: &mut Criterion) {
    macro_rules! checked_vs_unchecked {
        ($name:expr, $rows:expr, $make:expr, $x:expr, $t:expr) => {{
            let (x, t) = ($x, $t);
            let mut g = group(c, &format!("checks/{}", $name));
            g.throughput(Throughput::Elements($rows));
            for on in [true, false] {
                let mut trainer = $make.with_checks(on);
                let label = if on { "checked" } else { "unchecked" };
                g.bench_function(label, |b| {
                    b.iter(|| trainer.step(black_box(&x), black_box(&t)).expect("finite"))
                });
            }
            g.finish();
        }};
    }
    checked_vs_unchecked!(
        "xor_2-2-1_f32_b4",
        4,
        Trainer::new(
            Xor::initialize(&mut forma::rng(1)),
            Bce,
            Sgd::new(0.5).expect("lr")
        ),
        Batch::<f32, 2>::from_rows(&[[0., 0.], [0., 1.], [1., 0.], [1., 1.]]),
        Batch::<f32, 1>::from_rows(&[[0.], [1.], [1.], [0.]])
    );
    type Iris =
        seq!(@type Linear<2, 32, f32, NoBias>, Sigmoid, Linear<32, 1, f32, NoBias>, Sigmoid);
    checked_vs_unchecked!(
        "iris_2-32-1_f32_b100",
        100,
        Trainer::new(
            Iris::initialize(&mut forma::rng(3)),
            Bce,
            Sgd::new(0.001).expect("lr")
        ),
        random::<f32, 2>(100, 1),
        random::<f32, 1>(100, 2).map(|v| if v > 0.5 { 1.0 } else { 0.0 })
    );
    checked_vs_unchecked!(
        "mnist_784-256-128-10_f32_b128",
        128,
        Trainer::new(
            Mnist::initialize(&mut forma::rng(8)),
            SoftmaxCrossEntropy,
            Sgd::new(0.01).expect("lr")
        ),
        random::<f32, 784>(128, 7),
        Classes::<usize, 10>::from_labels((0..128).map(|i| (i * 7) % 10).collect())
            .expect("labels below 10")
    );
}

criterion_group!(
    benches,
    checks,
    mazur,
    mazur_expression_vs_layers,
    xor,
    iris,
    iris_tanh,
    two_layer,
    regression,
    mnist,
    mnist_inference
);
criterion_main!(benches);
