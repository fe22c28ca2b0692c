//! Seed 002: N=64, D_in=1000, H=100, D_out=10; y = relu(x·W1)·W2, loss Σ(y - t)²,
//! plain gradient descent with lr 1e-6, 1000 steps, in float64 and float32.
//!
//! By default x, t, W1 and W2 are numpy's `RandomState(0)` draws shipped in
//! `examples/data/twolayer_init_f64.bin`, so the float64 run matches numpy's
//! losses (`twolayer.json`). `--random` draws them from forma's seeded
//! generator instead.
//!
//! Run: `cargo run --release --example two_layer [-- --random]`

mod common;

use forma::core::Float;
use forma::prelude::*;

type Net<E> = seq!(@type Linear<1000, 100, E, NoBias>, ReLU, Linear<100, 10, E, NoBias>);

const N: usize = 64;

/// x (64x1000), t (64x10), W1 (1000x100, in x out), W2 (100x10), row-major.
struct Data {
    x: Vec<f64>,
    t: Vec<f64>,
    w1: Vec<f64>,
    w2: Vec<f64>,
}

fn load(random: bool) -> Result<Data, Box<dyn std::error::Error>> {
    let sizes = [N * 1000, N * 10, 1000 * 100, 100 * 10];
    let all = if random {
        let mut v = vec![0.0; sizes.iter().sum()];
        Init::Normal {
            mean: 0.0,
            std: 1.0,
        }
        .fill(1, 1, &mut forma::rng(0), &mut v)?;
        v
    } else {
        forma::data::f64s_from_le_bytes(&std::fs::read(common::data_path(
            "twolayer_init_f64.bin",
        ))?)?
    };
    forma::core::check_len(
        "twolayer_init_f64.bin values",
        sizes.iter().sum(),
        all.len(),
    )?;
    let (x, rest) = all.split_at(sizes[0]);
    let (t, rest) = rest.split_at(sizes[1]);
    let (w1, w2) = rest.split_at(sizes[2]);
    Ok(Data {
        x: x.to_vec(),
        t: t.to_vec(),
        w1: w1.to_vec(),
        w2: w2.to_vec(),
    })
}

fn run<E: Float>(d: &Data) -> Result<(), Box<dyn std::error::Error>> {
    let net: Net<E> = seq!(
        Linear::from_slices(&common::cast(&common::transpose(&d.w1, 1000, 100)), &[])?,
        ReLU,
        Linear::from_slices(&common::cast(&common::transpose(&d.w2, 100, 10)), &[])?
    );
    let x = Batch::<E, 1000>::from_flat(&common::cast(&d.x))?;
    let t = Batch::<E, 10>::from_flat(&common::cast(&d.t))?;
    let mut trainer = Trainer::new(net, SumSquares, Sgd::new(1e-6)?);
    let start = std::time::Instant::now();
    for step in 0..1000 {
        let loss = trainer.step(&x, &t)?;
        if step % 100 == 0 {
            println!("{} step {step:>3}  loss {:.10e}", E::NAME, loss.to_f64());
        }
    }
    println!(
        "{}: 1000 steps in {:.3} s",
        E::NAME,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let random = std::env::args().any(|a| a == "--random");
    let data = load(random)?;
    run::<f64>(&data)?;
    run::<f32>(&data)
}
