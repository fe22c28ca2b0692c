//! Property tests of every matrix-product layout and every reduction against a
//! naive reference computed in f64, for both element types.
//!
//! The reference is written from the layout table in `math::gemm` with explicit
//! index formulas, one per layout, so a swapped stride, a wrong index or a
//! missing term in any kernel shows up as a mismatch.
//!
//! Tolerances: each output element is compared with
//! `2 * eps(E) * sqrt(terms + 1) * (Σ|a·b| + |beta·c|)`, where the sum runs over
//! the terms of that element. The worst-case bound for summing `k` terms is
//! `k * eps/2 * Σ|a·b|`; rounding errors of random data grow like `sqrt(k)`.
//! The reference is compensated (about one rounding from exact), so the
//! tolerance covers only the kernel. Measured errors reach about half the
//! tolerance at k <= 4 and about 1/60 of it at k = 1000. A single missing term
//! of typical size (|a·b| around 1) is far above it: for k = 784 in f32 the
//! tolerance is about 5e-3 while Σ|a·b| is about 800.

use forma_core::math::gemm::Backend;
use forma_core::math::{fixed, gemm, reduce};
use forma_core::{Error, Float, Tensor};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;

/// The element types under test, with their machine epsilon.
trait Elem: Float {
    const EPS: f64;
}

impl Elem for f32 {
    const EPS: f64 = f32::EPSILON as f64;
}

impl Elem for f64 {
    const EPS: f64 = f64::EPSILON;
}

/// Values in [-2, 2]; never all zero (a zero input would hide missing terms).
fn values(len: usize) -> impl Strategy<Value = Vec<f64>> {
    vec(-2.0f64..=2.0, len).prop_map(|mut v| {
        if !v.is_empty() && v.iter().all(|&x| x == 0.0) {
            v[0] = 1.0;
        }
        v
    })
}

/// Rounds to `E` (the kernels' input) and back (the reference's input, exact).
fn to_elem<E: Elem>(v: &[f64]) -> (Vec<E>, Vec<f64>) {
    let e: Vec<E> = v.iter().map(|&x| E::from_f64(x)).collect();
    let back = e.iter().map(|x| x.to_f64()).collect();
    (e, back)
}

/// The three products of `math::gemm`.
#[derive(Clone, Copy, Debug)]
enum Layout {
    /// `C[m×n] = A[m×k] · B[n×k]ᵀ`.
    Nt,
    /// `C[m×n] = A[m×k] · B[k×n]`.
    Nn,
    /// `C[m×n] = A[k×m]ᵀ · B[k×n]`.
    Tn,
}

const LAYOUTS: [Layout; 3] = [Layout::Nt, Layout::Nn, Layout::Tn];

impl Layout {
    /// Element `(i, p)` of the left factor, from the buffer `a`.
    fn lhs(self, (m, k): (usize, usize), a: &[f64], i: usize, p: usize) -> f64 {
        match self {
            Layout::Nt | Layout::Nn => a[i * k + p],
            Layout::Tn => a[p * m + i],
        }
    }

    /// Element `(p, j)` of the right factor, from the buffer `b`.
    fn rhs(self, (k, n): (usize, usize), b: &[f64], p: usize, j: usize) -> f64 {
        match self {
            Layout::Nt => b[j * k + p],
            Layout::Nn | Layout::Tn => b[p * n + j],
        }
    }

    /// Runs this product through `gemm`'s free function (`backend` `None`:
    /// the default backend) or through the given backend.
    fn run<E: Elem>(
        self,
        backend: Option<Backend>,
        (m, k, n): (usize, usize, usize),
        a: &[E],
        b: &[E],
        beta: E,
        c: &mut [E],
    ) {
        let done = match (self, backend) {
            (Layout::Nt, None) => gemm::matmul_nt(m, k, n, a, b, beta, c),
            (Layout::Nn, None) => gemm::matmul_nn(m, k, n, a, b, beta, c),
            (Layout::Tn, None) => gemm::matmul_tn(m, k, n, a, b, beta, c),
            (Layout::Nt, Some(be)) => be.matmul_nt(m, k, n, a, b, beta, c),
            (Layout::Nn, Some(be)) => be.matmul_nn(m, k, n, a, b, beta, c),
            (Layout::Tn, Some(be)) => be.matmul_tn(m, k, n, a, b, beta, c),
        };
        done.unwrap();
    }
}

/// The free functions (default backend), then each backend by name: above
/// `DIRECT_LIMIT` they are different kernels.
const BACKENDS: [Option<Backend>; 5] = [
    None,
    Some(Backend::Forma),
    Some(Backend::FormaAvx2),
    Some(Backend::FormaPortable),
    Some(Backend::MatrixMultiply),
];

/// A compensated (Neumaier) sum of f64 terms, products added exactly as the
/// rounded product plus its error: the result is within about one rounding of
/// the exact value, so the tolerances only have to cover the kernel's rounding.
#[derive(Default)]
struct ExactSum {
    sum: f64,
    compensation: f64,
}

