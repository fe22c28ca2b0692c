//! Issue 11's repros: what a user's data or settings can get wrong during
//! training is an `Err` that names the step, the cause and the place, and a
//! refused step leaves the model and the optimizer state bit for bit as they
//! were. Each test runs on the CPU and, where it applies, on the device code
//! path (checks counted on the device, a snapshot restored) through the
//! `Opaque` test device (the CUDA device runs the same code; tests/cuda.rs).

#[path = "device_common/opaque.rs"]
mod opaque;

use forma::core::StepCause;
use forma::prelude::*;
use opaque::Opaque;

type Xor = seq!(@type Linear<2, 2>, Sigmoid, Linear<2, 1>, Sigmoid);

/// Every parameter's bits, in visiting order.
fn bits<P: Params<f32>>(p: &P) -> Vec<u32> {
    p.to_vec().iter().map(|v| v.to_bits()).collect()
}

/// The step error's parts, or a panic naming what came instead.
fn step_error(e: Error) -> (u64, StepCause, Error) {
    match e {
        Error::Step {
            step,
            cause,
            source,
        } => (step, cause, *source),
        other => panic!("expected Error::Step, got {other:?}"),
    }
}

fn xor_data() -> (Batch<f32, 2>, Batch<f32, 1>) {
    (
        Batch::from_rows(&[[0., 0.], [0., 1.], [1., 0.], [1., 1.]]),
        Batch::from_rows(&[[0.], [1.], [1.], [0.]]),
    )
}

#[test]
fn a_nan_input_is_refused_with_its_row_and_column_and_changes_nothing() {
    // The repro: one NaN in a ReLU classifier's batch used to leave
    // 8 NaN parameters behind an Ok(1.0878).
    let net = Mlp3::<2, 8, 8, 3>::initialize(&mut rng(0));
    let mut trainer = Trainer::new(net, SoftmaxCrossEntropy, Sgd::new(0.1).unwrap());
    let labels = Classes::from_labels(vec![0, 1, 2, 1]).unwrap();
    let clean = Batch::<f32, 2>::from_rows(&[[0., 0.], [0., 1.], [1., 0.], [1., 1.]]);
    let bad = Batch::<f32, 2>::from_rows(&[[0., 0.], [f32::NAN, 1.], [1., 0.], [1., 1.]]);
    trainer.step(&clean, &labels).unwrap();
    let before = bits(trainer.model());
    let (step, cause, source) = step_error(trainer.step(&bad, &labels).unwrap_err());
    assert_eq!((step, cause), (2, StepCause::Input));
    assert!(
        matches!(source, Error::Value { what: "input", row: 1, column: 0, value, .. } if value.is_nan()),
        "{source:?}"
    );
    assert_eq!(
        bits(trainer.model()),
        before,
        "a refused step changed the model"
    );
    // Training goes on from where it was.
    trainer.step(&clean, &labels).unwrap();
    assert!(trainer.model().to_vec().iter().all(|v| v.is_finite()));
    assert_eq!(trainer.steps(), 3);
}

#[test]
fn relu_propagates_nan_so_unchecked_training_still_reports_it() {
    // Checks off: the NaN reaches the loss (relu(NaN) is NaN, as in
    // PyTorch) instead of vanishing into the weights.
    assert!(ReLU.infer([f32::NAN])[0].is_nan());
    let net = Mlp3::<2, 8, 8, 3>::initialize(&mut rng(0));
    let mut trainer =
        Trainer::new(net, SoftmaxCrossEntropy, Sgd::new(0.1).unwrap()).with_checks(false);
    let labels = Classes::from_labels(vec![0, 1]).unwrap();
    let bad = Batch::<f32, 2>::from_rows(&[[0., 0.], [f32::NAN, 1.]]);
    let before = bits(trainer.model());
    let (_, cause, _) = step_error(trainer.step(&bad, &labels).unwrap_err());
    assert_eq!(cause, StepCause::Loss);
    assert_eq!(bits(trainer.model()), before);
}

