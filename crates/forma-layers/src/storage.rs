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

/// Weights in one heap allocation per matrix, aligned to 64 bytes: its
/// matrix type is `Box<Aligned<[[E; C]; R]>>` (build one with
/// [`HostStorage::zeros`] and fill it through [`HostStorage::rows_mut`];
/// `Box::new(Aligned(array))` would build a large matrix on the stack
/// first).
#[cfg(feature = "alloc")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Heap;

/// [`Storage`] and [`HostStorage`] for a host storage whose matrix is `$mat`
/// (`$rows` and `$rows_mut` its rows, given the matrix as `$m`, `$mm`)
/// and whose bias is the layout's own array.
macro_rules! host_storage {
    ($s:ty, $mat:ty, |$m:ident| $rows:expr, |$mm:ident| $rows_mut:expr, $zeros:expr) => {
        impl<E: Float> Storage<E> for $s {
            type Slice = [E];
            type Mat<const R: usize, const C: usize> = $mat;
            type Bias<B: Bias, const O: usize> = B::Param<E, O>;
            fn len(slice: &[E]) -> usize {
                slice.len()
            }
            fn mat<const R: usize, const C: usize>(m: &$mat) -> &[E] {
                <Self as HostStorage<E>>::rows(m).as_flattened()
            }
            fn mat_mut<const R: usize, const C: usize>(m: &mut $mat) -> &mut [E] {
                <Self as HostStorage<E>>::rows_mut(m).as_flattened_mut()
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
            fn rows<const R: usize, const C: usize>($m: &$mat) -> &[[E; C]; R] {
                $rows
            }
            fn rows_mut<const R: usize, const C: usize>($mm: &mut $mat) -> &mut [[E; C]; R] {
                $rows_mut
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

host_storage!(Inline, [[E; C]; R], |m| m, |m| m, [[E::ZERO; C]; R]);

/// A value aligned to 64 bytes, a cache line and an AVX-512 vector: what
/// `Heap` keeps a matrix in, so that the matrix starts on a line (and so
/// does every row that is a whole number of lines long: 16 `f32`s or 8
/// `f64`s, or a multiple). A `Box<[[f32; C]; R]>` is aligned to 4 bytes by
/// its type, and glibc's allocator gives a large one 16 bytes past a line,
/// where every 64-byte load of a row straddles two lines: a batch-1
/// 784x256 product (a weight streamed from L2) took 6.77-6.97 µs unaligned
/// and 6.30-6.38 µs aligned (AVX-512, one thread; Zen 5, 2026-12-03).
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Aligned<T>(pub T);

#[cfg(feature = "alloc")]
host_storage!(
    Heap,
    alloc::boxed::Box<Aligned<[[E; C]; R]>>,
    |m| &m.0,
    |m| &mut m.0,
    heap_zeros::<E, R, C>()
);

/// A zero `R x C` matrix in its own aligned heap allocation, written in
/// place: a 1000x1000 f64 matrix never sits on the stack.
#[cfg(feature = "alloc")]
fn heap_zeros<E: Float, const R: usize, const C: usize>() -> alloc::boxed::Box<Aligned<[[E; C]; R]>>
{
    let mut m = alloc::boxed::Box::<Aligned<[[E; C]; R]>>::new_uninit();
    let first = m.as_mut_ptr().cast::<E>();
    for i in 0..R * C {
        // SAFETY: `Aligned` is `repr(C)` with the array at offset 0, and
        // `[[E; C]; R]` is `R * C` contiguous `E`s: element `i < R * C` is
        // within the allocation and aligned for `E`. `E: Copy`: writing
        // over uninitialised memory drops nothing.
        unsafe { first.add(i).write(E::ZERO) };
    }
    // SAFETY: every element of the array was written above; the padding
    // after it (to a multiple of 64 bytes) needs no value.
    unsafe { m.assume_init() }
}

/// [`Heap`] when the `alloc` feature is on, [`Inline`] otherwise.
#[cfg(feature = "alloc")]
pub type DefaultStorage = Heap;
/// [`Heap`] when the `alloc` feature is on, [`Inline`] otherwise.
#[cfg(not(feature = "alloc"))]
pub type DefaultStorage = Inline;

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;

    /// `heap_zeros` (unsafe: written in place) gives zeros, at a 64-byte
    /// boundary, for shapes small and large (a 1000x1000 f64 matrix would
    /// overflow a test thread's stack if it were built there).
    #[test]
    fn heap_matrices_are_zero_and_aligned_to_a_line() {
        fn check<E: Float, const R: usize, const C: usize>() {
            // Zeros read back; an element left unwritten would be undefined
            // behaviour, which only Miri sees reliably (fresh pages are
            // zero too), so the SAFETY argument rests on the loop's range.
            let mut m = <Heap as HostStorage<E>>::zeros::<R, C>();
            let flat = <Heap as Storage<E>>::mat(&m);
            assert_eq!(flat.len(), R * C);
            assert!(flat.iter().all(|&v| v == E::ZERO), "{R}x{C} {}", E::NAME);
            assert_eq!(flat.as_ptr() as usize % 64, 0, "{R}x{C} {}", E::NAME);
            let copy = m.clone();
            assert_eq!(<Heap as Storage<E>>::mat(&copy).as_ptr() as usize % 64, 0);
            if R * C > 0 {
                // Every element is its own: the last row's last is writable.
                <Heap as HostStorage<E>>::rows_mut(&mut m)[R - 1][C - 1] = E::ONE;
                assert_eq!(<Heap as Storage<E>>::mat(&m)[R * C - 1], E::ONE);
            }
        }
        check::<f32, 0, 3>();
        check::<f32, 3, 0>();
        check::<f32, 1, 1>();
        check::<f32, 3, 5>();
        check::<f64, 7, 9>();
        check::<f32, 256, 784>();
        check::<f64, 1000, 1000>();
    }
}
