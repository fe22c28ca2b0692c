//! Optimizer update rules against hand-computed steps of PyTorch's formulas on
//! f(p) = p²/2 (gradient g = p), starting from p = 1 with lr 0.1.

use forma::prelude::*;

type P = Linear<1, 1, f64, NoBias>;

/// Runs `steps` updates of `opt` on f(p) = p²/2 and returns p after each.
fn trajectory(mut opt: impl Optimizer<f64, P>, steps: usize) -> Vec<f64> {
    let mut p = P::from_weights([[1.0]], []).expect("finite weights");
    let mut g = p.zeros_like().unwrap();
    (0..steps)
        .map(|_| {
            g.weight_mut()[0][0] = p.weight()[0][0];
            opt.step(&Cpu, &mut p, &g).unwrap();
            p.weight()[0][0]
        })
        .collect()
}

fn close(got: &[f64], want: &[f64]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() < 1e-12, "step {}: got {g}, want {w}", i + 1);
    }
}

#[test]
fn sgd_plain_momentum_nesterov_and_weight_decay() {
    close(&trajectory(Sgd::new(0.1).unwrap(), 3), &[0.9, 0.81, 0.729]);
    // buf = g; then buf = 0.9 buf + g.
    close(
        &trajectory(Sgd::new(0.1).unwrap().with_momentum(0.9).unwrap(), 3),
        &[0.9, 0.72, 0.486],
    );
    // step = g + 0.9 buf.
    let nesterov = Sgd::new(0.1)
        .unwrap()
        .with_momentum(0.9)
        .unwrap()
        .with_nesterov()
        .unwrap();
    close(&trajectory(nesterov, 2), &[0.81, 0.5751]);
    // g = p + 0.5 p.
    close(
        &trajectory(Sgd::new(0.1).unwrap().with_weight_decay(0.5).unwrap(), 2),
        &[0.85, 0.7225],
    );
}

#[test]
fn adam_and_adamw() {
    // Step 1 of Adam moves by lr·g/(|g| + eps) whatever g's size.
    let eps = 1e-8;
    let p1 = 1.0 - 0.1 * 1.0 / (1.0 + eps);
    // Step 2: m = 0.9·0.1·1 + 0.1·p1, v = 0.999·0.001·1 + 0.001·p1².
    let (m, v) = (0.09 + 0.1 * p1, 0.000999 + 0.001 * p1 * p1);
    let p2 = p1 - 0.1 * (m / (1.0 - 0.81)) / ((v / (1.0 - 0.998001)).sqrt() + eps);
    close(&trajectory(Adam::new(0.1).unwrap(), 2), &[p1, p2]);
    // AdamW decays first: p ← p (1 - lr·wd), then the Adam step.
    let w1 = 1.0 * (1.0 - 0.1 * 0.01) - 0.1 / (1.0 + eps);
    close(&trajectory(Adam::adamw(0.1).unwrap(), 1), &[w1]);
    // Adam with L2 weight decay adds wd·p to the gradient (step 1 is still lr·sign).
    close(
        &trajectory(Adam::new(0.1).unwrap().with_weight_decay(0.5).unwrap(), 1),
        &[1.0 - 0.1 * 1.5 / (1.5 + eps)],
    );
}
