//! The workloads of benches/reference/pytorch_reference.py in dfdx 0.13 on its
//! `Cpu` device, timed as that script does; prints the same JSON.
//!
//! Usage: peers-dfdx --threads N > dfdx_N.json
//!
//! Threads: dfdx's only multi-threaded CPU kernel is matmul, which calls the
//! `gemm` crate with `Parallelism::Rayon(rayon::current_num_threads())` on the
//! global rayon pool; elementwise ops, reductions and the optimizer run on the
//! calling thread. `--threads N` builds that global pool with N threads.

#[path = "../../timing.rs"]
mod timing;

use dfdx::data::OneHotEncode;
use dfdx::optim::{Sgd, SgdConfig};
use dfdx::prelude::*;
use timing::median_seconds;

/// A training step as the Python `training_step`: forward on a gradient tape,
/// loss, backward, SGD update (no momentum, no weight decay), and the gradients
/// zeroed and reused for the next step, as dfdx's own examples do.
/// `$loss` maps the network's output `$out` to a scalar loss.
macro_rules! training_step {
    ($dev:expr, $net:ty, $dtype:ty, lr = $lr:expr, x = $x:expr, |$out:ident| $loss:expr) => {{
        let mut net = $dev.build_module::<$net, $dtype>();
        let mut grads = Some(net.alloc_grads());
        let cfg = SgdConfig {
            lr: $lr,
            momentum: None,
            weight_decay: None,
        };
        let mut opt = Sgd::new(&net, cfg);
        let x = $x;
        move || {
            let $out = net.forward_mut(x.trace(grads.take().unwrap()));
            let mut g = $loss.backward();
            opt.update(&mut net, &g).unwrap();
            net.zero_grads(&mut g);
            grads = Some(g);
        }
    }};
}

/// xor: Linear 2-2 (bias), sigmoid, Linear 2-1 (bias), sigmoid, BCE; the 4 xor
/// points; SGD lr 0.5. The output sigmoid is folded into the loss: dfdx's BCE is
/// `binary_cross_entropy_with_logits_loss` (the same function of the logits).
fn xor(dev: &Cpu) -> f64 {
    type Net = (Linear<2, 2>, Sigmoid, Linear<2, 1>);
    let x = dev.tensor([[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]);
    let y = dev.tensor([[0.0f32], [1.0], [1.0], [0.0]]);
    median_seconds(training_step!(dev, Net, f32, lr = 0.5, x = x, |out| {
        binary_cross_entropy_with_logits_loss(out, y.clone())
    }))
}

/// iris: 2-32-1 without bias (`UnbiasedLinear`), sigmoid hidden, sigmoid out
/// (folded into BCE with logits, as xor); 100 uniform random points with random
/// 0/1 targets; SGD lr 0.001.
fn iris(dev: &Cpu) -> f64 {
    type Net = (UnbiasedLinear<2, 32>, Sigmoid, UnbiasedLinear<32, 1>);
    let x: Tensor<Rank2<100, 2>, f32, _> = dev.sample_uniform();
    let u: Tensor<Rank2<100, 1>, f32, _> = dev.sample_uniform();
    let y = dev.tensor_from_vec(
        u.as_vec().iter().map(|&u| (u > 0.5) as u8 as f32).collect(),
        *u.shape(),
    );
    median_seconds(training_step!(dev, Net, f32, lr = 0.001, x = x, |out| {
        binary_cross_entropy_with_logits_loss(out, y.clone())
    }))
}

/// two_layer: 1000-100-10 without bias, ReLU, sum of squared errors; a batch of
/// 64 uniform random rows and targets; SGD lr 1e-9. In f32 or f64 (`$e`).
macro_rules! two_layer {
    ($e:ty) => {
        |dev: &Cpu| -> f64 {
            type Net = (UnbiasedLinear<1000, 100>, ReLU, UnbiasedLinear<100, 10>);
            let x: Tensor<Rank2<64, 1000>, $e, _> = dev.sample_uniform();
            let y: Tensor<Rank2<64, 10>, $e, _> = dev.sample_uniform();
            median_seconds(training_step!(dev, Net, $e, lr = 1e-9, x = x, |out| {
                (out - y.clone()).square().sum()
            }))
        }
    };
}

/// The mnist classifier: 784-256-128-10 with bias, ReLU after both hidden layers.
type Mnist = (
    Linear<784, 256>,
    ReLU,
    Linear<256, 128>,
    ReLU,
    Linear<128, 10>,
);

/// mnist step: a batch of 128 uniform random images, random labels, softmax
/// cross-entropy, SGD lr 0.01. dfdx's cross-entropy takes target probabilities,
/// not class indices, so the labels are one-hot encoded once, before timing.
fn mnist_step(dev: &Cpu) -> f64 {
    let x: Tensor<Rank2<128, 784>, f32, _> = dev.sample_uniform();
    let u: Tensor<Rank1<128>, f32, _> = dev.sample_uniform();
    let labels: Vec<usize> = u
        .as_vec()
        .iter()
        .map(|&u| (u * 10.0) as usize % 10)
        .collect();
    let y: Tensor<Rank2<128, 10>, f32, _> = dev.one_hot_encode(Const::<10>, labels).realize();
    median_seconds(training_step!(dev, Mnist, f32, lr = 0.01, x = x, |out| {
        cross_entropy_with_logits_loss(out, y.clone())
    }))
}

/// mnist inference: the forward pass only, on a batch of B uniform random
/// images, without a tape (dfdx records gradients only on a traced input).
fn mnist_infer<const B: usize>(dev: &Cpu) -> f64 {
    let net = dev.build_module::<Mnist, f32>();
    let x: Tensor<Rank2<B, 784>, f32, _> = dev.sample_uniform();
    median_seconds(|| net.forward(x.clone()))
}

fn main() {
    let threads = timing::threads_arg();
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .unwrap();
    let dev = Cpu::seed_from_u64(0);
    let workloads: &[(&str, fn(&Cpu) -> f64)] = &[
        ("step/xor_2-2-1_f32_b4", xor),
        ("step/iris_2-32-1_f32_b100", iris),
        ("step/two_layer_64x1000-100-10_f32", two_layer!(f32)),
        ("step/two_layer_64x1000-100-10_f64", two_layer!(f64)),
        ("step/mnist_784-256-128-10_f32_b128", mnist_step),
        ("infer/mnist_784-256-128-10_f32_b1", mnist_infer::<1>),
        ("infer/mnist_784-256-128-10_f32_b1024", mnist_infer::<1024>),
    ];
    timing::run_and_print(
        &format!("dfdx {}", env!("DFDX_VERSION")),
        threads,
        &dev,
        workloads,
    );
}
