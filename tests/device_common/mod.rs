//! One harness for every device: train a network with the CPU [`Trainer`]
//! and with a [`Trainer`] on device `D` (the model moved there by
//! `to_device`) from the same weights and data, and require the same losses
//! and parameters step by step.

#![allow(dead_code)] // each test binary uses the parts it needs

pub mod opaque;

use forma::layers::{Resident, ToDevice, ToHost};
use forma::prelude::*;

/// `|got - want| <= tol * max(1, |want|)` elementwise, in f64.
pub fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs() / w.abs().max(1.0);
        assert!(
            err <= tol,
            "{what}[{i}]: got {g}, want {w} (error {err:e} > {tol:e})"
        );
    }
}

pub fn params_f64<E: Float, P: Params<E>>(p: &P) -> Vec<f64> {
    let mut v = vec![E::ZERO; P::COUNT];
    p.copy_to(&mut v).unwrap();
    v.into_iter().map(Float::to_f64).collect()
}

/// Trains `net` for `steps` steps both ways (`optimizers`: the same
/// settings for the host model and for the device model); every loss, the
/// last gradient and the final parameters must agree to `tol` (relative,
/// floored at 1).
#[allow(clippy::too_many_arguments)]
pub fn same_training<E, D, M, L, OH, OD, const I: usize, const C: usize>(
    device: D,
    net: M,
    loss: L,
    (host_opt, device_opt): (OH, OD),
    x: &Batch<E, I>,
    y: &Batch<E, C>,
    steps: usize,
    tol: f64,
) where
    E: Float,
    D: Resident<E>,
    M: Clone + Params<E> + Module<E, Const<I>, Out = Const<C>> + ToDevice<E, D>,
    M::On: Module<E, Const<I>, D, Out = Const<C>> + ToHost<E, D, Host = M>,
    L: Clone
        + Loss<E, Const<C>, Target<usize> = Batch<E, C>>
        + Loss<E, Const<C>, D, Target<usize> = Batch<E, C, D>>,
    OH: Optimizer<E, M>,
    OD: Optimizer<E, M::On, D>,
{
    let mut host = Trainer::new(net.clone(), loss.clone(), host_opt);
    let mut dev = Trainer::on(
        device.clone(),
        net.to_device(&device).unwrap(),
        loss,
        device_opt,
    );
    let dx = Tensor::upload(&device, x).unwrap();
    let dy = Tensor::upload(&device, y).unwrap();
    for step in 0..steps {
        let want = host.step(x, y).unwrap().to_f64();
        let got = dev.step(&dx, &dy).unwrap().to_f64();
        assert_close(&format!("loss at step {step}"), &[got], &[want], tol);
    }
    let grads = dev.grads().unwrap().to_host(&device).unwrap();
    assert_close(
        "gradient of the last step",
        &params_f64(&grads),
        &params_f64(host.grads().unwrap()),
        tol,
    );
    let model = dev.model().to_host(&device).unwrap();
    assert_close(
        "parameters after training",
        &params_f64(&model),
        &params_f64(host.model()),
        tol,
    );
    let out = dev.predict(&dx).unwrap().download(&device).unwrap();
    let want = host.predict(x).unwrap().clone();
    let to64 = |t: &Batch<E, C>| t.as_slice().iter().map(|v| v.to_f64()).collect::<Vec<_>>();
    assert_close("prediction", &to64(&out), &to64(&want), tol);
}

/// Random values in [-1, 1), never exactly zero, from a seeded generator.
pub fn uniform<E: Float, const C: usize>(rows: usize, seed: u64) -> Batch<E, C> {
    use rand::Rng as _;
    let mut rng = forma::rng(seed);
    Batch::from_fn(rows, Const, |_, _| {
        let v: f64 = rng.random_range(-1.0..1.0);
        E::from_f64(if v == 0.0 { 0.5 } else { v })
    })
}

