//! The CUDA device (feature `cuda`): SGEMM GFLOP/s at 1024³ and 4096³ in the
//! three layouts, and training samples/s of a 64-64-64-64 sigmoid MLP (MSE,
//! SGD) at batch 2^14 and 2^18. `benches/reference/pytorch_cuda.py` measures
//! the same in PyTorch; `scripts/gpu-check.sh` runs both on a GPU machine.
//!
//! GPU work is asynchronous, so each sample queues `iters` products (or
//! steps) between two CUDA events and reads the device-side time between them
//! (`Cuda::time`, criterion's `iter_custom`); criterion reports the median per
//! product. Each training step reads its loss back, as PyTorch's reference
//! does with `loss.item()`. Without a GPU it prints why and measures nothing.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use forma::core::Layout;
use forma::cuda::Cuda;
use forma::prelude::*;

fn gpu() -> Option<Cuda> {
    match Cuda::new(0) {
        Ok(g) => Some(g),
        Err(e) => {
            eprintln!("cuda bench skipped: {e}");
            None
        }
    }
}

/// Uniform in [0.1, 1): never zero (zeros can run faster than real data).
fn data(gpu: &Cuda, n: usize, seed: u64) -> forma::cuda::CudaBuffer {
    let mut v = vec![0.0f32; n];
    Init::Uniform {
        low: 0.1,
        high: 1.0,
    }
    .fill(1, 1, &mut forma::rng(seed), &mut v)
    .expect("valid init");
    let mut b = gpu.alloc(n).expect("alloc");
    gpu.write(&v, &mut b).expect("upload");
    b
}

fn sgemm(c: &mut Criterion) {
    let Some(gpu) = gpu() else { return };
    for size in [1024usize, 4096] {
        let mut g = c.benchmark_group(format!("cuda/sgemm_{size}"));
        g.throughput(Throughput::Elements(2 * (size as u64).pow(3)));
        g.warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3))
            .sample_size(20);
        let (a, b) = (data(&gpu, size * size, 1), data(&gpu, size * size, 2));
        let mut out = gpu.alloc(size * size).expect("alloc");
        for layout in [Layout::Nt, Layout::Nn, Layout::Tn] {
            g.bench_function(format!("forma_{layout:?}"), |bench| {
                bench.iter_custom(|iters| {
                    let ((), elapsed) = gpu
                        .time(|| {
                            for _ in 0..iters {
                                gpu.matmul(layout, size, size, size, &a, &b, &mut out)?;
                            }
                            Ok(())
                        })
                        .expect("sgemm");
                    elapsed
                })
            });
        }
        g.finish();
    }
}

type Mlp64 = seq!(@type Linear<64, 64>, Sigmoid, Linear<64, 64>, Sigmoid, Linear<64, 64>, Sigmoid, Linear<64, 64>);

fn mlp(c: &mut Criterion) {
    let Some(gpu) = gpu() else { return };
    for log2 in [14u32, 18] {
        let rows = 1usize << log2;
        let mut g = c.benchmark_group(format!("cuda/mlp_64x4_sigmoid_b2^{log2}"));
        g.throughput(Throughput::Elements(rows as u64));
        g.warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3))
            .sample_size(20);
        let mut v = vec![0.0f32; rows * 64];
        Init::Uniform {
            low: -1.0,
            high: 1.0,
        }
        .fill(1, 1, &mut forma::rng(3), &mut v)
        .expect("valid init");
        let x = Tensor::upload(&gpu, &Batch::<f32, 64>::from_flat(&v).expect("x")).expect("x");
        Init::Uniform {
            low: 0.0,
            high: 1.0,
        }
        .fill(1, 1, &mut forma::rng(4), &mut v)
        .expect("valid init");
        let y = Tensor::upload(&gpu, &Batch::<f32, 64>::from_flat(&v).expect("y")).expect("y");
        // "forma": the default, checked steps (input, target, gradients and
        // update counted on the GPU, a snapshot for rollback); "unchecked":
        // `with_checks(false)`, the same work PyTorch does.
        for (label, checks) in [("forma", true), ("forma_unchecked", false)] {
            let net = Mlp64::initialize(&mut forma::rng(5))
                .to_device(&gpu)
                .expect("upload");
            let mut trainer =
                Trainer::on(gpu.clone(), net, Mse, Sgd::new(0.01).expect("lr")).with_checks(checks);
            g.bench_function(label, |b| {
                b.iter_custom(|iters| {
                    let ((), elapsed) = gpu
                        .time(|| {
                            for _ in 0..iters {
                                black_box(trainer.step(&x, &y)?);
                            }
                            Ok(())
                        })
                        .expect("step");
                    elapsed
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, sgemm, mlp);
criterion_main!(benches);
