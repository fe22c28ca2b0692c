//! The CUDA device against the CPU: every primitive, SGEMM in all three
//! layouts against an f64 reference, and every tutorial network trained on the
//! GPU. Without a GPU each test says it was skipped and why, and passes; any
//! other CUDA failure fails the test.
#![cfg(feature = "cuda")]

mod device_common;

#[path = "../examples/custom_layers/layers.rs"]
mod layers;

use device_common::{
    assert_close, classification_networks, same_training, tutorial_networks, uniform,
};
use forma::core::{AdamStep, BiasKind, LabelStore, Layout, SgdStep};
use forma::cuda::Cuda;
use forma::cuda::kernels::Module;
use forma::prelude::*;
use rand::Rng as _;

/// The GPU, or `None` (with a message) when this machine has none.
fn gpu(test: &str) -> Option<Cuda> {
    match Cuda::new(0) {
        Ok(gpu) => Some(gpu),
        Err(Error::NoDevice { why, .. }) => {
            eprintln!("{test}: skipped, no CUDA device: {why}");
            None
        }
        Err(e) => panic!("{test}: CUDA failed: {e}"),
    }
}

/// Uniform in ±[0.1, 1): random, never zero.
fn nonzero(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = forma::rng(seed);
    (0..n)
        .map(|_| {
            let v: f32 = rng.random_range(0.1..1.0);
            if rng.random_bool(0.5) { v } else { -v }
        })
        .collect()
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn upload(gpu: &Cuda, v: &[f32]) -> forma::cuda::CudaBuffer {
    let mut b = gpu.alloc(v.len()).unwrap();
    gpu.write(v, &mut b).unwrap();
    b
}

fn download(gpu: &Cuda, b: &forma::cuda::CudaBuffer) -> Vec<f32> {
    let mut v = vec![0.0; b.len()];
    gpu.read(b, &mut v).unwrap();
    v
}

#[test]
fn sgemm_matches_an_f64_reference_in_every_layout() {
    let Some(gpu) = gpu("sgemm") else { return };
    let shapes = [
        (1, 1, 1),
        (3, 5, 7),
        (127, 129, 131),
        (128, 784, 256),
        (1000, 1000, 100),
        (64, 100_003, 64), // few tiles, long k: split along k
        (2048, 2048, 2048),
    ];
    for (s, &(m, k, n)) in shapes.iter().enumerate() {
        for layout in [Layout::Nt, Layout::Nn, Layout::Tn] {
            let a = nonzero(m * k, 10 * s as u64);
            let b = nonzero(k * n, 10 * s as u64 + 1);
            // Element accessors for op(A) (m x k) and op(B) (k x n).
            let at = |i: usize, p: usize| match layout {
                Layout::Tn => a[p * m + i],
                _ => a[i * k + p],
            } as f64;
            let bt = |p: usize, j: usize| match layout {
                Layout::Nt => b[j * k + p],
                _ => b[p * n + j],
            } as f64;
            let (da, db) = (upload(&gpu, &a), upload(&gpu, &b));
            let mut dc = upload(&gpu, &vec![f32::NAN; m * n]);
            gpu.matmul(layout, m, k, n, &da, &db, &mut dc).unwrap();
            gpu.synchronize().unwrap();
            let c = download(&gpu, &dc);
            let tol = 4.0 * f32::EPSILON as f64 * (k as f64).sqrt();
            // Check a sample of entries on the big shapes, all on the small ones.
            let step = ((m * n) / 4096).max(1);
            for idx in (0..m * n).step_by(step).chain([m * n - 1]) {
                let (i, j) = (idx / n, idx % n);
                let (mut want, mut scale) = (0.0, 0.0);
                for p in 0..k {
                    want += at(i, p) * bt(p, j);
                    scale += (at(i, p) * bt(p, j)).abs();
                }
                let err = (c[idx] as f64 - want).abs() / scale;
                assert!(
                    err <= tol,
                    "{layout:?} {m}x{k}x{n} at ({i},{j}): got {}, want {want} (error {err:e} > {tol:e})",
                    c[idx]
                );
            }
        }
    }
}

#[test]
fn every_primitive_matches_the_cpu_device() {
    let Some(gpu) = gpu("primitives") else { return };
    let (rows, cols) = (1000, 37);
    let n = rows * cols;
    let x = nonzero(n, 1);
    let t: Vec<f32> = nonzero(n, 2).iter().map(|v| v.abs()).collect();
    let p: Vec<f32> = x.iter().map(|v| 0.5 + 0.45 * v).collect(); // probabilities
    let bias = nonzero(cols, 3);
    let close = |what: &str, got: &[f32], want: &[f32]| {
        let f = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
        assert_close(what, &f(got), &f(want), 1e-5);
    };
    let acts = [
        Activation::Identity,
        Activation::Sigmoid,
        Activation::ReLU,
        Activation::Tanh,
        Activation::LeakyReLU { slope: 0.1 },
    ];
    for act in acts {
        for kind in [BiasKind::None, BiasKind::Shared, BiasKind::PerColumn] {
            let mut want = vec![0.0; n];
            Cpu.bias_act(rows, cols, Some(&x), Some(&bias), kind, act, &mut want)
                .unwrap();
            let (dx, db) = (upload(&gpu, &x), upload(&gpu, &bias));
            let mut dy = gpu.alloc(n).unwrap();
            gpu.bias_act(rows, cols, Some(&dx), Some(&db), kind, act, &mut dy)
                .unwrap();
            close(
                &format!("bias_act {act:?} {kind:?}"),
                &download(&gpu, &dy),
                &want,
            );
            // In place, as a linear layer's epilogue.
            let mut inplace = upload(&gpu, &x);
            gpu.bias_act(rows, cols, None, Some(&db), kind, act, &mut inplace)
                .unwrap();
            close("bias_act in place", &download(&gpu, &inplace), &want);
        }
        let y: Vec<f32> = x.iter().map(|&v| act.apply(v)).collect();
        let mut want = vec![0.0; n];
        Cpu.act_backward(n, act, &x, &y, &t, &mut want).unwrap();
        let mut got = gpu.alloc(n).unwrap();
        let (dx, dyv, dt) = (upload(&gpu, &x), upload(&gpu, &y), upload(&gpu, &t));
        gpu.act_backward(n, act, &dx, &dyv, &dt, &mut got).unwrap();
        close(
            &format!("act_backward {act:?}"),
            &download(&gpu, &got),
            &want,
        );
    }
    for (r, kind) in [
        (rows, BiasKind::PerColumn),
        (rows, BiasKind::Shared),
        (70_000, BiasKind::PerColumn),
    ] {
        let dy = nonzero(r * cols, 4);
        // The reference is the f64 sum: the Cpu device's f32 sum runs in row
        // order and drifts further from it than the GPU's tree reduction
        // (70,000 rows: 3e-3 apart on the H200, each within 1e-5·sqrt(r) of f64).
        let mut want = vec![0.0f64; kind.len(cols)];
        Cpu.bias_grad(r, cols, &f64s(&dy), kind, &mut want).unwrap();
        let mut got = gpu.alloc(kind.len(cols)).unwrap();
        gpu.bias_grad(r, cols, &upload(&gpu, &dy), kind, &mut got)
            .unwrap();
        // Sums of r terms of magnitude below 1: error relative to sqrt(r).
        let scale = (r as f64).sqrt();
        for (i, (g, w)) in download(&gpu, &got).iter().zip(&want).enumerate() {
            assert!(
                (*g as f64 - w).abs() <= 1e-5 * scale,
                "bias_grad {kind:?} {r} rows [{i}]: {g} vs {w} (f64)"
            );
        }
    }
    for kind in [
        LossKind::SquaredError {
            factor: 0.5,
            mean: false,
        },
        LossKind::SquaredError {
            factor: 1.0,
            mean: true,
        },
        LossKind::Bce,
        LossKind::BceWithLogits,
    ] {
        let pred = if kind == LossKind::Bce { &p } else { &x };
        let mut want_g = vec![0.0; n];
        let want = Cpu.loss(kind, n, pred, &t, &mut want_g).unwrap();
        let mut got_g = gpu.alloc(n).unwrap();
        let got = gpu
            .loss(kind, n, &upload(&gpu, pred), &upload(&gpu, &t), &mut got_g)
            .unwrap();
        close(&format!("loss {kind:?}"), &[got], &[want]);
        close(
            &format!("loss gradient {kind:?}"),
            &download(&gpu, &got_g),
            &want_g,
        );
    }
    let g = nonzero(n, 5);
    for (momentum, nesterov, first) in [(0.0, false, false), (0.9, false, true), (0.9, true, false)]
    {
        let step = SgdStep {
            lr: 0.1,
            momentum,
            nesterov,
            weight_decay: 0.01,
            first,
        };
        let (mut wp, mut wv) = (x.clone(), t.clone());
        Cpu.sgd(n, &step, &mut wp, &g, Some(&mut wv)).unwrap();
        let (mut dp, mut dv) = (upload(&gpu, &x), upload(&gpu, &t));
        gpu.sgd(n, &step, &mut dp, &upload(&gpu, &g), Some(&mut dv))
            .unwrap();
        close("sgd params", &download(&gpu, &dp), &wp);
        if momentum != 0.0 {
            close("sgd velocity", &download(&gpu, &dv), &wv);
        }
    }
    for decoupled in [false, true] {
        let step = AdamStep::at(3, 0.01, 0.9, 0.999, 1e-8, 0.01, decoupled);
        let (mut wp, mut wm, mut wv) = (x.clone(), g.clone(), t.clone());
        Cpu.adam(n, &step, &mut wp, &p, &mut wm, &mut wv).unwrap();
        let (mut dp, mut dm, mut dv) = (upload(&gpu, &x), upload(&gpu, &g), upload(&gpu, &t));
        gpu.adam(n, &step, &mut dp, &upload(&gpu, &p), &mut dm, &mut dv)
            .unwrap();
        close("adam params", &download(&gpu, &dp), &wp);
        close("adam m", &download(&gpu, &dm), &wm);
        close("adam v", &download(&gpu, &dv), &wv);
    }
    // Row-wise: softmax, its backward, cross-entropy over 10 classes.
    let (r, k) = (300, 10);
    let logits = nonzero(r * k, 6);
    let mut want_y = vec![0.0; r * k];
    Cpu.softmax(r, k, &logits, &mut want_y).unwrap();
    let dl = upload(&gpu, &logits);
    let mut got_y = gpu.alloc(r * k).unwrap();
    gpu.softmax(r, k, &dl, &mut got_y).unwrap();
    close("softmax", &download(&gpu, &got_y), &want_y);
    let g = nonzero(r * k, 7);
    let mut want_dx = vec![0.0; r * k];
    Cpu.softmax_backward(r, k, &want_y, &g, &mut want_dx)
        .unwrap();
    let mut got_dx = gpu.alloc(r * k).unwrap();
    gpu.softmax_backward(r, k, &upload(&gpu, &want_y), &upload(&gpu, &g), &mut got_dx)
        .unwrap();
    close("softmax_backward", &download(&gpu, &got_dx), &want_dx);
    let labels: Vec<usize> = (0..r).map(|i| (i * 7) % k).collect();
    let mut want_g = vec![0.0; r * k];
    let want = Device::<f32>::cross_entropy(&Cpu, r, k, &logits, &labels, &mut want_g).unwrap();
    let mut got_g = gpu.alloc(r * k).unwrap();
    let on_gpu = gpu.upload_labels(&labels, k).unwrap();
    let got = gpu.cross_entropy(r, k, &dl, &on_gpu, &mut got_g).unwrap();
    close("cross_entropy", &[got], &[want]);
    close("cross_entropy gradient", &download(&gpu, &got_g), &want_g);

    let mut filled = gpu.alloc(10).unwrap();
    gpu.fill(7, 2.5, &mut filled).unwrap();
    let mut copied = gpu.alloc(10).unwrap();
    gpu.copy(10, &filled, &mut copied).unwrap();
    assert_eq!(
        download(&gpu, &copied),
        [2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 0.0, 0.0, 0.0]
    );
    gpu.synchronize().unwrap();
}

#[test]
fn fused_linear_forward_matches_the_cpu_device() {
    let Some(gpu) = gpu("linear_forward") else {
        return;
    };
    // (300, 1500, 37): few tiles and a long k, so the product is split along k
    // and the bias and activation run after it; (130, 12, 300): one fused
    // kernel over a 2 x 3 grid of tiles.
    for (s, (m, k, n)) in [(300, 1500, 37), (130, 12, 300), (1, 1, 1)]
        .into_iter()
        .enumerate()
    {
        let a = nonzero(m * k, 30 + s as u64);
        let b = nonzero(n * k, 40 + s as u64);
        let bias = nonzero(n, 50 + s as u64);
        let (da, db, dbias) = (upload(&gpu, &a), upload(&gpu, &b), upload(&gpu, &bias));
        let acts = [
            Activation::Identity,
            Activation::Sigmoid,
            Activation::ReLU,
            Activation::Tanh,
            Activation::LeakyReLU { slope: -0.2 },
        ];
        for act in acts {
            for kind in [BiasKind::None, BiasKind::Shared, BiasKind::PerColumn] {
                let mut want = vec![0.0f32; m * n];
                Cpu.linear_forward((m, k, n), &a, &b, Some(&bias), kind, act, &mut want)
                    .unwrap();
                let mut got = upload(&gpu, &vec![f32::NAN; m * n]);
                gpu.linear_forward((m, k, n), &da, &db, Some(&dbias), kind, act, &mut got)
                    .unwrap();
                let got = download(&gpu, &got);
                // Sums of k products: error relative to sqrt(k).
                let tol = 1e-5 * (k as f64).sqrt();
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        ((g - w) as f64).abs() <= tol * (w.abs() as f64).max(1.0),
                        "linear_forward {m}x{k}x{n} {act:?} {kind:?} [{i}]: {g} vs {w}"
                    );
                }
            }
        }
    }
}