#[test]
fn infinity_into_a_sigmoid_net_is_refused() {
    // sigmoid(inf) is finite, but dW = dYᵀ·X takes 0 · inf = NaN.
    let (mut x, y) = xor_data();
    x.as_mut_slice()[5] = f32::INFINITY;
    let mut trainer = Trainer::new(Xor::initialize(&mut rng(1)), Bce, Sgd::new(0.5).unwrap());
    let before = bits(trainer.model());
    let (step, cause, source) = step_error(trainer.step(&x, &y).unwrap_err());
    assert_eq!((step, cause), (1, StepCause::Input));
    assert!(matches!(
        source,
        Error::Value {
            row: 2,
            column: 1,
            ..
        }
    ));
    assert_eq!(bits(trainer.model()), before);
}

#[test]
fn a_nan_target_is_refused() {
    let (x, mut y) = xor_data();
    y.as_mut_slice()[3] = f32::NAN;
    let mut trainer = Trainer::new(Xor::initialize(&mut rng(1)), Mse, Sgd::new(0.5).unwrap());
    let (_, cause, source) = step_error(trainer.step(&x, &y).unwrap_err());
    assert_eq!(cause, StepCause::Target);
    assert!(matches!(
        source,
        Error::Value {
            what: "target",
            row: 3,
            column: 0,
            ..
        }
    ));
}

#[test]
fn a_nan_weight_set_by_hand_is_refused_at_the_loss() {
    let (x, y) = xor_data();
    let mut net = Xor::initialize(&mut rng(1));
    net.0.visit_mut(&mut |p| p[0] = f32::NAN);
    let mut trainer = Trainer::new(net, Bce, Sgd::new(0.5).unwrap());
    let (_, cause, _) = step_error(trainer.step(&x, &y).unwrap_err());
    // The NaN weight makes every output NaN, which Bce refuses as a
    // prediction outside [0, 1].
    assert_eq!(cause, StepCause::Loss);
}

#[test]
fn an_update_that_overflows_is_refused_and_the_optimizer_state_is_untouched() {
    // lr = 1e30 is finite in f32, and so are the gradients; the new weights
    // are not. SGD with momentum: the velocity must not move either, which
    // the next step shows bitwise against a trainer that never saw the step.
    let (x, y) = xor_data();
    let net = Xor::initialize(&mut rng(3));
    let sgd = || Sgd::new(0.5).unwrap().with_momentum(0.9).unwrap();
    let mut trainer = Trainer::new(net.clone(), Mse, sgd());
    let mut reference = Trainer::new(net, Mse, sgd());
    trainer.step(&x, &y).unwrap();
    reference.step(&x, &y).unwrap();
    let mut huge = y.clone();
    huge.as_mut_slice().iter_mut().for_each(|v| *v = 3e38);
    let before = bits(trainer.model());
    let err = trainer.step(&x, &huge).unwrap_err();
    let (step, cause, source) = step_error(err.clone());
    assert_eq!(step, 2);
    // Either the loss (3e38² overflows) or the update refuses it: both
    // before anything is written.
    assert!(
        matches!(cause, StepCause::Loss | StepCause::Update),
        "{err}"
    );
    assert_eq!(bits(trainer.model()), before);
    let _ = source;
    // Same step count for the optimizer: the next steps agree bit for bit.
    for _ in 0..3 {
        trainer.step(&x, &y).unwrap();
        reference.step(&x, &y).unwrap();
    }
    assert_eq!(bits(trainer.model()), bits(reference.model()));
}