impl ExactSum {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        self.compensation += if self.sum.abs() >= x.abs() {
            (self.sum - t) + x
        } else {
            (x - t) + self.sum
        };
        self.sum = t;
    }

    /// Adds `a * b` exactly (the product's rounding error by a fused multiply-add).
    fn add_product(&mut self, a: f64, b: f64) {
        let p = a * b;
        self.add(p);
        self.add(a.mul_add(b, -p));
    }

    fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}

/// The product in f64, compensated, and per element the magnitude
/// `Σ|a·b| + |beta·c0|` that scales its tolerance. `beta == 0` ignores `c0`
/// (which may be NaN: it must be overwritten).
fn reference(
    layout: Layout,
    (m, k, n): (usize, usize, usize),
    a: &[f64],
    b: &[f64],
    beta: f64,
    c0: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let mut value = vec![0.0; m * n];
    let mut magnitude = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let (mut s, mut mag) = (ExactSum::default(), 0.0);
            for p in 0..k {
                let (x, y) = (layout.lhs((m, k), a, i, p), layout.rhs((k, n), b, p, j));
                s.add_product(x, y);
                mag += (x * y).abs();
            }
            if beta != 0.0 {
                s.add_product(beta, c0[i * n + j]);
                mag += (beta * c0[i * n + j]).abs();
            }
            value[i * n + j] = s.value();
            magnitude[i * n + j] = mag;
        }
    }
    (value, magnitude)
}

/// Every element of `got` within the tolerance of `want` (a NaN never is).
#[track_caller]
fn assert_close<E: Elem>(what: &str, got: &[E], want: &[f64], magnitude: &[f64], terms: usize) {
    assert_eq!(got.len(), want.len(), "{what}: output length");
    let scale = 2.0 * E::EPS * ((terms + 1) as f64).sqrt();
    for (idx, ((g, &w), &mag)) in got.iter().zip(want).zip(magnitude).enumerate() {
        let g = g.to_f64();
        let tol = scale * mag;
        assert!(
            (g - w).abs() <= tol,
            "{what} ({}): element {idx} is {g}, expected {w} (error {:e}, tolerance {tol:e})",
            E::NAME,
            (g - w).abs(),
        );
    }
}

/// All three layouts at one shape, with beta 0 (output pre-filled with NaN),
/// beta 1 (accumulate) and an arbitrary beta.
fn check_gemm<E: Elem>(
    (m, k, n): (usize, usize, usize),
    a: &[f64],
    b: &[f64],
    c0: &[f64],
    beta_any: f64,
) {
    let (a_e, a) = to_elem::<E>(a);
    let (b_e, b) = to_elem::<E>(b);
    let (c0_e, c0) = to_elem::<E>(c0);
    for layout in LAYOUTS {
        for beta in [0.0, 1.0, E::from_f64(beta_any).to_f64()] {
            let (want, mag) = reference(layout, (m, k, n), &a, &b, beta, &c0);
            for backend in BACKENDS {
                let mut c = if beta == 0.0 {
                    vec![E::from_f64(f64::NAN); m * n]
                } else {
                    c0_e.clone()
                };
                layout.run(backend, (m, k, n), &a_e, &b_e, E::from_f64(beta), &mut c);
                let what = format!("gemm {layout:?} ({backend:?}) {m}x{k}x{n}, beta {beta}");
                assert_close(&what, &c, &want, &mag, k);
            }
        }
    }
}

/// A shape and its operands: `a` has `m*k` elements, `b` has `k*n`, `c0` has `m*n`
/// (the same buffers serve all three layouts).
#[derive(Clone, Debug)]
struct GemmCase {
    shape: (usize, usize, usize),
    a: Vec<f64>,
    b: Vec<f64>,
    c0: Vec<f64>,
    beta: f64,
}

fn gemm_case(
    shape: impl Strategy<Value = (usize, usize, usize)>,
) -> impl Strategy<Value = GemmCase> {
    shape.prop_flat_map(|(m, k, n)| {
        (values(m * k), values(k * n), values(m * n), -2.0f64..=2.0).prop_map(
            move |(a, b, c0, beta)| GemmCase {
                shape: (m, k, n),
                a,
                b,
                c0,
                beta,
            },
        )
    })
}

/// Shapes in 1..=70 below `DIRECT_LIMIT`: the direct loop (but for the
/// few-row shapes below on x86).
fn direct_shape() -> impl Strategy<Value = (usize, usize, usize)> {
    let limit = gemm::DIRECT_LIMIT;
    (1usize..=70)
        .prop_flat_map(move |m| (Just(m), 1..=(limit / m).min(70)))
        .prop_flat_map(move |(m, k)| (Just(m), Just(k), 1..=(limit / (m * k)).min(70)))
}