#[test]
fn buffers_belong_to_their_device_and_may_outlive_it() {
    let Some(first) = gpu("buffer ownership") else {
        return;
    };
    let second = Cuda::new(0).unwrap();
    let a = upload(&first, &[1.0, 2.0]);
    let mut b = second.alloc(2).unwrap();
    let err = second.copy(2, &a, &mut b).unwrap_err();
    assert!(matches!(err, Error::Device { .. }), "{err}");
    let keep = upload(&second, &[3.0, 4.0]);
    drop(second);
    drop(keep); // after its device: still freed cleanly
    assert_eq!(download(&first, &a), [1.0, 2.0]);
}

#[test]
fn a_label_that_is_not_a_class_gives_a_nan_loss_not_a_wild_read() {
    let Some(gpu) = gpu("bad labels") else { return };
    let logits = upload(&gpu, &nonzero(3 * 4, 60));
    for bad in [f32::NAN, -1.0, 2.5, 4.0, 1e9] {
        let labels = upload(&gpu, &[0.0, bad, 3.0]);
        let mut grad = gpu.alloc(12).unwrap();
        let loss = gpu
            .cross_entropy(3, 4, &logits, &labels, &mut grad)
            .unwrap();
        assert!(loss.is_nan(), "label {bad}: loss {loss}");
    }
}

