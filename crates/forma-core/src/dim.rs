//! Dimensions that live in types.
//!
//! A dimension is either known at compile time, [`Const<N>`], or only at run
//! time, `usize`. Both implement [`Dim`], so one tensor type serves a batch of
//! data-dependent size (`Tensor<f32, usize, Const<2>>`) and storage whose whole
//! shape is fixed (`Tensor<f32, Const<4>, Const<2>>`).
//!
//! Feature widths of layers are always [`Const<N>`]; the shape rules between
//! them are the named traits [`SameWidth`] and [`AreMultipliable`], which carry
//! `#[diagnostic::on_unimplemented]` messages naming both widths.

use core::fmt::Debug;

/// A dimension: a size known at compile time ([`Const<N>`]) or at run time (`usize`).
pub trait Dim: Copy + Debug + PartialEq + Eq + Send + Sync + 'static {
    /// The size as a number.
    fn size(&self) -> usize;
    /// The dimension of this type with size `n`, or `None` if this type cannot
    /// be `n` (a `Const<N>` is only ever `N`).
    fn from_size(n: usize) -> Option<Self>;
}

impl Dim for usize {
    #[inline(always)]
    fn size(&self) -> usize {
        *self
    }
    #[inline(always)]
    fn from_size(n: usize) -> Option<Self> {
        Some(n)
    }
}

/// A dimension of size `N`, known at compile time. Zero-sized.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Const<const N: usize>;

impl<const N: usize> Dim for Const<N> {
    #[inline(always)]
    fn size(&self) -> usize {
        N
    }
    #[inline(always)]
    fn from_size(n: usize) -> Option<Self> {
        (n == N).then_some(Const)
    }
}

/// A dimension known at compile time, with its exact-length array type.
///
/// `Const<N>::Array<E>` is `[E; N]`: allocation-free inference passes rows of
/// this type from layer to layer.
pub trait ConstDim: Dim + Default {
    /// The size, as a constant.
    const SIZE: usize;
    /// An array of exactly `SIZE` elements.
    type Array<E: Copy>: Copy + AsRef<[E]> + AsMut<[E]> + Debug
    where
        E: Debug;
    /// An array with every element set to `value`.
    fn array<E: Copy + Debug>(value: E) -> Self::Array<E>;
}

impl<const N: usize> ConstDim for Const<N> {
    const SIZE: usize = N;
    type Array<E: Copy>
        = [E; N]
    where
        E: Debug;
    #[inline(always)]
    fn array<E: Copy + Debug>(value: E) -> [E; N] {
        [value; N]
    }
}

/// Shape rule: the output width of one layer equals the input width of the next.
///
/// Implemented only for `Const<N>: SameWidth<Const<N>>`, so wiring a 32-wide
/// output into a 16-wide input fails to compile with the message below. The
/// methods are identity casts that let generic code move a value from one
/// width type to the other, which the compiler cannot otherwise see as equal.
#[diagnostic::on_unimplemented(
    message = "width mismatch: `{Self}`-wide values (a layer's output or the input batch) feed a layer that takes `{Rhs}` inputs",
    label = "these layers do not fit together",
    note = "in a sequence, the output width of each layer must equal the input width of the next: here `{Self}` is not `{Rhs}`"
)]
pub trait SameWidth<Rhs: ConstDim>: ConstDim {
    /// The same array, seen at the other (equal) width.
    fn cast_array<E: Copy + Debug>(a: Self::Array<E>) -> Rhs::Array<E>;
    /// The same tensor, seen at the other (equal) width.
    #[cfg(feature = "alloc")]
    fn cast_ref<E: crate::Float, R: Dim>(
        t: &crate::Tensor<E, R, Self>,
    ) -> &crate::Tensor<E, R, Rhs>;
    /// The same tensor, seen mutably at the other (equal) width.
    #[cfg(feature = "alloc")]
    fn cast_mut<E: crate::Float, R: Dim>(
        t: &mut crate::Tensor<E, R, Self>,
    ) -> &mut crate::Tensor<E, R, Rhs>;
}

impl<const N: usize> SameWidth<Const<N>> for Const<N> {
    #[inline(always)]
    fn cast_array<E: Copy + Debug>(a: [E; N]) -> [E; N] {
        a
    }
    #[cfg(feature = "alloc")]
    #[inline(always)]
    fn cast_ref<E: crate::Float, R: Dim>(
        t: &crate::Tensor<E, R, Self>,
    ) -> &crate::Tensor<E, R, Const<N>> {
        t
    }
    #[cfg(feature = "alloc")]
    #[inline(always)]
    fn cast_mut<E: crate::Float, R: Dim>(
        t: &mut crate::Tensor<E, R, Self>,
    ) -> &mut crate::Tensor<E, R, Const<N>> {
        t
    }
}

/// Shape rule of a matrix product: the inner dimensions agree.
///
/// `Const<K>: AreMultipliable<Const<K>>` holds at compile time; two runtime
/// `usize` dimensions are compared when the product runs.
#[diagnostic::on_unimplemented(
    message = "cannot multiply: the left matrix has `{Self}` columns but the right one has `{Rhs}` rows",
    label = "inner dimensions differ",
    note = "a product (m x k) . (k x n) needs the left operand's width to equal the right operand's height"
)]
pub trait AreMultipliable<Rhs: Dim>: Dim {}

impl<const K: usize> AreMultipliable<Const<K>> for Const<K> {}
impl AreMultipliable<usize> for usize {}
impl<const K: usize> AreMultipliable<usize> for Const<K> {}
impl<const K: usize> AreMultipliable<Const<K>> for usize {}

/// The number of elements of a `rows x cols` shape, computed with
/// `checked_mul`: on overflow no buffer can hold them, and the error is an
/// [`Error::Length`](crate::Error::Length) named `what`, `expected`
/// saturated at `usize::MAX` and `got` the length of the buffer at hand.
pub(crate) fn elements(
    what: &'static str,
    rows: usize,
    cols: usize,
    got: usize,
) -> crate::Result<usize> {
    // A match, not `ok_or`: an `Error` built eagerly is dropped on every
    // success, and its drop is not free (this runs per layer per step).
    match rows.checked_mul(cols) {
        Some(n) => Ok(n),
        None => Err(crate::Error::Length {
            what,
            expected: usize::MAX,
            got,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn const_dim_only_takes_its_own_size() {
        assert_eq!(Const::<3>::from_size(3), Some(Const::<3>));
        assert_eq!(Const::<3>::from_size(4), None);
        assert_eq!(<usize as Dim>::from_size(7), Some(7));
        assert_eq!(Const::<5>.size(), 5);
        assert_eq!(<Const<5> as ConstDim>::SIZE, 5);
        assert_eq!(Const::<2>::array(1.5f32), [1.5, 1.5]);
    }

    #[test]
    fn elements_is_checked() {
        assert_eq!(elements("x", 3, 4, 0), Ok(12));
        assert_eq!(elements("x", usize::MAX, 0, 0), Ok(0));
        assert_eq!(
            elements("x", (1 << 62) + 1, 4, 7),
            Err(crate::Error::Length {
                what: "x",
                expected: usize::MAX,
                got: 7
            })
        );
    }
}
