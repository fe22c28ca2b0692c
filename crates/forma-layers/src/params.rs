//! Visiting every parameter of a network, whatever its type.

use forma_core::generic_array::{ArrayLength, GenericArray};
use forma_core::{Error, Float, Result};

/// A value holding parameters: a layer, a sequence of layers, or the gradient
/// of one (a gradient has the same type as its layer, so an optimizer walks
/// both in lockstep).
///
/// `P` is what a parameter buffer is borrowed as: `[E]` (the default) for
/// host storage, a device's slice for parameters in its memory (see
/// [`Storage`](crate::Storage)). The methods that read values on the host
/// (`copy_to`, `load`, `to_vec`) need host memory.
///
/// The order of visiting is fixed: it is the order of [`Params::copy_to`] and
/// [`Params::load`]. For `Linear` it is the weight (out x in, row-major), then
/// the bias.
pub trait Params<E: Float, P: ?Sized = [E]>: Sized {
    /// The number of scalar parameters, known at compile time:
    /// `Mlp::<2, 2, 1>::COUNT == 9`, as the XOR tutorial prints.
    const COUNT: usize;
    /// The same structure with every parameter zero, in the same place (a
    /// gradient or optimizer state). `Err` only when that place is a
    /// device whose memory is exhausted.
    fn zeros_like(&self) -> Result<Self>;
    /// Calls `f` on each parameter buffer.
    fn visit(&self, f: &mut impl FnMut(&P));
    /// Calls `f` on each parameter buffer, mutably.
    fn visit_mut(&mut self, f: &mut impl FnMut(&mut P));
    /// Walks `self` and a gradient `g` in lockstep.
    fn zip_mut(&mut self, g: &Self, f: &mut impl FnMut(&mut P, &P));
    /// Walks `self`, a gradient and one optimizer state in lockstep.
    fn zip2_mut(&mut self, g: &Self, s: &mut Self, f: &mut impl FnMut(&mut P, &P, &mut P));
    /// Walks `self`, a gradient and two optimizer states in lockstep.
    fn zip3_mut(
        &mut self,
        g: &Self,
        s: &mut Self,
        t: &mut Self,
        f: &mut impl FnMut(&mut P, &P, &mut P, &mut P),
    );

    /// Walks `self`, a gradient and two optimizer states in lockstep,
    /// reading only (an optimizer's check before it updates).
    fn zip3(&self, g: &Self, s: &Self, t: &Self, f: &mut impl FnMut(&P, &P, &P, &P));

    /// The largest magnitude of these values when it is known without
    /// reading them, every value then being finite; `None` when it is not
    /// known. A `Linear`'s backward on the CPU measures the gradients it
    /// writes while they are in cache (see
    /// [`Device::linear_backward_fixed`](forma_core::Device::linear_backward_fixed)),
    /// so a checked training step need not read them again. Any mutable
    /// access forgets it. The default, always correct, is zero for a value
    /// without parameters and `None` (unknown: the reader scans) otherwise.
    fn known_max(&self) -> Option<E> {
        (Self::COUNT == 0).then_some(E::ZERO)
    }

    /// The number of scalar parameters.
    fn param_count(&self) -> usize {
        Self::COUNT
    }

    /// Writes every parameter, in visiting order, into `out` (length [`Params::COUNT`]).
    fn copy_to(&self, out: &mut [E]) -> Result<()>
    where
        P: AsRef<[E]>,
    {
        if out.len() != Self::COUNT {
            return Err(Error::Length {
                what: "Params::copy_to",
                expected: Self::COUNT,
                got: out.len(),
            });
        }
        let mut at = 0;
        self.visit(&mut |p| {
            let p = p.as_ref();
            out[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        });
        Ok(())
    }

    /// Reads every parameter, in visiting order, from `src` (length
    /// [`Params::COUNT`], all finite).
    fn load(&mut self, src: &[E]) -> Result<()>
    where
        P: AsMut<[E]>,
    {
        if src.len() != Self::COUNT {
            return Err(Error::Length {
                what: "Params::load",
                expected: Self::COUNT,
                got: src.len(),
            });
        }
        forma_core::check_finite("Params::load", src)?;
        let mut at = 0;
        self.visit_mut(&mut |p| {
            let p = p.as_mut();
            let n = p.len();
            p.copy_from_slice(&src[at..at + n]);
            at += n;
        });
        Ok(())
    }

    /// Every parameter, in visiting order.
    #[cfg(feature = "alloc")]
    fn to_vec(&self) -> alloc::vec::Vec<E>
    where
        P: AsRef<[E]>,
    {
        let mut v = alloc::vec::Vec::with_capacity(Self::COUNT);
        self.visit(&mut |p| v.extend_from_slice(p.as_ref()));
        v
    }
}

/// Parameters whose count is also a type-level number (typenum), so that they
/// fit an exact-length [`GenericArray`] with no allocator: weights can be
/// embedded with `include_bytes!` and loaded on a `no_std` target, with the
/// length checked by the compiler.
///
/// Available for layers whose widths typenum maps (`0..=1024` and powers of 2
/// and 10); [`Params`] itself has no such limit.
pub trait FlatParams<E: Float>: Params<E> {
    /// [`Params::COUNT`] as a typenum unsigned integer.
    type Count: ArrayLength;

    /// Every parameter in visiting order, in an exact-length inline array.
    fn to_array(&self) -> GenericArray<E, Self::Count> {
        let mut a =
            GenericArray::<E, Self::Count>::from_iter(core::iter::repeat_n(E::ZERO, Self::COUNT));
        match self.copy_to(a.as_mut_slice()) {
            Ok(()) => a,
            Err(_) => unreachable!("FlatParams::Count equals Params::COUNT"),
        }
    }

    /// Loads every parameter from an exact-length array (finite values only).
    fn load_array(&mut self, a: &GenericArray<E, Self::Count>) -> Result<()> {
        self.load(a.as_slice())
    }
}