/// Shapes of at most `gemm::FEW_ROWS` rows below `DIRECT_LIMIT` whose
/// inner dimension takes their forward product (`nt`, beta 0) to the
/// few-row kernels on x86 (16 or more), the direct loop elsewhere; and
/// the shapes at that switch.
fn few_rows_shape() -> impl Strategy<Value = (usize, usize, usize)> {
    let limit = gemm::DIRECT_LIMIT;
    prop_oneof![
        (1..=gemm::FEW_ROWS, 16usize..=300).prop_flat_map(move |(m, k)| (
            Just(m),
            Just(k),
            1..=(limit / (m * k)).min(70)
        )),
        select(vec![
            (1, 16, 1),
            (1, 16, 70),
            (4, 16, 70),
            (4, 15, 70),
            (1, 15, 1),
            (1, 17, 1),
            (5, 16, 70),
            (4, 16, 128),
        ]),
    ]
}

/// Shapes in 1..=70 whose product goes to a packed kernel.
fn packed_shape() -> impl Strategy<Value = (usize, usize, usize)> {
    (1usize..=70, 1usize..=70, 1usize..=70).prop_filter("above DIRECT_LIMIT", |&(m, k, n)| {
        m * k * n > gemm::DIRECT_LIMIT
    })
}

/// A row vector (1xN result), a column vector (Nx1 result) or an outer product
/// (k = 1), small enough for the direct loop or large enough for a packed kernel.
fn degenerate_shape() -> impl Strategy<Value = (usize, usize, usize)> {
    prop_oneof![
        (1usize..=70, 1usize..=70).prop_map(|(k, n)| (1, k, n)),
        (1usize..=70, 1usize..=70).prop_map(|(m, k)| (m, k, 1)),
        (1usize..=70, 1usize..=70).prop_map(|(m, n)| (m, 1, n)),
        (1usize..=70).prop_map(|k| (1, k, 1)),
        (120usize..=250, 70usize..=120).prop_map(|(k, n)| (1, k, n)),
        (70usize..=120, 120usize..=250).prop_map(|(m, k)| (m, k, 1)),
        (100usize..=150, 100usize..=150).prop_map(|(m, n)| (m, 1, n)),
    ]
}

/// Shapes beyond the packed kernels' cache blocks: a long inner dimension (more
/// than one pass over k), many rows, many columns.
fn blocked_shape() -> impl Strategy<Value = (usize, usize, usize)> {
    prop_oneof![
        (2usize..=12, 250usize..=700, 2usize..=12),
        (90usize..=300, 1usize..=6, 10usize..=40),
        (1usize..=4, 2usize..=6, 1000usize..=1300),
    ]
    .prop_filter("above DIRECT_LIMIT", |&(m, k, n)| {
        m * k * n > gemm::DIRECT_LIMIT
    })
}

/// Shapes at and just beyond the switch between the two paths.
fn boundary_shape() -> impl Strategy<Value = (usize, usize, usize)> {
    select(vec![
        (16, 32, 16), // exactly DIRECT_LIMIT: direct
        (8192, 1, 1), // exactly DIRECT_LIMIT, all in m
        (1, 8192, 1), // exactly DIRECT_LIMIT, all in k: few rows (x86 kernel)
        (16, 32, 17), // just above: packed
        (17, 32, 16), // just above
        (16, 33, 16), // just above
        (1, 8193, 1), // just above, a dot product
        (8193, 1, 1), // just above, a column
    ])
}

