//! Matrix products for runtime shapes, row-major and contiguous.
//!
//! Names follow BLAS: `nt` multiplies by the transpose of the right operand.
//! For a layer with input `X` (batch x in), weight `W` (out x in, PyTorch's
//! layout) and output gradient `dY` (batch x out):
//!
//! | product         | call                                   |
//! |-----------------|----------------------------------------|
//! | `Y  = X · Wᵀ`   | `matmul_nt(batch, in, out, X, W, ..)`  |
//! | `dX = dY · W`   | `matmul_nn(batch, out, in, dY, W, ..)` |
//! | `dW = dYᵀ · X`  | `matmul_tn(out, batch, in, dY, X, ..)` |
//!
//! Each computes `C = A·B + beta·C` (`beta` 0 overwrites, 1 accumulates).
//! Large products go to a packed, cache-blocked kernel ([`Backend::Forma`] by
//! default, or matrixmultiply); below [`DIRECT_LIMIT`] multiply-adds a direct
//! loop is used, because packing costs about a hundred times the work of a
//! 4x2x2 product.

use crate::Float;

/// Below this many multiply-adds (`m*k*n`) the direct loop beats packing.
pub const DIRECT_LIMIT: usize = 8 * 1024;

/// How an operand is laid out in memory, as (row stride, column stride).
#[derive(Clone, Copy)]
struct Strides {
    row: usize,
    col: usize,
}

/// Which implementation runs a product above [`DIRECT_LIMIT`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// forma's packed kernel: packing buffers kept per thread, so repeated
    /// products (training steps) allocate nothing. The default.
    #[default]
    Forma,
    /// matrixmultiply: allocates its packing buffer on every call; kept as the
    /// reference these kernels are measured against.
    MatrixMultiply,
    /// forma's kernel limited to AVX2+FMA even where AVX-512 exists (portable
    /// code without AVX2): for tests and comparisons.
    FormaAvx2,
    /// forma's kernel in portable Rust only: for tests and comparisons.
    FormaPortable,
}

impl Backend {
    /// `C[m×n] = A[m×k] · B[n×k]ᵀ + beta·C`.
    #[allow(clippy::too_many_arguments)]
    pub fn matmul_nt<E: Float>(
        self,
        m: usize,
        k: usize,
        n: usize,
        a: &[E],
        b: &[E],
        beta: E,
        c: &mut [E],
    ) {
        self.product(
            (m, k, n),
            a,
            Strides { row: k, col: 1 },
            b,
            Strides { row: 1, col: k },
            beta,
            c,
        );
    }

    /// `C[m×n] = A[m×k] · B[k×n] + beta·C`.
    #[allow(clippy::too_many_arguments)]
    pub fn matmul_nn<E: Float>(
        self,
        m: usize,
        k: usize,
        n: usize,
        a: &[E],
        b: &[E],
        beta: E,
        c: &mut [E],
    ) {
        self.product(
            (m, k, n),
            a,
            Strides { row: k, col: 1 },
            b,
            Strides { row: n, col: 1 },
            beta,
            c,
        );
    }

    /// `C[m×n] = A[k×m]ᵀ · B[k×n] + beta·C`.
    #[allow(clippy::too_many_arguments)]
    pub fn matmul_tn<E: Float>(
        self,
        m: usize,
        k: usize,
        n: usize,
        a: &[E],
        b: &[E],
        beta: E,
        c: &mut [E],
    ) {
        self.product(
            (m, k, n),
            a,
            Strides { row: 1, col: m },
            b,
            Strides { row: n, col: 1 },
            beta,
            c,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn product<E: Float>(
        self,
        (m, k, n): (usize, usize, usize),
        a: &[E],
        sa: Strides,
        b: &[E],
        sb: Strides,
        beta: E,
        c: &mut [E],
    ) {
        // Internal invariant: callers (typed tensors and layers) pass buffers of
        // exactly these sizes. A violation is a bug in forma, not in user data.
        assert!(
            a.len() == m * k && b.len() == k * n && c.len() == m * n,
            "gemm operand sizes: a {} (want {}), b {} (want {}), c {} (want {})",
            a.len(),
            m * k,
            b.len(),
            k * n,
            c.len(),
            m * n
        );
        if m == 0 || n == 0 {
            return;
        }
        #[cfg(feature = "alloc")]
        if m * k * n > DIRECT_LIMIT && k > 0 {
            let (sa, sb) = ((sa.row, sa.col), (sb.row, sb.col));
            match self {
                Backend::Forma | Backend::FormaAvx2 | Backend::FormaPortable => {
                    use super::packed::{Isa, Operands, gemm};
                    let isa = match self {
                        Backend::FormaAvx2 => Isa::Avx2,
                        Backend::FormaPortable => Isa::Portable,
                        _ => Isa::Best,
                    };
                    gemm(
                        Operands {
                            m,
                            k,
                            n,
                            a,
                            sa,
                            b,
                            sb,
                            beta,
                            c,
                        },
                        isa,
                    )
                }
                Backend::MatrixMultiply => E::packed_gemm((m, k, n), a, sa, b, sb, beta, c),
            }
            return;
        }
        direct(m, k, n, a, sa, b, sb, beta, c);
    }
}

/// `C[m×n] = A[m×k] · B[n×k]ᵀ + beta·C` with the default [`Backend`].
pub fn matmul_nt<E: Float>(m: usize, k: usize, n: usize, a: &[E], b: &[E], beta: E, c: &mut [E]) {
    Backend::default().matmul_nt(m, k, n, a, b, beta, c);
}

/// `C[m×n] = A[m×k] · B[k×n] + beta·C` with the default [`Backend`].
pub fn matmul_nn<E: Float>(m: usize, k: usize, n: usize, a: &[E], b: &[E], beta: E, c: &mut [E]) {
    Backend::default().matmul_nn(m, k, n, a, b, beta, c);
}

/// `C[m×n] = A[k×m]ᵀ · B[k×n] + beta·C` with the default [`Backend`].
pub fn matmul_tn<E: Float>(m: usize, k: usize, n: usize, a: &[E], b: &[E], beta: E, c: &mut [E]) {
    Backend::default().matmul_tn(m, k, n, a, b, beta, c);
}

#[allow(clippy::too_many_arguments)]
fn direct<E: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: &[E],
    sa: Strides,
    b: &[E],
    sb: Strides,
    beta: E,
    c: &mut [E],
) {
    for i in 0..m {
        for j in 0..n {
            let mut acc = E::ZERO;
            for p in 0..k {
                acc += a[i * sa.row + p * sa.col] * b[p * sb.row + j * sb.col];
            }
            let out = &mut c[i * n + j];
            *out = if beta == E::ZERO {
                acc
            } else {
                acc + beta * *out
            };
        }
    }
}