#[test]
fn an_update_past_the_float_range_names_the_parameter_tensor() {
    // Gradients near 2e10 (finite), learning rate 1e30 (finite): the new
    // weights would be near 2e40, past f32's range.
    let (x, mut y) = xor_data();
    y.as_mut_slice().iter_mut().for_each(|v| *v = 1e10);
    let net = Linear::<2, 1>::from_weights([[0.5, -0.5]], [0.1]).unwrap();
    let mut trainer = Trainer::new(net, Mse, Sgd::new(1e30).unwrap());
    let before = bits(trainer.model());
    let (_, cause, source) = step_error(trainer.step(&x, &y).unwrap_err());
    assert_eq!(cause, StepCause::Update);
    match source {
        Error::Parameter {
            tensor,
            index,
            value,
            ..
        } => {
            assert!(tensor < 2 && !value.is_finite(), "{tensor} {index} {value}");
        }
        other => panic!("expected Error::Parameter, got {other:?}"),
    }
    assert_eq!(bits(trainer.model()), before);
}

#[test]
fn adam_keeps_its_moments_when_a_step_is_refused() {
    let (x, y) = xor_data();
    let net = Xor::initialize(&mut rng(4));
    let mut trainer = Trainer::new(net.clone(), Bce, Adam::new(0.01).unwrap());
    let mut reference = Trainer::new(net, Bce, Adam::new(0.01).unwrap());
    for _ in 0..2 {
        trainer.step(&x, &y).unwrap();
        reference.step(&x, &y).unwrap();
    }
    let mut bad = x.clone();
    bad.as_mut_slice()[0] = f32::NEG_INFINITY;
    assert!(trainer.step(&bad, &y).is_err());
    for _ in 0..3 {
        trainer.step(&x, &y).unwrap();
        reference.step(&x, &y).unwrap();
    }
    assert_eq!(bits(trainer.model()), bits(reference.model()));
}

#[test]
fn settings_are_checked_in_the_element_type() {
    // Finite in f64, infinite in f32.
    let err = Sgd::<f32, Xor>::new(1e39).unwrap_err();
    assert!(
        matches!(err, Error::Config { got, .. } if got.is_infinite()),
        "{err}"
    );
    assert!(Sgd::<f64, Mlp<2, 2, 1, f64>>::new(1e39).is_ok());
    // Adam eps = 0 would divide 0 by 0 on a zero gradient.
    assert!(Adam::<f32, Xor>::new(0.01).unwrap().with_eps(0.0).is_err());
    assert!(
        Adam::<f32, Xor>::new(0.01)
            .unwrap()
            .with_eps(1e-50)
            .is_err()
    ); // 0 in f32
    assert!(
        Sgd::<f32, Xor>::new(0.1)
            .unwrap()
            .with_momentum(0.999_999_99)
            .is_err()
    ); // 1.0 in f32
    assert!(LeakyReLU::new(f64::NAN).is_err());
    assert!(LeakyReLU::new(1e39).is_err()); // infinite in f32
    assert!(LeakyReLU::new(-0.2).is_ok());
    assert!(Linear::<2, 1>::from_weights([[1.0, f32::INFINITY]], [0.0]).is_err());
    assert!(Linear::<2, 1>::from_slices(&[1.0, 2.0], &[f32::NAN]).is_err());
    let nan = Init::Normal {
        mean: 0.0,
        std: f64::NAN,
    };
    assert!(Linear::<2, 1>::init(nan, Init::Constant(0.0), &mut rng(0)).is_err());
}

#[test]
fn bce_on_a_value_outside_0_1_is_an_error_naming_the_row() {
    // An Mlp ends in a Linear: its outputs are logits, not probabilities.
    let x = Batch::<f32, 2>::from_rows(&[[0., 0.], [3., -2.], [1., 0.]]);
    let y = Batch::<f32, 1>::from_rows(&[[0.], [1.], [1.]]);
    let net = Linear::<2, 1>::from_weights([[1.0, -1.0]], [0.25]).unwrap();
    let mut trainer = Trainer::new(net.clone(), Bce, Sgd::new(0.5).unwrap());
    let (_, cause, source) = step_error(trainer.step(&x, &y).unwrap_err());
    assert_eq!(cause, StepCause::Loss);
    assert!(
        matches!(source, Error::Value { what: "Bce prediction", row: 1, column: 0, value, .. } if value == 5.25),
        "{source:?}"
    );
    // The loss alone says so too, and never returns a negative "loss".
    let pred = Batch::<f32, 1>::from_rows(&[[0.5], [-0.5]]);
    assert!(matches!(
        Loss::<f32, Const<1>>::value(&Bce, &Cpu, &pred, &Batch::from_rows(&[[1.], [0.]])),
        Err(Error::Value { row: 1, .. })
    ));
    // On a device: the same row.
    let mut dev = Trainer::on(Opaque, net, Bce, Sgd::new(0.5).unwrap());
    let (dx, dy) = (
        Tensor::upload(&Opaque, &x).unwrap(),
        Tensor::upload(&Opaque, &y).unwrap(),
    );
    let (_, cause, source) = step_error(dev.step(&dx, &dy).unwrap_err());
    assert_eq!(cause, StepCause::Loss);
    assert!(matches!(source, Error::Value { row: 1, .. }), "{source:?}");
}

