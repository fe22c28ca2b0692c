//! Seed 004: regression with X (30x50), y = X·B + noise, a 50 -> 30 ReLU -> 1
//! net without biases, loss 0.5·mean((ŷ - y)²), gradient descent lr 0.01,
//! 5000 epochs, float32.
//!
//! The tutorial's first attempt printed NaN: `torch.Tensor(2, 2)` hands out
//! uninitialised memory. In forma every tensor is initialised, and a
//! non-finite loss is an error, not a silent NaN. X, B, y and the weights
//! are the tutorial's `torch.manual_seed(1234)` draws, from
//! `examples/data/regression.json`.
//!
//! Run: `cargo run --release --example regression`

mod common;

use forma::prelude::*;

type Net = seq!(@type Linear<50, 30, f32, NoBias>, ReLU, Linear<30, 1, f32, NoBias>);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let g = common::json("regression.json")?;
    let init = &g["init_float32"];
    let x = Batch::<f32, 50>::from_flat(&common::cast(&common::numbers(&init["X"])?))?;
    let y = Batch::<f32, 1>::from_flat(&common::cast(&common::numbers(&init["y"])?))?;
    let w1 = common::transpose(&common::numbers(&init["w1"])?, 50, 30);
    let w2 = common::numbers(&init["w2"])?;
    let net: Net = seq!(
        Linear::from_slices(&common::cast(&w1), &[])?,
        ReLU,
        Linear::from_slices(&common::cast(&w2), &[])?
    );
    let mut trainer = Trainer::new(net, HalfMse, Sgd::new(0.01)?);
    for epoch in 0..5000 {
        let loss = trainer.step(&x, &y)?;
        if epoch < 10 || epoch % 500 == 0 || epoch == 4999 {
            println!("epoch {epoch:>4}  loss {loss:.7e}");
        }
    }
    println!("final loss: {:.7e}", trainer.evaluate(&x, &y)?);
    Ok(())
}