#[test]
fn boundary_shapes_are_on_both_sides_of_the_switch() {
    // The boundary cases above test what they claim only while the limit is 8192.
    assert_eq!(gemm::DIRECT_LIMIT, 16 * 32 * 16);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..ProptestConfig::default()
    })]

    #[test]
    fn gemm_direct_path_matches_reference(case in gemm_case(direct_shape())) {
        let (m, k, n) = case.shape;
        prop_assert!(m * k * n <= gemm::DIRECT_LIMIT);
        check_gemm::<f32>(case.shape, &case.a, &case.b, &case.c0, case.beta);
        check_gemm::<f64>(case.shape, &case.a, &case.b, &case.c0, case.beta);
    }

    #[test]
    fn gemm_few_rows_below_the_limit_match_reference(case in gemm_case(few_rows_shape())) {
        let (m, k, n) = case.shape;
        prop_assert!(m <= gemm::FEW_ROWS + 1 && m * k * n <= gemm::DIRECT_LIMIT);
        check_gemm::<f32>(case.shape, &case.a, &case.b, &case.c0, case.beta);
        check_gemm::<f64>(case.shape, &case.a, &case.b, &case.c0, case.beta);
    }

    #[test]
    fn gemm_packed_path_matches_reference(case in gemm_case(packed_shape())) {
        let (m, k, n) = case.shape;
        prop_assert!(m * k * n > gemm::DIRECT_LIMIT);
        check_gemm::<f32>(case.shape, &case.a, &case.b, &case.c0, case.beta);
        check_gemm::<f64>(case.shape, &case.a, &case.b, &case.c0, case.beta);
    }

    #[test]
    fn gemm_degenerate_shapes_match_reference(case in gemm_case(degenerate_shape())) {
        check_gemm::<f32>(case.shape, &case.a, &case.b, &case.c0, case.beta);
        check_gemm::<f64>(case.shape, &case.a, &case.b, &case.c0, case.beta);
    }

    #[test]
    fn gemm_beyond_cache_blocks_matches_reference(case in gemm_case(blocked_shape())) {
        check_gemm::<f32>(case.shape, &case.a, &case.b, &case.c0, case.beta);
        check_gemm::<f64>(case.shape, &case.a, &case.b, &case.c0, case.beta);
    }

    #[test]
    fn gemm_at_the_direct_limit_matches_reference(case in gemm_case(boundary_shape())) {
        check_gemm::<f32>(case.shape, &case.a, &case.b, &case.c0, case.beta);
        check_gemm::<f64>(case.shape, &case.a, &case.b, &case.c0, case.beta);
    }

    #[test]
    fn gemm_small_tutorial_shapes_match_reference(
        case in gemm_case(select(vec![(4, 2, 2), (100, 2, 32)]))
    ) {
        check_gemm::<f32>(case.shape, &case.a, &case.b, &case.c0, case.beta);
        check_gemm::<f64>(case.shape, &case.a, &case.b, &case.c0, case.beta);
    }
}

/// A product's first `m` rows and `n` columns, computed `m x n` (its last
/// tiles edge tiles: `Micro::edge_to_c`, with masked loads and stores on
/// x86) and `tall x wide`, for every layout and forma kernel, added to the
/// same C times `beta`: the same bits, since every element is one chain of
/// the same operations whichever tile computes it. The small product
/// writes into the front of a longer buffer, whose tail must stay as it
/// was: a store past C's last row or column would change it.
fn check_edge_tiles<E: Elem>(
    (m, k, n, tall, wide): (usize, usize, usize, usize, usize),
    a_tall: &[f64],
    b_wide: &[f64],
    beta: f64,
) {
    let beta = E::from_f64(beta);
    // C's starting value at (i, j), the same in both products.
    let c0 = |i: usize, j: usize| E::from_f64(((i * 31 + j * 7) % 13) as f64 / 4.0 - 1.5);
    let canary = E::from_f64(-12345.5);
    let a_tall: Vec<E> = a_tall.iter().map(|&x| E::from_f64(x)).collect();
    let b_wide: Vec<E> = b_wide.iter().map(|&x| E::from_f64(x)).collect();
    for layout in LAYOUTS {
        // A's first m rows: a row slice, or for Tn (A stored k x tall) the
        // first m of each stored row. B's first n columns: rows of Bᵀ for
        // Nt, the first n of each stored row otherwise.
        let a: Vec<E> = match layout {
            Layout::Nt | Layout::Nn => a_tall[..m * k].to_vec(),
            Layout::Tn => (0..k)
                .flat_map(|p| a_tall[p * tall..p * tall + m].iter().copied())
                .collect(),
        };
        let b: Vec<E> = match layout {
            Layout::Nt => b_wide[..n * k].to_vec(),
            Layout::Nn | Layout::Tn => (0..k)
                .flat_map(|p| b_wide[p * wide..p * wide + n].iter().copied())
                .collect(),
        };
        for backend in [Backend::Forma, Backend::FormaAvx2, Backend::FormaPortable] {
            let mut small: Vec<E> = (0..m * n).map(|x| c0(x / n, x % n)).collect();
            small.extend([canary; 64]);
            let mut full: Vec<E> = (0..tall * wide).map(|x| c0(x / wide, x % wide)).collect();
            layout.run(Some(backend), (m, k, n), &a, &b, beta, &mut small[..m * n]);
            layout.run(
                Some(backend),
                (tall, k, wide),
                &a_tall,
                &b_wide,
                beta,
                &mut full,
            );
            let what = format!("{layout:?} ({backend:?}) {m}x{k}x{n} vs {tall}x{k}x{wide}");
            for i in 0..m {
                for j in 0..n {
                    assert_eq!(
                        small[i * n + j].to_f64().to_bits(),
                        full[i * wide + j].to_f64().to_bits(),
                        "{what}: ({i}, {j})"
                    );
                }
            }
            assert!(
                small[m * n..].iter().all(|&v| v == canary),
                "{what}: written past C's end"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..ProptestConfig::default()
    })]

    #[test]
    fn gemm_edge_tiles_give_the_bits_of_full_tiles(
        // Up to 31 columns: one vector or two of each kernel's rows, the
        // second whole or cut by a mask, with each kernel's vector widths
        // (4, 8, 16) and one past them among the cases; rows compared with
        // the same rows of a taller product.
        (shape, a, b) in (
            20usize..=60,
            50usize..=300,
            prop_oneof![select(vec![1usize, 4, 5, 8, 9, 16, 17, 31]), 1usize..=31],
            1usize..=9,
            17usize..=40,
        )
            .prop_filter("packed at both sizes", |&(m, k, n, _, _)| m * k * n > gemm::DIRECT_LIMIT)
            .prop_flat_map(|(m, k, n, more, extra)| {
                let (tall, wide) = (m + more, n + extra);
                (Just((m, k, n, tall, wide)), values(tall * k), values(k * wide))
            }),
        beta in prop_oneof![Just(0.0), Just(1.0), -2.0f64..2.0],
    ) {
        check_edge_tiles::<f32>(shape, &a, &b, beta);
        check_edge_tiles::<f64>(shape, &a, &b, beta);
    }
}

