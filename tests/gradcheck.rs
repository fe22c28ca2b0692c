//! Gradient checks in f64: every analytic backward in forma against central
//! finite differences.
//!
//! * Layers: `Module::backward` (parameter gradients and `dx`) under the
//!   objective `L = Σ r ⊙ y` with a random weighting `r`, so `dy = r`.
//! * Losses: `Loss::value_and_grad`'s gradient against differences of `Loss::value`.
//! * Networks: a loss on a composed network, every parameter and every input.
//!
//! Each parameter or input is moved by `±h` (`h = 1e-6`) and the derivative
//! estimated as `(L(p+h) - L(p-h)) / ((p+h) - (p-h))`. Analytic `g` and numeric
//! `fd` must agree within `max(RTOL·max(|g|, |fd|), ATOL·max(1, |L|))` with
//! `RTOL = 1e-6` and `ATOL = 1e-8`: central differences in f64 are accurate to
//! about 1e-9 here, while a missing factor, a wrong sign or a transposed index
//! is off by far more (see `the_checker_rejects_broken_gradients` in
//! src/testing.rs, the public checker these tests use).
//!
//! For the layer objective the difference `L(p+h) - L(p-h)` is accumulated as
//! `Σ r_i (y+_i - y-_i)`: outputs a perturbation does not touch cancel exactly,
//! so the rounding error of a large output sum does not enter and the floor is
//! the plain `ATOL`. A loss is a black box whose value is rounded to about
//! `ε·|L|`, and a difference of two such values divided by `2h` carries an error
//! of a few `ε·|L|/h ≈ 2e-10·|L|`; hence the floor's factor `max(1, |L|)`.

use forma::prelude::*;
use forma::testing::{Derivatives, Mismatch, Tolerance, derivatives, gradcheck_with};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// The step and tolerances of every check here (`forma::testing`'s defaults:
/// `h = 1e-6`, `RTOL = 1e-6`, `ATOL = 1e-8`).
const TOL: Tolerance = Tolerance {
    step: 1e-6,
    rtol: 1e-6,
    atol: 1e-8,
};
/// The finite-difference step.
const H: f64 = TOL.step;
/// What the gradient buffers hold before a backward: backward must overwrite it.
const SENTINEL: f64 = 7.25;

/// A mismatch as a proptest failure.
fn fail(m: Mismatch) -> TestCaseError {
    TestCaseError::fail(m.to_string())
}

/// Checks a layer's backward under `L = Σ r ⊙ m(x)` with the public
/// `forma::testing::gradcheck`.
fn check_layer<In, B, M>(
    mut m: M,
    x: &Tensor<f64, B, In>,
    r: &Tensor<f64, B, M::Out>,
) -> Result<(), TestCaseError>
where
    In: ConstDim,
    B: Dim,
    M: Module<f64, In>,
{
    gradcheck_with(&mut m, x, r, TOL).map(|_| ()).map_err(fail)
}

/// `dx` of one forward and backward of `m` at `x` with `dy = r`.
fn input_grad<In, B, M>(m: &M, x: &Tensor<f64, B, In>, r: &Tensor<f64, B, M::Out>) -> Vec<f64>
where
    In: ConstDim,
    B: Dim,
    M: Module<f64, In>,
{
    let mut cache = m.new_cache(&Cpu, x.row_dim()).unwrap();
    m.forward(&Cpu, x, &mut cache).unwrap();
    let mut grads = m.zeros_like().unwrap();
    let mut dx = Tensor::full(x.row_dim(), In::default(), SENTINEL);
    m.backward(&Cpu, x, &mut cache, r, &mut grads, Some(&mut dx))
        .unwrap();
    dx.into_vec()
}

/// Checks the gradient of `loss(net(x), target)` w.r.t. every parameter and input.
fn check_net<In, B, M, L>(
    mut net: M,
    x: &Tensor<f64, B, In>,
    loss: &L,
    target: &L::Target<B>,
) -> Result<(), TestCaseError>
where
    In: ConstDim,
    B: Dim,
    M: Module<f64, In>,
    L: Loss<f64, M::Out>,
{
    let what = format!(
        "{} with {} (batch {})",
        std::any::type_name::<M>(),
        std::any::type_name::<L>(),
        x.rows()
    );
    let mut value = 0.0;
    let mut d = derivatives(
        &mut net,
        x,
        H,
        |y| {
            let mut dy = Tensor::zeros(y.row_dim(), y.col_dim());
            value = loss.value_and_grad(&Cpu, y, target, &mut dy).unwrap();
            dy
        },
        |a, b| loss.value(&Cpu, a, target).unwrap() - loss.value(&Cpu, b, target).unwrap(),
    )
    .unwrap();
    d.scale = value;
    d.compare(&what, TOL).map_err(fail)
}

