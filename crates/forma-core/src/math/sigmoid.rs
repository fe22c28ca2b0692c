//! The sigmoid of a buffer, in place, bit for bit
//! [`Activation::Sigmoid`]'s scalar formula.
//!
//! Why a kernel of its own: `1 / (1 + exp_fast(-x))` is a chain of about
//! sixty cycles of latency in some twenty-five vector instructions. A plain
//! loop, vectorised by LLVM, runs one such chain per iteration, and the
//! out-of-order window holds too little of the next iterations to overlap
//! them: on a Zen 3 the iris network's hidden sigmoid (3,200 values) took
//! about 15 cycles per AVX2 vector where its arithmetic needs about 8. The
//! x86 kernels here compute a block of vectors side by side, each step of the
//! formula for every vector of the block before the next step, so the
//! block's chains advance together. Measured on that Zen 3, 2026-12-02: a
//! standalone pass over 3,200 values (a copy included) 2.46 µs plain,
//! 1.88 µs in blocks of four AVX2 vectors; the iris training step (criterion
//! medians of four alternating runs) 5.75 -> 5.15 µs.
//!
//! Blocks of eight, and `vscalefps` for the `· 2^n` on AVX-512, measured on
//! a Zen 5 (AMD EPYC, 2026-12-03; the same standalone pass, best of 20 runs
//! of 1,000): AVX2 1.05 -> 0.91 µs, AVX-512 0.57 -> 0.51 µs; the iris step
//! (criterion medians of four alternating runs, one thread) 1.97 -> 1.86 µs
//! with AVX2 and 1.25 -> 1.20 µs with AVX-512. Eight AVX2 vectors do not
//! fit the sixteen registers (the compiled kernel spills to the stack), but
//! the spills cost less than the chains they overlap. Neither kernel is
//! bound by the division there (with a multiplication in its place the
//! pass was at most 6% faster): by its operations, about 25 a vector in
//! about 10 cycles (at the nominal clock).
//!
//! Each lane performs the scalar formula's operations in its order, with no
//! fused multiply-add, so the result is the same bit for bit at every
//! instruction-set level (tested below, and through the CPU device's
//! elementwise tests under `FORMA_ISA`), NaN payloads aside: a NaN input
//! gives a NaN, but which of two NaN operands a multiplication passes on
//! may differ between the kernel and the compiled scalar code.

use super::pointwise::Activation;
use crate::Float;

/// From this many values the AVX-512 kernel runs where the CPU has it,
/// below it the AVX2 one: one half block, four 16-lane vectors. The
/// sigmoid's own [`isa::AVX512_MIN`](super::isa::AVX512_MIN), counted in
/// values rather than in `multiversion!`'s units of work, as these kernels
/// are chosen here by hand. Shorter passes are a chain of latency, which
/// the masked 16-lane vectors lengthen. Measured on a Zen 4 (2026-12-02,
/// one pass timed back to back, best of five): 8 values 24.6 ns AVX2
/// against 25.9 AVX-512, 48 values 28.8 against 31.6, 64 values 32.7
/// against 29.9, 512 values 198 against 152; XOR's training step
/// (sigmoids of 8 and 4 values, criterion medians of five alternating
/// runs) 161 -> 149 ns.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
const SIGMOID_AVX512_MIN: usize = 64;

/// `y[i] = sigmoid(y[i])` for every element.
#[inline]
pub(crate) fn sigmoid_in_place<E: Float>(y: &mut [E]) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if let Some(y) = super::packed::same_mut::<E, f32>(&mut *y) {
        use super::isa::Level;
        match super::isa::level() {
            // SAFETY: `level` reports AVX-512F only when the CPU has it.
            Level::Avx512 if y.len() >= SIGMOID_AVX512_MIN => {
                return unsafe { x86::sigmoid_avx512(y) };
            }
            // SAFETY: `level` reports AVX2 only when the CPU has AVX2 and
            // FMA, and AVX-512 only when it has those too.
            Level::Avx512 | Level::Avx2 => return unsafe { x86::sigmoid_avx2(y) },
            Level::Portable => {}
        }
    }
    portable(y);
}