/// The BCE scan that names a bad prediction runs only when the loss comes
/// out non-finite, so every bad value must make the loss NaN wherever it
/// sits: in a 16-wide chunk, an 8-wide one or the padded tail, in f32 (the
/// vector logarithms) and f64.
fn bce_names_every_bad_prediction<E: Float>() {
    for rows in [1usize, 4, 9, 20, 100] {
        for at in [0, rows / 2, rows - 1] {
            for bad in [
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                -0.5,
                1.5,
                -1e-30,
            ] {
                let mut p: Vec<[E; 1]> = (0..rows)
                    .map(|i| [E::from_f64((i % 7) as f64 / 6.0)])
                    .collect();
                p[at] = [E::from_f64(bad)];
                let t: Vec<[E; 1]> = (0..rows).map(|i| [E::from_f64((i % 2) as f64)]).collect();
                let got = Loss::<E, Const<1>>::value(
                    &Bce,
                    &Cpu,
                    &Batch::from_rows(&p),
                    &Batch::from_rows(&t),
                );
                assert!(
                    matches!(got, Err(Error::Value { what: "Bce prediction", row, column: 0, .. }) if row == at),
                    "{} rows {rows}, {bad} at row {at}: {got:?}",
                    E::NAME
                );
            }
        }
    }
}

#[test]
fn bce_names_a_bad_prediction_anywhere_in_the_batch() {
    bce_names_every_bad_prediction::<f32>();
    bce_names_every_bad_prediction::<f64>();
}

#[test]
fn an_empty_batch_is_the_same_error_on_every_path() {
    let x = Batch::<f32, 2>::from_flat(&[]).unwrap();
    let y = Batch::<f32, 1>::from_flat(&[]).unwrap();
    for loss_is_sum in [false, true] {
        let net = Xor::initialize(&mut rng(1));
        let (host, device) = if loss_is_sum {
            let mut t = Trainer::new(net.clone(), HalfSumSquares, Sgd::new(0.5).unwrap());
            let mut d = Trainer::on(Opaque, net, HalfSumSquares, Sgd::new(0.5).unwrap());
            let (dx, dy) = (
                Tensor::upload(&Opaque, &x).unwrap(),
                Tensor::upload(&Opaque, &y).unwrap(),
            );
            (t.step(&x, &y), d.step(&dx, &dy))
        } else {
            let mut t = Trainer::new(net.clone(), Bce, Sgd::new(0.5).unwrap());
            let mut d = Trainer::on(Opaque, net, Bce, Sgd::new(0.5).unwrap());
            let (dx, dy) = (
                Tensor::upload(&Opaque, &x).unwrap(),
                Tensor::upload(&Opaque, &y).unwrap(),
            );
            (t.step(&x, &y), d.step(&dx, &dy))
        };
        for r in [host, device] {
            let (step, cause, source) = step_error(r.unwrap_err());
            assert_eq!((step, cause), (1, StepCause::EmptyBatch));
            assert!(matches!(source, Error::EmptyBatch { .. }));
        }
    }
    let mut t = Trainer::new(Xor::initialize(&mut rng(1)), Bce, Sgd::new(0.5).unwrap());
    assert!(matches!(t.evaluate(&x, &y), Err(Error::EmptyBatch { .. })));
}

