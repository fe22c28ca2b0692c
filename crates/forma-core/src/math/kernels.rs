//! Micro-kernels of the packed GEMM, and the unpacked kernel for products with
//! very few rows.

use super::gemm::FEW_ROWS;
use super::packed::{Isa, Operands, fold_abs_bits, store_row};
use crate::Float;

/// A register-blocked `MR x NR` tile kernel over packed panels.
pub(crate) trait Micro<E: Float> {
    /// Rows of a tile.
    const MR: usize;
    /// Columns of a tile.
    const NR: usize;
    /// A whole tile added into C: `c[r*ldc + j] = t[r][j] + beta·c[r*ldc +
    /// j]` (`t[r][j]` alone for beta 0) where `t[r][j] = Σ_p ap[p*MR + r]
    /// · bp[p*NR + j]` over the `kc`-deep panels, in the kernel's order of
    /// `p`; `beta·c` is a multiplication, then an addition (never fused),
    /// so the bits do not depend on how the tile is stored. The kernels
    /// add their tile into C directly (the x86 ones from their registers):
    /// through a tile on the stack, each of the four passes over k of a
    /// 1024³ product wrote and read every element of C once more.
    ///
    /// With `top`, the [`Float::abs_bits`] of each stored value are also
    /// folded into `top[j]`, the maximum of its column (the finiteness
    /// measure of a product's last pass): from the registers, as reading
    /// the tile back from C stalled on rows whose stores were not yet
    /// forwarded (on a Zen 5 the 50-30-1 step took 2.83 µs with no
    /// measure, 3.06 µs with C read back).
    ///
    /// C is a pointer, not a slice, because the tile may lie in a band of
    /// C's columns whose rows interleave with another thread's
    /// ([`Band`](super::band::Band)).
    ///
    /// # Safety
    /// The CPU must support the kernel's instruction set. `c` is valid for
    /// reading and writing `MR` rows of `NR` elements `ldc` apart, which
    /// nothing else accesses during the call
    /// ([`Band::address`](super::band::Band::address) gives such a
    /// pointer). (`ap` must hold `kc*MR` elements, `bp` `kc*NR`, `top`
    /// `NR` values, or it panics.)
    unsafe fn tile_to_c(
        kc: usize,
        ap: &[E],
        bp: &[E],
        c: *mut E,
        ldc: usize,
        beta: E,
        top: Option<&mut [E::AbsBits]>,
    ) {
        // SAFETY: the caller's promise for a whole tile is edge_to_c's for
        // MR rows of NR columns.
        unsafe { Self::edge_to_c(kc, ap, bp, c, ldc, beta, top, (Self::MR, Self::NR)) }
    }
    /// [`Micro::tile_to_c`] for an edge tile: only its first `rows <= MR`
    /// rows and `cols <= NR` columns are added into C (and measured), with
    /// the same operations, so the same bits. The x86 kernels store their
    /// registers with masks (AVX-512) or through one vector on the stack
    /// (AVX2, see `edge!`), and compute only the vectors of columns that
    /// hold some of `cols` (a 100-wide product in 32-wide tiles would
    /// compute 28 columns of zeros in its last tile). Through a whole tile
    /// on the stack and a copy of each row, the edge tiles were most of a
    /// 30x50x30 product's time (with AVX-512's 8x32 f32 tiles every tile
    /// of it is one).
    ///
    /// # Safety
    /// As [`Micro::tile_to_c`], with `c` valid for `rows` rows of `cols`
    /// elements. (`rows <= MR` and `cols <= NR`, or it panics.)
    #[allow(clippy::too_many_arguments)]
    unsafe fn edge_to_c(
        kc: usize,
        ap: &[E],
        bp: &[E],
        c: *mut E,
        ldc: usize,
        beta: E,
        top: Option<&mut [E::AbsBits]>,
        rows_cols: (usize, usize),
    );
    /// The side of the square blocks [`Micro::transpose`] moves in vector
    /// registers; 0 (the default) when it has none, and packing gathers
    /// element by element.
    const BLOCK: usize = 0;
    /// Packing's transpose: the runs `src[l*ls..l*ls + BLOCK]` for `l <
    /// lines` (the others read as zeros) become the columns of the rows
    /// `dst[q*dw..q*dw + BLOCK]`, of which the first `width` values are
    /// written. An f32 panel of 6 lines (the AVX2 kernels' `MR`) is one
    /// block of 6 of 8 lines (an f64 one, a block of 4 and one of 2);
    /// packed element by element instead, its loads, compares and selects
    /// were most of the packing time of a batch-1024 MNIST-size inference
    /// on a Zen 3 (perf).
    ///
    /// # Safety
    /// The CPU must support the kernel's instruction set. (Lengths are
    /// checked: `1 <= lines <= BLOCK`, `width <= BLOCK`, `width <= dw`,
    /// `src` must hold `(lines-1)*ls + BLOCK` elements and `dst`
    /// `(BLOCK-1)*dw + width`, or it panics.)
    unsafe fn transpose(
        src: &[E],
        ls: usize,
        lines: usize,
        dst: &mut [E],
        dw: usize,
        width: usize,
    ) {
        assert!((1..=Self::BLOCK).contains(&lines) && width <= Self::BLOCK && width <= dw);
        for q in 0..Self::BLOCK {
            for l in 0..width {
                dst[q * dw + l] = if l < lines { src[l * ls + q] } else { E::ZERO };
            }
        }
    }
}

