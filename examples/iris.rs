//! Seed 001: a 2-32-1 sigmoid net without biases on the first 100 iris rows
//! (setosa vs versicolor), first two features, rows L2-normalised; mean BCE,
//! plain gradient descent with lr 0.001, 101 epochs, float32.
//!
//! Starts from the tutorial's `torch.randn` weights (seed 0) stored in
//! `examples/data/iris2.json` and reproduces that file's losses. (With lr 0.001
//! and 101 epochs the net barely moves: the tutorial's point is the mechanics
//! of backprop, not the accuracy.)
//!
//! Run: `cargo run --release --example iris`

mod common;

use forma::prelude::*;

type Net = seq!(@type Linear<2, 32, f32, NoBias>, Sigmoid, Linear<32, 1, f32, NoBias>, Sigmoid);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // iris.csv: one header line (sepal_length, sepal_width, petal_length,
    // petal_width, species), then the rows.
    let text = std::fs::read_to_string(common::data_path("iris.csv"))?;
    let rows = forma::data::parse_csv(&text, &forma::data::CsvOptions::with_header_lines(1))?;
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for row in rows.iter().filter(|r| r[4] < 2.0).take(100) {
        let norm = (row[0] * row[0] + row[1] * row[1]).sqrt();
        features.extend([(row[0] / norm) as f32, (row[1] / norm) as f32]);
        labels.push(row[4] as f32);
    }
    let x = Batch::<f32, 2>::from_flat(&features)?;
    let y = Batch::<f32, 1>::from_flat(&labels)?;

    let init = &common::json("iris2.json")?["init_float32"];
    let w1 = common::transpose(&common::numbers(&init["w1"])?, 2, 32);
    let w2 = common::numbers(&init["w2"])?;
    let net: Net = seq!(
        Linear::from_slices(&common::cast(&w1), &[])?,
        Sigmoid,
        Linear::from_slices(&common::cast(&w2), &[])?,
        Sigmoid
    );

    let mut trainer = Trainer::new(net, Bce, Sgd::new(0.001)?);
    for epoch in 0..=100 {
        let loss = trainer.step(&x, &y)?;
        if epoch % 20 == 0 {
            println!("epoch {epoch:>3}  loss {loss:.7}");
        }
    }
    let out = trainer.predict(&x)?;
    let correct = out
        .as_slice()
        .iter()
        .zip(y.as_slice())
        .filter(|(p, t)| (**p > 0.5) == (**t > 0.5))
        .count();
    println!(
        "accuracy after training: {:.2} ({correct}/{})",
        correct as f64 / y.rows() as f64,
        y.rows()
    );
    Ok(())
}
