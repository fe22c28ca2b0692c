//! The three layer products when the feature widths are compile-time constants.
//!
//! With `K` and `N` known, LLVM unrolls the inner loops completely and keeps a
//! row in registers: a 4x2x2 product costs a handful of instructions instead
//! of matrixmultiply's packing. Rows are `[E; K]` arrays (see
//! `<[E]>::as_chunks`), the weight is `[[E; K]; N]` (out x in, PyTorch's
//! layout). Only the batch length is a runtime number.

use crate::Float;

/// Weights with at most this many elements use these kernels.
pub const SMALL_WEIGHTS: usize = 512;

/// Whether a `K`-in, `N`-out product should use these kernels rather than
/// [`gemm`](super::gemm). Evaluated at compile time for const widths.
pub const fn is_small(k: usize, n: usize) -> bool {
    match k.checked_mul(n) {
        Some(weights) => weights <= SMALL_WEIGHTS,
        None => false,
    }
}

/// `y[r] = W · x[r] + beta·y[r]` for every row `r`: the forward `Y = X·Wᵀ`.
///
/// # Panics
/// If the two batches have different lengths (no element is read then).
#[inline]
pub fn matmul_nt<E: Float, const K: usize, const N: usize>(
    x: &[[E; K]],
    w: &[[E; K]; N],
    beta: E,
    y: &mut [[E; N]],
) {
    assert_eq!(x.len(), y.len(), "fixed::matmul_nt: batch lengths");
    for (xr, yr) in x.iter().zip(y.iter_mut()) {
        for (yo, wo) in yr.iter_mut().zip(w) {
            let mut acc = E::ZERO;
            for (a, b) in xr.iter().zip(wo) {
                acc += *a * *b;
            }
            *yo = if beta == E::ZERO {
                acc
            } else {
                acc + beta * *yo
            };
        }
    }
}

/// `dx[r] = Wᵀ · dy[r] + beta·dx[r]`: the input gradient `dX = dY·W`.
///
/// # Panics
/// If the two batches have different lengths (no element is read then).
#[inline]
pub fn matmul_nn<E: Float, const N: usize, const K: usize>(
    dy: &[[E; N]],
    w: &[[E; K]; N],
    beta: E,
    dx: &mut [[E; K]],
) {
    assert_eq!(dy.len(), dx.len(), "fixed::matmul_nn: batch lengths");
    for (dyr, dxr) in dy.iter().zip(dx.iter_mut()) {
        let mut acc = [E::ZERO; K];
        for (g, wo) in dyr.iter().zip(w) {
            for (a, b) in acc.iter_mut().zip(wo) {
                *a += *g * *b;
            }
        }
        for (d, a) in dxr.iter_mut().zip(acc) {
            *d = if beta == E::ZERO { a } else { a + beta * *d };
        }
    }
}

/// `dW = dYᵀ · X + beta·dW`: the weight gradient, summed over the batch.
///
/// # Panics
/// If the two batches have different lengths (no element is read then).
#[inline]
pub fn matmul_tn<E: Float, const N: usize, const K: usize>(
    dy: &[[E; N]],
    x: &[[E; K]],
    beta: E,
    dw: &mut [[E; K]; N],
) {
    assert_eq!(dy.len(), x.len(), "fixed::matmul_tn: batch lengths");
    let mut acc = [[E::ZERO; K]; N];
    for (dyr, xr) in dy.iter().zip(x) {
        for (row, g) in acc.iter_mut().zip(dyr) {
            for (a, b) in row.iter_mut().zip(xr) {
                *a += *g * *b;
            }
        }
    }
    for (drow, arow) in dw.iter_mut().zip(acc) {
        for (d, a) in drow.iter_mut().zip(arow) {
            *d = if beta == E::ZERO { a } else { a + beta * *d };
        }
    }
}
