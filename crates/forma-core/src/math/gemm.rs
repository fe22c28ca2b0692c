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
//! The slices must have exactly the lengths the sizes give (`m·k`, `k·n`,
//! `m·n`, computed with `checked_mul`); otherwise each returns
//! [`Error::Length`](crate::Error::Length), before anything is read or
//! written.
//! Large products go to a packed, cache-blocked kernel ([`Backend::Forma`] by
//! default, or matrixmultiply); below [`DIRECT_LIMIT`] multiply-adds a direct
//! loop is used, because packing costs about a hundred times the work of a
//! 4x2x2 product. Products of at most [`FEW_ROWS`] rows (batch-1 to batch-4
//! inference) are not packed at any size: forma's backends run them through
//! their few-row kernels (explicit dot products on x86); the forward `X·Wᵀ`
//! of such a batch also below the limit, from 16 inputs, where those are
//! AVX2 or AVX-512 kernels (see [`FEW_ROWS`]).

use crate::Float;
use crate::dim::elements;
use crate::error::{Result, check_len};

/// Below this many multiply-adds (`m*k*n`) the direct loop beats packing.
pub const DIRECT_LIMIT: usize = 8 * 1024;

/// Products of at most this many rows go to forma's few-row kernels, which
/// do not pack. Below [`DIRECT_LIMIT`] too, for the forward `X·Wᵀ` layout
/// (`matmul_nt`) with `beta` 0 from an inner dimension of 16, when those
/// kernels are x86 ones: the `std` feature on x86-64 with AVX2 and FMA or
/// AVX-512F, [`Backend::Forma`] or [`Backend::FormaAvx2`], and `FORMA_ISA`
/// not `portable`; every other case below the limit takes the direct loop.
/// The direct loop is portable code, its dot products one chain of
/// additions each: measured on a Zen 5 (2026-12-03, f32, one thread, best
/// of five runs of 100,000) a batch-1 layer of 128 inputs and 10 outputs
/// took about 390 ns there and 46-63 ns in the few-row kernels (AVX-512;
/// 56 ns AVX2), 64 by 64 about 1,050 -> 105 ns, 4 rows of 16 by 16 about
/// 300 -> 90 ns. Below 16 inputs the AVX-512 kernel has no whole vector of
/// a row and was slower (1 row of 8 by 8: 28 -> 35 ns).
pub const FEW_ROWS: usize = 4;

/// From this inner dimension `k` the products of [`FEW_ROWS`] rows or fewer
/// leave the direct loop below [`DIRECT_LIMIT`]: one AVX-512 vector of f32.
const FEW_ROWS_MIN_K: usize = 16;

/// How an operand is laid out in memory, as (row stride, column stride).
#[derive(Clone, Copy)]
struct Strides {
    row: usize,
    col: usize,
}