/// Portable Rust, vectorised by LLVM for whatever the build targets.
pub(crate) struct Portable<const MR: usize, const NR: usize>;

impl<E: Float, const MR: usize, const NR: usize> Micro<E> for Portable<MR, NR> {
    const MR: usize = MR;
    const NR: usize = NR;
    unsafe fn edge_to_c(
        kc: usize,
        ap: &[E],
        bp: &[E],
        c: *mut E,
        ldc: usize,
        beta: E,
        top: Option<&mut [E::AbsBits]>,
        (rows, cols): (usize, usize),
    ) {
        assert!(
            rows <= MR && cols <= NR && top.as_ref().is_none_or(|t| t.len() >= NR),
            "internal error: an edge tile larger than a tile, or its measure short"
        );
        let mut acc = [[E::ZERO; NR]; MR];
        let (a_rows, _) = ap[..kc * MR].as_chunks::<MR>();
        let (b_rows, _) = bp[..kc * NR].as_chunks::<NR>();
        for (av, bv) in a_rows.iter().zip(b_rows) {
            for r in 0..MR {
                for j in 0..NR {
                    acc[r][j] += av[r] * bv[j];
                }
            }
        }
        let mut top = top;
        for (r, t) in acc.iter().take(rows).enumerate() {
            // SAFETY: row r < rows of the tile: cols elements at c + r·ldc,
            // valid and not otherwise accessed (the caller's promise).
            let out = unsafe { core::slice::from_raw_parts_mut(c.add(r * ldc), cols) };
            store_row(out, &t[..cols], beta);
            if let Some(top) = top.as_deref_mut() {
                fold_abs_bits(top, out);
            }
        }
    }
}

/// `C = A·B + beta·C` for `m <= FEW_ROWS` rows, without packing, compiled for
/// the best instruction set available (see [`small_m_portable`]).
#[cfg_attr(
    not(all(feature = "std", target_arch = "x86_64")),
    allow(unused_variables)
)]
pub(crate) fn small_m<E: Float>(op: Operands<'_, E>, c: &mut [E], isa: Isa) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    {
        use super::packed::Kernel;
        // The forward X·Wᵀ of a few rows: explicit dot-product kernels,
        // eight outputs at a time (the portable loop keeps one vector of
        // partial sums per output, a chain bound by the addition's latency).
        let gemv = op.sb.0 == 1 && op.sa.1 == 1 && op.beta == E::ZERO;
        // The same choice as the packed products' (one rule for both).
        let set = match Kernel::choose(isa) {
            Kernel::Avx512 => Some(x86::Gemv::Avx512),
            Kernel::Avx2 => Some(x86::Gemv::Avx2),
            Kernel::Portable => None,
        };
        if let Some(set) = set {
            // SAFETY: `Kernel::choose` picked `set` because the CPU
            // supports it.
            if gemv && unsafe { x86::gemv_rows(op, &mut *c, set) } {
                return;
            }
            // SAFETY: as above: AVX-512F, or AVX2 and FMA.
            unsafe {
                match set {
                    x86::Gemv::Avx512 => x86::small_m_avx512(op, c),
                    x86::Gemv::Avx2 => x86::small_m_avx2(op, c),
                }
            }
            return;
        }
    }
    small_m_portable(op, c);
}

/// For the forward `X·Wᵀ` (B's columns contiguous) each output is a dot
/// product of two contiguous rows; otherwise rows of B are accumulated into C
/// (axpy). Inlined into each instruction-set variant.
#[inline(always)]
pub(crate) fn small_m_portable<E: Float>(op: Operands<'_, E>, c: &mut [E]) {
    let Operands {
        m,
        k,
        n,
        a,
        sa,
        b,
        sb,
        beta,
    } = op;
    debug_assert!(m <= FEW_ROWS);
    for i in 0..m {
        let crow = &mut c[i * n..(i + 1) * n];
        if sb.0 == 1 && sa.1 == 1 {
            let arow = &a[i * sa.0..i * sa.0 + k];
            for (j, out) in crow.iter_mut().enumerate() {
                let d = super::reduce::dot(arow, &b[j * sb.1..j * sb.1 + k]);
                *out = if beta == E::ZERO { d } else { d + beta * *out };
            }
        } else if sb.1 == 1 {
            if beta == E::ZERO {
                crow.fill(E::ZERO);
            } else {
                crow.iter_mut().for_each(|v| *v *= beta);
            }
            for p in 0..k {
                let x = a[i * sa.0 + p * sa.1];
                for (o, &w) in crow.iter_mut().zip(&b[p * sb.0..p * sb.0 + n]) {
                    *o += x * w;
                }
            }
        } else {
            for (j, out) in crow.iter_mut().enumerate() {
                let mut d = E::ZERO;
                for p in 0..k {
                    d += a[i * sa.0 + p * sa.1] * b[p * sb.0 + j * sb.1];
                }
                *out = if beta == E::ZERO { d } else { d + beta * *out };
            }
        }
    }
}

