//! Seed 003's XOR net trained on the GPU: the same 2-2-1 sigmoid net, loss and
//! optimizer as `examples/xor.rs`, moved to a device. The model code does not
//! change; only the trainer does (`DeviceTrainer` with a `Cuda` device), and
//! the data is uploaded once.
//!
//! Run: `cargo run --release --features cuda --example xor_cuda [-- --cpu]`
//! (`--cpu` runs the same device code on the `Cpu` device). Without a GPU it
//! says so and exits with status 2.

mod common;

use forma::cuda::Cuda;
use forma::prelude::*;

/// The tutorial's 2-2-1 net with its final Sigmoid.
type Xor = seq!(@type Linear<2, 2>, Sigmoid, Linear<2, 1>, Sigmoid);

/// Trains the net from PyTorch's seed-70 weights on `device`.
fn train<D: Device<f32>>(device: D) -> Result<(), Box<dyn std::error::Error>> {
    let golden = common::json("xor.json")?;
    let init = &golden["seed70"]["init"];
    let w = |k: &str| -> Result<Vec<f32>, Box<dyn std::error::Error>> {
        Ok(common::cast(&common::numbers(&init[k])?))
    };
    let net: Xor = seq!(
        Linear::from_slices(&w("lin1.weight")?, &w("lin1.bias")?)?,
        Sigmoid,
        Linear::from_slices(&w("lin2.weight")?, &w("lin2.bias")?)?,
        Sigmoid
    );
    let x = Batch::<f32, 2>::from_rows(&[[0., 0.], [0., 1.], [1., 0.], [1., 1.]]);
    let y = Batch::<f32, 1>::from_rows(&[[0.], [1.], [1.], [0.]]);
    println!("device: {}", device.name());
    let (x, y) = (
        DeviceTensor::upload(&device, &x)?,
        DeviceTensor::upload(&device, &y)?,
    );
    let mut trainer = DeviceTrainer::new(device, net, Bce, Sgd::new(0.5)?)?;
    for step in 0..10001 {
        let loss = trainer.step(&x, &y)?;
        if step % 1000 == 0 {
            println!("step {step:>5}  loss {loss:.7}");
        }
    }
    let outputs = trainer.predict(&x)?;
    let predictions: Vec<u8> = outputs
        .as_slice()
        .iter()
        .map(|&p| u8::from(p > 0.5))
        .collect();
    println!("outputs: {:.6?}", outputs.as_slice());
    println!("predictions: {predictions:?}");
    let trained: Xor = trainer.model()?; // back on the host
    println!("trained first-layer weight: {:?}", trained.0.weight());
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--cpu") {
        return train(Cpu);
    }
    match Cuda::new(0) {
        Ok(gpu) => train(gpu),
        Err(Error::NoDevice { why, .. }) => {
            eprintln!("no CUDA device ({why}); run with -- --cpu for the CPU device");
            std::process::exit(2);
        }
        Err(e) => Err(e.into()),
    }
}
