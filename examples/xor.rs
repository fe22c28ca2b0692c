//! Seed 003: XOR with a 2-2-1 sigmoid net, BCE, SGD lr 0.5, 10001 steps on the
//! full batch of 4 rows.
//!
//! Run 1 starts from PyTorch's initial weights after `torch.manual_seed(70)`
//! (`examples/data/xor.json`) and reproduces its losses; run 2 starts from
//! forma's own PyTorch-style initialisation with a fixed seed. (From random
//! weights a 2-2-1 net solves XOR for most seeds, not all: about 85 of 100 in
//! PyTorch.)
//!
//! Run: `cargo run --release --example xor [-- --seed N]`

mod common;

/// A seed from which forma's initialisation solves XOR (seed 1 does not: it
/// settles at loss 0.348 with one row wrong). Try others with `-- --seed N`.
const SEED: u64 = 2;

use forma::prelude::*;

/// Linear(2->2), Sigmoid, Linear(2->1), Sigmoid: the tutorial's net (an `Mlp`
/// ends in its last Linear; this one names its final Sigmoid for `Bce`).
type Xor = seq!(@type Linear<2, 2>, Sigmoid, Linear<2, 1>, Sigmoid);

fn train(net: Xor) -> Result<(), Box<dyn std::error::Error>> {
    let x = Batch::<f32, 2>::from_rows(&[[0., 0.], [0., 1.], [1., 0.], [1., 1.]]);
    let y = Batch::<f32, 1>::from_rows(&[[0.], [1.], [1.], [0.]]);
    println!("parameters: {}", net.param_count());
    let mut trainer = Trainer::new(net, Bce, Sgd::new(0.5)?);
    for step in 0..10001 {
        let loss = trainer.step(&x, &y)?;
        if step % 1000 == 0 {
            println!("step {step:>5}  loss {loss:.7}");
        }
    }
    let out = trainer.predict(&x)?;
    let outputs: Vec<f32> = out.as_slice().to_vec();
    let predictions: Vec<u8> = outputs.iter().map(|&p| u8::from(p > 0.5)).collect();
    println!("outputs: {outputs:.6?}");
    println!("predictions: {predictions:?}");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let golden = common::json("xor.json")?;
    let init = &golden["seed70"]["init"];
    let w = |k: &str| -> Result<Vec<f32>, Box<dyn std::error::Error>> {
        Ok(common::cast(&common::numbers(&init[k])?))
    };
    println!("== from PyTorch's seed-70 weights");
    let net = seq!(
        Linear::from_slices(&w("lin1.weight")?, &w("lin1.bias")?)?,
        Sigmoid,
        Linear::from_slices(&w("lin2.weight")?, &w("lin2.bias")?)?,
        Sigmoid
    );
    train(net)?;

    let seed = std::env::args()
        .skip_while(|a| a != "--seed")
        .nth(1)
        .map_or(Ok(SEED), |s| s.parse())?;
    println!("== from forma's own initialisation, seed {seed}");
    train(Xor::initialize(&mut forma::rng(seed)))
}