/// The scalar formula, element by element (vectorised by LLVM where it can).
#[inline(always)]
fn portable<E: Float>(y: &mut [E]) {
    for v in y {
        *v = Activation::Sigmoid.apply(*v);
    }
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod x86 {
    //! The kernel, written once over a small set of vector operations
    //! (`ops`), instantiated for AVX2 (8 lanes) and AVX-512F (16 lanes).
    //! Each operation module's functions carry their target feature and
    //! `#[inline]`, so they inline into the kernel compiled with the same
    //! feature.

    /// The constants of `Float::exp_fast` for `f32` (`element.rs`), which
    /// this kernel must follow exactly.
    const LOG2_E: f32 = core::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0;
    const Q: [f32; 4] = [8.312_66e-3, 4.188_982e-2, 1.666_711_3e-1, 4.999_923_4e-1];
    const LOW: f32 = -87.3;
    const HIGH: f32 = 88.3;

    macro_rules! ops {
        ($name:ident, $feat:literal, $v:ty, $lanes:literal,
         $set1:ident, $load:ident, $store:ident, $add:ident, $sub:ident, $mul:ident,
         $div:ident, $min:ident, $max:ident, $sets:ident, $xori:ident, $toi:ident,
         $tof:ident, { $($extra:item)* }) => {
            mod $name {
                use core::arch::x86_64::*;
                $($extra)*
                pub(super) type V = $v;
                pub(super) const LANES: usize = $lanes;
                #[target_feature(enable = $feat)]
                #[inline]
                pub(super) fn splat(v: f32) -> V {
                    $set1(v)
                }
                /// # Safety
                /// `p` is valid for reading `LANES` floats.
                #[target_feature(enable = $feat)]
                #[inline]
                pub(super) unsafe fn load(p: *const f32) -> V {
                    // SAFETY: the caller's promise.
                    unsafe { $load(p) }
                }
                /// # Safety
                /// `p` is valid for writing `LANES` floats.
                #[target_feature(enable = $feat)]
                #[inline]
                pub(super) unsafe fn store(p: *mut f32, v: V) {
                    // SAFETY: the caller's promise.
                    unsafe { $store(p, v) }
                }
                #[target_feature(enable = $feat)]
                #[inline]
                pub(super) fn add(a: V, b: V) -> V {
                    $add(a, b)
                }
                #[target_feature(enable = $feat)]
                #[inline]
                pub(super) fn sub(a: V, b: V) -> V {
                    $sub(a, b)
                }
                #[target_feature(enable = $feat)]
                #[inline]
                pub(super) fn mul(a: V, b: V) -> V {
                    $mul(a, b)
                }
                #[target_feature(enable = $feat)]
                #[inline]
                pub(super) fn div(a: V, b: V) -> V {
                    $div(a, b)
                }
                /// `f32::clamp(x, low, high)`: `max(low, x)` and `min(high, x)`
                /// return `x` when it is NaN, as `clamp` does.
                #[target_feature(enable = $feat)]
                #[inline]
                pub(super) fn clamp(x: V, low: V, high: V) -> V {
                    $min(high, $max(low, x))
                }
                /// `-x`: the sign bit flipped, as the scalar negation does.
                #[target_feature(enable = $feat)]
                #[inline]
                pub(super) fn neg(x: V) -> V {
                    $tof($xori($toi(x), $sets(i32::MIN)))
                }
            }
        };
    }
    ops!(
        avx2,
        "avx2,fma",
        __m256,
        8,
        _mm256_set1_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_add_ps,
        _mm256_sub_ps,
        _mm256_mul_ps,
        _mm256_div_ps,
        _mm256_min_ps,
        _mm256_max_ps,
        _mm256_set1_epi32,
        _mm256_xor_si256,
        _mm256_castps_si256,
        _mm256_castsi256_ps,
        {
            /// `e · 2^n` for `n = t - ROUND`, an integer in [-126, 127]:
            /// 2^n from `t`'s low mantissa bits,
            /// `f32::from_bits((t.to_bits() - bias) << 23)` (wrapping), as
            /// `exp_fast` builds it, then multiplied in.
            #[target_feature(enable = "avx2,fma")]
            #[inline]
            pub(super) fn times_pow2(e: V, t: V, _n: V, bias: u32) -> V {
                let bits = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(bias as i32));
                _mm256_mul_ps(e, _mm256_castsi256_ps(_mm256_slli_epi32::<23>(bits)))
            }
            /// The first `n` (< 8) floats from `p`, zeros in the other lanes.
            ///
            /// # Safety
            /// `p` is valid for reading `n` floats (masked-off lanes are not
            /// accessed and cannot fault).
            #[target_feature(enable = "avx2,fma")]
            #[inline]
            pub(super) unsafe fn load_first(p: *const f32, n: usize) -> V {
                // SAFETY: the caller's promise, for the lanes the mask keeps.
                unsafe { _mm256_maskload_ps(p, first(n)) }
            }
            /// Stores the first `n` (< 8) lanes of `v` at `p`.
            ///
            /// # Safety
            /// `p` is valid for writing `n` floats.
            #[target_feature(enable = "avx2,fma")]
            #[inline]
            pub(super) unsafe fn store_first(p: *mut f32, n: usize, v: V) {
                // SAFETY: the caller's promise, for the lanes the mask keeps.
                unsafe { _mm256_maskstore_ps(p, first(n), v) }
            }
            /// Lanes `0..n` set.
            #[target_feature(enable = "avx2,fma")]
            #[inline]
            fn first(n: usize) -> __m256i {
                let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), lanes)
            }
        }
    );
    ops!(
        avx512,
        "avx512f",
        __m512,
        16,
        _mm512_set1_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_add_ps,
        _mm512_sub_ps,
        _mm512_mul_ps,
        _mm512_div_ps,
        _mm512_min_ps,
        _mm512_max_ps,
        _mm512_set1_epi32,
        _mm512_xor_si512,
        _mm512_castps_si512,
        _mm512_castsi512_ps,
        {
            /// `e · 2^n` for an integer `n` in [-126, 127], by `vscalefps`:
            /// one instruction where building 2^n and multiplying takes
            /// three. The same value as `exp_fast`'s product bit for bit:
            /// 2^n is exact in f32, so both round the exact `e · 2^n` once
            /// (to a subnormal too, in the default rounding mode, which
            /// forma never changes).
            #[target_feature(enable = "avx512f")]
            #[inline]
            pub(super) fn times_pow2(e: V, _t: V, n: V, _bias: u32) -> V {
                _mm512_scalef_ps(e, n)
            }
            /// The first `n` (< 16) floats from `p`, zeros in the other lanes.
            ///
            /// # Safety
            /// `p` is valid for reading `n` floats (masked-off lanes are not
            /// accessed and cannot fault).
            #[target_feature(enable = "avx512f")]
            #[inline]
            pub(super) unsafe fn load_first(p: *const f32, n: usize) -> V {
                // SAFETY: the caller's promise, for the lanes the mask keeps.
                unsafe { _mm512_maskz_loadu_ps(first(n), p) }
            }
            /// Stores the first `n` (< 16) lanes of `v` at `p`.
            ///
            /// # Safety
            /// `p` is valid for writing `n` floats.
            #[target_feature(enable = "avx512f")]
            #[inline]
            pub(super) unsafe fn store_first(p: *mut f32, n: usize, v: V) {
                // SAFETY: the caller's promise, for the lanes the mask keeps.
                unsafe { _mm512_mask_storeu_ps(p, first(n), v) }
            }
            /// Lanes `0..n` set.
            #[inline]
            fn first(n: usize) -> __mmask16 {
                ((1u32 << n.min(16)) - 1) as __mmask16
            }
        }
    );

    macro_rules! kernel {
        ($name:ident, $feat:literal, $ops:ident, $block:literal) => {
            /// [`sigmoid_in_place`](super::sigmoid_in_place) for `f32`:
            /// blocks of `$block` vectors side by side, then at most one
            /// of half as many, then single vectors, then the last few
            /// values as one masked vector (a tiny layer's 4 outputs are
            /// one vector, not 4 scalar chains).
            ///
            /// # Safety
            /// The CPU must support the target features.
            #[target_feature(enable = $feat)]
            pub(super) unsafe fn $name(y: &mut [f32]) {
                use $ops::*;
                let (whole, rest) = (y.len() / LANES, y.len() % LANES);
                let p = y.as_mut_ptr();
                let mut at = 0;
                // Whole blocks, then one half block (a 64-value layer of
                // AVX-512 is four vectors side by side, not four chains one
                // after another), then single vectors.
                while at + $block <= whole {
                    // SAFETY: vectors at..at + $block are within y.
                    unsafe { in_place::<$block>(p, at) };
                    at += $block;
                }
                if at + $block / 2 <= whole {
                    // SAFETY: vectors at..at + $block / 2 are within y.
                    unsafe { in_place::<{ $block / 2 }>(p, at) };
                    at += $block / 2;
                }
                while at < whole {
                    // SAFETY: vector at is within y.
                    unsafe { in_place::<1>(p, at) };
                    at += 1;
                }
                if rest > 0 {
                    // SAFETY: the `rest` floats after the whole vectors are
                    // within y; rest < LANES.
                    let [v] = vectors([unsafe { load_first(p.add(whole * LANES), rest) }]);
                    // SAFETY: as for the load.
                    unsafe { store_first(p.add(whole * LANES), rest, v) };
                }

                /// The sigmoid of the `W` whole vectors from vector `at` of
                /// `p`, in place.
                ///
                /// # Safety
                /// `p` is valid for reading and writing `(at + W) · LANES`
                /// floats.
                #[target_feature(enable = $feat)]
                #[inline]
                unsafe fn in_place<const W: usize>(p: *mut f32, at: usize) {
                    let mut x = [splat(0.0); W];
                    for (i, x) in x.iter_mut().enumerate() {
                        // SAFETY: vector at + i < at + W is within the caller's promise.
                        *x = unsafe { load(p.add((at + i) * LANES)) };
                    }
                    for (i, v) in vectors(x).into_iter().enumerate() {
                        // SAFETY: as for the loads.
                        unsafe { store(p.add((at + i) * LANES), v) };
                    }
                }

                /// The sigmoid of `W` vectors, each step for all of them.
                #[target_feature(enable = $feat)]
                #[inline]
                fn vectors<const W: usize>(mut x: [V; W]) -> [V; W] {
                    // Plain loops over arrays of vectors, no closures: a
                    // closure is not reliably compiled with the feature.
                    let c = splat;
                    let (low, high, one) = (c(LOW), c(HIGH), c(1.0));
                    for x in x.iter_mut() {
                        *x = clamp(neg(*x), low, high);
                    }
                    let mut t = [one; W];
                    for i in 0..W {
                        t[i] = add(mul(x[i], c(LOG2_E)), c(ROUND));
                    }
                    let (mut r, mut n) = ([one; W], [one; W]);
                    for i in 0..W {
                        n[i] = sub(t[i], c(ROUND));
                        r[i] = sub(sub(x[i], mul(n[i], c(LN2_HI))), mul(n[i], c(LN2_LO)));
                    }
                    let mut q = [one; W];
                    for i in 0..W {
                        q[i] = add(mul(c(Q[0]), r[i]), c(Q[1]));
                    }
                    for coefficient in [Q[2], Q[3]] {
                        for i in 0..W {
                            q[i] = add(mul(q[i], r[i]), c(coefficient));
                        }
                    }
                    let bias = ROUND.to_bits().wrapping_sub(127);
                    for i in 0..W {
                        let e = add(add(mul(q[i], mul(r[i], r[i])), r[i]), one);
                        let e = times_pow2(e, t[i], n[i], bias);
                        x[i] = div(one, add(one, e));
                    }
                    x
                }
            }
        };
    }
    // Eight vectors a block on both (see the module's notes; on a Zen 4,
    // 2026-12-02, the iris step had taken 2.35 µs with AVX-512 blocks of
    // two, 2.28 with three and 2.26 with four; eight was not tried there).
    kernel!(sigmoid_avx2, "avx2,fma", avx2, 8);
    kernel!(sigmoid_avx512, "avx512f", avx512, 8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Values over the whole range, the clamp's edges, zeros, infinities
    /// and NaN.
    fn inputs(n: usize) -> Vec<f32> {
        let special = [
            0.0,
            -0.0,
            87.3,
            -87.3,
            88.3,
            -88.3,
            1e30,
            -1e30,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE,
        ];
        (0..n)
            .map(|i| match i % 7 {
                0 => special[(i / 7) % special.len()],
                _ => ((i * 7919 % 2001) as f32 - 1000.0) / 9.7,
            })
            .collect()
    }

    fn check(name: &str, run: impl Fn(&mut [f32])) {
        // Lengths around every block, half-block, vector and tail boundary
        // of both kernels (AVX2: blocks of 64 values, halves of 32;
        // AVX-512: 128 and 64).
        let around = [95, 96, 97, 100, 103, 107, 127, 128, 129, 191, 192, 193, 213];
        for n in (0..=70).chain(around).chain([255, 256, 257, 3200, 3203]) {
            let x = inputs(n);
            let want: Vec<u32> = x
                .iter()
                .map(|&v| Activation::Sigmoid.apply(v).to_bits())
                .collect();
            let mut y = x.clone();
            run(&mut y);
            let got: Vec<u32> = y.iter().map(|v| v.to_bits()).collect();
            assert_eq!(got, want, "{name}, {n} values");
        }
    }

    #[test]
    fn every_kernel_gives_the_scalar_formula_bit_for_bit() {
        check("dispatch", sigmoid_in_place);
        check("portable", portable);
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU has AVX2 and FMA.
                check("avx2", |y| unsafe { x86::sigmoid_avx2(y) });
            }
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F.
                check("avx512", |y| unsafe { x86::sigmoid_avx512(y) });
            }
        }
        // f64 takes the scalar formula (libm's exp) on every level.
        let mut y = [0.5f64, -3.0];
        sigmoid_in_place(&mut y);
        assert_eq!(y, [0.5f64, -3.0].map(|v| Activation::Sigmoid.apply(v)));
    }
}