proptest! {
    // A 128x784x256 reference product is 25.7 million multiply-adds, nine
    // times per element type: a few cases only, and no long shrinking of
    // vectors of 200 000 values.
    #![proptest_config(ProptestConfig {
        cases: 2,
        max_shrink_iters: 16,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..ProptestConfig::default()
    })]

    #[test]
    fn gemm_large_tutorial_shapes_match_reference(
        case in gemm_case(select(vec![(64, 1000, 100), (128, 784, 256)]))
    ) {
        check_gemm::<f32>(case.shape, &case.a, &case.b, &case.c0, case.beta);
        check_gemm::<f64>(case.shape, &case.a, &case.b, &case.c0, case.beta);
    }
}

#[test]
fn gemm_with_an_empty_inner_dimension_is_beta_times_c() {
    fn check<E: Elem>() {
        let c0: Vec<E> = [1.5, -0.5, 2.0, 0.25, -1.0, 0.75]
            .iter()
            .map(|&x| E::from_f64(x))
            .collect();
        for (layout, backend) in LAYOUTS.into_iter().flat_map(|l| BACKENDS.map(|b| (l, b))) {
            let mut c = vec![E::from_f64(f64::NAN); 6];
            layout.run(backend, (2, 0, 3), &[], &[], E::ZERO, &mut c);
            assert!(
                c.iter().all(|&x| x == E::ZERO),
                "{layout:?} {backend:?}: {c:?}"
            );
            let mut c = c0.clone();
            layout.run(backend, (2, 0, 3), &[], &[], E::from_f64(-2.0), &mut c);
            let want: Vec<E> = c0.iter().map(|&x| E::from_f64(-2.0) * x).collect();
            assert_eq!(c, want, "{layout:?} {backend:?}");
        }
    }
    check::<f32>();
    check::<f64>();
}

/// The operands of the three fixed-width products at widths `K` (in) and `N`
/// (out) with a runtime batch, flat and row-major.
#[derive(Clone, Debug)]
struct FixedCase {
    batch: usize,
    /// batch x K
    x: Vec<f64>,
    /// N x K
    w: Vec<f64>,
    /// batch x N
    dy: Vec<f64>,
    /// batch x N, the prior forward output
    y0: Vec<f64>,
    /// batch x K, the prior input gradient
    dx0: Vec<f64>,
    /// N x K, the prior weight gradient
    dw0: Vec<f64>,
    beta: f64,
}

fn fixed_case(k: usize, n: usize) -> impl Strategy<Value = FixedCase> {
    (0usize..=40).prop_flat_map(move |batch| {
        (
            (values(batch * k), values(n * k), values(batch * n)),
            (values(batch * n), values(batch * k), values(n * k)),
            -2.0f64..=2.0,
        )
            .prop_map(move |((x, w, dy), (y0, dx0, dw0), beta)| FixedCase {
                batch,
                x,
                w,
                dy,
                y0,
                dx0,
                dw0,
                beta,
            })
    })
}

fn rows<E: Elem, const W: usize>(flat: &[E]) -> Vec<[E; W]> {
    let (rows, rest) = flat.as_chunks::<W>();
    assert!(rest.is_empty());
    rows.to_vec()
}

fn matrix<E: Elem, const R: usize, const C: usize>(flat: &[E]) -> [[E; C]; R] {
    assert_eq!(flat.len(), R * C);
    core::array::from_fn(|r| core::array::from_fn(|c| flat[r * C + c]))
}

