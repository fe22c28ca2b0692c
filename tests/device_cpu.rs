//! The device code path (checks counted on the device, snapshots, the
//! default `linear_forward_fixed`/`linear_backward_fixed`), run on the CPU's primitives
//! through [`Opaque`], trains every tutorial network exactly as the CPU
//! [`Trainer`] does, reaches seed 000's PyTorch golden values, and reports
//! bad lengths as errors. The primitives of the [`Cpu`] device are checked
//! here too.

mod common;
mod device_common;

use common::{assert_rel, golden, num, nums};
use device_common::opaque::Opaque;
use device_common::{classification_networks, tutorial_networks};
use forma::core::{BiasKind, Layout};
use forma::prelude::*;

#[test]
fn tutorial_networks_f64_match_the_cpu_trainer() {
    tutorial_networks::<f64, _>(Opaque, 1e-10, usize::MAX);
}

#[test]
fn tutorial_networks_f32_match_the_cpu_trainer() {
    tutorial_networks::<f32, _>(Opaque, 1e-5, usize::MAX);
}

#[test]
fn classification_with_softmax_and_cross_entropy_matches_the_cpu_trainer() {
    classification_networks::<f64, _>(Opaque, 1e-10, usize::MAX);
    classification_networks::<f32, _>(Opaque, 1e-5, usize::MAX);
}

#[test]
fn labels_must_be_below_the_class_count() {
    // The count is the network's output width, a type parameter: a
    // `Classes<_, 4>` cannot reach a 3-class loss (tests/compile_fail), and
    // a label of 3 cannot be made for 3 classes.
    let err = Classes::<usize, 3>::from_labels(vec![0, 2, 3]).err();
    assert_eq!(
        err,
        Some(Error::ClassOutOfRange {
            row: 2,
            label: 3.0,
            classes: 3
        })
    );
}

type Mazur =
    seq!(@type Linear<2, 2, f64, SharedBias>, Sigmoid, Linear<2, 2, f64, SharedBias>, Sigmoid);

#[test]
fn seed_000_on_the_device_path_matches_pytorch_for_1000_steps() {
    let g = golden("mazur.json");
    let net: Mazur = seq!(
        Linear::from_weights([[0.2, 0.1], [0.4, 0.15]], [0.3]).expect("finite weights"),
        Sigmoid,
        Linear::from_weights([[0.65, 0.7], [0.45, 0.3]], [0.5]).expect("finite weights"),
        Sigmoid
    );
    let x = Tensor::upload(&Opaque, &Batch::<f64, 2>::from_rows(&[[0.2, 0.1]])).unwrap();
    let y = Tensor::upload(&Opaque, &Batch::<f64, 2>::from_rows(&[[0.99, 0.01]])).unwrap();
    let mut trainer = Trainer::on(Opaque, net, HalfSumSquares, Sgd::new(0.5).unwrap());
    let losses = nums(&g["losses_all"]);
    for (step, want) in losses.iter().take(1000).enumerate() {
        let got = trainer.step(&x, &y).unwrap();
        assert_rel(&format!("loss before step {step}"), got, *want, 1e-9);
    }
    let out = trainer.predict(&x).unwrap().download(&Opaque).unwrap();
    let want = nums(&g["final_output"]);
    assert_rel("final output 0", out[(0, 0)], want[0], 1e-9);
    assert_rel("final output 1", out[(0, 1)], want[1], 1e-9);
    let loss = trainer.step(&x, &y).unwrap();
    assert_rel(
        "final loss",
        loss,
        num(&g["final_loss_after_1000_steps"]),
        1e-9,
    );
}

#[test]
fn a_shorter_batch_reuses_the_cache_and_a_longer_one_grows_it() {
    let net = Mlp::<3, 5, 2, f64>::initialize(&mut rng(1));
    let mut host = Trainer::new(net.clone(), Mse, Sgd::new(0.1).unwrap());
    let mut dev = Trainer::on(Opaque, net, Mse, Sgd::new(0.1).unwrap());
    for rows in [8, 3, 8, 12, 1] {
        let x = device_common::uniform::<f64, 3>(rows, rows as u64);
        let y = device_common::uniform::<f64, 2>(rows, 100 + rows as u64);
        let want = host.step(&x, &y).unwrap();
        let (dx, dy) = (
            Tensor::upload(&Opaque, &x).unwrap(),
            Tensor::upload(&Opaque, &y).unwrap(),
        );
        let got = dev.step(&dx, &dy).unwrap();
        assert_rel(&format!("loss with {rows} rows"), got, want, 1e-12);
    }
}

#[test]
fn a_target_with_another_batch_length_is_an_error() {
    let net = Mlp::<2, 3, 1, f64>::initialize(&mut rng(1));
    let mut dev = Trainer::on(Opaque, net, Bce, Sgd::new(0.1).unwrap());
    let x = Tensor::upload(&Opaque, &Batch::<f64, 2>::from_flat(&[0.5; 8]).unwrap()).unwrap();
    let y = Tensor::upload(&Opaque, &Batch::<f64, 1>::from_flat(&[1.0; 3]).unwrap()).unwrap();
    let err = dev.step(&x, &y).unwrap_err();
    assert_eq!(
        err,
        Error::Step {
            step: 1,
            cause: forma::core::StepCause::Target,
            source: Box::new(Error::Length {
                what: "Bce target rows",
                expected: 4,
                got: 3
            })
        }
    );
}