/// The tutorials' networks in `E`, each trained on `device` against the CPU
/// trainer: seed 000's 2-2-2 (shared biases, half sum of squares, SGD), XOR
/// 2-2-1 (BCE, Nesterov momentum), iris 2-32-1 (no bias, MSE, Adam), the
/// 64x1000-100-10 ReLU net (sum of squares, SGD), and a regression net
/// (tanh, leaky ReLU, half MSE, AdamW), plus BCE on logits; each for at
/// most `max_steps` steps (1: one forward, backward and update).
pub fn tutorial_networks<E: Float, D: Resident<E>>(device: D, tol: f64, max_steps: usize)
where
    Bce: Loss<E, Const<1>, D, Target<usize> = Batch<E, 1, D>>,
{
    let e = |v: f64| E::from_f64(v);
    // Seed 000.
    let mazur = seq!(
        Linear::<2, 2, E, SharedBias>::from_weights(
            [[e(0.2), e(0.1)], [e(0.4), e(0.15)]],
            [e(0.3)]
        )
        .expect("finite weights"),
        Sigmoid,
        Linear::<2, 2, E, SharedBias>::from_weights(
            [[e(0.65), e(0.7)], [e(0.45), e(0.3)]],
            [e(0.5)]
        )
        .expect("finite weights"),
        Sigmoid
    );
    let x = Batch::<E, 2>::from_rows(&[[e(0.2), e(0.1)]]);
    let y = Batch::<E, 2>::from_rows(&[[e(0.99), e(0.01)]]);
    same_training(
        device.clone(),
        mazur,
        HalfSumSquares,
        (Sgd::new(0.5).unwrap(), Sgd::new(0.5).unwrap()),
        &x,
        &y,
        20.min(max_steps),
        tol,
    );

    // XOR.
    let xor = <seq!(@type Linear<2, 2, E>, Sigmoid, Linear<2, 1, E>, Sigmoid)>::initialize(
        &mut forma::rng(70),
    );
    let x = Batch::<E, 2>::from_rows(&[
        [e(0.), e(0.)],
        [e(0.), e(1.)],
        [e(1.), e(0.)],
        [e(1.), e(1.)],
    ]);
    let y = Batch::<E, 1>::from_rows(&[[e(0.)], [e(1.)], [e(1.)], [e(0.)]]);
    same_training(
        device.clone(),
        xor,
        Bce,
        (nesterov(), nesterov()),
        &x,
        &y,
        20.min(max_steps),
        tol,
    );

    // Iris 2-32-1 without biases.
    type Iris<E> = seq!(@type Linear<2, 32, E, NoBias>, Sigmoid, Linear<32, 1, E, NoBias>, Sigmoid);
    let iris = Iris::<E>::initialize(&mut forma::rng(3));
    let x = uniform::<E, 2>(100, 11);
    let y = Batch::<E, 1>::from_fn(100, Const, |r, _| e((r % 2) as f64));
    same_training(
        device.clone(),
        iris,
        Mse,
        (Adam::new(0.01).unwrap(), Adam::new(0.01).unwrap()),
        &x,
        &y,
        10.min(max_steps),
        tol,
    );

    // 64x1000 -> 100 -> 10 with ReLU.
    type TwoLayer<E> = seq!(@type Linear<1000, 100, E>, ReLU, Linear<100, 10, E>);
    let two = TwoLayer::<E>::initialize(&mut forma::rng(4));
    let x = uniform::<E, 1000>(64, 12);
    let y = uniform::<E, 10>(64, 13);
    same_training(
        device.clone(),
        two,
        SumSquares,
        (Sgd::new(1e-4).unwrap(), Sgd::new(1e-4).unwrap()),
        &x,
        &y,
        5.min(max_steps),
        tol,
    );

    // Regression-style net with the other activations and AdamW, 37 rows.
    type Reg<E> = seq!(@type Linear<3, 16, E>, Tanh, Linear<16, 8, E>, LeakyReLU, Linear<8, 1, E>);
    let mut reg = Reg::<E>::initialize(&mut forma::rng(5));
    reg.1.1.1.0 = LeakyReLU::new(0.1).unwrap();
    let x = uniform::<E, 3>(37, 14);
    let y = uniform::<E, 1>(37, 15);
    same_training(
        device.clone(),
        reg.clone(),
        HalfMse,
        (Adam::adamw(0.01).unwrap(), Adam::adamw(0.01).unwrap()),
        &x,
        &y,
        10.min(max_steps),
        tol,
    );

    // Logits with BCE fused, SGD with weight decay.
    let logits = seq!(
        Linear::<3, 4, E>::initialize(&mut forma::rng(6)),
        Tanh,
        Linear::<4, 1, E>::initialize(&mut forma::rng(7))
    );
    let y = Batch::<E, 1>::from_fn(37, Const, |r, _| e((r % 3 == 0) as u8 as f64));
    same_training(
        device,
        logits,
        BceWithLogits,
        (weight_decay(), weight_decay()),
        &x,
        &y,
        10.min(max_steps),
        tol,
    );
}

/// Classification: softmax cross-entropy over class labels (a 4-16-3 ReLU net
/// with Adam, 50 rows), and a `Softmax` layer under MSE; each step's loss and
/// the final parameters against the CPU trainer.
pub fn classification_networks<E: Float, D: Resident<E>>(device: D, tol: f64, max_steps: usize) {
    type Net<E> = seq!(@type Linear<4, 16, E>, ReLU, Linear<16, 3, E>);
    let net = Net::<E>::initialize(&mut forma::rng(8));
    let x = uniform::<E, 4>(50, 16);
    let labels: Vec<usize> = (0..50).map(|r| (r * 7) % 3).collect();
    let classes = Classes::<usize, 3>::from_labels(labels).unwrap();
    let mut host = Trainer::new(net.clone(), SoftmaxCrossEntropy, Adam::new(0.01).unwrap());
    let on = net.to_device(&device).unwrap();
    let mut dev = Trainer::on(
        device.clone(),
        on,
        SoftmaxCrossEntropy,
        Adam::new(0.01).unwrap(),
    );
    let dx = Tensor::upload(&device, &x).unwrap();
    let dl = Classes::upload(&device, &classes).unwrap();
    for step in 0..10.min(max_steps) {
        let want = host.step(&x, &classes).unwrap().to_f64();
        let got = dev.step(&dx, &dl).unwrap().to_f64();
        assert_close(
            &format!("cross-entropy loss at step {step}"),
            &[got],
            &[want],
            tol,
        );
    }
    assert_close(
        "cross-entropy parameters",
        &params_f64(&dev.model().to_host(&device).unwrap()),
        &params_f64(host.model()),
        tol,
    );

    let soft = seq!(Linear::<4, 5, E>::initialize(&mut forma::rng(9)), Softmax);
    let y = uniform::<E, 5>(50, 17);
    same_training(
        device,
        soft,
        Mse,
        (Sgd::new(0.5).unwrap(), Sgd::new(0.5).unwrap()),
        &x,
        &y,
        10.min(max_steps),
        tol,
    );
}

/// SGD with Nesterov momentum, for any parameters.
fn nesterov<E: Float, P>() -> Sgd<E, P> {
    Sgd::new(0.5)
        .and_then(|s| s.with_momentum(0.9))
        .and_then(|s| s.with_nesterov())
        .unwrap()
}

/// SGD with weight decay, for any parameters.
fn weight_decay<E: Float, P>() -> Sgd<E, P> {
    Sgd::new(0.3)
        .and_then(|s| s.with_weight_decay(0.01))
        .unwrap()
}
