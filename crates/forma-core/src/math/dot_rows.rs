//! The few-output forward product `y[r][o] = dot(x[r], w[o])` (fewer than
//! [`LANES`](super::fixed::LANES) outputs, at least 8 inputs) for `f32`,
//! eight rows at a time, bit for bit [`reduce::dot`](super::reduce::dot).
//!
//! Why: row by row, each dot product ends in a horizontal sum of its eight
//! partial sums, a chain of shuffles and additions (and a store and reloads,
//! see `dot`) per row. The 100x32 by 32x1 forward product of the iris
//! network was 15% of its training step on a Zen 5 (`perf record`,
//! 2026-12-03), about 210 ns for 3,200 multiply-adds. Eight rows' partial
//! sums are eight vectors, and their eight horizontal sums are one
//! transpose-and-add tree of vector operations instead of eight: the
//! iris step 1.37 -> 1.26 µs (same Zen 5, one thread, criterion medians of
//! three alternating runs).
//!
//! Each lane performs `dot`'s operations in its order: the partial sums
//! `s[l] += x[8c + l] · w[8c + l]` (a multiplication, then an addition: no
//! fused multiply-add), the tail into `s[0]` in order, then
//! [`sum_lanes`](super::reduce::sum_lanes)' tree `(s[l] + s[l + 4])`, `+ 2`,
//! `+ 1`. Addition is commutative in IEEE arithmetic, so the tree's
//! pairings may take their operands in either order (NaN payloads aside).

use crate::Float;