/// `fixed::matmul_{nt,nn,tn}` at widths `K` in and `N` out against the reference,
/// for beta 0 (NaN-filled output), 1 and an arbitrary beta.
fn check_fixed<E: Elem, const K: usize, const N: usize>(case: &FixedCase) {
    let bt = case.batch;
    let (x_e, x) = to_elem::<E>(&case.x);
    let (w_e, w) = to_elem::<E>(&case.w);
    let (dy_e, dy) = to_elem::<E>(&case.dy);
    let (y0_e, y0) = to_elem::<E>(&case.y0);
    let (dx0_e, dx0) = to_elem::<E>(&case.dx0);
    let (dw0_e, dw0) = to_elem::<E>(&case.dw0);
    let x_rows = rows::<E, K>(&x_e);
    let dy_rows = rows::<E, N>(&dy_e);
    let w_mat = matrix::<E, N, K>(&w_e);
    let nan = E::from_f64(f64::NAN);

    for beta in [0.0, 1.0, E::from_f64(case.beta).to_f64()] {
        let beta_e = E::from_f64(beta);

        // Y = X · Wᵀ: (batch x K) · (N x K)ᵀ.
        let mut y = if beta == 0.0 {
            vec![[nan; N]; bt]
        } else {
            rows::<E, N>(&y0_e)
        };
        fixed::matmul_nt(&x_rows, &w_mat, beta_e, &mut y);
        let (want, mag) = reference(Layout::Nt, (bt, K, N), &x, &w, beta, &y0);
        let what = format!("fixed::matmul_nt K={K} N={N} batch {bt}, beta {beta}");
        assert_close(&what, y.as_flattened(), &want, &mag, K);

        // dX = dY · W: (batch x N) · (N x K).
        let mut dx = if beta == 0.0 {
            vec![[nan; K]; bt]
        } else {
            rows::<E, K>(&dx0_e)
        };
        fixed::matmul_nn(&dy_rows, &w_mat, beta_e, &mut dx);
        let (want, mag) = reference(Layout::Nn, (bt, N, K), &dy, &w, beta, &dx0);
        let what = format!("fixed::matmul_nn K={K} N={N} batch {bt}, beta {beta}");
        assert_close(&what, dx.as_flattened(), &want, &mag, N);

        // dW = dYᵀ · X: (batch x N)ᵀ · (batch x K).
        let mut dw = if beta == 0.0 {
            [[nan; K]; N]
        } else {
            matrix::<E, N, K>(&dw0_e)
        };
        fixed::matmul_tn(&dy_rows, &x_rows, beta_e, &mut dw);
        let (want, mag) = reference(Layout::Tn, (N, bt, K), &dy, &x, beta, &dw0);
        let what = format!("fixed::matmul_tn K={K} N={N} batch {bt}, beta {beta}");
        assert_close(&what, dw.as_flattened(), &want, &mag, bt);
    }
}

macro_rules! fixed_props {
    ($($name:ident: $k:literal x $n:literal),* $(,)?) => {
        proptest! {
            #![proptest_config(ProptestConfig {
                cases: 24,
                failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
                ..ProptestConfig::default()
            })]
            $(
                #[test]
                fn $name(case in fixed_case($k, $n)) {
                    check_fixed::<f32, $k, $n>(&case);
                    check_fixed::<f64, $k, $n>(&case);
                }
            )*
        }
    };
}

// Widths as `in x out`.
fixed_props! {
    fixed_1x1_matches_reference: 1 x 1,
    fixed_1x7_matches_reference: 1 x 7,
    fixed_7x1_matches_reference: 7 x 1,
    fixed_2x2_matches_reference: 2 x 2,
    fixed_2x32_matches_reference: 2 x 32,
    fixed_32x1_matches_reference: 32 x 1,
    fixed_3x5_matches_reference: 3 x 5,
    fixed_13x16_matches_reference: 13 x 16,
    // Dot products with a tail past the last 8 (K or N at least 8, not a
    // multiple of 8, the other below 8), and both wide with tails.
    fixed_9x1_matches_reference: 9 x 1,
    fixed_13x3_matches_reference: 13 x 3,
    fixed_1x9_matches_reference: 1 x 9,
    fixed_3x13_matches_reference: 3 x 13,
    fixed_17x20_matches_reference: 17 x 20,
}

/// An `m x n` matrix with its prior outputs for both sums.
#[derive(Clone, Debug)]
struct ReduceCase {
    m: usize,
    n: usize,
    a: Vec<f64>,
    /// n values: prior column sums
    rows0: Vec<f64>,
    /// m values: prior row sums
    cols0: Vec<f64>,
    beta: f64,
}

fn reduce_case(
    m: impl Strategy<Value = usize>,
    n: impl Strategy<Value = usize>,
) -> impl Strategy<Value = ReduceCase> {
    (m, n).prop_flat_map(|(m, n)| {
        (values(m * n), values(n), values(m), -2.0f64..=2.0).prop_map(
            move |(a, rows0, cols0, beta)| ReduceCase {
                m,
                n,
                a,
                rows0,
                cols0,
                beta,
            },
        )
    })
}

/// Column sums, row sums and the total, each with its magnitude.
struct Sums {
    over_rows: (Vec<f64>, Vec<f64>),
    over_cols: (Vec<f64>, Vec<f64>),
    total: (f64, f64),
}

