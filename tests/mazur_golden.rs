//! Seed 000 (the 2-2-2 sigmoid net with shared scalar biases) against
//! PyTorch's float64 run in `mazur.json`, to a relative 1e-9.

mod common;

use common::{assert_rel, golden, num, nums};
use forma::prelude::*;

type Net =
    seq!(@type Linear<2, 2, f64, SharedBias>, Sigmoid, Linear<2, 2, f64, SharedBias>, Sigmoid);

/// The tutorial's exact weights. It writes `h = x @ W1` with W1 = [[0.2, 0.4], [0.1, 0.15]];
/// forma stores `nn.Linear`'s `[out][in]`, the transpose.
fn net() -> Net {
    seq!(
        Linear::from_weights([[0.2, 0.1], [0.4, 0.15]], [0.3]).expect("finite weights"),
        Sigmoid,
        Linear::from_weights([[0.65, 0.7], [0.45, 0.3]], [0.5]).expect("finite weights"),
        Sigmoid
    )
}

fn data() -> (
    Tensor<f64, Const<1>, Const<2>>,
    Tensor<f64, Const<1>, Const<2>>,
) {
    (
        Tensor::from_array([[0.2, 0.1]]),
        Tensor::from_array([[0.99, 0.01]]),
    )
}

const TOL: f64 = 1e-9;

#[test]
fn initial_loss_and_all_gradients() {
    let g = golden("mazur.json");
    let (x, t) = data();
    let mut trainer = Trainer::new(net(), HalfSumSquares, Sgd::new(0.5).unwrap());
    let loss = trainer.compute_gradients(&x, &t).unwrap();
    assert_rel("initial loss", loss, num(&g["initial_loss"]), TOL);

    let grads = &g["grads_after_first_backward"];
    let (l1, (_, (l2, _))) = trainer.grads().unwrap();
    // Golden dW[i][j] is for h = x @ W (in x out); forma's weight is [out][in].
    for (name, layer, want) in [("dW1", l1, &grads["dW1"]), ("dW2", l2, &grads["dW2"])] {
        let want = nums(want);
        for i in 0..2 {
            for j in 0..2 {
                assert_rel(
                    &format!("{name}[{i}][{j}]"),
                    layer.weight()[j][i],
                    want[i * 2 + j],
                    TOL,
                );
            }
        }
    }
    assert_rel("db1", l1.bias()[0], num(&grads["db1"]), TOL);
    assert_rel("db2", l2.bias()[0], num(&grads["db2"]), TOL);
}

#[test]
fn losses_along_1000_steps_and_the_final_output() {
    let g = golden("mazur.json");
    let (x, t) = data();
    let mut trainer = Trainer::new(net(), HalfSumSquares, Sgd::new(0.5).unwrap());
    let all = nums(&g["losses_all"]);
    for (step, want) in all.iter().take(1000).enumerate() {
        let loss = trainer.step(&x, &t).unwrap();
        assert_rel(&format!("loss in step {}", step + 1), loss, *want, TOL);
    }
    let after = trainer.evaluate(&x, &t).unwrap();
    assert_rel(
        "loss after 1 step",
        all[1],
        num(&g["loss_after_1_step"]),
        0.0,
    );
    assert_rel(
        "loss after 1000 steps",
        after,
        num(&g["final_loss_after_1000_steps"]),
        TOL,
    );

    let out = trainer.predict(&x).unwrap().clone();
    let want = nums(&g["final_output"]);
    assert_rel("final output 0", out[(0, 0)], want[0], TOL);
    assert_rel("final output 1", out[(0, 1)], want[1], TOL);

    let (l1, (_, (l2, _))) = trainer.model();
    let p = &g["final_params"];
    assert_rel("final b1", l1.bias()[0], num(&p["b1"]), TOL);
    assert_rel("final b2", l2.bias()[0], num(&p["b2"]), TOL);
    let w1 = nums(&p["W1"]);
    assert_rel("final W1[1][0]", l1.weight()[0][1], w1[2], TOL);
}