/// Issue 5's check: one forward, backward and update of each network, from
/// the same weights, within 1e-5 of the CPU trainer.
#[test]
fn one_step_of_each_tutorial_network_matches_the_cpu() {
    let Some(gpu) = gpu("one step") else {
        return;
    };
    tutorial_networks::<f32, _>(gpu.clone(), 1e-5, 1);
    classification_networks::<f32, _>(gpu, 1e-5, 1);
}

/// Stronger: 5 to 20 steps, every loss and the final parameters. Summation
/// orders differ (tiles, atomics), so a failure here with the one-step test
/// passing is drift to understand, not a reason to loosen the tolerance.
#[test]
fn tutorial_networks_train_on_the_gpu_as_on_the_cpu() {
    let Some(gpu) = gpu("tutorial networks") else {
        return;
    };
    tutorial_networks::<f32, _>(gpu.clone(), 1e-5, usize::MAX);
    classification_networks::<f32, _>(gpu, 1e-5, usize::MAX);
}

#[test]
fn short_buffers_are_errors_before_any_launch() {
    let Some(gpu) = gpu("length checks") else {
        return;
    };
    let a = gpu.alloc(6).unwrap();
    let mut c = gpu.alloc(8).unwrap();
    let err = gpu.matmul(Layout::Nt, 3, 3, 4, &a, &a, &mut c).unwrap_err();
    assert_eq!(
        err,
        Error::Length {
            what: "matmul: A",
            expected: 9,
            got: 6
        }
    );
    let err = gpu.read(&a, &mut [0.0; 7]).unwrap_err();
    assert_eq!(
        err,
        Error::Length {
            what: "Device::read source",
            expected: 7,
            got: 6
        }
    );
    gpu.synchronize().unwrap();
}

