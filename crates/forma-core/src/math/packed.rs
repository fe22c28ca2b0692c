//! forma's own packed GEMM: cache blocking, packing into a reusable per-thread
//! workspace, and a register-blocked micro-kernel compiled for the best
//! instruction set the CPU has (AVX-512, AVX2, or the baseline), chosen at run time.
//!
//! Why not only matrixmultiply: it allocates its packing buffer on every call,
//! and forma promises training steps without heap allocation. Here the buffer
//! is kept per thread and grows only when a larger product comes, so after the
//! first step nothing is allocated. The structure is the BLIS one:
//!
//! ```text
//! for each NC-wide column block of B and C
//!   for each KC-deep slice: pack B[KC x NC] into NR-wide panels
//!     for each MC-high row block: pack A[MC x KC] into MR-high panels
//!       for each (MR x NR) tile: micro-kernel, KC rank-1 updates in registers
//! ```

use crate::Float;

const KC: usize = 256;
const MC: usize = 96;
const NC: usize = 1024;

/// `C[m×n] = A·B + beta·C` with A's element `(i, p)` at `a[i*sa.0 + p*sa.1]`,
/// B's `(p, j)` at `b[p*sb.0 + j*sb.1]`, and C row-major and contiguous.
///
/// Callers ([`gemm`](super::gemm)) guarantee the operands are large enough.
pub(crate) fn gemm<E: Float>(
    (m, k, n): (usize, usize, usize),
    a: &[E],
    sa: (usize, usize),
    b: &[E],
    sb: (usize, usize),
    beta: E,
    c: &mut [E],
) {
    // Sized for the largest tile of any variant below (MR <= 8, NR <= 16):
    // rounding a block up to a whole number of tiles adds less than one tile.
    let a_len = (MC.min(m) + 8) * KC.min(k);
    let b_len = (NC.min(n) + 16) * KC.min(k);
    E::with_workspace(a_len + b_len, |ws| {
        let (ap, bp) = ws.split_at_mut(a_len);
        dispatch((m, k, n), a, sa, b, sb, beta, c, (ap, bp));
    });
}