/// Checks `value_and_grad`'s gradient against differences of `value`, and that
/// both return the same value.
fn check_loss<B, C, L>(
    loss: &L,
    pred: &Tensor<f64, B, C>,
    target: &L::Target<B>,
    mut grad: Tensor<f64, B, C>,
) -> Result<(), TestCaseError>
where
    B: Dim,
    C: ConstDim,
    L: Loss<f64, C>,
{
    let what = format!("{} (batch {})", std::any::type_name::<L>(), pred.rows());
    let v = loss.value_and_grad(&Cpu, pred, target, &mut grad).unwrap();
    prop_assert_eq!(
        v,
        loss.value(&Cpu, pred, target).unwrap(),
        "{}: value",
        &what
    );
    prop_assert_eq!(grad.rows(), pred.rows(), "{}: gradient rows", &what);
    let mut d = Derivatives {
        scale: v,
        ..Derivatives::default()
    };
    let mut p = pred.clone();
    for k in 0..pred.as_slice().len() {
        let orig = pred.as_slice()[k];
        let (plus, minus) = (orig + H, orig - H);
        p.as_mut_slice()[k] = plus;
        let l_plus = loss.value(&Cpu, &p, target).unwrap();
        p.as_mut_slice()[k] = minus;
        let l_minus = loss.value(&Cpu, &p, target).unwrap();
        p.as_mut_slice()[k] = orig;
        d.push(
            format!("pred[{}][{}]", k / pred.cols(), k % pred.cols()),
            grad.as_slice()[k],
            (l_plus - l_minus) / (plus - minus),
        );
    }
    d.compare(&what, TOL).map_err(fail)
}

// ---------------------------------------------------------------------------
// Values.
// ---------------------------------------------------------------------------

/// A layer or network of type `N` with exactly these parameters.
fn with_params<N: Initialize + Params<f64>>(p: &[f64]) -> N {
    let mut n = N::initialize(&mut forma::rng(0));
    n.load(p).unwrap();
    n
}

/// A runtime batch from a flat row-major buffer.
fn batch<const W: usize>(v: &[f64]) -> Tensor<f64, usize, Const<W>> {
    Tensor::from_flat(v).unwrap()
}

/// A batch of `R` rows, fixed in the type.
fn fixed_rows<const R: usize, const W: usize>(v: &[f64]) -> Tensor<f64, Const<R>, Const<W>> {
    Tensor::from_slice(Const, Const, v).unwrap()
}

/// Uniform in `[-1, 1]`.
fn unit() -> impl Strategy<Value = f64> + Clone {
    -1.0..=1.0f64
}

/// `±[1e-3, 3]`: away from the kink of ReLU and LeakyReLU.
fn off_zero() -> impl Strategy<Value = f64> + Clone {
    (any::<bool>(), 1e-3..=3.0f64).prop_map(|(neg, m)| if neg { -m } else { m })
}

/// A runtime batch size, and `(params, x, r)` for a layer with `count`
/// parameters, `i` inputs and `o` outputs.
fn layer_case(
    count: usize,
    i: usize,
    o: usize,
    x: impl Strategy<Value = f64> + Clone,
) -> impl Strategy<Value = (Vec<f64>, Vec<f64>, Vec<f64>)> {
    (1usize..=8).prop_flat_map(move |b| {
        (
            vec(unit(), count),
            vec(x.clone(), b * i),
            vec(unit(), b * o),
        )
    })
}

/// `(params, x, r)` for a batch of `rows` rows.
fn fixed_case(
    rows: usize,
    count: usize,
    i: usize,
    o: usize,
    x: impl Strategy<Value = f64> + Clone,
) -> impl Strategy<Value = (Vec<f64>, Vec<f64>, Vec<f64>)> {
    (vec(unit(), count), vec(x, rows * i), vec(unit(), rows * o))
}

