//! The tutorials' reference runs (PyTorch 2.9.1 and numpy, `examples/data/*.json`)
//! reproduced by forma: XOR from PyTorch's seed-70 weights, iris 2-32-1 from
//! the tutorial's weights, the 64x1000 two-layer net from numpy's draws, and
//! seed 004's regression.

mod common;

use common::{assert_abs, assert_rel, golden, num, nums};
use forma::data::CsvOptions;
use forma::prelude::*;

/// iris.csv and iris2.csv start with one header line (the column names).
const HEADER: CsvOptions = CsvOptions::with_header_lines(1);

fn transpose(v: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    (0..rows * cols)
        .map(|i| v[(i % rows) * cols + i / rows])
        .collect()
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// The tutorial's 2-2-1 net with its final Sigmoid (an `Mlp` ends in a Linear).
type Xor = seq!(@type Linear<2, 2>, Sigmoid, Linear<2, 1>, Sigmoid);

#[test]
fn xor_from_pytorch_seed_70_weights() {
    let g = golden("xor.json");
    let init = &g["seed70"]["init"];
    let w = |k: &str| f32s(&nums(&init[k]));
    let net: Xor = seq!(
        Linear::from_slices(&w("lin1.weight"), &w("lin1.bias")).unwrap(),
        Sigmoid,
        Linear::from_slices(&w("lin2.weight"), &w("lin2.bias")).unwrap(),
        Sigmoid
    );
    assert_eq!(net.param_count(), 9);
    let x = Batch::<f32, 2>::from_flat(&f32s(&nums(&g["X"]))).unwrap();
    let y = Batch::<f32, 1>::from_flat(&f32s(&nums(&g["Y"]))).unwrap();
    let mut trainer = Trainer::new(net, Bce, Sgd::new(0.5).unwrap());
    let want = &g["seed70"]["losses_every_1000"];
    for step in 0..10001 {
        let loss = trainer.step(&x, &y).unwrap();
        if step % 1000 == 0 {
            assert_abs(
                &format!("XOR loss at step {step}"),
                loss as f64,
                num(&want[step.to_string()]),
                1e-4,
            );
        }
    }
    let out = trainer.predict(&x).unwrap().clone();
    let predictions: Vec<u8> = out.as_slice().iter().map(|&p| u8::from(p > 0.5)).collect();
    assert_eq!(predictions, [0, 1, 1, 0]);
    for (got, want) in out
        .as_slice()
        .iter()
        .zip(nums(&g["seed70"]["final_outputs"]))
    {
        assert_abs("XOR final output", *got as f64, want, 1e-4);
    }
}

#[test]
fn xor_from_forma_init_with_a_fixed_seed_solves_xor() {
    let x = Batch::<f32, 2>::from_rows(&[[0., 0.], [0., 1.], [1., 0.], [1., 1.]]);
    let y = Batch::<f32, 1>::from_rows(&[[0.], [1.], [1.], [0.]]);
    let mut trainer = Trainer::new(
        Xor::initialize(&mut forma::rng(2)),
        Bce,
        Sgd::new(0.5).unwrap(),
    );
    let first = trainer.step(&x, &y).unwrap();
    let mut last = first;
    for _ in 0..10000 {
        last = trainer.step(&x, &y).unwrap();
    }
    assert!(
        last < 0.01 && last < first,
        "loss went from {first} to {last}"
    );
    let predictions: Vec<u8> = trainer
        .predict(&x)
        .unwrap()
        .as_slice()
        .iter()
        .map(|&p| u8::from(p > 0.5))
        .collect();
    assert_eq!(predictions, [0, 1, 1, 0]);
}

fn iris_run<E: forma::core::Float>(g: &serde_json::Value) -> Vec<f64> {
    type Net<E> = seq!(@type Linear<2, 32, E, NoBias>, Sigmoid, Linear<32, 1, E, NoBias>, Sigmoid);
    let text = std::fs::read_to_string(format!(
        "{}/examples/data/iris2.csv",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let rows = forma::data::parse_csv(&text, &HEADER).unwrap();
    assert_eq!(rows.len(), 100);
    let e = |v: f64| E::from_f64(v);
    let x = Batch::<E, 2>::from_flat(
        &rows
            .iter()
            .flat_map(|r| [e(r[0]), e(r[1])])
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let y = Batch::<E, 1>::from_flat(&rows.iter().map(|r| e(r[2])).collect::<Vec<_>>()).unwrap();
    let init = &g["init_float32"];
    let w1: Vec<E> = transpose(&nums(&init["w1"]), 2, 32)
        .into_iter()
        .map(e)
        .collect();
    let w2: Vec<E> = nums(&init["w2"]).into_iter().map(e).collect();
    let net: Net<E> = seq!(
        Linear::from_slices(&w1, &[]).unwrap(),
        Sigmoid,
        Linear::from_slices(&w2, &[]).unwrap(),
        Sigmoid
    );
    let mut trainer = Trainer::new(net, Bce, Sgd::new(0.001).unwrap());
    (0..=100)
        .map(|_| trainer.step(&x, &y).unwrap().to_f64())
        .collect()
}

#[test]
fn iris_2_32_1_from_the_tutorial_weights() {
    let g = golden("iris2.json");
    for (name, losses, tol) in [
        ("float32", iris_run::<f32>(&g), 1e-5),
        ("float64", iris_run::<f64>(&g), 1e-9),
    ] {
        let want = &g["results"][name]["losses_every_20"];
        for epoch in (0..=100).step_by(20) {
            assert_abs(
                &format!("iris {name} loss at epoch {epoch}"),
                losses[epoch],
                num(&want[epoch.to_string()]),
                tol,
            );
        }
    }
}

#[test]
fn iris_data_is_the_normalised_first_100_rows_of_iris_csv() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let iris = forma::data::parse_csv(
        &std::fs::read_to_string(format!("{dir}/examples/data/iris.csv")).unwrap(),
        &HEADER,
    )
    .unwrap();
    let iris2 = forma::data::parse_csv(
        &std::fs::read_to_string(format!("{dir}/examples/data/iris2.csv")).unwrap(),
        &HEADER,
    )
    .unwrap();
    for (a, b) in iris.iter().take(100).zip(&iris2) {
        let n = (a[0] * a[0] + a[1] * a[1]).sqrt();
        assert_rel("x0", a[0] / n, b[0], 1e-15);
        assert_rel("x1", a[1] / n, b[1], 1e-15);
        assert_eq!(a[4], b[2]);
    }
}

#[test]
fn two_layer_from_numpy_draws_matches_numpy_float64() {
    type Net = seq!(@type Linear<1000, 100, f64, NoBias>, ReLU, Linear<100, 10, f64, NoBias>);
    let bytes = std::fs::read(format!(
        "{}/examples/data/twolayer_init_f64.bin",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let all = forma::data::f64s_from_le_bytes(&bytes).unwrap();
    let (x, rest) = all.split_at(64 * 1000);
    let (t, rest) = rest.split_at(64 * 10);
    let (w1, w2) = rest.split_at(1000 * 100);
    let g = golden("twolayer.json");
    assert_rel(
        "x checksum",
        x.iter().sum(),
        num(&g["init_checksums"]["x"]["sum"]),
        1e-12,
    );
    assert_rel(
        "w1 checksum",
        w1.iter().sum(),
        num(&g["init_checksums"]["w1"]["sum"]),
        1e-12,
    );
    let net: Net = seq!(
        Linear::from_slices(&transpose(w1, 1000, 100), &[]).unwrap(),
        ReLU,
        Linear::from_slices(&transpose(w2, 100, 10), &[]).unwrap()
    );
    let x = Batch::<f64, 1000>::from_flat(x).unwrap();
    let t = Batch::<f64, 10>::from_flat(t).unwrap();
    let mut trainer = Trainer::new(net, SumSquares, Sgd::new(1e-6).unwrap());
    let want = &g["losses"]["numpy_float64"];
    for step in 0..=500 {
        let loss = trainer.step(&x, &t).unwrap();
        if step % 100 == 0 {
            assert_rel(
                &format!("two-layer loss at step {step}"),
                loss,
                num(&want[step.to_string()]),
                1e-6,
            );
        }
    }
}

#[test]
fn regression_first_ten_losses_and_convergence() {
    type Net = seq!(@type Linear<50, 30, f32, NoBias>, ReLU, Linear<30, 1, f32, NoBias>);
    let g = golden("regression.json");
    let init = &g["init_float32"];
    let x = Batch::<f32, 50>::from_flat(&f32s(&nums(&init["X"]))).unwrap();
    let y = Batch::<f32, 1>::from_flat(&f32s(&nums(&init["y"]))).unwrap();
    let net: Net = seq!(
        Linear::from_slices(&f32s(&transpose(&nums(&init["w1"]), 50, 30)), &[]).unwrap(),
        ReLU,
        Linear::from_slices(&f32s(&nums(&init["w2"])), &[]).unwrap()
    );
    let mut trainer = Trainer::new(net, HalfMse, Sgd::new(0.01).unwrap());
    let want = &g["runs_by_lr"]["0.01"]["losses"];
    for epoch in 0..5000 {
        let loss = trainer.step(&x, &y).unwrap();
        assert!(loss.is_finite());
        if epoch < 10 {
            assert_rel(
                &format!("regression loss at epoch {epoch}"),
                loss as f64,
                num(&want[epoch.to_string()]),
                1e-5,
            );
        }
    }
    let last = trainer.evaluate(&x, &y).unwrap();
    assert!(last < 1e-8, "final loss {last:e} is not below 1e-8");
}
