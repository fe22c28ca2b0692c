//! Seed 003's XOR net trained on the GPU: the same 2-2-1 sigmoid net, loss and
//! optimizer as `examples/xor.rs`, moved to a device. The model code does not
//! change: the model moves with `to_device`, the trainer is made with
//! `Trainer::on(device, ..)`, the data is uploaded once, and the trained model
//! comes back with `to_host`.
//!
//! Run: `cargo run --release --features cuda --example xor_cuda [-- --cpu]`
//! (`--cpu` runs the same code with the `Cpu` device). Without a GPU it
//! says so and exits with status 2.

mod common;

use forma::cuda::Cuda;
use forma::layers::Resident;
use forma::prelude::*;

/// The tutorial's 2-2-1 net with its final Sigmoid.
type Xor = seq!(@type Linear<2, 2>, Sigmoid, Linear<2, 1>, Sigmoid);

/// The same network with its parameters on device `D`.
type XorOn<D> = <Xor as ToDevice<f32, D>>::On;

/// Trains the net from PyTorch's seed-70 weights on `device`.
fn train<D>(device: D) -> Result<(), Box<dyn std::error::Error>>
where
    D: Resident<f32>,
    Xor: ToDevice<f32, D>,
    XorOn<D>: Module<f32, Const<2>, D, Out = Const<1>> + ToHost<f32, D, Host = Xor>,
    Bce: Loss<f32, Const<1>, D, Target<usize> = Batch<f32, 1, D>>,
{
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
    let (x, y) = (Tensor::upload(&device, &x)?, Tensor::upload(&device, &y)?);
    let net = net.to_device(&device)?;
    let mut trainer = Trainer::on(device.clone(), net, Bce, Sgd::new(0.5)?);
    for step in 0..10001 {
        let loss = trainer.step(&x, &y)?;
        if step % 1000 == 0 {
            println!("step {step:>5}  loss {loss:.7}");
        }
    }
    let outputs = trainer.predict(&x)?.download(&device)?;
    let predictions: Vec<u8> = outputs
        .as_slice()
        .iter()
        .map(|&p| u8::from(p > 0.5))
        .collect();
    println!("outputs: {:.6?}", outputs.as_slice());
    println!("predictions: {predictions:?}");
    let trained: Xor = trainer.model().to_host(&device)?; // back on the host
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