// ---------------------------------------------------------------------------
// Layers.
// ---------------------------------------------------------------------------

/// A module of two proptests for `$layer` (`$in` -> `$out` wide), built from
/// random parameters: a runtime batch of 1..=8 rows and a `Const<$rows>` batch.
macro_rules! layer_gradcheck {
    ($name:ident: $layer:ty, $in:literal -> $out:literal, x in $x:expr, const rows $rows:literal, cases $cases:literal) => {
        mod $name {
            use super::*;
            type L = $layer;
            const COUNT: usize = <L as Params<f64>>::COUNT;

            proptest! {
                #![proptest_config(ProptestConfig::with_cases($cases))]

                #[test]
                fn runtime_batch((p, x, r) in layer_case(COUNT, $in, $out, $x)) {
                    check_layer(with_params::<L>(&p), &batch::<$in>(&x), &batch::<$out>(&r))?;
                }

                #[test]
                fn const_batch((p, x, r) in fixed_case($rows, COUNT, $in, $out, $x)) {
                    check_layer(
                        with_params::<L>(&p),
                        &fixed_rows::<$rows, $in>(&x),
                        &fixed_rows::<$rows, $out>(&r),
                    )?;
                }
            }
        }
    };
}

// Linear, every bias layout, through the fixed kernels (I*O <= 512), the
// direct GEMM loop (I*O > 512, m*k*n <= 8192) and matrixmultiply (m*k*n > 8192:
// 40x30 with 7 or more rows, and its Const<8> batch).
layer_gradcheck!(linear_3x4_per_output: Linear<3, 4, f64, PerOutput>, 3 -> 4, x in unit(), const rows 3, cases 48);
layer_gradcheck!(linear_3x4_shared_bias: Linear<3, 4, f64, SharedBias>, 3 -> 4, x in unit(), const rows 3, cases 48);
layer_gradcheck!(linear_3x4_no_bias: Linear<3, 4, f64, NoBias>, 3 -> 4, x in unit(), const rows 3, cases 48);
layer_gradcheck!(linear_1x7_per_output: Linear<1, 7, f64, PerOutput>, 1 -> 7, x in unit(), const rows 2, cases 32);
layer_gradcheck!(linear_1x7_shared_bias: Linear<1, 7, f64, SharedBias>, 1 -> 7, x in unit(), const rows 2, cases 32);
layer_gradcheck!(linear_1x7_no_bias: Linear<1, 7, f64, NoBias>, 1 -> 7, x in unit(), const rows 2, cases 32);
layer_gradcheck!(linear_6x1_per_output: Linear<6, 1, f64, PerOutput>, 6 -> 1, x in unit(), const rows 5, cases 32);
layer_gradcheck!(linear_6x1_shared_bias: Linear<6, 1, f64, SharedBias>, 6 -> 1, x in unit(), const rows 5, cases 32);
layer_gradcheck!(linear_6x1_no_bias: Linear<6, 1, f64, NoBias>, 6 -> 1, x in unit(), const rows 5, cases 32);
layer_gradcheck!(linear_1x1_per_output: Linear<1, 1, f64, PerOutput>, 1 -> 1, x in unit(), const rows 1, cases 16);
layer_gradcheck!(linear_32x20_per_output: Linear<32, 20, f64, PerOutput>, 32 -> 20, x in unit(), const rows 4, cases 12);
layer_gradcheck!(linear_32x20_shared_bias: Linear<32, 20, f64, SharedBias>, 32 -> 20, x in unit(), const rows 4, cases 12);
layer_gradcheck!(linear_40x30_per_output: Linear<40, 30, f64, PerOutput>, 40 -> 30, x in unit(), const rows 8, cases 12);
layer_gradcheck!(linear_40x30_shared_bias: Linear<40, 30, f64, SharedBias>, 40 -> 30, x in unit(), const rows 8, cases 12);
layer_gradcheck!(linear_40x30_no_bias: Linear<40, 30, f64, NoBias>, 40 -> 30, x in unit(), const rows 8, cases 12);