/// Rows of `y` this module computed, `y[r] = W · x[r] + beta·y[r]` as
/// `fixed::matmul_nt` defines them: the first multiple of eight of the
/// batch when `E` is `f32`, `K >= 8`, `N < 8` and the CPU has AVX2 (at the
/// level [`isa::level`](super::isa::level) allows); 0 otherwise, and the
/// caller computes every row.
#[inline(always)]
pub(crate) fn nt_few_outputs<E: Float, const K: usize, const N: usize>(
    x: &[[E; K]],
    w: &[[E; K]; N],
    beta: E,
    y: &mut [[E; N]],
) -> usize {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if K >= 8 && N < 8 && x.len() >= 8 && x.len() == y.len() {
        use super::isa::{Level, level};
        use super::packed::{same, same_mut};
        let rows = x.len() / 8 * 8;
        let xs = same::<E, f32>(&x.as_flattened()[..rows * K]);
        let ws = same::<E, f32>(w.as_flattened());
        let ys = same_mut::<E, f32>(&mut y.as_flattened_mut()[..rows * N]);
        if let (Some(xs), Some(ws), Some(ys)) = (xs, ws, ys)
            && matches!(level(), Level::Avx512 | Level::Avx2)
        {
            // E is f32: the conversion is exact.
            let beta = beta.to_f64() as f32;
            // SAFETY: `level` reports AVX2 (or AVX-512, which comes with
            // it) only when the CPU has AVX2 and FMA.
            unsafe { x86::rows::<K>(N, xs, ws, beta, ys) };
            return rows;
        }
    }
    let _ = (x, w, beta, y);
    0
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) mod x86 {
    //! The AVX2 kernel: one 8-lane register of partial sums per row.
    use core::arch::x86_64::*;

    /// `y[r*n + o] = dot(x[r*k..][..k], w[o*k..][..k])` (plus `beta·y` as
    /// `fixed`'s `store` adds it) for every row, eight rows at a time.
    ///
    /// `K` is a constant so that the loops unroll and the loads take fixed
    /// offsets (with `k` a variable, bounds checks and loop counters were
    /// half the instructions).
    ///
    /// # Safety
    /// The CPU must have AVX2. (Lengths are checked: `K >= 8`, whole
    /// blocks of 8 rows, or it panics.)
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn rows<const K: usize>(
        n: usize,
        x: &[f32],
        w: &[f32],
        beta: f32,
        y: &mut [f32],
    ) {
        let m = y.len() / n.max(1);
        assert!(
            K >= 8 && n >= 1 && m.is_multiple_of(8) && y.len() == m * n && x.len() == m * K,
            "internal error: dot_rows::rows lengths"
        );
        assert!(w.len() == n * K, "internal error: dot_rows::rows weight");
        for (xb, yb) in x.chunks_exact(8 * K).zip(y.chunks_exact_mut(8 * n)) {
            for o in 0..n {
                let totals = block::<K>(xb, &w[o * K..(o + 1) * K]);
                for (r, &t) in totals.iter().enumerate() {
                    let d = &mut yb[r * n + o];
                    *d = if beta == 0.0 { t } else { t + beta * *d };
                }
            }
        }
    }

    /// The eight dot products of the rows of `xb` (8 rows of `K` values)
    /// with `w` (`K` values; lengths checked, or it panics).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn block<const K: usize>(xb: &[f32], w: &[f32]) -> [f32; 8] {
        assert!(
            xb.len() == 8 * K && w.len() == K,
            "internal error: dot_rows block"
        );
        let (xp, wp) = (xb.as_ptr(), w.as_ptr());
        let chunks = K / 8;
        let mut s = [_mm256_setzero_ps(); 8];
        for c in 0..chunks {
            // SAFETY (loads): 8c + 8 <= K, r < 8: within w and xb.
            let wv = unsafe { _mm256_loadu_ps(wp.add(8 * c)) };
            for (r, s) in s.iter_mut().enumerate() {
                let xv = unsafe { _mm256_loadu_ps(xp.add(r * K + 8 * c)) };
                *s = _mm256_add_ps(*s, _mm256_mul_ps(xv, wv));
            }
        }
        if !K.is_multiple_of(8) {
            // The tail into lane 0, in order, as `dot` adds it.
            for (r, s) in s.iter_mut().enumerate() {
                let mut s0 = _mm256_cvtss_f32(*s);
                for t in 8 * chunks..K {
                    s0 += xb[r * K + t] * w[t];
                }
                *s = _mm256_blend_ps::<1>(*s, _mm256_set1_ps(s0));
            }
        }
        // `s[l] + s[l + 4]` for two rows per register: [row a | row b].
        let t01 = half(s[0], s[1]);
        let t23 = half(s[2], s[3]);
        let t45 = half(s[4], s[5]);
        let t67 = half(s[6], s[7]);
        // `e = a0 + a2`, `f = a1 + a3`: [e0 f0 e2 f2 | e1 f1 e3 f3].
        let u0123 = ef(t01, t23);
        let u4567 = ef(t45, t67);
        // `e + f`: [t0 t2 t4 t6 | t1 t3 t5 t7].
        let z = _mm256_add_ps(
            _mm256_shuffle_ps::<0b10_00_10_00>(u0123, u4567),
            _mm256_shuffle_ps::<0b11_01_11_01>(u0123, u4567),
        );
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` holds 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), z) };
        [
            lanes[0], lanes[4], lanes[1], lanes[5], lanes[2], lanes[6], lanes[3], lanes[7],
        ]
    }

    /// `[a's s[l] + s[l + 4] | b's]` for `l < 4`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn half(a: __m256, b: __m256) -> __m256 {
        _mm256_add_ps(
            _mm256_permute2f128_ps::<0x20>(a, b),
            _mm256_permute2f128_ps::<0x31>(a, b),
        )
    }

    /// From `p = [a | b]` and `q = [c | d]` of [`half`]: lanes 0 and 1
    /// plus lanes 2 and 3 of each, `[p0+p2, p1+p3, q0+q2, q1+q3]` per half.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn ef(p: __m256, q: __m256) -> __m256 {
        _mm256_add_ps(
            _mm256_shuffle_ps::<0b01_00_01_00>(p, q),
            _mm256_shuffle_ps::<0b11_10_11_10>(p, q),
        )
    }
}

#[cfg(all(test, feature = "std", target_arch = "x86_64"))]
mod tests {
    use super::super::reduce::dot;
    use alloc::vec::Vec;

    fn values(n: usize, seed: usize) -> Vec<f32> {
        let special = [
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            1e30,
            -1e-30,
        ];
        (0..n)
            .map(|i| match (i * 13 + seed) % 29 {
                0 => special[(i / 29 + seed) % special.len()],
                _ => ((((i + seed) * 7919) % 2001) as f32 - 1000.0) / 97.0,
            })
            .collect()
    }

    /// Every output count, batches of one to twelve blocks, beta 0 and
    /// not, against `dot` row by row.
    fn check<const K: usize>() {
        let k = K;
        for n in 1..8 {
            for m in [8, 16, 96] {
                let (x, w) = (values(m * k, k), values(n * k, n + 1));
                for beta in [0.0, 0.5] {
                    let y0 = values(m * n, 3);
                    let mut y = y0.clone();
                    // SAFETY: the caller checked that the CPU has AVX2 and FMA.
                    unsafe { super::x86::rows::<K>(n, &x, &w, beta, &mut y) };
                    for r in 0..m {
                        for o in 0..n {
                            let t = dot(&x[r * k..(r + 1) * k], &w[o * k..(o + 1) * k]);
                            let d = y0[r * n + o];
                            let want = if beta == 0.0 { t } else { t + beta * d };
                            let got = y[r * n + o];
                            assert!(
                                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                                "k {k} n {n} m {m} beta {beta} row {r} output {o}: {got} != {want}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn eight_rows_at_a_time_give_the_dot_products_bits() {
        if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
            return;
        }
        // Widths around every chunk and tail boundary.
        check::<8>();
        check::<9>();
        check::<15>();
        check::<16>();
        check::<17>();
        check::<23>();
        check::<30>();
        check::<32>();
        check::<33>();
        check::<64>();
        check::<100>();
    }
}