#[test]
fn evaluate_never_returns_a_non_finite_loss() {
    let (mut x, y) = xor_data();
    let mut t = Trainer::new(
        Mlp::<2, 2, 1>::initialize(&mut rng(1)),
        Mse,
        Sgd::new(0.5).unwrap(),
    );
    x.as_mut_slice()[0] = f32::NAN;
    let err = t.evaluate(&x, &y).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                what: "evaluation loss",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn on_a_device_the_same_steps_are_refused_and_the_snapshot_restored() {
    let (x, y) = xor_data();
    let net = Xor::initialize(&mut rng(5));
    let adam = || Adam::new(0.05).unwrap();
    let mut dev = Trainer::on(Opaque, net.clone(), Mse, adam());
    let mut reference = Trainer::on(Opaque, net, Mse, adam());
    let up = |b: &Batch<f32, 2>| Tensor::upload(&Opaque, b).unwrap();
    let upy = |b: &Batch<f32, 1>| Tensor::upload(&Opaque, b).unwrap();
    dev.step(&up(&x), &upy(&y)).unwrap();
    reference.step(&up(&x), &upy(&y)).unwrap();

    // A NaN input: refused, with its place.
    let mut bad = x.clone();
    bad.as_mut_slice()[3] = f32::NAN;
    let (step, cause, source) = step_error(dev.step(&up(&bad), &upy(&y)).unwrap_err());
    assert_eq!((step, cause), (2, StepCause::Input));
    assert!(
        matches!(
            source,
            Error::Value {
                row: 1,
                column: 1,
                ..
            }
        ),
        "{source:?}"
    );
    // An infinite target.
    let mut bad_y = y.clone();
    bad_y.as_mut_slice()[2] = f32::INFINITY;
    let (_, cause, source) = step_error(dev.step(&up(&x), &upy(&bad_y)).unwrap_err());
    assert_eq!(cause, StepCause::Target);
    assert!(matches!(source, Error::Value { row: 2, .. }), "{source:?}");
    // A target so large that the gradient overflows: refused at the loss,
    // the gradient or the update, and everything restored.
    let mut huge = y.clone();
    huge.as_mut_slice().iter_mut().for_each(|v| *v = 1e30);
    let (_, cause, _) = step_error(dev.step(&up(&x), &upy(&huge)).unwrap_err());
    assert!(
        matches!(
            cause,
            StepCause::Loss | StepCause::Gradient | StepCause::Update
        ),
        "{cause:?}"
    );
    assert_eq!(dev.steps(), 4);
    for _ in 0..3 {
        dev.step(&up(&x), &upy(&y)).unwrap();
        reference.step(&up(&x), &upy(&y)).unwrap();
    }
    assert_eq!(
        bits(dev.model()),
        bits(reference.model()),
        "the refused steps moved the parameters or Adam's moments or step count"
    );
}

#[test]
fn on_a_device_an_overflowing_update_is_undone() {
    let (x, mut y) = xor_data();
    y.as_mut_slice().iter_mut().for_each(|v| *v = 1e10);
    let net = Linear::<2, 1>::from_weights([[0.5, -0.5]], [0.1]).unwrap();
    let mut dev = Trainer::on(Opaque, net.clone(), Mse, Sgd::new(1e30).unwrap());
    let (dx, dy) = (
        Tensor::upload(&Opaque, &x).unwrap(),
        Tensor::upload(&Opaque, &y).unwrap(),
    );
    let (_, cause, source) = step_error(dev.step(&dx, &dy).unwrap_err());
    assert_eq!(cause, StepCause::Update);
    assert!(matches!(source, Error::Parameter { .. }), "{source:?}");
    assert_eq!(bits(dev.model()), bits(&net));
}

#[test]
fn labels_that_are_not_classes_are_reported_as_given() {
    // Labels are class indices (`usize`): -1, NaN and 2.5 cannot be made.
    // One past the classes is named as it came, on the device too.
    let logits = vec![0.5f32; 3 * 4];
    let labels = vec![0usize, 7, 3];
    let mut grad = vec![0.0f32; 12];
    let err = Device::<f32>::cross_entropy(&Cpu, 3, 4, &logits, &labels, &mut grad).unwrap_err();
    assert_eq!(
        err,
        Error::ClassOutOfRange {
            row: 1,
            label: 7.0,
            classes: 4
        }
    );
    let host = Classes::<usize, 4>::from_labels(vec![0, 3, 1]).unwrap();
    assert!(Classes::<usize, 4, Opaque>::upload(&Opaque, &host).is_ok());
    for bad in [-1.0f32, f32::NAN, 2.5] {
        let text = err_text(bad);
        assert!(text.contains(&format!("got {}", bad as f64)), "{text}");
    }
}

fn err_text(bad: f32) -> String {
    Error::ClassOutOfRange {
        row: 1,
        label: bad as f64,
        classes: 4,
    }
    .to_string()
}

#[test]
fn step_errors_read_as_sentences() {
    let e = forma::core::Error::Step {
        step: 12,
        cause: StepCause::Input,
        source: Box::new(Error::Value {
            what: "input",
            row: 3,
            column: 7,
            value: f64::NAN,
            expected: "a finite value",
        }),
    };
    assert_eq!(
        e.to_string(),
        "training step 12 refused (input): input, row 3, column 7: expected a finite value, \
         got NaN; the model and optimizer state are unchanged"
    );
}

#[test]
fn a_weight_set_between_steps_is_checked_in_full() {
    // The update check may decide from bounds its last step kept; a weight
    // changed by hand since (3e38, times -2 by weight decay) must still be
    // caught, so `model_mut` makes the next check read every parameter.
    let x = Batch::<f32, 2>::from_rows(&[[0.0, 1.0], [0.0, 0.5]]);
    let y = Batch::<f32, 1>::from_rows(&[[1.0], [0.5]]);
    let net = Linear::<2, 1>::from_weights([[0.5, 0.5]], [0.0]).unwrap();
    let sgd = Sgd::new(1.0).unwrap().with_weight_decay(3.0).unwrap();
    let mut trainer = Trainer::new(net, Mse, sgd);
    trainer.step(&x, &y).unwrap();
    trainer.model_mut().visit_mut(&mut |p| {
        if p.len() == 2 {
            p[0] = 3e38; // meets only zero inputs: the loss stays finite
        }
    });
    let before = bits(trainer.model());
    let (_, cause, source) = step_error(trainer.step(&x, &y).unwrap_err());
    assert_eq!(cause, StepCause::Update, "{source:?}");
    assert!(
        matches!(
            source,
            Error::Parameter {
                tensor: 0,
                index: 0,
                ..
            }
        ),
        "{source:?}"
    );
    assert_eq!(bits(trainer.model()), before);
}

#[test]
fn the_fast_update_check_still_names_a_bad_gradient_and_an_overflow() {
    // After a step, `check_after_step` decides from the bounds that step kept
    // and one pass over the gradient; a gradient that is not finite, or one
    // large enough to overflow the update, falls through to the full check.
    use forma::optim::Optimizer;
    type One = Linear<2, 1>;
    let mut params = One::from_weights([[0.5, -0.5]], [0.25]).unwrap();
    let grad = |w0: f32| One::from_weights([[w0, 0.1]], [0.1]).unwrap();
    let mut sgd = Sgd::<f32, One>::new(10.0).unwrap();
    sgd.step(&Cpu, &mut params, &grad(0.1)).unwrap();
    assert!(sgd.check_after_step(&Cpu, &params, &grad(0.2)).is_ok());
    let mut nan = grad(0.1);
    nan.visit_mut(&mut |p| {
        if p.len() == 1 {
            p[0] = f32::NAN; // the bias: tensor 1
        }
    });
    assert!(
        matches!(
            sgd.check_after_step(&Cpu, &params, &nan),
            Err(Error::Parameter {
                what: "gradient",
                tensor: 1,
                index: 0,
                ..
            })
        ),
        "a NaN gradient passed the fast check"
    );
    // 1e38 · lr 10 overflows: the bound says "maybe", the full check "yes".
    assert!(
        matches!(
            sgd.check_after_step(&Cpu, &params, &grad(1e38)),
            Err(Error::Parameter {
                tensor: 0,
                index: 0,
                ..
            })
        ),
        "an overflowing update passed the fast check"
    );
}

#[test]
fn on_a_device_an_infinite_input_is_named_even_when_the_loss_stays_finite() {
    // sigmoid(inf) = 1: the loss can stay finite while the weight gradient
    // takes 0 · inf. The device reads its counts once, after the update,
    // and must still name the input and restore what the update changed.
    let (mut x, y) = xor_data();
    x.as_mut_slice()[4] = f32::INFINITY;
    let net = Xor::initialize(&mut rng(1));
    let mut dev = Trainer::on(Opaque, net.clone(), Mse, Sgd::new(0.5).unwrap());
    let (dx, dy) = (
        Tensor::upload(&Opaque, &x).unwrap(),
        Tensor::upload(&Opaque, &y).unwrap(),
    );
    let (step, cause, source) = step_error(dev.step(&dx, &dy).unwrap_err());
    assert_eq!((step, cause), (1, StepCause::Input));
    assert!(
        matches!(
            source,
            Error::Value {
                row: 2,
                column: 0,
                ..
            }
        ),
        "{source:?}"
    );
    assert_eq!(bits(dev.model()), bits(&net));
}

#[test]
fn on_a_device_a_refused_first_momentum_step_stays_the_first() {
    // SGD with momentum starts its velocity as the gradient on the first
    // step. A refused first step must leave it unstarted: the next step is
    // the first again, as if the refused one never happened.
    let (x, y) = xor_data();
    let mut bad = x.clone();
    bad.as_mut_slice()[1] = f32::NAN;
    let net = Xor::initialize(&mut rng(3));
    let momentum = || Sgd::new(0.5).and_then(|s| s.with_momentum(0.9)).unwrap();
    let up = |b: &Batch<f32, 2>| Tensor::upload(&Opaque, b).unwrap();
    let upy = Tensor::upload(&Opaque, &y).unwrap();
    let mut refused_first = Trainer::on(Opaque, net.clone(), Mse, momentum());
    let (step, cause, _) = step_error(refused_first.step(&up(&bad), &upy).unwrap_err());
    assert_eq!((step, cause), (1, StepCause::Input));
    let mut clean = Trainer::on(Opaque, net, Mse, momentum());
    for _ in 0..3 {
        let a = refused_first.step(&up(&x), &upy).unwrap();
        let b = clean.step(&up(&x), &upy).unwrap();
        assert_eq!(a.to_bits(), b.to_bits());
    }
    assert_eq!(bits(refused_first.model()), bits(clean.model()));
}

#[test]
fn a_gradient_past_the_float_range_is_refused_with_a_finite_loss() {
    // x = ±1e20 and a symmetric weight: the prediction is the bias, the
    // loss ((5e18)² per row) is finite, and dW = dYᵀ·x (4 · 2.5e18 · 1e20)
    // is not. The CPU's backward measures the gradient as it writes it;
    // the device path counts it; both refuse the step as the gradient's.
    let x = Batch::<f32, 2>::from_rows(&[[1e20, -1e20]; 4]);
    let y = Batch::<f32, 1>::from_rows(&[[5e18]; 4]);
    let net = || Linear::<2, 1>::from_weights([[0.5, 0.5]], [0.0]).unwrap();
    // A first, ordinary step: from the second on, the trainer decides from
    // the bounds the last update kept and the gradient's measurement.
    let (x0, y0) = xor_data();
    let mut trainer = Trainer::new(net(), Mse, Sgd::new(0.0).unwrap());
    trainer.step(&x0, &y0).unwrap();
    let before = bits(trainer.model());
    let (step, cause, source) = step_error(trainer.step(&x, &y).unwrap_err());
    assert_eq!((step, cause), (2, StepCause::Gradient), "{source}");
    assert!(
        matches!(source, Error::Parameter { tensor: 0, .. }),
        "{source:?}"
    );
    assert_eq!(bits(trainer.model()), before);

    let mut on_device = Trainer::on(Opaque, net(), Mse, Sgd::new(0.0).unwrap());
    let (x0, y0) = (
        Tensor::upload(&Opaque, &x0).unwrap(),
        Tensor::upload(&Opaque, &y0).unwrap(),
    );
    on_device.step(&x0, &y0).unwrap();
    let (x, y) = (
        Tensor::upload(&Opaque, &x).unwrap(),
        Tensor::upload(&Opaque, &y).unwrap(),
    );
    let (_, cause, _) = step_error(on_device.step(&x, &y).unwrap_err());
    assert_eq!(cause, StepCause::Gradient);
    assert_eq!(bits(on_device.model()), before);

    // The same on widths past the unrolled kernels, where the CPU's product
    // measures the gradient as it stores it.
    let row: [f32; 1024] = core::array::from_fn(|i| if i % 2 == 0 { 1e20 } else { -1e20 });
    let x = Batch::<f32, 1024>::from_rows(&[row; 4]);
    let y = Batch::<f32, 1>::from_rows(&[[5e18]; 4]);
    let wide = Linear::<1024, 1>::from_weights([[0.5; 1024]], [0.0]).unwrap();
    let mut trainer = Trainer::new(wide, Mse, Sgd::new(0.0).unwrap());
    trainer
        .step(&Batch::from_rows(&[[0.5; 1024]; 4]), &y)
        .unwrap();
    assert!(trainer.grads().unwrap().known_max().is_some());
    let before = bits(trainer.model());
    let (step, cause, source) = step_error(trainer.step(&x, &y).unwrap_err());
    assert_eq!((step, cause), (2, StepCause::Gradient), "{source}");
    assert_eq!(bits(trainer.model()), before);
}

/// The largest |value| of `p`, read in full.
fn scanned_max<P: Params<f32>>(p: &P) -> f32 {
    p.to_vec().iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

#[test]
fn the_cpu_backward_measures_the_gradients_it_writes_and_mutation_forgets_it() {
    // Unrolled widths (XOR) are not measured: a later scan of a few values
    // costs the same. Packed ones (64 -> 300, batch 128) are.
    let (x, y) = xor_data();
    let mut trainer = Trainer::new(Xor::initialize(&mut rng(5)), Bce, Sgd::new(0.5).unwrap());
    trainer.compute_gradients(&x, &y).unwrap();
    assert_eq!(trainer.grads().unwrap().known_max(), None);

    type Wide = seq!(@type Linear<64, 300>, ReLU, Linear<300, 3>);
    let x = Batch::<f32, 64>::from_flat(
        &(0..128 * 64)
            .map(|i| (i % 13) as f32 - 6.0)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let labels = Classes::<usize, 3>::from_labels((0..128).map(|i| i % 3).collect()).unwrap();
    let mut wide = Trainer::new(
        Wide::initialize(&mut rng(6)),
        SoftmaxCrossEntropy,
        Sgd::new(0.1).unwrap(),
    );
    wide.compute_gradients(&x, &labels).unwrap();
    let grads = wide.grads().unwrap();
    let measured = grads.known_max().expect("measured on the CPU");
    assert_eq!(measured, scanned_max(grads));
    assert!(measured > 0.0);

    // Any mutable access forgets the measurement.
    let mut g = grads.clone();
    assert_eq!(g.known_max(), Some(measured));
    g.0.weight_mut()[0][0] = f32::NAN;
    assert_eq!(g.known_max(), None);
    let mut g = grads.clone();
    g.visit_mut(&mut |_| {});
    assert_eq!(g.known_max(), None);
    // A model never written by a backward is not measured.
    assert_eq!(wide.model().known_max(), None);
}