fn reference_sums(m: usize, n: usize, a: &[f64]) -> Sums {
    let mut rows: Vec<ExactSum> = (0..n).map(|_| ExactSum::default()).collect();
    let mut cols: Vec<ExactSum> = (0..m).map(|_| ExactSum::default()).collect();
    let mut all = ExactSum::default();
    let mut over_rows_mag = vec![0.0; n];
    let mut over_cols_mag = vec![0.0; m];
    let mut total_mag = 0.0;
    for i in 0..m {
        for j in 0..n {
            let v = a[i * n + j];
            rows[j].add(v);
            cols[i].add(v);
            all.add(v);
            over_rows_mag[j] += v.abs();
            over_cols_mag[i] += v.abs();
            total_mag += v.abs();
        }
    }
    Sums {
        over_rows: (rows.iter().map(ExactSum::value).collect(), over_rows_mag),
        over_cols: (cols.iter().map(ExactSum::value).collect(), over_cols_mag),
        total: (all.value(), total_mag),
    }
}

/// `reduce::{sum_over_rows, sum_over_cols, sum}` against the reference.
fn check_reduce<E: Elem>(case: &ReduceCase) {
    let (m, n) = (case.m, case.n);
    let (a_e, a) = to_elem::<E>(&case.a);
    let (rows0_e, rows0) = to_elem::<E>(&case.rows0);
    let (cols0_e, cols0) = to_elem::<E>(&case.cols0);
    let sums = reference_sums(m, n, &a);
    let with_beta = |(sum, mag): &(Vec<f64>, Vec<f64>), beta: f64, prior: &[f64]| {
        let mut sum = sum.clone();
        let mut mag = mag.clone();
        if beta != 0.0 {
            for ((s, g), p) in sum.iter_mut().zip(&mut mag).zip(prior) {
                let mut e = ExactSum::default();
                e.add(*s);
                e.add_product(beta, *p);
                *s = e.value();
                *g += (beta * p).abs();
            }
        }
        (sum, mag)
    };

    for beta in [0.0, 1.0, E::from_f64(case.beta).to_f64()] {
        let beta_e = E::from_f64(beta);
        let nan = E::from_f64(f64::NAN);

        let mut out = if beta == 0.0 {
            vec![nan; n]
        } else {
            rows0_e.clone()
        };
        reduce::sum_over_rows(m, n, &a_e, beta_e, &mut out);
        let (want, mag) = with_beta(&sums.over_rows, beta, &rows0);
        assert_close(
            &format!("sum_over_rows {m}x{n}, beta {beta}"),
            &out,
            &want,
            &mag,
            m,
        );

        let mut out = if beta == 0.0 {
            vec![nan; m]
        } else {
            cols0_e.clone()
        };
        reduce::sum_over_cols(m, n, &a_e, beta_e, &mut out);
        let (want, mag) = with_beta(&sums.over_cols, beta, &cols0);
        assert_close(
            &format!("sum_over_cols {m}x{n}, beta {beta}"),
            &out,
            &want,
            &mag,
            n,
        );
    }

    let total = reduce::sum(&a_e);
    let (want, mag) = sums.total;
    assert_close(&format!("sum {m}x{n}"), &[total], &[want], &[mag], m * n);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..ProptestConfig::default()
    })]

    #[test]
    fn reductions_match_reference(case in reduce_case(1usize..=70, 1usize..=70)) {
        check_reduce::<f32>(&case);
        check_reduce::<f64>(&case);
    }

    #[test]
    fn reductions_of_vectors_match_reference(
        case in prop_oneof![
            reduce_case(Just(1usize), 1usize..=300),
            reduce_case(1usize..=300, Just(1usize)),
        ]
    ) {
        check_reduce::<f32>(&case);
        check_reduce::<f64>(&case);
    }
}

#[test]
fn reductions_of_empty_matrices() {
    for (m, n) in [(0, 4), (3, 0), (0, 0)] {
        let mut rows = vec![f64::NAN; n];
        reduce::sum_over_rows(m, n, &[], 0.0, &mut rows);
        assert!(rows.iter().all(|&x| x == 0.0), "{m}x{n}: {rows:?}");
        let mut rows = vec![1.5f32; n];
        reduce::sum_over_rows(m, n, &[], 2.0, &mut rows);
        assert!(rows.iter().all(|&x| x == 3.0), "{m}x{n}: {rows:?}");

        let mut cols = vec![f32::NAN; m];
        reduce::sum_over_cols(m, n, &[], 0.0, &mut cols);
        assert!(cols.iter().all(|&x| x == 0.0), "{m}x{n}: {cols:?}");
        let mut cols = vec![1.5f64; m];
        reduce::sum_over_cols(m, n, &[], 2.0, &mut cols);
        assert!(cols.iter().all(|&x| x == 3.0), "{m}x{n}: {cols:?}");
    }
    assert_eq!(reduce::sum::<f32>(&[]), 0.0);
}

