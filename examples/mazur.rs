//! Seed 000: Matt Mazur's 2-2-2 backpropagation example, in float64.
//!
//! Inputs (0.2, 0.1), targets (0.99, 0.01), fixed weights, and ONE scalar bias
//! shared by all units of a layer (b1 = 0.3, b2 = 0.5): PyTorch's gradients
//! only match with that layout. Loss 0.5·Σ(t - o)², plain SGD with lr 0.5.
//!
//! Run: `cargo run --release --example mazur`

use forma::prelude::*;

fn main() -> forma::Result<()> {
    // The tutorial writes h = x @ W1 with W1 = [[0.2, 0.4], [0.1, 0.15]] (in x out);
    // nn.Linear stores the transpose, [out][in].
    let net = seq!(
        Linear::<2, 2, f64, SharedBias>::from_weights([[0.2, 0.1], [0.4, 0.15]], [0.3])?,
        Sigmoid,
        Linear::<2, 2, f64, SharedBias>::from_weights([[0.65, 0.7], [0.45, 0.3]], [0.5])?,
        Sigmoid
    );
    let x = Tensor::from_array([[0.2, 0.1]]);
    let target = Tensor::from_array([[0.99, 0.01]]);
    let mut trainer = Trainer::new(net, HalfSumSquares, Sgd::new(0.5)?);

    let loss = trainer.compute_gradients(&x, &target)?;
    println!("initial loss: {loss:.12}");
    let Some((g1, (_, (g2, _)))) = trainer.grads() else {
        unreachable!("compute_gradients made the gradient")
    };
    // Printed as d loss / d W[i][j] for h = x @ W (in x out), like the tutorial.
    println!(
        "dW1: [[{:.12e}, {:.12e}], [{:.12e}, {:.12e}]]",
        g1.weight()[0][0],
        g1.weight()[1][0],
        g1.weight()[0][1],
        g1.weight()[1][1]
    );
    println!("db1: {:.12e}", g1.bias()[0]);
    println!(
        "dW2: [[{:.12e}, {:.12e}], [{:.12e}, {:.12e}]]",
        g2.weight()[0][0],
        g2.weight()[1][0],
        g2.weight()[0][1],
        g2.weight()[1][1]
    );
    println!("db2: {:.12e}", g2.bias()[0]);

    for step in 1..=1000 {
        let loss = trainer.step(&x, &target)?;
        if step == 2 {
            println!("loss after 1 step: {loss:.12}");
        }
        if step % 100 == 0 {
            println!("step {step:>4}  loss {loss:.12}");
        }
    }
    let out = trainer.predict(&x)?.clone();
    println!(
        "loss after 1000 steps: {:.12}",
        trainer.evaluate(&x, &target)?
    );
    println!(
        "output after 1000 steps: [{:.12}, {:.12}]",
        out[(0, 0)],
        out[(0, 1)]
    );
    Ok(())
}