#[test]
fn a_device_tensor_write_grows_it_and_a_shorter_one_keeps_its_buffer() {
    let small = Batch::<f32, 2>::from_flat(&[1.0; 4]).unwrap();
    let big = Batch::<f32, 2>::from_flat(&[2.0; 6]).unwrap();
    let mut t = Tensor::upload(&Opaque, &small).unwrap();
    t.write(&Opaque, &big).unwrap();
    assert_eq!(t.rows(), 3);
    assert_eq!(t.download(&Opaque).unwrap(), big);
    let one = Batch::<f32, 2>::from_flat(&[3.0, 4.0]).unwrap();
    t.write(&Opaque, &one).unwrap();
    assert_eq!(t.download(&Opaque).unwrap().as_slice(), &[3.0, 4.0]);
}

#[test]
fn primitives_check_every_buffer_length_before_touching_it() {
    let d = Cpu;
    let buf = |n: usize| -> Vec<f32> { vec![1.0; n] };
    let (a, b, mut c) = (buf(6), buf(12), buf(8));
    // 2x3 · 3x4 needs C of 8: fine; then A too short for 3x3.
    Device::<f32>::matmul(&d, Layout::Nn, 2, 3, 4, &a, &b, &mut c).unwrap();
    assert_eq!(c, vec![3.0; 8]);
    let err = Device::<f32>::matmul(&d, Layout::Nt, 3, 3, 4, &a, &b, &mut c).unwrap_err();
    assert_eq!(
        err,
        Error::Length {
            what: "matmul: A",
            expected: 9,
            got: 6
        }
    );
    let err = d
        .bias_act(
            2,
            4,
            None,
            None,
            BiasKind::PerColumn,
            Activation::ReLU,
            &mut c,
        )
        .unwrap_err();
    assert_eq!(
        err,
        Error::Length {
            what: "bias_act: bias",
            expected: 4,
            got: 0
        }
    );
    let mut g = buf(3);
    let err = d.loss(LossKind::Bce, 4, &a, &b, &mut g).unwrap_err();
    assert_eq!(
        err,
        Error::Length {
            what: "loss: gradient",
            expected: 4,
            got: 3
        }
    );
    let err = d.read(&g, &mut [0.0; 4]).unwrap_err();
    assert_eq!(
        err,
        Error::Length {
            what: "Device::read source",
            expected: 4,
            got: 3
        }
    );
}

/// The algebra a user's layer is written in (issue 12's groundwork):
/// binary ops, axpby and sums along either axis, against plain f64 loops.
#[test]
fn binary_axpby_and_axis_sums_match_plain_loops() {
    use forma::core::{Axis, Binary};
    let (rows, cols) = (7, 5);
    let n = rows * cols;
    let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
    let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos() + 0.5).collect();
    for (op, f) in [
        (Binary::Add, (|x, y| x + y) as fn(f64, f64) -> f64),
        (Binary::Sub, |x, y| x - y),
        (Binary::Mul, |x, y| x * y),
    ] {
        let mut out = vec![f64::NAN; n];
        Cpu.binary(op, n, &a, &b, &mut out).unwrap();
        for i in 0..n {
            assert_eq!(out[i], f(a[i], b[i]), "{op:?} [{i}]");
        }
    }
    let mut y = b.clone();
    Cpu.axpby(n, 0.5, &a, -2.0, &mut y).unwrap();
    for i in 0..n {
        assert_eq!(y[i], 0.5 * a[i] + -2.0 * b[i]);
    }
    let mut per_col = vec![f64::NAN; cols];
    Cpu.sum_axis(rows, cols, &a, Axis::Rows, &mut per_col)
        .unwrap();
    let mut per_row = vec![f64::NAN; rows];
    Cpu.sum_axis(rows, cols, &a, Axis::Columns, &mut per_row)
        .unwrap();
    for c in 0..cols {
        let want: f64 = (0..rows).map(|r| a[r * cols + c]).sum();
        assert!((per_col[c] - want).abs() < 1e-12, "column {c}");
    }
    for r in 0..rows {
        let want: f64 = a[r * cols..(r + 1) * cols].iter().sum();
        assert!((per_row[r] - want).abs() < 1e-12, "row {r}");
    }
    // Lengths are checked, and name the operand.
    let err = Cpu
        .sum_axis(rows, cols, &a, Axis::Columns, &mut [0.0; 3])
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Length {
                what: "sum_axis: out",
                expected: 7,
                got: 3
            }
        ),
        "{err}"
    );
    assert!(
        Cpu.binary(Binary::Add, n + 1, &a, &b, &mut vec![0.0; n + 1])
            .is_err()
    );
}