// Activations (no parameters: dx only), at several widths.
layer_gradcheck!(sigmoid_1: Sigmoid, 1 -> 1, x in -6.0..=6.0f64, const rows 3, cases 32);
layer_gradcheck!(sigmoid_9: Sigmoid, 9 -> 9, x in -6.0..=6.0f64, const rows 3, cases 32);
layer_gradcheck!(relu_1: ReLU, 1 -> 1, x in off_zero(), const rows 3, cases 32);
layer_gradcheck!(relu_9: ReLU, 9 -> 9, x in off_zero(), const rows 3, cases 32);
layer_gradcheck!(tanh_1: Tanh, 1 -> 1, x in -4.0..=4.0f64, const rows 3, cases 32);
layer_gradcheck!(tanh_9: Tanh, 9 -> 9, x in -4.0..=4.0f64, const rows 3, cases 32);
layer_gradcheck!(leaky_relu_default_7: LeakyReLU, 7 -> 7, x in off_zero(), const rows 3, cases 32);
layer_gradcheck!(identity_1: Identity, 1 -> 1, x in -5.0..=5.0f64, const rows 3, cases 16);
layer_gradcheck!(identity_6: Identity, 6 -> 6, x in -5.0..=5.0f64, const rows 3, cases 16);
layer_gradcheck!(softmax_1: Softmax, 1 -> 1, x in -5.0..=5.0f64, const rows 3, cases 16);
layer_gradcheck!(softmax_2: Softmax, 2 -> 2, x in -5.0..=5.0f64, const rows 3, cases 32);
layer_gradcheck!(softmax_7: Softmax, 7 -> 7, x in -5.0..=5.0f64, const rows 3, cases 32);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// LeakyReLU with a random slope (the macro above uses the default 0.01).
    #[test]
    fn leaky_relu_random_slope(
        slope in 0.0..=0.9f64,
        (_, x, r) in layer_case(0, 5, 5, off_zero()),
    ) {
        check_layer(LeakyReLU::new(slope).unwrap(), &batch::<5>(&x), &batch::<5>(&r))?;
    }

    /// Softmax with large logits (the max-subtraction path): softmax is
    /// shift-invariant, so `dx` at `x + shift` must equal `dx` at `x`, which is
    /// checked against finite differences (differences taken at |x| ~ 500 would
    /// be limited by the rounding of `x` itself, not by the backward).
    #[test]
    fn softmax_large_logits(shift in -500.0..=500.0f64, (_, x, r) in layer_case(0, 4, 4, -5.0..=5.0f64)) {
        let (xb, r) = (batch::<4>(&x), batch::<4>(&r));
        check_layer(Softmax, &xb, &r)?;
        let shifted = batch::<4>(&x.iter().map(|v| v + shift).collect::<Vec<_>>());
        let mut d = Derivatives::default();
        for (k, (a, b)) in input_grad(&Softmax, &shifted, &r).into_iter().zip(input_grad(&Softmax, &xb, &r)).enumerate() {
            d.push(format!("x[{k}] (shifted by {shift})"), a, b);
        }
        d.compare("Softmax, shifted vs unshifted", TOL).map_err(fail)?;
    }
}

// ---------------------------------------------------------------------------
// Losses.
// ---------------------------------------------------------------------------

/// `(pred, target)` of a runtime batch of 1..=8 rows of width `w`.
fn loss_case(
    w: usize,
    pred: impl Strategy<Value = f64> + Clone,
    target: impl Strategy<Value = f64> + Clone,
) -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    (1usize..=8).prop_flat_map(move |b| (vec(pred.clone(), b * w), vec(target.clone(), b * w)))
}

/// Two proptests for an elementwise loss with tensor targets: a runtime batch
/// (whose gradient buffer starts with the wrong row count and garbage) and a
/// `Const<3>` batch, both 4 wide.
macro_rules! loss_gradcheck {
    ($name:ident: $loss:expr, pred in $pred:expr, target in $target:expr) => {
        mod $name {
            use super::*;

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(48))]

                #[test]
                fn runtime_batch((p, t) in loss_case(4, $pred, $target)) {
                    let grad = Tensor::full(p.len() / 4 + 2, Const, SENTINEL);
                    check_loss(&$loss, &batch::<4>(&p), &batch::<4>(&t), grad)?;
                }

                #[test]
                fn const_batch(p in vec($pred, 12), t in vec($target, 12)) {
                    let grad = Tensor::full(Const, Const, SENTINEL);
                    check_loss(&$loss, &fixed_rows::<3, 4>(&p), &fixed_rows::<3, 4>(&t), grad)?;
                }
            }
        }
    };
}

