//! Matrix products at the tutorial shapes, in FLOP/s.
//!
//! Every benchmark sets `Throughput::Elements(2*m*k*n)`, so criterion's
//! "elem/s" reads as FLOP/s (one multiply and one add per term). Ids are
//! `layout/MxKxN`, where `C[m×n]` takes `k` terms per element:
//!
//! * `gemm_f32`, `gemm_f64`: `forma::core::math::gemm::matmul_{nt,nn,tn}`, what
//!   tensors and layers call: the direct loop up to `DIRECT_LIMIT` multiply-adds,
//!   forma's packed kernel above it.
//! * `matrixmultiply_f32`, `matrixmultiply_f64`: the same products through
//!   `Backend::MatrixMultiply`, for the shapes above `DIRECT_LIMIT` (below it
//!   both backends run the same direct loop).
//! * `fixed_f32`, `fixed_f64`: `forma::core::math::fixed`, the const-width
//!   kernels, at the two small tutorial shapes.
//!
//! Shapes (`m x k x n`): 4x2x2 (XOR), 100x2x32 (two_layer), 64x1000x100 and
//! 128x784x256 (MNIST-sized layers), and 512x512x512 as a reference for the
//! peak of a packed kernel on this machine. Every layout runs at the same
//! `m x k x n`, so the three ids of one shape do the same arithmetic; only the
//! memory layout of the operands differs.
//!
//! Run: `cargo bench --bench matmul` (under two minutes), or filter, e.g.
//! `cargo bench --bench matmul -- 'gemm_f32/nt'`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main, measurement::WallTime,
};
use forma::core::Float;
use forma::core::math::{fixed, gemm};

/// `(m, k, n)`: the tutorial shapes, then the peak references (1024^3 is
/// where issue 15 compares one thread with the machine's practical peak and
/// two threads with one).
const SHAPES: [(usize, usize, usize); 6] = [
    (4, 2, 2),
    (100, 2, 32),
    (64, 1000, 100),
    (128, 784, 256),
    (512, 512, 512),
    (1024, 1024, 1024),
];

type Gemm<E> = fn(usize, usize, usize, &[E], &[E], E, &mut [E]) -> forma::Result<()>;

/// The three layouts of `gemm` (default backend), by name.
fn layouts<E: Float>() -> [(&'static str, Gemm<E>); 3] {
    [
        ("nt", gemm::matmul_nt::<E>),
        ("nn", gemm::matmul_nn::<E>),
        ("tn", gemm::matmul_tn::<E>),
    ]
}

/// The three layouts through matrixmultiply, by name.
fn matrixmultiply_layouts<E: Float>() -> [(&'static str, Gemm<E>); 3] {
    [
        ("nt", |m, k, n, a, b, beta, c| {
            gemm::Backend::MatrixMultiply.matmul_nt(m, k, n, a, b, beta, c)
        }),
        ("nn", |m, k, n, a, b, beta, c| {
            gemm::Backend::MatrixMultiply.matmul_nn(m, k, n, a, b, beta, c)
        }),
        ("tn", |m, k, n, a, b, beta, c| {
            gemm::Backend::MatrixMultiply.matmul_tn(m, k, n, a, b, beta, c)
        }),
    ]
}

fn group<'a>(c: &'a mut Criterion, name: String) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.warm_up_time(Duration::from_millis(400))
        .measurement_time(Duration::from_millis(1200))
        .sample_size(20);
    g
}

/// `len` values in [-1, 1), deterministic.
fn values<E: Float>(len: usize, seed: usize) -> Vec<E> {
    (0..len)
        .map(|i| E::from_f64(((i * 7919 + seed * 104_729) % 2000) as f64 / 1000.0 - 1.0))
        .collect()
}

fn id((m, k, n): (usize, usize, usize), layout: &str) -> BenchmarkId {
    BenchmarkId::new(layout, format!("{m}x{k}x{n}"))
}

fn flops((m, k, n): (usize, usize, usize)) -> Throughput {
    Throughput::Elements((2 * m * k * n) as u64)
}