/// Runs the variant compiled for the best instruction set available. (The
/// target-feature functions must be entered directly: a closure inside one
/// would not be compiled for its instruction set.)
#[allow(clippy::too_many_arguments)]
fn dispatch<E: Float>(
    (m, k, n): (usize, usize, usize),
    a: &[E],
    sa: (usize, usize),
    b: &[E],
    sb: (usize, usize),
    beta: E,
    c: &mut [E],
    ws: (&mut [E], &mut [E]),
) {
    let wide = core::mem::size_of::<E>() == 8;
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            // 8x8 tiles measured fastest for both f32 and f64 here (8x16 f32
            // spilled and ran ten times slower).
            unsafe { gemm_avx512::<E, 8, 8>((m, k, n), a, sa, b, sb, beta, c, ws) }
            return;
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            unsafe {
                if wide {
                    gemm_avx2::<E, 6, 8>((m, k, n), a, sa, b, sb, beta, c, ws)
                } else {
                    gemm_avx2::<E, 6, 16>((m, k, n), a, sa, b, sb, beta, c, ws)
                }
            }
            return;
        }
    }
    if wide {
        blocked::<E, 4, 4>((m, k, n), a, sa, b, sb, beta, c, ws)
    } else {
        blocked::<E, 4, 8>((m, k, n), a, sa, b, sb, beta, c, ws)
    }
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_avx512<E: Float, const MR: usize, const NR: usize>(
    mkn: (usize, usize, usize),
    a: &[E],
    sa: (usize, usize),
    b: &[E],
    sb: (usize, usize),
    beta: E,
    c: &mut [E],
    ws: (&mut [E], &mut [E]),
) {
    blocked::<E, MR, NR>(mkn, a, sa, b, sb, beta, c, ws)
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_avx2<E: Float, const MR: usize, const NR: usize>(
    mkn: (usize, usize, usize),
    a: &[E],
    sa: (usize, usize),
    b: &[E],
    sb: (usize, usize),
    beta: E,
    c: &mut [E],
    ws: (&mut [E], &mut [E]),
) {
    blocked::<E, MR, NR>(mkn, a, sa, b, sb, beta, c, ws)
}

/// The blocked loops around the micro-kernel; inlined into each
/// instruction-set variant so that LLVM vectorises it for that set.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn blocked<E: Float, const MR: usize, const NR: usize>(
    (m, k, n): (usize, usize, usize),
    a: &[E],
    sa: (usize, usize),
    b: &[E],
    sb: (usize, usize),
    beta: E,
    c: &mut [E],
    (ap, bp): (&mut [E], &mut [E]),
) {
    {
        for jc in (0..n).step_by(NC) {
            let nc = NC.min(n - jc);
            for pc in (0..k).step_by(KC) {
                let kc = KC.min(k - pc);
                pack_b::<E, NR>(kc, nc, &b[pc * sb.0 + jc * sb.1..], sb, bp);
                let beta = if pc == 0 { beta } else { E::ONE };
                for ic in (0..m).step_by(MC) {
                    let mc = MC.min(m - ic);
                    pack_a::<E, MR>(mc, kc, &a[ic * sa.0 + pc * sa.1..], sa, ap);
                    for jr in (0..nc).step_by(NR) {
                        let bpanel = &bp[jr * kc..(jr + NR) * kc];
                        for ir in (0..mc).step_by(MR) {
                            let apanel = &ap[ir * kc..(ir + MR) * kc];
                            let acc = micro::<E, MR, NR>(kc, apanel, bpanel);
                            let rows = MR.min(mc - ir);
                            let cols = NR.min(nc - jr);
                            for (r, acc_row) in acc.iter().enumerate().take(rows) {
                                let start = (ic + ir + r) * n + jc + jr;
                                let out = &mut c[start..start + cols];
                                if beta == E::ZERO {
                                    out.copy_from_slice(&acc_row[..cols]);
                                } else {
                                    for (o, &v) in out.iter_mut().zip(acc_row) {
                                        *o = v + beta * *o;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `MR x NR` tile of `Σ_p a[:, p] b[p, :]` from packed panels.
#[inline(always)]
fn micro<E: Float, const MR: usize, const NR: usize>(
    kc: usize,
    ap: &[E],
    bp: &[E],
) -> [[E; NR]; MR] {
    let mut acc = [[E::ZERO; NR]; MR];
    let (a_rows, _) = ap[..kc * MR].as_chunks::<MR>();
    let (b_rows, _) = bp[..kc * NR].as_chunks::<NR>();
    for (av, bv) in a_rows.iter().zip(b_rows) {
        for r in 0..MR {
            let x = av[r];
            for j in 0..NR {
                acc[r][j] += x * bv[j];
            }
        }
    }
    acc
}

/// Packs `mc x kc` of A into panels of `MR` rows: panel-major, then `p`, then row.
/// Rows past `mc` are zero.
#[inline(always)]
fn pack_a<E: Float, const MR: usize>(
    mc: usize,
    kc: usize,
    a: &[E],
    (rs, cs): (usize, usize),
    out: &mut [E],
) {
    for (panel, chunk) in out[..mc.next_multiple_of(MR) * kc]
        .chunks_exact_mut(MR * kc)
        .enumerate()
    {
        let i0 = panel * MR;
        let rows = MR.min(mc - i0);
        for (p, dst) in chunk.chunks_exact_mut(MR).enumerate() {
            for (r, d) in dst.iter_mut().enumerate() {
                *d = if r < rows {
                    a[(i0 + r) * rs + p * cs]
                } else {
                    E::ZERO
                };
            }
        }
    }
}

/// Packs `kc x nc` of B into panels of `NR` columns: panel-major, then `p`, then column.
/// Columns past `nc` are zero.
#[inline(always)]
fn pack_b<E: Float, const NR: usize>(
    kc: usize,
    nc: usize,
    b: &[E],
    (rs, cs): (usize, usize),
    out: &mut [E],
) {
    for (panel, chunk) in out[..nc.next_multiple_of(NR) * kc]
        .chunks_exact_mut(NR * kc)
        .enumerate()
    {
        let j0 = panel * NR;
        let cols = NR.min(nc - j0);
        for (p, dst) in chunk.chunks_exact_mut(NR).enumerate() {
            let row = &b[p * rs..];
            if cs == 1 && cols == NR {
                dst.copy_from_slice(&row[j0..j0 + NR]);
            } else {
                for (j, d) in dst.iter_mut().enumerate() {
                    *d = if j < cols {
                        row[(j0 + j) * cs]
                    } else {
                        E::ZERO
                    };
                }
            }
        }
    }
}