loss_gradcheck!(loss_half_sum_squares: HalfSumSquares, pred in -2.0..=2.0f64, target in -2.0..=2.0f64);
loss_gradcheck!(loss_sum_squares: SumSquares, pred in -2.0..=2.0f64, target in -2.0..=2.0f64);
loss_gradcheck!(loss_mse: Mse, pred in -2.0..=2.0f64, target in -2.0..=2.0f64);
loss_gradcheck!(loss_half_mse: HalfMse, pred in -2.0..=2.0f64, target in -2.0..=2.0f64);
loss_gradcheck!(loss_bce: Bce, pred in 0.05..=0.95f64, target in 0.0..=1.0f64);
loss_gradcheck!(loss_bce_hard_targets: Bce, pred in 0.05..=0.95f64, target in prop_oneof![Just(0.0), Just(1.0)]);
loss_gradcheck!(loss_bce_with_logits: BceWithLogits, pred in -8.0..=8.0f64, target in 0.0..=1.0f64);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn loss_softmax_cross_entropy_runtime_batch(
        (x, labels) in (1usize..=8).prop_flat_map(|b| (vec(-8.0..=8.0f64, b * 5), vec(0usize..5, b))),
    ) {
        let target = Classes::<usize, 5>::from_labels(labels).unwrap();
        let grad = Tensor::full(0, Const, SENTINEL);
        check_loss(&SoftmaxCrossEntropy, &batch::<5>(&x), &target, grad)?;
    }

    #[test]
    fn loss_softmax_cross_entropy_const_batch(x in vec(-8.0..=8.0f64, 6), labels in vec(0usize..2, 3)) {
        let target = Classes::<_, 2>::new(Const::<3>, labels).unwrap();
        check_loss(&SoftmaxCrossEntropy, &fixed_rows::<3, 2>(&x), &target, Tensor::full(Const, Const, SENTINEL))?;
    }

    #[test]
    fn loss_softmax_cross_entropy_large_logits(
        shift in -300.0..=300.0f64,
        (x, labels) in (1usize..=4).prop_flat_map(|b| (vec(-8.0..=8.0f64, b * 3), vec(0usize..3, b))),
    ) {
        // Shift-invariant: value and gradient at `x + shift` equal those at `x`,
        // which are checked against finite differences.
        let target = Classes::<usize, 3>::from_labels(labels).unwrap();
        let xb = batch::<3>(&x);
        check_loss(&SoftmaxCrossEntropy, &xb, &target, Tensor::zeros(0, Const))?;
        let shifted = batch::<3>(&x.iter().map(|v| v + shift).collect::<Vec<_>>());
        let (mut g, mut g_shifted) = (Tensor::zeros(0, Const), Tensor::zeros(0, Const));
        let v = SoftmaxCrossEntropy.value_and_grad(&Cpu, &xb, &target, &mut g).unwrap();
        let v_shifted = SoftmaxCrossEntropy.value_and_grad(&Cpu, &shifted, &target, &mut g_shifted).unwrap();
        let mut d = Derivatives::default();
        d.push("value".into(), v_shifted, v);
        for (k, (a, b)) in g_shifted.as_slice().iter().zip(g.as_slice()).enumerate() {
            d.push(format!("pred[{k}] (shifted by {shift})"), *a, *b);
        }
        d.compare("SoftmaxCrossEntropy, shifted vs unshifted", TOL).map_err(fail)?;
    }
}

// ---------------------------------------------------------------------------
// Networks.
// ---------------------------------------------------------------------------

/// `(params, x, target)` for a network with `count` parameters, `i` inputs and
/// `o` outputs on a runtime batch of 1..=8 rows.
fn net_case(
    count: usize,
    i: usize,
    o: usize,
    target: impl Strategy<Value = f64> + Clone,
) -> impl Strategy<Value = (Vec<f64>, Vec<f64>, Vec<f64>)> {
    (1usize..=8).prop_flat_map(move |b| {
        (
            vec(unit(), count),
            vec(-2.0..=2.0f64, b * i),
            vec(target.clone(), b * o),
        )
    })
}