/// Which implementation runs a product above [`DIRECT_LIMIT`] (and a few
/// rows' forward product below it, see [`FEW_ROWS`]).
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
    ///
    /// [`Error::Length`](crate::Error::Length) if a slice's length is not
    /// what the sizes give, or a size product overflows `usize`; nothing is
    /// read or written then.
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
    ) -> Result<()> {
        self.product(
            (m, k, n),
            a,
            Strides { row: k, col: 1 },
            b,
            Strides { row: 1, col: k },
            beta,
            c,
            false,
        )
        .map(drop)
    }

    /// `C[m×n] = A[m×k] · B[k×n] + beta·C`.
    ///
    /// [`Error::Length`](crate::Error::Length) if a slice's length is not
    /// what the sizes give, or a size product overflows `usize`; nothing is
    /// read or written then.
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
    ) -> Result<()> {
        self.product(
            (m, k, n),
            a,
            Strides { row: k, col: 1 },
            b,
            Strides { row: n, col: 1 },
            beta,
            c,
            false,
        )
        .map(drop)
    }

    /// `C[m×n] = A[k×m]ᵀ · B[k×n] + beta·C`.
    ///
    /// [`Error::Length`](crate::Error::Length) if a slice's length is not
    /// what the sizes give, or a size product overflows `usize`; nothing is
    /// read or written then.
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
    ) -> Result<()> {
        self.tn((m, k, n), a, b, beta, c, false).map(drop)
    }

    /// [`Backend::matmul_tn`], with `scan` as in `product`.
    fn tn<E: Float>(
        self,
        (m, k, n): (usize, usize, usize),
        a: &[E],
        b: &[E],
        beta: E,
        c: &mut [E],
        scan: bool,
    ) -> Result<E::AbsBits> {
        let (sa, sb) = (Strides { row: 1, col: m }, Strides { row: n, col: 1 });
        self.product((m, k, n), a, sa, b, sb, beta, c, scan)
    }

    /// The instruction set forma's kernels are held to; `None` for
    /// matrixmultiply.
    #[cfg(feature = "alloc")]
    fn isa(self) -> Option<super::packed::Isa> {
        use super::packed::Isa;
        match self {
            Backend::Forma => Some(Isa::Best),
            Backend::FormaAvx2 => Some(Isa::Avx2),
            Backend::FormaPortable => Some(Isa::Portable),
            Backend::MatrixMultiply => None,
        }
    }

    /// Whether a forward product (`X·Wᵀ`, `beta` 0) of [`FEW_ROWS`] rows or
    /// fewer below [`DIRECT_LIMIT`] (from an inner dimension of
    /// [`FEW_ROWS_MIN_K`]) runs in the few-row kernels rather than the
    /// direct loop: the layout and `beta` of their explicit dot products,
    /// the only case measured. Only where those are x86 kernels: the
    /// portable few-row loop was slower than the direct one at widths of
    /// 16-32 (1 row of 16 by 16: 78 -> 148 ns).
    /// Not inlined: with it inlined, the direct loop's small products were
    /// slower (1 by 2 by 2: 13 -> 15 ns, 1 by 2 by 64: 86 -> 96 ns).
    #[inline(never)]
    fn few_rows_in_kernel(self) -> bool {
        #[cfg(feature = "alloc")]
        {
            use super::packed::Kernel;
            self.isa()
                .is_some_and(|isa| Kernel::choose(isa) != Kernel::Portable)
        }
        #[cfg(not(feature = "alloc"))]
        false
    }

    /// With `scan`, also the largest [`Float::abs_bits`] of C's final
    /// values, read while they are in cache (zero without).
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
        scan: bool,
    ) -> Result<E::AbsBits> {
        check_sizes((m, k, n), (a.len(), b.len(), c.len()))?;
        if m == 0 || n == 0 {
            return Ok(E::AbsBits::default());
        }
        // Saturating: m·k, k·n and m·n fit (checked above), m·k·n need not.
        // The kernels (packed, or few-row) live behind `alloc`; below the
        // limit (but for few rows on x86), or without `alloc`, the direct
        // loop.
        let kernel = cfg!(feature = "alloc")
            && k > 0
            && (m.saturating_mul(k).saturating_mul(n) > DIRECT_LIMIT
                || (m <= FEW_ROWS
                    && k >= FEW_ROWS_MIN_K
                    && (sa.col, sb.row) == (1, 1)
                    && beta == E::ZERO
                    && self.few_rows_in_kernel()));
        #[cfg(feature = "alloc")]
        if kernel {
            let (sa, sb) = ((sa.row, sa.col), (sb.row, sb.col));
            match self.isa() {
                Some(isa) => {
                    use super::packed::{Operands, gemm};
                    return Ok(gemm(
                        Operands {
                            m,
                            k,
                            n,
                            a,
                            sa,
                            b,
                            sb,
                            beta,
                        },
                        c,
                        isa,
                        scan,
                    ));
                }
                None => E::packed_gemm((m, k, n), a, sa, b, sb, beta, c),
            }
        }
        if !kernel {
            direct(m, k, n, a, sa, b, sb, beta, c);
        }
        Ok(if scan {
            super::pointwise::scan_finite_max(c).1.abs_bits()
        } else {
            E::AbsBits::default()
        })
    }
}

/// The lengths of `A`, `B` and `C` are exactly `m·k`, `k·n` and `m·n`, each
/// product computed with `checked_mul`. An overflow is an
/// [`Error::Length`](crate::Error::Length) with `expected` saturated at
/// `usize::MAX`: no slice holds that many.
fn check_sizes((m, k, n): (usize, usize, usize), (a, b, c): (usize, usize, usize)) -> Result<()> {
    check_len(
        "gemm: A (m·k elements)",
        elements("gemm: A (m·k overflows usize)", m, k, a)?,
        a,
    )?;
    check_len(
        "gemm: B (k·n elements)",
        elements("gemm: B (k·n overflows usize)", k, n, b)?,
        b,
    )?;
    check_len(
        "gemm: C (m·n elements)",
        elements("gemm: C (m·n overflows usize)", m, n, c)?,
        c,
    )
}