/// One group of runtime-shape products: each layout at each shape.
fn bench_runtime<E: Float>(
    c: &mut Criterion,
    name: &str,
    kernels: [(&'static str, Gemm<E>); 3],
    shapes: &[(usize, usize, usize)],
) {
    let mut g = group(c, format!("{name}_{}", E::NAME));
    for &shape in shapes {
        let (m, k, n) = shape;
        // Large products: a few milliseconds each, so one iteration per sample.
        g.sampling_mode(if m * k * n > 1 << 20 {
            SamplingMode::Flat
        } else {
            SamplingMode::Auto
        });
        g.throughput(flops(shape));
        // `a` has m*k elements and `b` k*n in every layout.
        let a = values::<E>(m * k, 1);
        let b = values::<E>(k * n, 2);
        let mut out = vec![E::ZERO; m * n];
        for (layout, kernel) in kernels {
            g.bench_function(id(shape, layout), |bench| {
                bench.iter(|| {
                    kernel(m, k, n, black_box(&a), black_box(&b), E::ZERO, &mut out).expect("sizes")
                });
                black_box(&out);
            });
        }
    }
    g.finish();
}

/// The const-width kernels at `M x K x N`, each layout reading its operands
/// as that layout's runtime version does.
fn bench_fixed_shape<E: Float, const M: usize, const K: usize, const N: usize>(
    g: &mut BenchmarkGroup<'_, WallTime>,
) {
    let shape = (M, K, N);
    g.throughput(flops(shape));
    let rows = |len: usize, seed: usize| values::<E>(len, seed);

    // nt: (M x K) · (N x K)ᵀ, as a layer's forward: M rows of K, weight N x K.
    let x: Vec<[E; K]> = rows(M * K, 1).as_chunks::<K>().0.to_vec();
    let w: [[E; K]; N] = rows(N * K, 2)
        .as_chunks::<K>()
        .0
        .try_into()
        .expect("N rows");
    let mut y = vec![[E::ZERO; N]; M];
    g.bench_function(id(shape, "nt"), |bench| {
        bench.iter(|| fixed::matmul_nt(black_box(&x), black_box(&w), E::ZERO, &mut y));
        black_box(&y);
    });

    // nn: (M x K) · (K x N), as an input gradient: M rows of K, weight K x N.
    let dy: Vec<[E; K]> = rows(M * K, 3).as_chunks::<K>().0.to_vec();
    let w: [[E; N]; K] = rows(K * N, 4)
        .as_chunks::<N>()
        .0
        .try_into()
        .expect("K rows");
    let mut dx = vec![[E::ZERO; N]; M];
    g.bench_function(id(shape, "nn"), |bench| {
        bench.iter(|| fixed::matmul_nn(black_box(&dy), black_box(&w), E::ZERO, &mut dx));
        black_box(&dx);
    });

    // tn: (K x M)ᵀ · (K x N), as a weight gradient: K rows of M and of N.
    let dy: Vec<[E; M]> = rows(K * M, 5).as_chunks::<M>().0.to_vec();
    let x: Vec<[E; N]> = rows(K * N, 6).as_chunks::<N>().0.to_vec();
    let mut dw = [[E::ZERO; N]; M];
    g.bench_function(id(shape, "tn"), |bench| {
        bench.iter(|| fixed::matmul_tn(black_box(&dy), black_box(&x), E::ZERO, &mut dw));
        black_box(&dw);
    });
}

fn bench_fixed<E: Float>(c: &mut Criterion) {
    let mut g = group(c, format!("fixed_{}", E::NAME));
    bench_fixed_shape::<E, 4, 2, 2>(&mut g);
    bench_fixed_shape::<E, 100, 2, 32>(&mut g);
    g.finish();
}

fn matmul(c: &mut Criterion) {
    let packed: Vec<_> = SHAPES
        .into_iter()
        .filter(|&(m, k, n)| m * k * n > gemm::DIRECT_LIMIT)
        .collect();
    bench_runtime::<f32>(c, "gemm", layouts(), &SHAPES);
    bench_runtime::<f64>(c, "gemm", layouts(), &SHAPES);
    bench_runtime::<f32>(c, "matrixmultiply", matrixmultiply_layouts(), &packed);
    bench_runtime::<f64>(c, "matrixmultiply", matrixmultiply_layouts(), &packed);
    bench_fixed::<f32>(c);
    bench_fixed::<f64>(c);
}

criterion_group!(benches, matmul);
criterion_main!(benches);