/// A left matrix and a right matrix buffer; the same buffers are read as
/// `A (m x k)`, `Aᵀ` stored as `(k x m)`, `B (k x n)` and `B` stored as `(n x k)`.
#[derive(Clone, Debug)]
struct TensorCase {
    m: usize,
    k: usize,
    n: usize,
    a: Vec<f64>,
    b: Vec<f64>,
}

fn tensor_case() -> impl Strategy<Value = TensorCase> {
    (1usize..=40, 1usize..=40, 1usize..=40).prop_flat_map(|(m, k, n)| {
        (values(m * k), values(k * n)).prop_map(move |(a, b)| TensorCase { m, k, n, a, b })
    })
}

type Mat<E> = Tensor<E, usize, usize>;

/// The typed API: products, transpose and reductions of `Tensor`.
fn check_tensor<E: Elem>(case: &TensorCase) {
    let (m, k, n) = (case.m, case.k, case.n);
    let (a_e, a) = to_elem::<E>(&case.a);
    let (b_e, b) = to_elem::<E>(&case.b);
    let shape = |t: &Mat<E>| (t.rows(), t.cols());

    let lhs = Mat::<E>::from_vec(m, k, a_e.clone()).unwrap();
    let rhs = Mat::<E>::from_vec(k, n, b_e.clone()).unwrap();
    let rhs_nt = Mat::<E>::from_vec(n, k, b_e.clone()).unwrap();
    let lhs_tn = Mat::<E>::from_vec(k, m, a_e.clone()).unwrap();

    // (m x k) · (k x n)
    let c = lhs.matmul(&rhs).unwrap();
    assert_eq!(shape(&c), (m, n));
    let (want, mag) = reference(Layout::Nn, (m, k, n), &a, &b, 0.0, &[]);
    assert_close("Tensor::matmul", c.as_slice(), &want, &mag, k);

    // (m x k) · (n x k)ᵀ
    let c = lhs.matmul_nt(&rhs_nt).unwrap();
    assert_eq!(shape(&c), (m, n));
    let (want, mag) = reference(Layout::Nt, (m, k, n), &a, &b, 0.0, &[]);
    assert_close("Tensor::matmul_nt", c.as_slice(), &want, &mag, k);

    // (k x m)ᵀ · (k x n)
    let c = lhs_tn.matmul_tn(&rhs).unwrap();
    assert_eq!(shape(&c), (m, n));
    let (want, mag) = reference(Layout::Tn, (m, k, n), &a, &b, 0.0, &[]);
    assert_close("Tensor::matmul_tn", c.as_slice(), &want, &mag, k);

    // Inner dimensions that differ are an error naming both.
    let wrong = Mat::<E>::zeros(k + 1, n);
    let err = Error::Length {
        what: "Tensor::matmul (rows of rhs, the columns of self)",
        expected: k,
        got: k + 1,
    };
    assert_eq!(lhs.matmul(&wrong), Err(err));
    assert!(lhs.matmul_nt(&Mat::<E>::zeros(n, k + 1)).is_err());
    assert!(lhs_tn.matmul_tn(&Mat::<E>::zeros(k + 1, n)).is_err());

    // The transpose moves (r, c) to (c, r), exactly.
    let t = lhs.transpose();
    assert_eq!(shape(&t), (k, m));
    for r in 0..m {
        for c in 0..k {
            assert_eq!(t[(c, r)], lhs[(r, c)], "transpose ({r}, {c})");
            assert_eq!(t.as_slice()[c * m + r].to_f64(), a[r * k + c]);
        }
    }
    assert_eq!(t.transpose(), lhs);

    // Sums over rows (per column), over columns (per row), all, and the mean.
    let sums = reference_sums(m, k, &a);
    let s = lhs.sum_over_rows();
    assert_eq!((s.rows(), s.cols()), (1, k));
    assert_close(
        "Tensor::sum_over_rows",
        s.as_slice(),
        &sums.over_rows.0,
        &sums.over_rows.1,
        m,
    );
    let s = lhs.sum_over_cols();
    assert_eq!((s.rows(), s.cols()), (m, 1));
    assert_close(
        "Tensor::sum_over_cols",
        s.as_slice(),
        &sums.over_cols.0,
        &sums.over_cols.1,
        k,
    );
    let (total, mag) = sums.total;
    assert_close("Tensor::sum", &[lhs.sum()], &[total], &[mag], m * k);
    let len = (m * k) as f64;
    // The mean adds one rounding (the division) to the sum's.
    assert_close(
        "Tensor::mean",
        &[lhs.mean()],
        &[total / len],
        &[mag / len],
        m * k + 1,
    );
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..ProptestConfig::default()
    })]

    #[test]
    fn tensor_api_matches_reference(case in tensor_case()) {
        check_tensor::<f32>(&case);
        check_tensor::<f64>(&case);
    }
}
