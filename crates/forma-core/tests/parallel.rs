//! The thread pool: parts all run exactly once, concurrent callers do not
//! interfere, a panicking part reaches the caller and leaves the pool usable,
//! and a product split over threads equals the same rows computed alone,
//! bit for bit.

use std::sync::atomic::{AtomicUsize, Ordering};

use forma_core::math::gemm;
use forma_core::math::parallel;

#[test]
fn every_part_runs_exactly_once() {
    for parts in [0, 1, 2, 3, 7, 64] {
        let hits: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
        parallel::run(parts, &|p| {
            hits[p].fetch_add(1, Ordering::Relaxed);
        });
        assert!(
            hits.iter().all(|h| h.load(Ordering::Relaxed) == 1),
            "{parts} parts"
        );
    }
}

#[test]
fn concurrent_callers_each_get_all_their_parts() {
    std::thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                for round in 0..200 {
                    let sum = AtomicUsize::new(0);
                    parallel::run(5, &|p| {
                        sum.fetch_add(p + t + round, Ordering::Relaxed);
                    });
                    assert_eq!(sum.load(Ordering::Relaxed), 10 + 5 * (t + round));
                }
            });
        }
    });
}

#[test]
fn a_panicking_part_reaches_the_caller_and_the_pool_still_works() {
    let result = std::panic::catch_unwind(|| {
        parallel::run(4, &|p| {
            if p == 3 {
                panic!("part 3 fails");
            }
        })
    });
    assert!(result.is_err());
    let count = AtomicUsize::new(0);
    parallel::run(4, &|_| {
        count.fetch_add(1, Ordering::Relaxed);
    });
    assert_eq!(count.load(Ordering::Relaxed), 4);
}

#[test]
fn a_split_product_equals_its_rows_computed_alone() {
    // 300 x 512 x 256 (39M multiply-adds) is split over the pool (with more than one
    // thread); a band of 40 rows is small enough to run on one thread.
    let (m, k, n) = (300, 512, 256);
    let a: Vec<f32> = (0..m * k)
        .map(|i| ((i * 7919) % 1000) as f32 / 997.0 - 0.5)
        .collect();
    let b: Vec<f32> = (0..k * n)
        .map(|i| ((i * 104_729) % 1000) as f32 / 991.0 - 0.5)
        .collect();
    for layout in ["nt", "nn"] {
        let mut full = vec![0.0f32; m * n];
        let product = |rows: usize, a: &[f32], c: &mut [f32]| match layout {
            "nt" => gemm::matmul_nt(rows, k, n, a, &b[..n * k], 0.0, c),
            _ => gemm::matmul_nn(rows, k, n, a, &b, 0.0, c),
        };
        product(m, &a, &mut full);
        for i0 in [0, 40, 160, 260] {
            let mut band = vec![0.0f32; 40 * n];
            product(40, &a[i0 * k..(i0 + 40) * k], &mut band);
            assert!(
                band == full[i0 * n..(i0 + 40) * n],
                "{layout}: rows {i0}..{} differ from the split product",
                i0 + 40
            );
        }
    }
    eprintln!("pool threads: {}", parallel::threads());
}
