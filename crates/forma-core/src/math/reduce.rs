//! Sums over the rows and columns of a row-major `m x n` matrix.

use crate::Float;

/// `out[j] = beta*out[j] + Σ_i a[i][j]`: the column sums (the gradient of a
/// bias row broadcast over a batch).
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
