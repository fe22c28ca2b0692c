//! Layers written by a user (`layers.rs`): SiLU and a residual block, made
//! of the device primitives. This example checks their gradients against
//! finite differences with `forma::testing::gradcheck`, then trains a
//! network built from them on the CPU, and, with `--features cuda` and a
//! GPU, the same network on the GPU with the same layer code.
//!
//! Run: `cargo run --release --example custom_layers [--features cuda]`

mod layers;

use forma::prelude::*;
use forma::testing::gradcheck;
use layers::{Residual, SiLU};

/// 2 inputs, a 16-wide SiLU layer, a residual block around another, 1 output.
type Net<E> = seq!(@type
    Linear<2, 16, E>, SiLU,
    Residual<seq!(@type Linear<16, 16, E>, SiLU)>,
    Linear<16, 1, E>
);

/// 256 points of `y = sin(3 x0) · x1` on [-1, 1]².
fn data() -> (Batch<f32, 2>, Batch<f32, 1>) {
    let n = 256;
    let x = Batch::<f32, 2>::from_fn(n, Const, |r, c| {
        let t = ((r * 37 + c * 101) % n) as f32 / n as f32;
        2.0 * t - 1.0
    });
    let y = Batch::<f32, 1>::from_fn(n, Const, |r, _| (3.0 * x[(r, 0)]).sin() * x[(r, 1)]);
    (x, y)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Gradients against finite differences, in f64.
    let x = Batch::<f64, 4>::from_rows(&[[0.5, -1.2, 0.3, 2.0], [-0.7, 0.1, 1.5, -0.4]]);
    let r = Batch::<f64, 4>::from_rows(&[[1.0, -0.5, 0.25, 0.8], [0.3, 0.9, -1.1, 0.6]]);
    let checked = gradcheck(&mut SiLU, &x, &r)?;
    println!(
        "SiLU: {} derivatives match finite differences",
        checked.entries()
    );
    let mut block = Residual {
        f: seq!(Linear::<4, 4, f64>::initialize(&mut rng(1)), SiLU),
    };
    let checked = gradcheck(&mut block, &x, &r)?;
    println!(
        "Residual: {} derivatives match finite differences",
        checked.entries()
    );

    // 2. Training on the CPU.
    let (x, y) = data();
    let net = Net::<f32>::initialize(&mut rng(7));
    let mut trainer = Trainer::new(net.clone(), Mse, Adam::new(0.01)?);
    let first = trainer.step(&x, &y)?;
    for _ in 0..1500 {
        trainer.step(&x, &y)?;
    }
    let last = trainer.evaluate(&x, &y)?;
    println!("CPU: MSE {first:.4} -> {last:.5} after 1500 Adam steps");

    // 3. The same network and layer code on a GPU.
    #[cfg(feature = "cuda")]
    match forma::cuda::Cuda::new(0) {
        Ok(gpu) => {
            let mut trainer = Trainer::on(gpu.clone(), net.to_device(&gpu)?, Mse, Adam::new(0.01)?);
            let (gx, gy) = (Tensor::upload(&gpu, &x)?, Tensor::upload(&gpu, &y)?);
            let first = trainer.step(&gx, &gy)?;
            for _ in 0..1500 {
                trainer.step(&gx, &gy)?;
            }
            let last = trainer.evaluate(&gx, &gy)?;
            println!("{}: MSE {first:.4} -> {last:.5}", gpu.name());
        }
        Err(e) => println!("no GPU: {e}"),
    }
    #[cfg(not(feature = "cuda"))]
    let _ = net;
    Ok(())
}