/// AVX-512 and AVX2+FMA kernels written with `core::arch` intrinsics, so that
/// the accumulators stay in registers and every update is one fused multiply-add.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) mod x86 {
    use core::arch::x86_64::*;

    use super::{Micro, small_m_portable};
    use crate::Float;
    use crate::math::packed::Operands;

    /// The instruction set of a few-row product ([`gemv_rows`],
    /// `small_m_avx512` / `small_m_avx2`).
    #[derive(Clone, Copy)]
    pub(crate) enum Gemv {
        /// AVX-512F: 16 f32 or 8 f64 lanes.
        Avx512,
        /// AVX2 and FMA: 8 f32 or 4 f64 lanes.
        Avx2,
    }

    /// `c[i][j] = a_i · b_j` for the forward `X·Wᵀ` with few rows, when `E` is
    /// f32 or f64 and the CPU has the instruction set `isa` (the caller
    /// checked): eight outputs at a time, so eight independent FMA chains
    /// share each load of `a_i`. Whether it ran: not for another element
    /// type (C untouched then).
    ///
    /// # Safety
    /// The CPU must support `isa` (AVX-512F, or AVX2 and FMA).
    pub(crate) unsafe fn gemv_rows<E: Float>(op: Operands<'_, E>, c: &mut [E], isa: Gemv) -> bool {
        use crate::math::packed::{same, same_mut};
        let (m, k, n, ra, lb) = (op.m, op.k, op.n, op.sa.0, op.sb.1);
        if let (Some(a), Some(b)) = (same::<E, f32>(op.a), same::<E, f32>(op.b)) {
            let Some(c) = same_mut::<E, f32>(c) else {
                unreachable!("a and c have the same element type")
            };
            for i in 0..m {
                let (x, out) = (&a[i * ra..], &mut c[i * n..(i + 1) * n]);
                // SAFETY: the caller guarantees the instruction set;
                // bounds are checked inside.
                match isa {
                    Gemv::Avx512 => unsafe { gemv_f32(k, x, b, lb, out) },
                    Gemv::Avx2 => unsafe { gemv_f32_avx2(k, x, b, lb, out) },
                }
            }
            return true;
        }
        if let (Some(a), Some(b)) = (same::<E, f64>(op.a), same::<E, f64>(op.b)) {
            let Some(c) = same_mut::<E, f64>(c) else {
                unreachable!("a and c have the same element type")
            };
            for i in 0..m {
                let (x, out) = (&a[i * ra..], &mut c[i * n..(i + 1) * n]);
                // SAFETY: as above.
                match isa {
                    Gemv::Avx512 => unsafe { gemv_f64(k, x, b, lb, out) },
                    Gemv::Avx2 => unsafe { gemv_f64_avx2(k, x, b, lb, out) },
                }
            }
            return true;
        }
        false
    }

    /// The sum of a ymm register's eight f32 lanes.
    #[target_feature(enable = "avx")]
    #[inline]
    fn reduce_add_ps256(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
    }

    /// The sum of a ymm register's four f64 lanes.
    #[target_feature(enable = "avx")]
    #[inline]
    fn reduce_add_pd256(v: __m256d) -> f64 {
        let s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
        _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)))
    }

    /// How far ahead in each row [`gemv_rows`]'s kernels ask for the
    /// cache: 512 bytes, eight 64-byte lines. The hardware prefetchers
    /// alone kept a 784x256 f32 weight (800 KB, in L2) at 86-90 GB/s on a
    /// 2-vCPU Xeon with AVX-512 (2026-12-02, one thread, best of three
    /// runs of 50,000 products); asking 4, 8 and 16 lines ahead gave 95-97,
    /// 96-98 and 93-94 GB/s (and a 200 KB weight 87 -> 97 GB/s at 8).
    /// Once per line: the AVX2 kernels' vectors are half a line, and asking
    /// at each of them took their 92 GB/s down to 83-85 (once a line: 96-97).
    const GEMV_AHEAD_BYTES: usize = 512;

    macro_rules! gemv {
        ($name:ident, $t:ty, $feat:literal, $lanes:literal, $zero:ident, $load:ident, $fma:ident,
         $reduce:ident) => {
            /// `out[j] = x[..k] · w[j*ls..j*ls + k]`.
            #[target_feature(enable = $feat)]
            unsafe fn $name(k: usize, x: &[$t], w: &[$t], ls: usize, out: &mut [$t]) {
                let n = out.len();
                assert!(x.len() >= k && (n == 0 || w.len() >= (n - 1) * ls + k));
                let chunks = k / $lanes;
                let tail = chunks * $lanes;
                // One row's sum: its lanes reduced, then the tail past the
                // last whole vector, in order.
                let finish = |row: usize, acc| {
                    let w = &w[row * ls..row * ls + k];
                    let mut s = $reduce(acc);
                    for p in tail..k {
                        s += x[p] * w[p];
                    }
                    s
                };
                // In vectors (one vector of AVX-512 is a line).
                let ahead = GEMV_AHEAD_BYTES / size_of::<$t>() / $lanes;
                let per_line = (64 / size_of::<$t>() / $lanes).max(1);
                let mut j = 0;
                // Eight rows at a time, a constant count so that the eight
                // accumulators stay in registers.
                while j + 8 <= n {
                    let mut acc = [$zero(); 8];
                    for ch in 0..chunks {
                        // SAFETY: ch*lanes + lanes <= k <= x.len(), and row
                        // j+q < n starts at (j+q)*ls with k elements in w.
                        let xv = unsafe { $load(x.as_ptr().add(ch * $lanes)) };
                        for q in 0..8 {
                            if ch % per_line == 0 && ch + ahead < chunks {
                                let at = (j + q) * ls + (ch + ahead) * $lanes;
                                // SAFETY: a prefetch is a hint that never
                                // faults nor changes memory; `at` is within
                                // row j+q (ch + ahead < chunks).
                                unsafe { _mm_prefetch::<_MM_HINT_T0>(w.as_ptr().add(at).cast()) };
                            }
                            let wv = unsafe { $load(w.as_ptr().add((j + q) * ls + ch * $lanes)) };
                            acc[q] = $fma(xv, wv, acc[q]);
                        }
                    }
                    for q in 0..8 {
                        out[j + q] = finish(j + q, acc[q]);
                    }
                    j += 8;
                }
                // The last rows one at a time.
                while j < n {
                    let mut acc = $zero();
                    for ch in 0..chunks {
                        // SAFETY: as above, for row j < n.
                        let xv = unsafe { $load(x.as_ptr().add(ch * $lanes)) };
                        let wv = unsafe { $load(w.as_ptr().add(j * ls + ch * $lanes)) };
                        acc = $fma(xv, wv, acc);
                    }
                    out[j] = finish(j, acc);
                    j += 1;
                }
            }
        };
    }
    gemv!(
        gemv_f32,
        f32,
        "avx512f",
        16,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_fmadd_ps,
        _mm512_reduce_add_ps
    );
    gemv!(
        gemv_f64,
        f64,
        "avx512f",
        8,
        _mm512_setzero_pd,
        _mm512_loadu_pd,
        _mm512_fmadd_pd,
        _mm512_reduce_add_pd
    );
    gemv!(
        gemv_f32_avx2,
        f32,
        "avx2,fma",
        8,
        _mm256_setzero_ps,
        _mm256_loadu_ps,
        _mm256_fmadd_ps,
        reduce_add_ps256
    );
    gemv!(
        gemv_f64_avx2,
        f64,
        "avx2,fma",
        4,
        _mm256_setzero_pd,
        _mm256_loadu_pd,
        _mm256_fmadd_pd,
        reduce_add_pd256
    );

    /// [`small_m_portable`] compiled for AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn small_m_avx512<E: Float>(op: Operands<'_, E>, c: &mut [E]) {
        small_m_portable(op, c)
    }

    /// [`small_m_portable`] compiled for AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn small_m_avx2<E: Float>(op: Operands<'_, E>, c: &mut [E]) {
        small_m_portable(op, c)
    }

    /// f32, 8 x 32 tile: 16 zmm accumulators.
    pub(crate) struct Avx512F32;
    /// f64, 8 x 16 tile: 16 zmm accumulators.
    pub(crate) struct Avx512F64;
    /// f32, 6 x 16 tile: 12 ymm accumulators.
    pub(crate) struct Avx2F32;
    /// f64, 6 x 8 tile: 12 ymm accumulators.
    pub(crate) struct Avx2F64;

    /// An 8 x 8 f32 transpose in ymm registers (unpack, shuffle, swap the
    /// 128-bit halves): see [`Micro::transpose`].
    ///
    /// # Safety
    /// The CPU must support AVX2. Lengths are checked. Inlined into the
    /// packing loops, which are compiled for AVX2 or AVX-512 (a call per
    /// block cost a tenth of the MNIST-size step); `pack` passes a whole
    /// block's `lines` and `width` as constants, so their tests fold.
    #[inline(always)]
    unsafe fn transpose8_f32(
        src: &[f32],
        ls: usize,
        lines: usize,
        dst: &mut [f32],
        dw: usize,
        width: usize,
    ) {
        assert!((1..=8).contains(&lines) && width <= 8 && width <= dw);
        assert!(src.len() >= (lines - 1) * ls + 8 && dst.len() >= 7 * dw + width);
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
        // SAFETY (whole block): rows l*ls..l*ls+8 of src for l < lines, and
        // q*dw..q*dw+width of dst for q < 8, are in bounds (asserted above;
        // a masked store writes only the lanes below width; an unmasked one
        // of a short row ends at or below 7*dw + width, see below); unaligned.
        unsafe {
            let mut r = [_mm256_setzero_ps(); 8];
            for (l, row) in r.iter_mut().enumerate().take(lines) {
                *row = _mm256_loadu_ps(s.add(l * ls));
            }
            // Pairs of lines interleaved, then quads: s0 holds element 0 (low
            // half) and 4 (high half) of lines 0-3, s1 elements 1 and 5, ...
            let (t0, t1) = (
                _mm256_unpacklo_ps(r[0], r[1]),
                _mm256_unpackhi_ps(r[0], r[1]),
            );
            let (t2, t3) = (
                _mm256_unpacklo_ps(r[2], r[3]),
                _mm256_unpackhi_ps(r[2], r[3]),
            );
            let (t4, t5) = (
                _mm256_unpacklo_ps(r[4], r[5]),
                _mm256_unpackhi_ps(r[4], r[5]),
            );
            let (t6, t7) = (
                _mm256_unpacklo_ps(r[6], r[7]),
                _mm256_unpackhi_ps(r[6], r[7]),
            );
            let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
            let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
            let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
            let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
            let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
            let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
            let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
            let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
            let rows = [
                _mm256_permute2f128_ps::<0x20>(s0, s4),
                _mm256_permute2f128_ps::<0x20>(s1, s5),
                _mm256_permute2f128_ps::<0x20>(s2, s6),
                _mm256_permute2f128_ps::<0x20>(s3, s7),
                _mm256_permute2f128_ps::<0x31>(s0, s4),
                _mm256_permute2f128_ps::<0x31>(s1, s5),
                _mm256_permute2f128_ps::<0x31>(s2, s6),
                _mm256_permute2f128_ps::<0x31>(s3, s7),
            ];
            if width == 8 {
                for (q, &row) in rows.iter().enumerate() {
                    _mm256_storeu_ps(d.add(q * dw), row);
                }
            } else {
                let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(width as i32), lane);
                // Rows back to back (a 6-line panel): each row but the last
                // stored whole, its lanes past `width` landing in the next
                // row's first lanes, which the next store overwrites (8 -
                // width <= width, and row q < 7 ends at q*dw + 8 <= 7*dw +
                // width). Masked stores, 8 in a row, cost a third of this
                // packing on a Zen 3.
                let back_to_back = dw == width && width >= 4;
                for (q, &row) in rows.iter().enumerate() {
                    if back_to_back && q < 7 {
                        _mm256_storeu_ps(d.add(q * dw), row);
                    } else {
                        _mm256_maskstore_ps(d.add(q * dw), mask, row);
                    }
                }
            }
        }
    }

    /// A 4 x 4 f64 transpose in ymm registers: see [`Micro::transpose`]
    /// and [`transpose8_f32`].
    ///
    /// # Safety
    /// As for [`transpose8_f32`], with 4 for 8.
    #[inline(always)]
    unsafe fn transpose4_f64(
        src: &[f64],
        ls: usize,
        lines: usize,
        dst: &mut [f64],
        dw: usize,
        width: usize,
    ) {
        assert!((1..=4).contains(&lines) && width <= 4 && width <= dw);
        assert!(src.len() >= (lines - 1) * ls + 4 && dst.len() >= 3 * dw + width);
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
        // SAFETY (whole block): as in transpose8_f32, for l, q < 4.
        unsafe {
            let mut r = [_mm256_setzero_pd(); 4];
            for (l, row) in r.iter_mut().enumerate().take(lines) {
                *row = _mm256_loadu_pd(s.add(l * ls));
            }
            let (t0, t1) = (
                _mm256_unpacklo_pd(r[0], r[1]),
                _mm256_unpackhi_pd(r[0], r[1]),
            );
            let (t2, t3) = (
                _mm256_unpacklo_pd(r[2], r[3]),
                _mm256_unpackhi_pd(r[2], r[3]),
            );
            let rows = [
                _mm256_permute2f128_pd::<0x20>(t0, t2),
                _mm256_permute2f128_pd::<0x20>(t1, t3),
                _mm256_permute2f128_pd::<0x31>(t0, t2),
                _mm256_permute2f128_pd::<0x31>(t1, t3),
            ];
            if width == 4 {
                for (q, &row) in rows.iter().enumerate() {
                    _mm256_storeu_pd(d.add(q * dw), row);
                }
            } else if width == 2 {
                // The last 2 of a 6-line panel: the low halves, without
                // the masked stores (slow on a Zen 3).
                for (q, &row) in rows.iter().enumerate() {
                    _mm_storeu_pd(d.add(q * dw), _mm256_castpd256_pd128(row));
                }
            } else {
                let lane = _mm256_setr_epi64x(0, 1, 2, 3);
                let mask = _mm256_cmpgt_epi64(_mm256_set1_epi64x(width as i64), lane);
                for (q, &row) in rows.iter().enumerate() {
                    _mm256_maskstore_pd(d.add(q * dw), mask, row);
                }
            }
        }
    }

    macro_rules! kernel {
        ($name:ident, $t:ty, $mr:literal, $lanes:literal, $vecs:literal, $feat:literal,
         $zero:ident, $load:ident, $set1:ident, $fma:ident, $store:ident,
         $add:ident, $mul:ident, $block:literal, $transpose:ident) => {
            impl Micro<$t> for $name {
                const MR: usize = $mr;
                const NR: usize = $lanes * $vecs;
                const BLOCK: usize = $block;
                #[inline(always)]
                unsafe fn transpose(
                    src: &[$t],
                    ls: usize,
                    lines: usize,
                    dst: &mut [$t],
                    dw: usize,
                    width: usize,
                ) {
                    // SAFETY: the caller guarantees the kernel's instruction
                    // set, which includes AVX2; the lengths are checked inside.
                    unsafe { $transpose(src, ls, lines, dst, dw, width) }
                }
                unsafe fn tile_to_c(
                    kc: usize,
                    ap: &[$t],
                    bp: &[$t],
                    c: *mut $t,
                    ldc: usize,
                    beta: $t,
                    top: Option<&mut [<$t as Float>::AbsBits]>,
                ) {
                    let top = panels_and_top(kc, ap, bp, top);
                    // SAFETY: the caller guarantees the CPU feature and C's
                    // tile; the panels' lengths are checked above.
                    unsafe {
                        kernel_to_c::<$vecs, false>(
                            kc,
                            ap.as_ptr(),
                            bp.as_ptr(),
                            c,
                            ldc,
                            beta,
                            top,
                            ($mr, NR),
                        )
                    }
                }
                unsafe fn edge_to_c(
                    kc: usize,
                    ap: &[$t],
                    bp: &[$t],
                    c: *mut $t,
                    ldc: usize,
                    beta: $t,
                    top: Option<&mut [<$t as Float>::AbsBits]>,
                    (rows, cols): (usize, usize),
                ) {
                    assert!(
                        rows <= $mr && cols <= NR,
                        "internal error: an edge tile larger than a tile"
                    );
                    let top = panels_and_top(kc, ap, bp, top);
                    let (ap, bp) = (ap.as_ptr(), bp.as_ptr());
                    // SAFETY: the caller guarantees the CPU feature and C's
                    // rows x cols block; the panels' lengths are checked
                    // above, and the sizes just now.
                    unsafe {
                        if cols <= $lanes {
                            kernel_to_c::<1, true>(kc, ap, bp, c, ldc, beta, top, (rows, cols))
                        } else {
                            kernel_to_c::<$vecs, true>(kc, ap, bp, c, ldc, beta, top, (rows, cols))
                        }
                    }
                }
            }
            /// Columns of a tile.
            const NR: usize = $lanes * $vecs;
            // `edge_to_c` computes one vector of columns or all of them:
            // every width up to NR only with two vectors a row.
            const _: () = assert!($vecs == 2);
            /// Checks that the panels hold `kc` rows and `top` (if any) `NR`
            /// values, and gives `top` as [`kernel_to_c`] takes it.
            #[inline(always)]
            fn panels_and_top(
                kc: usize,
                ap: &[$t],
                bp: &[$t],
                top: Option<&mut [<$t as Float>::AbsBits]>,
            ) -> *mut <$t as Float>::AbsBits {
                assert!(
                    ap.len() >= kc * $mr
                        && bp.len() >= kc * NR
                        && top.as_ref().is_none_or(|t| t.len() >= NR)
                );
                top.map_or(core::ptr::null_mut(), |t| t.as_mut_ptr())
            }
            /// `acc[r][v] += A panel column r · B panel vector v` over the
            /// `kc`-deep slice.
            macro_rules! accumulate {
                ($kc:expr, $ap:expr, $bp:expr, $acc:ident, $v_count:expr) => {
                    for p in 0..$kc {
                        // SAFETY (whole block): p < kc and V <= $vecs, so at
                        // most p*NR + NR <= kc*NR elements of bp and p*MR + MR
                        // <= kc*MR of ap are read.
                        let b: [_; $v_count] = core::array::from_fn(|v| unsafe {
                            $load($bp.add(p * $lanes * $vecs + v * $lanes))
                        });
                        for r in 0..$mr {
                            let a = $set1(unsafe { *$ap.add(p * $mr + r) });
                            for v in 0..$v_count {
                                $acc[r][v] = $fma(a, b[v], $acc[r][v]);
                            }
                        }
                    }
                };
            }
            /// [`Micro::tile_to_c`] and [`Micro::edge_to_c`]: the tile's
            /// registers added into C (`acc + beta·c`, a multiplication then
            /// an addition, as the store of a tile's rows does), its first
            /// `V` vectors of columns (`V` is `$vecs`, or 1 for an edge tile
            /// of at most one vector).
            ///
            /// Without `EDGE`, the whole `MR x NR` tile (`rows` and `cols`
            /// are not read). With it, only the first `rows` rows and `cols`
            /// columns: the last vector of a row stored with a mask when
            /// `cols` ends inside it (the masked-out lanes of C are neither
            /// read nor written, nor measured).
            ///
            /// With `top` not null, the stored values' absolute bits are
            /// folded into its column maxima.
            ///
            /// # Safety
            /// The CPU must support the kernel's instruction set; `ap` and
            /// `bp` valid for `kc` panel rows, `c` for `MR` rows of `NR`
            /// elements `ldc` apart (with `EDGE`, `rows <= MR` rows of
            /// `(V-1)·lanes < cols <= V·lanes` elements), `top` null or
            /// valid for `NR` values.
            #[target_feature(enable = $feat)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn kernel_to_c<const V: usize, const EDGE: bool>(
                kc: usize,
                ap: *const $t,
                bp: *const $t,
                c: *mut $t,
                ldc: usize,
                beta: $t,
                top: *mut <$t as Float>::AbsBits,
                (rows, cols): (usize, usize),
            ) {
                let mut acc = [[$zero(); V]; $mr];
                accumulate!(kc, ap, bp, acc, V);
                let beta_v = $set1(beta);
                // The lanes of the last vector that lie in C (all when
                // `cols` ends at its end).
                let tail = cols - (V - 1) * $lanes;
                let masked = EDGE && tail < $lanes;
                let mask = edge::first(tail);
                let mut most = [bits::zero(); V];
                for r in 0..$mr {
                    if EDGE && r >= rows {
                        break;
                    }
                    for v in 0..V {
                        // SAFETY: row r of C's block holds more than v*lanes
                        // elements from c + r*ldc (the caller's promise).
                        let at = unsafe { c.add(r * ldc + v * $lanes) };
                        let part = masked && v + 1 == V;
                        let t = if beta == 0.0 {
                            acc[r][v]
                        } else {
                            // SAFETY: `at` is within C, as above, and a
                            // masked load reads only the mask's lanes, which
                            // are within the row.
                            let old = unsafe {
                                if part {
                                    edge::load(at, mask)
                                } else {
                                    $load(at)
                                }
                            };
                            $add(acc[r][v], $mul(beta_v, old))
                        };
                        if part {
                            // SAFETY: as for the load: only the lanes in C.
                            unsafe { edge::store(at, mask, t) };
                            most[v] = bits::max(most[v], edge::keep(bits::abs(t), mask));
                        } else {
                            // SAFETY: a whole vector at `at` is within C.
                            unsafe { $store(at, t) };
                            most[v] = bits::max(most[v], bits::abs(t));
                        }
                    }
                }
                if !top.is_null() {
                    for (v, &most) in most.iter().enumerate() {
                        // SAFETY: top holds NR >= (v+1)*lanes values.
                        unsafe { bits::fold(top.add(v * $lanes), most) };
                    }
                }
            }
        };
    }

    /// The kernel's finiteness measure for one vector type: a module
    /// `bits` with [`Float::abs_bits`] of a vector (`abs`), their maxima
    /// (`max`, unsigned, as `AbsBits` orders them), and `fold`, which
    /// merges a vector of maxima into `top`'s lanes in memory.
    macro_rules! bits {
        ($feat:literal, $fv:ty, $iv:ty, $ut:ty, $zero:ident, |$v:ident| $abs:expr,
         |$a:ident, $b:ident| $max:expr, $load:ident, $store:ident) => {
            mod bits {
                use core::arch::x86_64::*;
                #[target_feature(enable = $feat)]
                #[inline]
                pub(super) fn zero() -> $iv {
                    $zero()
                }
                #[target_feature(enable = $feat)]
                #[inline]
                pub(super) fn abs($v: $fv) -> $iv {
                    $abs
                }
                #[target_feature(enable = $feat)]
                #[inline]
                pub(super) fn max($a: $iv, $b: $iv) -> $iv {
                    $max
                }
                /// `top[l] = max(top[l], m[l])` for the vector's lanes.
                ///
                /// # Safety
                /// `top` is valid for reading and writing a vector's lanes.
                #[target_feature(enable = $feat)]
                #[inline]
                pub(super) unsafe fn fold(top: *mut $ut, m: $iv) {
                    // SAFETY: the caller's promise.
                    let m = max(unsafe { $load(top.cast()) }, m);
                    // SAFETY: the caller's promise.
                    unsafe { $store(top.cast(), m) }
                }
            }
        };
    }

    /// The masked access to the last vector of an edge tile's row, for one
    /// vector type: a module `edge` with `first(n)`, the mask of a vector's
    /// first `n` lanes (all of them for `n >= lanes`); `load`, which reads
    /// the mask's lanes (the others are zero) and `store`, which writes
    /// them, neither touching memory under the other lanes; and `keep`,
    /// which zeroes the other lanes of a vector of absolute bits.
    ///
    /// With AVX-512 these are masked loads and stores, which never touch
    /// (nor fault on) the memory under masked-out lanes. AVX2's `vmaskmov`
    /// is not used: AMD documents its faults on masked-out elements as
    /// implementation dependent (the last row of C may end a page), and
    /// its store is slow on a Zen 3. The AVX2 mask is the lane count with
    /// a lane mask for `keep`, and the lanes go through a vector on the
    /// stack, copied one by one.
    macro_rules! edge {
        ($feat:literal, $t:ty, $fv:ty, $iv:ty, $mask:ty, |$n:ident| $first:expr,
         |$at:ident, $m:ident| $load:expr, |$sat:ident, $sm:ident, $v:ident| $store:expr,
         |$b:ident, $km:ident| $keep:expr) => {
            mod edge {
                use core::arch::x86_64::*;
                #[target_feature(enable = $feat)]
                #[inline]
                pub(super) fn first($n: usize) -> $mask {
                    $first
                }
                /// # Safety
                /// The mask's lanes at `at` are valid for reading.
                #[target_feature(enable = $feat)]
                #[inline]
                pub(super) unsafe fn load($at: *const $t, $m: $mask) -> $fv {
                    // SAFETY: the caller's promise; the other lanes are not
                    // accessed (see the macro's doc).
                    unsafe { $load }
                }
                /// # Safety
                /// The mask's lanes at `at` are valid for writing.
                #[target_feature(enable = $feat)]
                #[inline]
                pub(super) unsafe fn store($sat: *mut $t, $sm: $mask, $v: $fv) {
                    // SAFETY: as for `load`.
                    unsafe { $store }
                }
                #[target_feature(enable = $feat)]
                #[inline]
                pub(super) fn keep($b: $iv, $km: $mask) -> $iv {
                    $keep
                }
            }
        };
    }

    /// `n` values copied one by one from `from` to `to`: an AVX2 edge
    /// tail's lanes between C and a vector on the stack (see `edge!`),
    /// touching nothing past them.
    ///
    /// # Safety
    /// `from` is valid for reading and `to` for writing `n` values.
    #[inline(always)]
    unsafe fn tail_copy<T: Copy>(from: *const T, to: *mut T, n: usize) {
        for l in 0..n {
            // SAFETY: l < n, the caller's promise.
            unsafe { *to.add(l) = *from.add(l) };
        }
    }

    mod f32_512 {
        use super::*;
        bits!(
            "avx512f",
            __m512,
            __m512i,
            u32,
            _mm512_setzero_si512,
            |v| _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(i32::MAX)),
            |a, b| _mm512_max_epu32(a, b),
            _mm512_loadu_si512,
            _mm512_storeu_si512
        );
        edge!(
            "avx512f",
            f32,
            __m512,
            __m512i,
            __mmask16,
            |n| ((1u32 << n.min(16)) - 1) as __mmask16,
            |at, m| _mm512_maskz_loadu_ps(m, at),
            |at, m, v| _mm512_mask_storeu_ps(at, m, v),
            |b, m| _mm512_maskz_mov_epi32(m, b)
        );
        kernel!(
            Avx512F32,
            f32,
            8,
            16,
            2,
            "avx512f",
            _mm512_setzero_ps,
            _mm512_loadu_ps,
            _mm512_set1_ps,
            _mm512_fmadd_ps,
            _mm512_storeu_ps,
            _mm512_add_ps,
            _mm512_mul_ps,
            8,
            transpose8_f32
        );
    }
    mod f64_512 {
        use super::*;
        bits!(
            "avx512f",
            __m512d,
            __m512i,
            u64,
            _mm512_setzero_si512,
            |v| _mm512_and_si512(_mm512_castpd_si512(v), _mm512_set1_epi64(i64::MAX)),
            |a, b| _mm512_max_epu64(a, b),
            _mm512_loadu_si512,
            _mm512_storeu_si512
        );
        edge!(
            "avx512f",
            f64,
            __m512d,
            __m512i,
            __mmask8,
            |n| ((1u32 << n.min(8)) - 1) as __mmask8,
            |at, m| _mm512_maskz_loadu_pd(m, at),
            |at, m, v| _mm512_mask_storeu_pd(at, m, v),
            |b, m| _mm512_maskz_mov_epi64(m, b)
        );
        kernel!(
            Avx512F64,
            f64,
            8,
            8,
            2,
            "avx512f",
            _mm512_setzero_pd,
            _mm512_loadu_pd,
            _mm512_set1_pd,
            _mm512_fmadd_pd,
            _mm512_storeu_pd,
            _mm512_add_pd,
            _mm512_mul_pd,
            4,
            transpose4_f64
        );
    }
    mod f32_256 {
        use super::*;
        bits!(
            "avx2,fma",
            __m256,
            __m256i,
            u32,
            _mm256_setzero_si256,
            |v| _mm256_and_si256(_mm256_castps_si256(v), _mm256_set1_epi32(i32::MAX)),
            |a, b| _mm256_max_epu32(a, b),
            _mm256_loadu_si256,
            _mm256_storeu_si256
        );
        edge!(
            "avx2,fma",
            f32,
            __m256,
            __m256i,
            (usize, __m256i),
            |n| (
                n.min(8),
                _mm256_cmpgt_epi32(
                    _mm256_set1_epi32(n.min(8) as i32),
                    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)
                )
            ),
            |at, m| {
                let mut lanes = [0.0f32; 8];
                super::super::tail_copy(at, lanes.as_mut_ptr(), m.0);
                _mm256_loadu_ps(lanes.as_ptr())
            },
            |at, m, v| {
                let mut lanes = [0.0f32; 8];
                _mm256_storeu_ps(lanes.as_mut_ptr(), v);
                super::super::tail_copy(lanes.as_ptr(), at, m.0)
            },
            |b, m| _mm256_and_si256(b, m.1)
        );
        kernel!(
            Avx2F32,
            f32,
            6,
            8,
            2,
            "avx2,fma",
            _mm256_setzero_ps,
            _mm256_loadu_ps,
            _mm256_set1_ps,
            _mm256_fmadd_ps,
            _mm256_storeu_ps,
            _mm256_add_ps,
            _mm256_mul_ps,
            8,
            transpose8_f32
        );
    }
    mod f64_256 {
        use super::*;
        // Absolute bits are below 2^63: a signed comparison orders them.
        bits!(
            "avx2,fma",
            __m256d,
            __m256i,
            u64,
            _mm256_setzero_si256,
            |v| _mm256_and_si256(_mm256_castpd_si256(v), _mm256_set1_epi64x(i64::MAX)),
            |a, b| _mm256_blendv_epi8(b, a, _mm256_cmpgt_epi64(a, b)),
            _mm256_loadu_si256,
            _mm256_storeu_si256
        );
        edge!(
            "avx2,fma",
            f64,
            __m256d,
            __m256i,
            (usize, __m256i),
            |n| (
                n.min(4),
                _mm256_cmpgt_epi64(
                    _mm256_set1_epi64x(n.min(4) as i64),
                    _mm256_setr_epi64x(0, 1, 2, 3)
                )
            ),
            |at, m| {
                let mut lanes = [0.0f64; 4];
                super::super::tail_copy(at, lanes.as_mut_ptr(), m.0);
                _mm256_loadu_pd(lanes.as_ptr())
            },
            |at, m, v| {
                let mut lanes = [0.0f64; 4];
                _mm256_storeu_pd(lanes.as_mut_ptr(), v);
                super::super::tail_copy(lanes.as_ptr(), at, m.0)
            },
            |b, m| _mm256_and_si256(b, m.1)
        );
        kernel!(
            Avx2F64,
            f64,
            6,
            4,
            2,
            "avx2,fma",
            _mm256_setzero_pd,
            _mm256_loadu_pd,
            _mm256_set1_pd,
            _mm256_fmadd_pd,
            _mm256_storeu_pd,
            _mm256_add_pd,
            _mm256_mul_pd,
            4,
            transpose4_f64
        );
    }
}