/// `C[m×n] = A[m×k] · B[n×k]ᵀ + beta·C` with the default [`Backend`];
/// `Err` for slices that do not fit the sizes (see [`Backend::matmul_nt`]).
pub fn matmul_nt<E: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: &[E],
    b: &[E],
    beta: E,
    c: &mut [E],
) -> Result<()> {
    Backend::default().matmul_nt(m, k, n, a, b, beta, c)
}

/// `C[m×n] = A[m×k] · B[k×n] + beta·C` with the default [`Backend`];
/// `Err` for slices that do not fit the sizes (see [`Backend::matmul_nn`]).
pub fn matmul_nn<E: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: &[E],
    b: &[E],
    beta: E,
    c: &mut [E],
) -> Result<()> {
    Backend::default().matmul_nn(m, k, n, a, b, beta, c)
}

/// `C[m×n] = A[k×m]ᵀ · B[k×n] + beta·C` with the default [`Backend`];
/// `Err` for slices that do not fit the sizes (see [`Backend::matmul_tn`]).
pub fn matmul_tn<E: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: &[E],
    b: &[E],
    beta: E,
    c: &mut [E],
) -> Result<()> {
    Backend::default().matmul_tn(m, k, n, a, b, beta, c)
}

/// [`matmul_tn`] (`C = Aᵀ·B + beta·C`, a weight gradient `dW = dYᵀ·X`),
/// also measuring what it wrote: whether every value of C is finite, and
/// the largest `|C|` (meaningful when all are). Each thread reads its part
/// of C right after computing it, while it is in that core's cache, which
/// costs a fraction of a later pass over C.
pub fn matmul_tn_measured<E: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: &[E],
    b: &[E],
    beta: E,
    c: &mut [E],
) -> Result<(bool, E)> {
    let top = Backend::default().tn((m, k, n), a, b, beta, c, true)?;
    Ok((top < E::INF_BITS, E::from_abs_bits(top)))
}

/// For callers whose sizes all come from types (a layer's widths, an
/// expression's shapes, a cache sized for the batch): there a length error is
/// a bug in forma, never in the user's data, so it stops with the error.
#[track_caller]
pub fn sizes_from_types(product: Result<()>) {
    if let Err(e) = product {
        unreachable!("internal error: sizes taken from types did not fit: {e}");
    }
}

/// The direct loop, in the order that keeps the inner loop contiguous: when
/// `B`'s rows are contiguous (NN, TN) each row of `C` gathers `a(i,p) · B[p]`
/// row by row (an axpy the compiler vectorises); when both operands are
/// contiguous along `k` (NT) each element is a dot product of two rows. The
/// sum over `p` runs in order in both, as in the textbook loop.
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
    for (i, c_row) in c.chunks_exact_mut(n).take(m).enumerate() {
        if beta == E::ZERO {
            c_row.fill(E::ZERO);
        } else {
            c_row.iter_mut().for_each(|v| *v *= beta);
        }
        if sb.col == 1 {
            for p in 0..k {
                let aip = a[i * sa.row + p * sa.col];
                let b_row = &b[p * sb.row..p * sb.row + n];
                for (cj, &bj) in c_row.iter_mut().zip(b_row) {
                    *cj += aip * bj;
                }
            }
        } else if sa.col == 1 && sb.row == 1 {
            let a_row = &a[i * sa.row..i * sa.row + k];
            for (j, cj) in c_row.iter_mut().enumerate() {
                let b_row = &b[j * sb.col..j * sb.col + k];
                let mut acc = E::ZERO;
                for (&x, &y) in a_row.iter().zip(b_row) {
                    acc += x * y;
                }
                *cj += acc;
            }
        } else {
            for (j, cj) in c_row.iter_mut().enumerate() {
                let mut acc = E::ZERO;
                for p in 0..k {
                    acc += a[i * sa.row + p * sa.col] * b[p * sb.row + j * sb.col];
                }
                *cj += acc;
            }
        }
    }
}
