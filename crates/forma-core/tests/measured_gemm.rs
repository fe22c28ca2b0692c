//! `gemm::matmul_tn_measured`, the weight-gradient product that also
//! measures what it wrote (a checked training step uses the measurement
//! instead of reading the gradient again): its product is bit for bit
//! `matmul_tn`'s, and its measurement is exactly a scan of the result, on
//! every path (direct loop, a few rows, packed, more than one pass over `k`,
//! split over the thread pool), including results that are not finite.

use forma_core::Float;
use forma_core::math::gemm;
use forma_core::math::pointwise::scan_finite_max;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// The measured and the plain product of the same operands agree bit for
/// bit, and the measurement is the scan of the result (the largest
/// magnitude compared only when every value is finite).
fn check<E: Float + std::fmt::Debug>((m, k, n): (usize, usize, usize), a: &[E], b: &[E], beta: E) {
    let c0: Vec<E> = (0..m * n)
        .map(|i| E::from_f64((i % 7) as f64 - 3.0))
        .collect();
    let mut plain = c0.clone();
    gemm::matmul_tn(m, k, n, a, b, beta, &mut plain).unwrap();
    let mut measured = c0;
    let (finite, top) = gemm::matmul_tn_measured(m, k, n, a, b, beta, &mut measured).unwrap();
    let same = plain.iter().zip(&measured).all(|(p, q)| {
        p.to_f64().to_bits() == q.to_f64().to_bits() || (p.to_f64().is_nan() && q.to_f64().is_nan())
    });
    assert!(
        same,
        "{m}x{k}x{n}: the measured product differs from the plain one"
    );
    let (want_finite, want_top) = scan_finite_max(&plain);
    assert_eq!(finite, want_finite, "{m}x{k}x{n}: finiteness");
    if want_finite {
        assert_eq!(top.to_f64(), want_top.to_f64(), "{m}x{k}x{n}: largest |C|");
    }
}

fn operands<E: Float>((m, k, n): (usize, usize, usize), seed: usize) -> (Vec<E>, Vec<E>) {
    let value = |i: usize| E::from_f64((((i + seed) * 7919) % 2001) as f64 / 1000.0 - 1.0);
    (
        (0..k * m).map(value).collect(),
        (0..k * n).map(|i| value(i + 17)).collect(),
    )
}

/// Shapes on every path of the product.
fn shape() -> impl Strategy<Value = (usize, usize, usize)> {
    prop_oneof![
        (1usize..=12, 1usize..=12, 1usize..=12),    // direct loop
        (1usize..=4, 20usize..=80, 100usize..=300), // at most four rows: no packing
        (5usize..=70, 5usize..=70, 5usize..=70),    // packed, one pass over k
        (9usize..=40, 257usize..=600, 9usize..=40), // packed, more than one pass over k
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_measurement_is_a_scan_of_the_product(
        shape in shape(),
        seed in 0usize..1000,
        beta in prop_oneof![Just(0.0), Just(1.0), -2.0f64..2.0],
        // Where to put a value that makes the product not finite, if anywhere.
        poison in proptest::option::of((0usize..1000, prop_oneof![
            Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(1e300)
        ])),
    ) {
        let (m, k, _) = shape;
        let (mut a, b) = operands::<f64>(shape, seed);
        let (mut a32, b32) = operands::<f32>(shape, seed);
        if let Some((at, v)) = poison {
            a[at % (m * k)] = v;
            a32[at % (m * k)] = v as f32; // 1e300 is infinity in f32
        }
        check::<f64>(shape, &a, &b, beta);
        check::<f32>(shape, &a32, &b32, beta as f32);
    }
}

/// Large enough to be split over the pool (where it has two threads), as
/// the MNIST-size weight gradient is: each thread measures its own band,
/// and a value that is not finite in any band is found.
#[test]
fn a_split_product_is_measured_in_every_band() {
    let shape @ (m, k, n) = (256, 128, 784);
    let (mut a, b) = operands::<f32>(shape, 3);
    check::<f32>(shape, &a, &b, 0.0);
    for row in [0, m / 2 + 5, m - 1] {
        a[(k - 1) * m + row] = f32::NAN; // A is k x m: column `row` of Aᵀ·B
        check::<f32>(shape, &a, &b, 0.0);
        let mut c = vec![0.0f32; m * n];
        let (finite, _) = gemm::matmul_tn_measured(m, k, n, &a, &b, 0.0, &mut c).unwrap();
        assert!(!finite, "a NaN in row {row} of the result was not seen");
        a[(k - 1) * m + row] = 0.5;
    }
}

#[test]
fn wrong_lengths_are_errors_before_anything_is_written() {
    let mut c = vec![7.0f32; 6];
    let e = gemm::matmul_tn_measured(2, 3, 3, &[1.0; 5], &[1.0; 9], 0.0, &mut c).unwrap_err();
    assert!(e.to_string().contains("gemm: A"), "{e}");
    assert!(c.iter().all(|&v| v == 7.0));
}
