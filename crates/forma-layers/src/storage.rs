//! Where a layer keeps its weight matrix: on the heap or inline.

use core::borrow::{Borrow, BorrowMut};
use core::fmt::Debug;

use forma_core::Float;

/// A family of `R x C` matrix buffers, chosen per layer by a type parameter.
///
/// [`Heap`] (`Box<[[E; C]; R]>`) suits any size and moves cheaply; [`Inline`]
/// (`[[E; C]; R]`) needs no allocator, for small nets on `no_std` targets.
pub trait Storage: Copy + Debug + Default + Send + Sync + 'static {
    /// The buffer of an `R x C` matrix of `E`.
    type Mat<E: Float, const R: usize, const C: usize>: Clone
        + Debug
        + PartialEq
        + Send
        + Sync
        + Borrow<[[E; C]; R]>
        + BorrowMut<[[E; C]; R]>;
    /// A zero matrix, built without a large stack temporary.
    fn zeros<E: Float, const R: usize, const C: usize>() -> Self::Mat<E, R, C>;
}

/// Weights inline in the layer value: no allocator needed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inline;

impl Storage for Inline {
    type Mat<E: Float, const R: usize, const C: usize> = [[E; C]; R];
    fn zeros<E: Float, const R: usize, const C: usize>() -> [[E; C]; R] {
        [[E::ZERO; C]; R]
    }
}

/// Weights in one heap allocation per matrix.
#[cfg(feature = "alloc")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Heap;

#[cfg(feature = "alloc")]
impl Storage for Heap {
    type Mat<E: Float, const R: usize, const C: usize> = alloc::boxed::Box<[[E; C]; R]>;
    fn zeros<E: Float, const R: usize, const C: usize>() -> alloc::boxed::Box<[[E; C]; R]> {
        // Built on the heap row by row: a 1000x1000 f64 matrix never sits on the stack.
        let rows: alloc::boxed::Box<[[E; C]]> = alloc::vec![[E::ZERO; C]; R].into_boxed_slice();
        match rows.try_into() {
            Ok(m) => m,
            Err(_) => unreachable!("vec! of R rows has length R"),
        }
    }
}

/// [`Heap`] when the `alloc` feature is on, [`Inline`] otherwise.
#[cfg(feature = "alloc")]
pub type DefaultStorage = Heap;
/// [`Heap`] when the `alloc` feature is on, [`Inline`] otherwise.
#[cfg(not(feature = "alloc"))]
pub type DefaultStorage = Inline;
