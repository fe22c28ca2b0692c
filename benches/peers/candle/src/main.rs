//! The workloads of benches/reference/pytorch_reference.py in candle on its CPU
//! device (no mkl/accelerate), timed as that script does; prints the same JSON.
//!
//! Usage: peers-candle --threads N > candle_N.json
//!
//! Threads: candle's CPU matmul calls the `gemm` crate with
//! `Parallelism::Rayon(n)` on the global rayon pool (`Parallelism::None` when
//! n is 1), n read from `RAYON_NUM_THREADS` at every matmul (default: the
//! physical cores); elementwise ops on 64K elements or more split over its own
//! pool of `CANDLE_NUM_THREADS` threads (default: `RAYON_NUM_THREADS`).
//! `--threads N` sets both variables before the first op.

#[path = "../../timing.rs"]
mod timing;

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{loss, Activation, Optimizer, Sequential, VarBuilder, VarMap, SGD};
use std::collections::HashMap;
use timing::median_seconds;

/// A multilayer perceptron: Linear layers of the given sizes (with or without
/// bias), `act` between them, nothing after the last.
fn mlp(vb: VarBuilder, sizes: &[usize], bias: bool, act: Activation) -> Result<Sequential> {
    let mut net = candle_nn::seq();
    for (i, io) in sizes.windows(2).enumerate() {
        if i > 0 {
            net = net.add(act);
        }
        net = net.add(candle_nn::linear_b(io[0], io[1], bias, vb.pp(i))?);
    }
    Ok(net)
}

/// A training step as the Python `training_step`: a fresh network whose
/// parameters live in a `VarMap`, forward, `loss(output)`, and
/// `SGD::backward_step` (backward, then `w -= lr * grad` for every variable).
fn training_step(
    sizes: &[usize],
    bias: bool,
    act: Activation,
    dtype: DType,
    lr: f64,
    x: Tensor,
    loss: impl Fn(&Tensor) -> Result<Tensor>,
) -> impl FnMut() -> Tensor {
    let vars = VarMap::new();
    let net = mlp(
        VarBuilder::from_varmap(&vars, dtype, &Device::Cpu),
        sizes,
        bias,
        act,
    )
    .unwrap();
    let mut opt = SGD::new(vars.all_vars(), lr).unwrap();
    move || {
        let l = loss(&net.forward(&x).unwrap()).unwrap();
        opt.backward_step(&l).unwrap();
        l
    }
}

/// Uniform random numbers in [0, 1), as `torch.rand`.
fn rand(shape: (usize, usize), dtype: DType) -> Tensor {
    Tensor::rand(0f32, 1f32, shape, &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

/// xor: Linear 2-2 (bias), sigmoid, Linear 2-1 (bias), sigmoid, BCE; the 4 xor
/// points; SGD lr 0.5. The output sigmoid is folded into the loss:
/// `binary_cross_entropy_with_logit` applies it, then the BCE.
fn xor(_: &Device) -> f64 {
    let x = Tensor::new(&[[0f32, 0.], [0., 1.], [1., 0.], [1., 1.]], &Device::Cpu).unwrap();
    let y = Tensor::new(&[[0f32], [1.], [1.], [0.]], &Device::Cpu).unwrap();
    let bce = move |out: &Tensor| loss::binary_cross_entropy_with_logit(out, &y);
    median_seconds(training_step(
        &[2, 2, 1],
        true,
        Activation::Sigmoid,
        DType::F32,
        0.5,
        x,
        bce,
    ))
}

/// iris: 2-32-1 without bias, sigmoid hidden, sigmoid out (folded into BCE
/// with logits, as xor); 100 uniform random points with random 0/1 targets;
/// SGD lr 0.001.
fn iris(_: &Device) -> f64 {
    let x = rand((100, 2), DType::F32);
    let y = rand((100, 1), DType::F32)
        .gt(0.5)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap();
    let bce = move |out: &Tensor| loss::binary_cross_entropy_with_logit(out, &y);
    median_seconds(training_step(
        &[2, 32, 1],
        false,
        Activation::Sigmoid,
        DType::F32,
        0.001,
        x,
        bce,
    ))
}

/// two_layer: 1000-100-10 without bias, ReLU, sum of squared errors; a batch of
/// 64 uniform random rows and targets; SGD lr 1e-9. In f32 or f64.
fn two_layer(dtype: DType) -> f64 {
    let x = rand((64, 1000), dtype);
    let y = rand((64, 10), dtype);
    let sse = move |out: &Tensor| (out - &y)?.sqr()?.sum_all();
    median_seconds(training_step(
        &[1000, 100, 10],
        false,
        Activation::Relu,
        dtype,
        1e-9,
        x,
        sse,
    ))
}

/// The mnist classifier: 784-256-128-10 with bias, ReLU after both hidden layers.
const MNIST: [usize; 4] = [784, 256, 128, 10];

/// mnist step: a batch of 128 uniform random images, random integer labels
/// (u32), softmax cross-entropy, SGD lr 0.01.
fn mnist_step(_: &Device) -> f64 {
    let x = rand((128, 784), DType::F32);
    let labels = (rand((128, 1), DType::F32) * 10.0)
        .unwrap()
        .floor()
        .unwrap();
    let labels = labels.flatten_all().unwrap().to_dtype(DType::U32).unwrap();
    let ce = move |out: &Tensor| loss::cross_entropy(out, &labels);
    median_seconds(training_step(
        &MNIST,
        true,
        Activation::Relu,
        DType::F32,
        0.01,
        x,
        ce,
    ))
}

/// mnist inference: the forward pass only, on a batch of B uniform random
/// images. Candle has no no-grad mode: ops on a `Var` are recorded for
/// backprop, ops on plain tensors are not. So the network is built, as when
/// loading weights for inference, from plain (detached) copies of the
/// initialised variables.
fn mnist_infer(batch: usize) -> f64 {
    let vars = VarMap::new();
    mlp(
        VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu),
        &MNIST,
        true,
        Activation::Relu,
    )
    .unwrap();
    let weights: HashMap<String, Tensor> = vars
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
        .collect();
    let vb = VarBuilder::from_tensors(weights, DType::F32, &Device::Cpu);
    let net = mlp(vb, &MNIST, true, Activation::Relu).unwrap();
    let x = rand((batch, 784), DType::F32);
    median_seconds(|| net.forward(&x).unwrap())
}

fn main() {
    let threads = timing::threads_arg();
    // Read by candle (and by rayon for its global pool) when it first needs them.
    std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    std::env::set_var("CANDLE_NUM_THREADS", threads.to_string());
    assert_eq!(candle_core::utils::get_num_threads(), threads);
    let workloads: &[(&str, fn(&Device) -> f64)] = &[
        ("step/xor_2-2-1_f32_b4", xor),
        ("step/iris_2-32-1_f32_b100", iris),
        ("step/two_layer_64x1000-100-10_f32", |_| {
            two_layer(DType::F32)
        }),
        ("step/two_layer_64x1000-100-10_f64", |_| {
            two_layer(DType::F64)
        }),
        ("step/mnist_784-256-128-10_f32_b128", mnist_step),
        ("infer/mnist_784-256-128-10_f32_b1", |_| mnist_infer(1)),
        ("infer/mnist_784-256-128-10_f32_b1024", |_| {
            mnist_infer(1024)
        }),
    ];
    timing::run_and_print(
        &format!("candle {}", env!("CANDLE_VERSION")),
        threads,
        &Device::Cpu,
        workloads,
    );
}
