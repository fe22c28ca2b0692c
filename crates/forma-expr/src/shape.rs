//! Shapes of expression values, and the compile-time rules between them.

use core::fmt::Debug;

use forma_core::Float;

/// The shape of an expression's value: [`Mat<R, C>`] or [`Scalar`].
pub trait Shape: Copy + Debug + Default + Send + Sync + 'static {
    /// Rows (1 for a scalar).
    const ROWS: usize;
    /// Columns (1 for a scalar).
    const COLS: usize;
    /// The value: `[[E; C]; R]` for a matrix, `E` for a scalar.
    type Val<E: Float>: Copy + Debug + PartialEq;
    /// All zeros.
    fn zeros<E: Float>() -> Self::Val<E>;
    /// The elements, row-major.
    fn flat<E: Float>(v: &Self::Val<E>) -> &[E];
    /// The elements, row-major, mutable.
    fn flat_mut<E: Float>(v: &mut Self::Val<E>) -> &mut [E];
    /// Every element `x`.
    fn full<E: Float>(x: E) -> Self::Val<E> {
        let mut v = Self::zeros();
        Self::flat_mut(&mut v).fill(x);
        v
    }
}

/// The value type of shape `S` with elements `E`.
pub type Val<S, E> = <S as Shape>::Val<E>;

/// An `R x C` matrix shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mat<const R: usize, const C: usize>;

/// A single number, which broadcasts against any shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scalar;

impl<const R: usize, const C: usize> Shape for Mat<R, C> {
    const ROWS: usize = R;
    const COLS: usize = C;
    type Val<E: Float> = [[E; C]; R];
    fn zeros<E: Float>() -> [[E; C]; R] {
        [[E::ZERO; C]; R]
    }
    fn flat<E: Float>(v: &[[E; C]; R]) -> &[E] {
        v.as_flattened()
    }
    fn flat_mut<E: Float>(v: &mut [[E; C]; R]) -> &mut [E] {
        v.as_flattened_mut()
    }
}

impl Shape for Scalar {
    const ROWS: usize = 1;
    const COLS: usize = 1;
    type Val<E: Float> = E;
    fn zeros<E: Float>() -> E {
        E::ZERO
    }
    fn flat<E: Float>(v: &E) -> &[E] {
        core::slice::from_ref(v)
    }
    fn flat_mut<E: Float>(v: &mut E) -> &mut [E] {
        core::slice::from_mut(v)
    }
}

/// Shape rule of an elementwise operation: equal shapes, or one side a [`Scalar`].
#[diagnostic::on_unimplemented(
    message = "cannot combine a `{Self}` and a `{Rhs}` elementwise",
    label = "shapes differ",
    note = "elementwise operations need equal shapes, or a `Scalar` on one side"
)]
pub trait Broadcast<Rhs: Shape>: Shape {
    /// The result's shape.
    type Out: Shape;
    /// Whether the left side is a scalar broadcast over the result.
    const LHS_SCALAR: bool;
    /// Whether the right side is a scalar broadcast over the result.
    const RHS_SCALAR: bool;
}

impl<const R: usize, const C: usize> Broadcast<Mat<R, C>> for Mat<R, C> {
    type Out = Mat<R, C>;
    const LHS_SCALAR: bool = false;
    const RHS_SCALAR: bool = false;
}
impl<const R: usize, const C: usize> Broadcast<Scalar> for Mat<R, C> {
    type Out = Mat<R, C>;
    const LHS_SCALAR: bool = false;
    const RHS_SCALAR: bool = true;
}
impl<const R: usize, const C: usize> Broadcast<Mat<R, C>> for Scalar {
    type Out = Mat<R, C>;
    const LHS_SCALAR: bool = true;
    const RHS_SCALAR: bool = false;
}
impl Broadcast<Scalar> for Scalar {
    type Out = Scalar;
    const LHS_SCALAR: bool = false;
    const RHS_SCALAR: bool = false;
}

/// Shape rule of a matrix product `(R x K) · (K x C)`.
#[diagnostic::on_unimplemented(
    message = "cannot multiply a `{Self}` by a `{Rhs}`",
    label = "inner dimensions differ",
    note = "a product (R x K) . (K x C) needs the left operand's columns to equal the right operand's rows"
)]
pub trait MatMulShape<Rhs: Shape>: Shape {
    /// The product's shape.
    type Out: Shape;
}

impl<const R: usize, const K: usize, const C: usize> MatMulShape<Mat<K, C>> for Mat<R, K> {
    type Out = Mat<R, C>;
}
