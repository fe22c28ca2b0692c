//! Element types: `f32` and `f64`.

use core::fmt::{Debug, Display};
use core::iter::Sum;
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A floating-point element type forma computes in: `f32` or `f64`.
///
/// The transcendental functions come from `libm`, so they behave the same with
/// and without `std`.
pub trait Float:
    Copy
    + Default
    + PartialEq
    + PartialOrd
    + Debug
    + Display
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// The type's name, for messages.
    const NAME: &'static str;
    /// Nearest value to `v`.
    fn from_f64(v: f64) -> Self;
    /// Exact widening (or identity).
    fn to_f64(self) -> f64;
    /// e^self.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// Larger of two values (NaN-ignoring like `f64::max`).
    fn max(self, other: Self) -> Self;
    /// Smaller of two values (NaN-ignoring like `f64::min`).
    fn min(self, other: Self) -> Self;
    /// Neither NaN nor infinite.
    fn is_finite(self) -> bool;
    /// `self * a + b`, rounded once when the target has FMA (only used where
    /// the reference computation is not bit-pinned).
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        self * a + b
    }
    /// Runs `f` on a scratch buffer of at least `len` elements: with `std`, one
    /// buffer per thread that only ever grows (so repeated products allocate
    /// nothing); without `std`, a fresh buffer.
    #[cfg(feature = "alloc")]
    #[doc(hidden)]
    fn with_workspace<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R;
    /// `C = A·B + beta·C` through matrixmultiply, operands given by row and
    /// column strides. Callers in [`math::gemm`](crate::math::gemm) check the
    /// sizes; this checks them again before the unsafe call.
    #[cfg(feature = "alloc")]
    #[doc(hidden)]
    fn packed_gemm(
        mkn: (usize, usize, usize),
        a: &[Self],
        sa: (usize, usize),
        b: &[Self],
        sb: (usize, usize),
        beta: Self,
        c: &mut [Self],
    );
}

/// Largest flat index reached by an `rows x cols` operand with these strides, plus one.
#[cfg(feature = "alloc")]
fn extent(rows: usize, cols: usize, (rs, cs): (usize, usize)) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs + 1
    }
}

macro_rules! impl_float {
    ($t:ty, $exp:path, $ln:path, $sqrt:path, $tanh:path, $gemm:path) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NAME: &'static str = stringify!($t);
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn exp(self) -> Self {
                $exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                $ln(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                $sqrt(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            #[inline(always)]
            fn min(self, other: Self) -> Self {
                <$t>::min(self, other)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[cfg(feature = "alloc")]
            fn with_workspace<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R {
                #[cfg(feature = "std")]
                {
                    std::thread_local! {
                        static WORKSPACE: core::cell::RefCell<alloc::vec::Vec<$t>> =
                            const { core::cell::RefCell::new(alloc::vec::Vec::new()) };
                    }
                    WORKSPACE.with(|ws| match ws.try_borrow_mut() {
                        Ok(mut ws) => {
                            if ws.len() < len {
                                ws.resize(len, 0.0);
                            }
                            f(&mut ws[..len])
                        }
                        // Re-entered from inside `f`: use a one-off buffer.
                        Err(_) => f(&mut alloc::vec![0.0; len]),
                    })
                }
                #[cfg(not(feature = "std"))]
                {
                    f(&mut alloc::vec![0.0; len])
                }
            }
            #[cfg(feature = "alloc")]
            fn packed_gemm(
                (m, k, n): (usize, usize, usize),
                a: &[Self],
                sa: (usize, usize),
                b: &[Self],
                sb: (usize, usize),
                beta: Self,
                c: &mut [Self],
            ) {
                assert!(
                    extent(m, k, sa) <= a.len() && extent(k, n, sb) <= b.len() && m * n <= c.len(),
                    "packed_gemm: operand out of bounds"
                );
                // SAFETY: the assert above guarantees every index matrixmultiply
                // reads from `a` (rows m, cols k, strides sa) and `b` (k x n, sb)
                // and writes in `c` (m x n, contiguous row-major) is in bounds;
                // `c` is a unique borrow, so it aliases neither input. Strides
                // are below the slice lengths, which fit in isize.
                unsafe {
                    $gemm(
                        m,
                        k,
                        n,
                        1.0,
                        a.as_ptr(),
                        sa.0 as isize,
                        sa.1 as isize,
                        b.as_ptr(),
                        sb.0 as isize,
                        sb.1 as isize,
                        beta,
                        c.as_mut_ptr(),
                        n as isize,
                        1,
                    );
                }
            }
        }
    };
}

impl_float!(
    f32,
    libm::expf,
    libm::logf,
    libm::sqrtf,
    libm::tanhf,
    matrixmultiply::sgemm
);
impl_float!(
    f64,
    libm::exp,
    libm::log,
    libm::sqrt,
    libm::tanh,
    matrixmultiply::dgemm
);
