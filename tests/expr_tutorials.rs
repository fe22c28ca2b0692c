//! The autograd tutorials (seeds 002 and 003) and seed 000's whole net written
//! as one static expression, pinned to their values and to `mazur.json`.

mod common;

use common::{assert_rel, golden, num, nums};
use forma::expr::{Mat, Scalar, constant, var};
use forma::prelude::*;

#[test]
fn derivative_of_x_squared_at_4_is_8() {
    let x = var::<0, Scalar, f64>(4.0);
    assert_eq!(x.powi(2).value(), 16.0);
    assert_eq!(x.powi(2).grad(x).unwrap(), 8.0);
}

#[test]
fn z_equals_x_plus_y_squared() {
    let (x, y) = (var::<0, Scalar, f32>(1.0), var::<1, Scalar, f32>(3.0));
    let z = (x + y).powi(2);
    assert_eq!(z.value(), 16.0);
    assert_eq!(z.grad((x, y)).unwrap(), (8.0, 8.0));
}

#[test]
fn mean_of_3_y_y_over_ones() {
    let x = var::<0, Mat<2, 2>, f64>([[1.0; 2]; 2]);
    let y = x + 2.0;
    let out = (3.0 * y * y).mean();
    assert_eq!(out.value(), 27.0);
    assert_eq!(out.grad(x).unwrap(), [[4.5; 2]; 2]);
}

/// Seed 000 as one expression: `h = σ(x·W1 + b1)`, `o = σ(h·W2 + b2)`,
/// `L = Σ 0.5 (t - o)²`, with W in the tutorial's `in x out` layout.
#[allow(clippy::type_complexity)]
fn mazur_loss_and_grads(
    w1: [[f64; 2]; 2],
    b1: f64,
    w2: [[f64; 2]; 2],
    b2: f64,
) -> (f64, ([[f64; 2]; 2], f64, [[f64; 2]; 2], f64)) {
    let x = constant::<Mat<1, 2>, f64>([[0.2, 0.1]]);
    let t = constant::<Mat<1, 2>, f64>([[0.99, 0.01]]);
    let (w1, b1, w2, b2) = (
        var::<0, Mat<2, 2>, f64>(w1),
        var::<1, Scalar, f64>(b1),
        var::<2, Mat<2, 2>, f64>(w2),
        var::<3, Scalar, f64>(b2),
    );
    let o = ((x.matmul(w1) + b1).sigmoid().matmul(w2) + b2).sigmoid();
    let loss = ((t - o).powi(2) * 0.5).sum();
    (loss.value(), loss.grad((w1, b1, w2, b2)).unwrap())
}

#[test]
fn mazur_net_as_one_expression_matches_pytorch() {
    let g = golden("mazur.json");
    let (mut w1, mut b1, mut w2, mut b2) = (
        [[0.2, 0.4], [0.1, 0.15]],
        0.3,
        [[0.65, 0.45], [0.7, 0.3]],
        0.5,
    );
    let (loss, (dw1, db1, dw2, db2)) = mazur_loss_and_grads(w1, b1, w2, b2);
    assert_rel("initial loss", loss, num(&g["initial_loss"]), 1e-9);
    let grads = &g["grads_after_first_backward"];
    for (name, got, want) in [
        ("dW1", dw1, nums(&grads["dW1"])),
        ("dW2", dw2, nums(&grads["dW2"])),
    ] {
        for (i, (a, b)) in got.as_flattened().iter().zip(&want).enumerate() {
            assert_rel(&format!("{name}[{i}]"), *a, *b, 1e-9);
        }
    }
    assert_rel("db1", db1, num(&grads["db1"]), 1e-9);
    assert_rel("db2", db2, num(&grads["db2"]), 1e-9);

    // 1000 SGD steps with lr 0.5 on the expression reproduce the losses.
    let all = nums(&g["losses_all"]);
    for (step, want) in all.iter().enumerate().take(1001) {
        let (loss, (dw1, db1, dw2, db2)) = mazur_loss_and_grads(w1, b1, w2, b2);
        assert_rel(
            &format!("expression loss after {step} updates"),
            loss,
            *want,
            1e-9,
        );
        for (w, d) in w1.as_flattened_mut().iter_mut().zip(dw1.as_flattened()) {
            *w -= 0.5 * d;
        }
        for (w, d) in w2.as_flattened_mut().iter_mut().zip(dw2.as_flattened()) {
            *w -= 0.5 * d;
        }
        b1 -= 0.5 * db1;
        b2 -= 0.5 * db2;
    }
}

#[test]
fn an_expression_as_the_loss_of_a_trainer() {
    let g = golden("mazur.json");
    let net = seq!(
        Linear::<2, 2, f64, SharedBias>::from_weights([[0.2, 0.1], [0.4, 0.15]], [0.3])
            .expect("finite weights"),
        Sigmoid,
        Linear::<2, 2, f64, SharedBias>::from_weights([[0.65, 0.7], [0.45, 0.3]], [0.5])
            .expect("finite weights"),
        Sigmoid
    );
    let half_sse = RowLoss::sum(
        |o: forma::expr::PredRow<f64, 2>, t: forma::expr::TargetRow<f64, 2>| {
            ((t - o).powi(2) * 0.5).sum()
        },
    );
    let mut trainer = Trainer::new(net, half_sse, Sgd::new(0.5).unwrap());
    let (x, t) = (
        Tensor::from_array([[0.2, 0.1]]),
        Tensor::from_array([[0.99, 0.01]]),
    );
    for (step, want) in nums(&g["losses_all"]).iter().enumerate().take(1000) {
        assert_rel(
            &format!("loss in step {}", step + 1),
            trainer.step(&x, &t).unwrap(),
            *want,
            1e-9,
        );
    }
}

#[test]
fn powi_zero_has_zero_gradient_even_at_zero() {
    let x = var::<0, Scalar, f64>(0.0);
    assert_eq!(x.powi(0).value(), 1.0);
    assert_eq!(x.powi(0).grad(x).unwrap(), 0.0);
}