/// `N`'s parameter count.
const fn count<N: Params<f64>>() -> usize {
    N::COUNT
}

fn relu(v: f64) -> f64 {
    v.max(0.0)
}

/// Whether every ReLU pre-activation of `Mlp3` on `x` is at least 1e-3 from 0,
/// so that no perturbation crosses the kink.
fn mlp3_relu_off_kinks<const I: usize, const H1: usize, const H2: usize, const O: usize>(
    net: &Mlp3<I, H1, H2, O, f64>,
    x: &Tensor<f64, usize, Const<I>>,
) -> bool {
    let (l1, (_, (l2, _))) = net;
    x.as_rows().iter().all(|row| {
        let h1: [f64; H1] = Layer::<f64, Const<I>>::infer(l1, *row);
        let h2: [f64; H2] = Layer::<f64, Const<H1>>::infer(l2, h1.map(relu));
        h1.iter().chain(&h2).all(|v| v.abs() >= 1e-3)
    })
}

// The tutorial layout, with its final Sigmoid named (an `Mlp` ends in a Linear).
type Mlp325 = seq!(@type Linear<3, 5, f64>, Sigmoid, Linear<5, 2, f64>, Sigmoid);
type Mlp221 = seq!(@type Linear<2, 2, f64>, Sigmoid, Linear<2, 1, f64>, Sigmoid);
type MlpLogits = Mlp<2, 4, 1, f64>;
type Mlp3Relu = Mlp3<4, 6, 5, 3, f64>;
type Mlp3Tanh = Mlp3<4, 6, 5, 3, f64, Tanh>;
type Mlp3Leaky = Mlp3<3, 7, 4, 2, f64, LeakyReLU>;
/// Every bias layout and every activation but ReLU, ending in a Softmax.
type Deep = seq!(@type
    Linear<4, 8, f64, SharedBias>, Tanh,
    Linear<8, 6, f64, NoBias>, Sigmoid,
    Linear<6, 6, f64>, Identity,
    Linear<6, 5, f64, SharedBias>, LeakyReLU,
    Linear<5, 4, f64>, Softmax
);
/// Two softmaxes and a wide hidden layer (the direct-GEMM path) into a logit loss.
type Wide = seq!(@type
    Linear<3, 48, f64, SharedBias>, Sigmoid,
    Linear<48, 12, f64>, Softmax,
    Linear<12, 3, f64, NoBias>
);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn net_mlp_3_5_2_sigmoid_bce((p, x, t) in net_case(count::<Mlp325>(), 3, 2, 0.0..=1.0f64)) {
        check_net(with_params::<Mlp325>(&p), &batch::<3>(&x), &Bce, &batch::<2>(&t))?;
    }

    #[test]
    fn net_mlp_3_5_2_sigmoid_half_sum_squares((p, x, t) in net_case(count::<Mlp325>(), 3, 2, unit())) {
        check_net(with_params::<Mlp325>(&p), &batch::<3>(&x), &HalfSumSquares, &batch::<2>(&t))?;
    }

    #[test]
    fn net_mlp_2_4_1_logits_bce_with_logits((p, x, t) in net_case(count::<MlpLogits>(), 2, 1, 0.0..=1.0f64)) {
        check_net(with_params::<MlpLogits>(&p), &batch::<2>(&x), &BceWithLogits, &batch::<1>(&t))?;
    }

    #[test]
    fn net_mlp_2_2_1_sigmoid_mse((p, x, t) in net_case(count::<Mlp221>(), 2, 1, unit())) {
        check_net(with_params::<Mlp221>(&p), &batch::<2>(&x), &Mse, &batch::<1>(&t))?;
    }

    #[test]
    fn net_mlp_2_2_1_sigmoid_const_batch_sum_squares(
        p in vec(unit(), count::<Mlp221>()),
        x in vec(-2.0..=2.0f64, 8),
        t in vec(unit(), 4),
    ) {
        check_net(
            with_params::<Mlp221>(&p),
            &fixed_rows::<4, 2>(&x),
            &SumSquares,
            &fixed_rows::<4, 1>(&t),
        )?;
    }

    #[test]
    fn net_mlp3_relu_softmax_cross_entropy(
        (p, x, labels) in (1usize..=8).prop_flat_map(|b| {
            (vec(unit(), count::<Mlp3Relu>()), vec(-2.0..=2.0f64, b * 4), vec(0usize..3, b))
        }),
    ) {
        let net = with_params::<Mlp3Relu>(&p);
        let x = batch::<4>(&x);
        prop_assume!(mlp3_relu_off_kinks(&net, &x));
        let target = Classes::<usize, 3>::from_labels(labels).unwrap();
        check_net(net, &x, &SoftmaxCrossEntropy, &target)?;
    }

    #[test]
    fn net_mlp3_relu_const_batch_half_mse(
        p in vec(unit(), count::<Mlp3Relu>()),
        x in vec(-2.0..=2.0f64, 12),
        t in vec(unit(), 9),
    ) {
        let net = with_params::<Mlp3Relu>(&p);
        prop_assume!(mlp3_relu_off_kinks(&net, &batch::<4>(&x)));
        check_net(net, &fixed_rows::<3, 4>(&x), &HalfMse, &fixed_rows::<3, 3>(&t))?;
    }

    #[test]
    fn net_mlp3_tanh_bce_with_logits((p, x, t) in net_case(count::<Mlp3Tanh>(), 4, 3, 0.0..=1.0f64)) {
        check_net(with_params::<Mlp3Tanh>(&p), &batch::<4>(&x), &BceWithLogits, &batch::<3>(&t))?;
    }

    #[test]
    fn net_mlp3_leaky_relu_mse(
        (p, x, t) in net_case(count::<Mlp3Leaky>(), 3, 2, unit()),
    ) {
        let net = with_params::<Mlp3Leaky>(&p);
        let xb = batch::<3>(&x);
        // Same kink condition as for ReLU.
        let (l1, (_, (l2, _))) = &net;
        let leaky = LeakyReLU::default();
        let off = xb.as_rows().iter().all(|row| {
            let h1: [f64; 7] = Layer::<f64, Const<3>>::infer(l1, *row);
            let h2: [f64; 4] = Layer::<f64, Const<7>>::infer(l2, Layer::<f64, Const<7>>::infer(&leaky, h1));
            h1.iter().chain(&h2).all(|v| v.abs() >= 1e-3)
        });
        prop_assume!(off);
        check_net(net, &xb, &Mse, &batch::<2>(&t))?;
    }

    #[test]
    fn net_deep_mixed_half_sum_squares((p, x, t) in net_case(count::<Deep>(), 4, 4, 0.0..=1.0f64)) {
        let net = with_params::<Deep>(&p);
        let xb = batch::<4>(&x);
        // LeakyReLU's input (the SharedBias 6 -> 5 layer) must stay off its kink.
        let (l1, (_, (l2, (_, (l3, (_, (l4, _))))))) = &net;
        let off = xb.as_rows().iter().all(|row| {
            let h: [f64; 8] = Layer::<f64, Const<4>>::infer(l1, *row);
            let h: [f64; 6] = Layer::<f64, Const<8>>::infer(l2, h.map(f64::tanh));
            let h: [f64; 6] = Layer::<f64, Const<6>>::infer(l3, Layer::<f64, Const<6>>::infer(&Sigmoid, h));
            let h: [f64; 5] = Layer::<f64, Const<6>>::infer(l4, h);
            h.iter().all(|v| v.abs() >= 1e-3)
        });
        prop_assume!(off);
        check_net(net, &xb, &HalfSumSquares, &batch::<4>(&t))?;
    }

    #[test]
    fn net_wide_softmax_cross_entropy(
        (p, x, labels) in (1usize..=8).prop_flat_map(|b| {
            (vec(unit(), count::<Wide>()), vec(-2.0..=2.0f64, b * 3), vec(0usize..3, b))
        }),
    ) {
        let target = Classes::<usize, 3>::from_labels(labels).unwrap();
        check_net(with_params::<Wide>(&p), &batch::<3>(&x), &SoftmaxCrossEntropy, &target)?;
    }
}

// The checker itself is tested in `forma::testing` (src/testing.rs): it
// rejects broken gradients and its finite differences are accurate.