#[test]
fn broken_ptx_reports_the_jit_log() {
    let Some(_gpu) = gpu("JIT log") else { return };
    let ptx = ".version 7.8\n.target sm_75\n.address_size 64\n.visible .entry k() { bogus_instruction; }\n";
    match Module::load("broken", ptx) {
        Err(Error::KernelLoad { module, code, log }) => {
            assert_eq!(module, "broken");
            assert_ne!(code, 0);
            assert!(!log.is_empty(), "the JIT log is empty");
            eprintln!("JIT log, as expected: {log}");
        }
        Err(e) => panic!("expected a KernelLoad error, got {e}"),
        Ok(_) => panic!("broken PTX loaded"),
    }
}

#[test]
fn a_device_can_move_to_another_thread() {
    let Some(gpu) = gpu("threads") else { return };
    let b = upload(&gpu, &[1.0, 2.0, 3.0]);
    let got = std::thread::spawn(move || download(&gpu, &b))
        .join()
        .unwrap();
    assert_eq!(got, [1.0, 2.0, 3.0]);
}

#[test]
fn device_side_timing_measures_queued_work() {
    let Some(gpu) = gpu("timing") else { return };
    let n = 512;
    let a = upload(&gpu, &nonzero(n * n, 70));
    let mut c = gpu.alloc(n * n).unwrap();
    let (one, t1) = gpu
        .time(|| gpu.matmul(Layout::Nn, n, n, n, &a, &a, &mut c).map(|()| 1))
        .unwrap();
    let ((), t10) = gpu
        .time(|| {
            for _ in 0..10 {
                gpu.matmul(Layout::Nn, n, n, n, &a, &a, &mut c)?;
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(one, 1);
    assert!(t1 > std::time::Duration::ZERO, "one product took no time");
    assert!(
        t10 > t1,
        "ten products ({t10:?}) not slower than one ({t1:?})"
    );
    // An error inside the timed work comes back as it is.
    let short = gpu.alloc(3).unwrap();
    let err = gpu
        .time(|| gpu.matmul(Layout::Nn, n, n, n, &short, &a, &mut c))
        .unwrap_err();
    assert!(matches!(err, Error::Length { .. }), "{err}");
}

#[test]
fn nonfinite_values_are_counted_into_their_slot() {
    let Some(gpu) = gpu("count_nonfinite") else {
        return;
    };
    let mut x = nonzero(100_003, 80);
    x[0] = f32::NAN;
    x[50_000] = f32::INFINITY;
    x[100_002] = f32::NEG_INFINITY;
    let dx = upload(&gpu, &x);
    let mut counts = upload(&gpu, &[0.0; 4]);
    gpu.count_nonfinite(100_003, &dx, &mut counts, 2).unwrap();
    gpu.count_nonfinite(100_002, &dx, &mut counts, 3).unwrap(); // the last one left out
    assert_eq!(download(&gpu, &counts), [0.0, 0.0, 3.0, 2.0]);
    let err = gpu.count_nonfinite(10, &dx, &mut counts, 4).unwrap_err();
    assert!(matches!(err, Error::Length { .. }), "{err}");
}

#[test]
fn relu_keeps_nan_and_bce_refuses_what_is_not_a_probability() {
    let Some(gpu) = gpu("NaN semantics") else {
        return;
    };
    let x = upload(&gpu, &[f32::NAN, -1.0, 2.0]);
    let mut y = gpu.alloc(3).unwrap();
    gpu.bias_act(
        1,
        3,
        Some(&x),
        None,
        BiasKind::None,
        Activation::ReLU,
        &mut y,
    )
    .unwrap();
    let got = download(&gpu, &y);
    assert!(got[0].is_nan() && got[1] == 0.0 && got[2] == 2.0, "{got:?}");
    let (p, t) = (upload(&gpu, &[0.5, -0.25]), upload(&gpu, &[1.0, 0.0]));
    let mut g = gpu.alloc(2).unwrap();
    let loss = gpu.loss(LossKind::Bce, 2, &p, &t, &mut g).unwrap();
    assert!(loss.is_nan(), "Bce of -0.25 gave {loss}");
}

/// A checked step on the GPU (the device code path): a NaN input is refused with its
/// row and column, and the parameters stay as they were.
#[test]
fn a_checked_step_on_the_gpu_refuses_a_nan_input() {
    let Some(gpu) = gpu("checked step") else {
        return;
    };
    type Net = seq!(@type Linear<3, 8>, ReLU, Linear<8, 2>);
    let net = Net::initialize(&mut forma::rng(9));
    let on = net.to_device(&gpu).unwrap();
    let mut trainer = Trainer::on(gpu.clone(), on, Mse, Sgd::new(0.1).unwrap());
    let mut xs = nonzero(4 * 3, 81);
    xs[7] = f32::NAN;
    let x = Tensor::upload(&gpu, &Batch::<f32, 3>::from_flat(&xs).unwrap()).unwrap();
    let y = Tensor::upload(&gpu, &Batch::<f32, 2>::from_flat(&nonzero(8, 82)).unwrap()).unwrap();
    match trainer.step(&x, &y).unwrap_err() {
        Error::Step {
            step: 1,
            cause: forma::core::StepCause::Input,
            source,
        } => {
            assert!(
                matches!(
                    *source,
                    Error::Value {
                        row: 2,
                        column: 1,
                        ..
                    }
                ),
                "{source:?}"
            );
        }
        other => panic!("expected a refused input, got {other:?}"),
    }
    assert_eq!(
        trainer.model().to_host(&gpu).unwrap().to_vec(),
        net.to_vec()
    );
}

#[test]
fn binary_axpby_and_axis_sums_match_the_cpu_device() {
    let Some(gpu) = gpu("algebra") else { return };
    use forma::core::{Axis, Binary};
    let (rows, cols) = (1001, 37);
    let n = rows * cols;
    let (a, b) = (nonzero(n, 90), nonzero(n, 91));
    let (da, db) = (upload(&gpu, &a), upload(&gpu, &b));
    let f = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
    for op in [Binary::Add, Binary::Sub, Binary::Mul] {
        let mut want = vec![0.0f32; n];
        Cpu.binary(op, n, &a, &b, &mut want).unwrap();
        let mut got = upload(&gpu, &vec![f32::NAN; n]);
        gpu.binary(op, n, &da, &db, &mut got).unwrap();
        assert_close(
            &format!("binary {op:?}"),
            &f(&download(&gpu, &got)),
            &f(&want),
            1e-6,
        );
    }
    let mut want = b.clone();
    Cpu.axpby(n, 0.5, &a, -2.0, &mut want).unwrap();
    let mut got = upload(&gpu, &b);
    gpu.axpby(n, 0.5, &da, -2.0, &mut got).unwrap();
    assert_close("axpby", &f(&download(&gpu, &got)), &f(&want), 1e-6);
    for axis in [Axis::Rows, Axis::Columns] {
        let len = axis.len(rows, cols);
        let a64 = f(&a);
        let mut want = vec![0.0f64; len];
        Cpu.sum_axis(rows, cols, &a64, axis, &mut want).unwrap();
        let mut got = upload(&gpu, &vec![f32::NAN; len]);
        gpu.sum_axis(rows, cols, &da, axis, &mut got).unwrap();
        // Sums of up to 1001 terms below 1: error relative to sqrt(terms).
        let terms = if axis == Axis::Rows { rows } else { cols } as f64;
        for (i, (g, w)) in download(&gpu, &got).iter().zip(&want).enumerate() {
            assert!(
                (*g as f64 - w).abs() <= 1e-5 * terms.sqrt(),
                "sum_axis {axis:?} [{i}]: {g} vs {w} (f64)"
            );
        }
    }
}

/// The user's layers of `examples/custom_layers` (SiLU and a residual block,
/// written once from the device primitives) train on the GPU as on the CPU.
#[test]
fn user_layers_train_on_the_gpu_as_on_the_cpu() {
    let Some(gpu) = gpu("user layers") else {
        return;
    };
    type Net = seq!(@type
        Linear<2, 16>, layers::SiLU,
        layers::Residual<seq!(@type Linear<16, 16>, layers::SiLU)>,
        Linear<16, 1>
    );
    let net = Net::initialize(&mut forma::rng(7));
    let x = uniform::<f32, 2>(33, 3);
    let y = uniform::<f32, 1>(33, 4);
    let adam = (Adam::new(0.01).unwrap(), Adam::new(0.01).unwrap());
    same_training(gpu, net, Mse, adam, &x, &y, 10, 1e-5);
}
