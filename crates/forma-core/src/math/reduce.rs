//! Sums over the rows and columns of a row-major `m x n` matrix, and the
//! dot product the fixed-width and few-row products share.

use crate::Float;

/// `out[j] = beta*out[j] + Σ_i a[i][j]`: the column sums (the gradient of a
/// bias row broadcast over a batch).
#[inline]
pub fn sum_over_rows<E: Float>(m: usize, n: usize, a: &[E], beta: E, out: &mut [E]) {
    assert!(a.len() == m * n && out.len() == n, "sum_over_rows: sizes");
    if beta == E::ZERO {
        out.fill(E::ZERO);
    } else {
        out.iter_mut().for_each(|o| *o *= beta);
    }
    for row in a.chunks_exact(n.max(1)).take(m) {
        for (o, &v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

/// `out[i] = beta*out[i] + Σ_j a[i][j]`: the row sums.
pub fn sum_over_cols<E: Float>(m: usize, n: usize, a: &[E], beta: E, out: &mut [E]) {
    assert!(a.len() == m * n && out.len() == m, "sum_over_cols: sizes");
    for (i, o) in out.iter_mut().enumerate() {
        let s: E = a[i * n..(i + 1) * n].iter().copied().sum();
        *o = if beta == E::ZERO { s } else { beta * *o + s };
    }
}

/// The sum of every element.
pub fn sum<E: Float>(a: &[E]) -> E {
    a.iter().copied().sum()
}

/// The total of eight interleaved partial sums, halves first (`s[l] +
/// s[l + 4]`, then `+ 2`, then `+ 1`): the order a vector register's
/// horizontal sum takes, so that a loop keeping `s` in one register ends in
/// three vector additions. The order is fixed, so the result does not
/// depend on the instruction set.
#[inline(always)]
pub fn sum_lanes<E: Float>(s: [E; 8]) -> E {
    let [a, b, c, d] = [s[0] + s[4], s[1] + s[5], s[2] + s[6], s[3] + s[7]];
    let [e, f] = [a + c, b + d];
    e + f
}

/// `Σ a[i]·b[i]` (equal lengths): in order below 8 elements, else
/// in 8 interleaved partial sums (element `i` into sum `i mod 8`, the tail
/// into the first), totalled by [`sum_lanes`]. The order is fixed, so the
/// result does not depend on the instruction set; the unrolled fixed-width
/// products (widths known, the branch folds) and the portable few-row
/// product share it.
#[inline(always)]
pub fn dot<E: Float>(a: &[E], b: &[E]) -> E {
    // The lanes of `sum_lanes`.
    const LANES: usize = 8;
    assert!(a.len() == b.len(), "dot: lengths");
    let n = a.len();
    if n < LANES {
        let mut s = E::ZERO;
        for (&x, &y) in a.iter().zip(b) {
            s += x * y;
        }
        return s;
    }
    let mut sums = [E::ZERO; LANES];
    let (ac, at) = a.as_chunks::<LANES>();
    let (bc, bt) = b.as_chunks::<LANES>();
    for (x, y) in ac.iter().zip(bc) {
        for l in 0..LANES {
            sums[l] += x[l] * y[l];
        }
    }
    for (&x, &y) in at.iter().zip(bt) {
        sums[0] += x * y;
    }
    // Through memory: LLVM's SLP vectoriser builds the partial sums as one
    // vector register when they end in a store, but as pairs in half-empty
    // registers when they end in a horizontal sum (more than twice the
    // instructions, seen in the disassembly). The store and reload cost two.
    let sums = core::hint::black_box(sums);
    sum_lanes(sums)
}
