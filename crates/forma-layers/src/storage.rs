//! Where a layer keeps its parameters: on the heap, inline, or in a
//! device's memory.
//!
//! A layer's storage is a type parameter (`Linear<I, O, E, B, S>`), so the
//! type says where its parameters live: `Linear<2, 8>` on the heap,
//! `Linear<2, 8, f32, PerOutput, Inline>` inline in the value, and
//! `Linear<2, 8, f32, PerOutput, Cuda>` in GPU memory (`forma-cuda`
//! implements [`Storage`] for its device). A model trains on the device
//! whose slice is its storage's slice, updated in place: nothing is
//! mirrored.

use core::borrow::{Borrow, BorrowMut};
use core::fmt::Debug;

use forma_core::{Float, Result};

use crate::Bias;

/// A family of parameter buffers: `R x C` matrices and biases, chosen per
/// layer by a type parameter.
pub trait Storage<E: Float>: 'static {
    /// What the buffers are borrowed as: the slice type of the device they
    /// live on (`[E]` for host storage).
    type Slice: ?Sized;
    /// The buffer of an `R x C` matrix of `E`, row-major.
    type Mat<const R: usize, const C: usize>;
    /// The bias of layout `B` for `O` outputs.
    type Bias<B: Bias, const O: usize>;
    /// The number of elements of a slice.
    fn len(slice: &Self::Slice) -> usize;
    /// The matrix as a slice.
    fn mat<const R: usize, const C: usize>(m: &Self::Mat<R, C>) -> &Self::Slice;
    /// The matrix as a slice, mutable.
    fn mat_mut<const R: usize, const C: usize>(m: &mut Self::Mat<R, C>) -> &mut Self::Slice;
    /// The bias as a slice.
    fn bias<B: Bias, const O: usize>(b: &Self::Bias<B, O>) -> &Self::Slice;
    /// The bias as a slice, mutable.
    fn bias_mut<B: Bias, const O: usize>(b: &mut Self::Bias<B, O>) -> &mut Self::Slice;
    /// A zero matrix in the same place as `like` (a gradient, an optimizer
    /// state). `Err` only where memory is a device's and it is exhausted.
    fn mat_zeros_like<const R: usize, const C: usize>(
        like: &Self::Mat<R, C>,
    ) -> Result<Self::Mat<R, C>>;
    /// A zero bias in the same place as `like`.
    fn bias_zeros_like<B: Bias, const O: usize>(
        like: &Self::Bias<B, O>,
    ) -> Result<Self::Bias<B, O>>;
}

/// Storage in host memory, readable as arrays: what stack inference,
/// exact-value constructors and host-side saving need.
pub trait HostStorage<E: Float>:
    Storage<E, Slice = [E]> + Copy + Debug + Default + Send + Sync
{
    /// The matrix as nested arrays.
    fn rows<const R: usize, const C: usize>(m: &Self::Mat<R, C>) -> &[[E; C]; R];
    /// The matrix as nested arrays, mutable.
    fn rows_mut<const R: usize, const C: usize>(m: &mut Self::Mat<R, C>) -> &mut [[E; C]; R];
    /// A zero matrix, built without a large stack temporary.
    fn zeros<const R: usize, const C: usize>() -> Self::Mat<R, C>;
    /// The bias as its layout's array.
    fn bias_param<B: Bias, const O: usize>(b: &Self::Bias<B, O>) -> &B::Param<E, O>;
    /// The bias as its layout's array, mutable.
    fn bias_param_mut<B: Bias, const O: usize>(b: &mut Self::Bias<B, O>) -> &mut B::Param<E, O>;
    /// A bias from its layout's array.
    fn bias_from<B: Bias, const O: usize>(b: B::Param<E, O>) -> Self::Bias<B, O>;
}

/// Weights inline in the layer value: no allocator needed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inline;

/// Weights in one heap allocation per matrix.
#[cfg(feature = "alloc")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Heap;

/// [`Storage`] and [`HostStorage`] for a host storage whose matrix is `$mat`
/// and whose bias is the layout's own array.
macro_rules! host_storage {
    ($s:ty, $mat:ty, $zeros:expr) => {
        impl<E: Float> Storage<E> for $s {
            type Slice = [E];
            type Mat<const R: usize, const C: usize> = $mat;
            type Bias<B: Bias, const O: usize> = B::Param<E, O>;
            fn len(slice: &[E]) -> usize {
                slice.len()
            }
            fn mat<const R: usize, const C: usize>(m: &$mat) -> &[E] {
                Borrow::<[[E; C]; R]>::borrow(m).as_flattened()
            }
            fn mat_mut<const R: usize, const C: usize>(m: &mut $mat) -> &mut [E] {
                BorrowMut::<[[E; C]; R]>::borrow_mut(m).as_flattened_mut()
            }
            fn bias<B: Bias, const O: usize>(b: &B::Param<E, O>) -> &[E] {
                b.as_ref()
            }
            fn bias_mut<B: Bias, const O: usize>(b: &mut B::Param<E, O>) -> &mut [E] {
                b.as_mut()
            }
            fn mat_zeros_like<const R: usize, const C: usize>(_like: &$mat) -> Result<$mat> {
                Ok(<Self as HostStorage<E>>::zeros())
            }
            fn bias_zeros_like<B: Bias, const O: usize>(
                _like: &B::Param<E, O>,
            ) -> Result<B::Param<E, O>> {
                Ok(B::zeros())
            }
        }

        impl<E: Float> HostStorage<E> for $s {
            fn rows<const R: usize, const C: usize>(m: &$mat) -> &[[E; C]; R] {
                m.borrow()
            }
            fn rows_mut<const R: usize, const C: usize>(m: &mut $mat) -> &mut [[E; C]; R] {
                m.borrow_mut()
            }
            fn zeros<const R: usize, const C: usize>() -> $mat {
                $zeros
            }
            fn bias_param<B: Bias, const O: usize>(b: &B::Param<E, O>) -> &B::Param<E, O> {
                b
            }
            fn bias_param_mut<B: Bias, const O: usize>(
                b: &mut B::Param<E, O>,
            ) -> &mut B::Param<E, O> {
                b
            }
            fn bias_from<B: Bias, const O: usize>(b: B::Param<E, O>) -> B::Param<E, O> {
                b
            }
        }
    };
}

host_storage!(Inline, [[E; C]; R], [[E::ZERO; C]; R]);

#[cfg(feature = "alloc")]
host_storage!(Heap, alloc::boxed::Box<[[E; C]; R]>, {
    // Built on the heap row by row: a 1000x1000 f64 matrix never sits on the stack.
    let rows: alloc::boxed::Box<[[E; C]]> = alloc::vec![[E::ZERO; C]; R].into_boxed_slice();
    match rows.try_into() {
        Ok(m) => m,
        Err(_) => unreachable!("vec! of R rows has length R"),
    }
});

/// [`Heap`] when the `alloc` feature is on, [`Inline`] otherwise.
#[cfg(feature = "alloc")]
pub type DefaultStorage = Heap;
/// [`Heap`] when the `alloc` feature is on, [`Inline`] otherwise.
#[cfg(not(feature = "alloc"))]
pub type DefaultStorage = Inline;
