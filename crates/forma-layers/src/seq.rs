//! Sequences: a pair `(A, B)` is the layer "A, then B", and pairs nest to any
//! length: `(A, (B, (C, D)))`. [`seq!`](crate::seq!) writes the nesting for you.
//!
//! The pair is a layer only if `B` takes what `A` outputs, so a width mismatch
//! anywhere in a network is a compile error naming both widths.

use core::ops::Add;

use forma_core::generic_array::ArrayLength;
use forma_core::typenum::Sum;
use forma_core::{ConstDim, Float, Rng};

use crate::{FixedInput, FlatParams, Layer, Params, Takes};

/// Builds a nested sequence: `seq!(a, b, c)` is `(a, (b, c))`, and the type
/// `seq!(@type A, B, C)` is `(A, (B, C))`.
#[macro_export]
macro_rules! seq {
    (@type $a:ty $(,)?) => { $a };
    (@type $a:ty, $($rest:ty),+ $(,)?) => { ($a, $crate::seq!(@type $($rest),+)) };
    ($a:expr $(,)?) => { $a };
    ($a:expr, $($rest:expr),+ $(,)?) => { ($a, $crate::seq!($($rest),+)) };
}

/// `(a, b)`, checking at compile time that `b` takes what `a` outputs.
///
/// Writing the pair directly is equally fine; this makes the error appear where
/// the network is built rather than where it is first used.
pub fn chain<E: Float, A: FixedInput + Layer<E, A::Input>, B: Layer<E, A::Out>>(
    a: A,
    b: B,
) -> (A, B) {
    (a, b)
}

impl<A: FixedInput, B> FixedInput for (A, B) {
    type Input = A::Input;
}

/// Layers that can be created with PyTorch's default initialisation.
pub trait Initialize: Sized {
    /// Every `Linear` as `nn.Linear` would be (U(-1/√fan_in, 1/√fan_in)),
    /// drawn in order from the first layer to the last.
    fn initialize(rng: &mut Rng) -> Self;
}

impl<E: Float, P: ?Sized, A: Params<E, P>, B: Params<E, P>> Params<E, P> for (A, B) {
    const COUNT: usize = A::COUNT + B::COUNT;

    fn zeros_like(&self) -> forma_core::Result<Self> {
        Ok((self.0.zeros_like()?, self.1.zeros_like()?))
    }
    #[inline]
    fn visit(&self, f: &mut impl FnMut(&P)) {
        self.0.visit(f);
        self.1.visit(f);
    }
    #[inline]
    fn visit_mut(&mut self, f: &mut impl FnMut(&mut P)) {
        self.0.visit_mut(f);
        self.1.visit_mut(f);
    }
    #[inline]
    fn zip_mut(&mut self, g: &Self, f: &mut impl FnMut(&mut P, &P)) {
        self.0.zip_mut(&g.0, f);
        self.1.zip_mut(&g.1, f);
    }
    fn zip2_mut(&mut self, g: &Self, s: &mut Self, f: &mut impl FnMut(&mut P, &P, &mut P)) {
        self.0.zip2_mut(&g.0, &mut s.0, f);
        self.1.zip2_mut(&g.1, &mut s.1, f);
    }
    fn zip3_mut(
        &mut self,
        g: &Self,
        s: &mut Self,
        t: &mut Self,
        f: &mut impl FnMut(&mut P, &P, &mut P, &mut P),
    ) {
        self.0.zip3_mut(&g.0, &mut s.0, &mut t.0, f);
        self.1.zip3_mut(&g.1, &mut s.1, &mut t.1, f);
    }
    fn zip3(&self, g: &Self, s: &Self, t: &Self, f: &mut impl FnMut(&P, &P, &P, &P)) {
        self.0.zip3(&g.0, &s.0, &t.0, f);
        self.1.zip3(&g.1, &s.1, &t.1, f);
    }
    fn known_max(&self) -> Option<E> {
        Some(self.0.known_max()?.max(self.1.known_max()?))
    }
}

impl<A: FlatParams<E>, B: FlatParams<E>, E: Float> FlatParams<E> for (A, B)
where
    A::Count: Add<B::Count>,
    Sum<A::Count, B::Count>: ArrayLength,
{
    type Count = Sum<A::Count, B::Count>;
}

impl<A: Initialize, B: Initialize> Initialize for (A, B) {
    fn initialize(rng: &mut Rng) -> Self {
        let a = A::initialize(rng);
        (a, B::initialize(rng))
    }
}

impl<In: ConstDim, A: Takes<In>, B: Takes<A::Out>> Takes<In> for (A, B) {
    type Out = B::Out;
}

impl<E: Float, In: ConstDim, A: Layer<E, In>, B: Layer<E, A::Out>> Layer<E, In> for (A, B) {
    fn infer(&self, x: In::Array<E>) -> <B::Out as ConstDim>::Array<E> {
        self.1.infer(self.0.infer(x))
    }
}

#[cfg(feature = "alloc")]
mod train {
    use super::*;
    use crate::Module;
    use forma_core::{Activation, Device, Dim, Result, Tensor};

    /// The cache of `(A, B)`: both caches and the gradient between them.
    #[derive(Debug, Clone)]
    pub struct PairCache<CA, CB, H> {
        a: CA,
        b: CB,
        dh: H,
    }

    /// The activation `A` applies for `B` in a fused forward of `(A, B)`, if any.
    fn fused_activation<E, D, In, A, B>(pair: &(A, B)) -> Option<Activation>
    where
        E: Float,
        D: Device<E>,
        In: ConstDim,
        A: Module<E, In, D>,
        B: Module<E, A::Out, D>,
    {
        if A::FUSES_ACTIVATION {
            pair.1.head_activation()
        } else {
            None
        }
    }

    /// `(A, B)` on any device: A then B forward, B then A backward. When A
    /// can apply B's leading activation in its own pass (a `Linear` then a
    /// `Sigmoid`), it writes straight into that activation's output.
    impl<E, D, In, A, B> Module<E, In, D> for (A, B)
    where
        E: Float,
        D: Device<E>,
        In: ConstDim,
        A: Module<E, In, D>,
        B: Module<E, A::Out, D>,
    {
        type Cache<Bt: Dim> = PairCache<A::Cache<Bt>, B::Cache<Bt>, Tensor<E, Bt, A::Out, D>>;

        fn new_cache<Bt: Dim>(&self, device: &D, batch: Bt) -> Result<Self::Cache<Bt>> {
            Ok(PairCache {
                a: self.0.new_cache(device, batch)?,
                b: self.1.new_cache(device, batch)?,
                dh: Tensor::zeros_on(device, batch, Default::default())?,
            })
        }

        #[inline]
        fn forward<'c, Bt: Dim>(
            &self,
            device: &D,
            x: &Tensor<E, Bt, In, D>,
            cache: &'c mut Self::Cache<Bt>,
        ) -> Result<&'c Tensor<E, Bt, B::Out, D>> {
            if let Some(act) = fused_activation::<E, D, In, A, B>(self) {
                let Some(out) = B::head_output(&mut cache.b) else {
                    return Err(forma_core::Error::Invalid {
                        what: "Module::head_output (needed when head_activation is Some)",
                        value: f64::NAN,
                        expected: "a layer that implements the fusion hooks it announces",
                    });
                };
                self.0.forward_fused(device, x, &mut cache.a, act, out)?;
                self.1.forward_after_head(device, &mut cache.b)?;
                return Ok(B::output(&cache.b));
            }
            let h = self.0.forward(device, x, &mut cache.a)?;
            self.1.forward(device, h, &mut cache.b)
        }

        fn output<Bt: Dim>(cache: &Self::Cache<Bt>) -> &Tensor<E, Bt, B::Out, D> {
            B::output(&cache.b)
        }

        #[inline]
        fn backward<Bt: Dim>(
            &self,
            device: &D,
            x: &Tensor<E, Bt, In, D>,
            cache: &mut Self::Cache<Bt>,
            dy: &Tensor<E, Bt, B::Out, D>,
            grads: &mut Self,
            dx: Option<&mut Tensor<E, Bt, In, D>>,
        ) -> Result<()> {
            let PairCache { a, b, dh } = cache;
            // After a fused forward B reads only its own output, not A's
            // input. An activation A may let B carry the gradient through it.
            self.0.backward_then(
                device,
                x,
                a,
                &mut grads.0,
                (&self.1, b, &mut grads.1),
                dh,
                dy,
                dx,
            )
        }

        const FUSES_INPUT_DERIVATIVE: bool = A::FUSES_INPUT_DERIVATIVE;

        #[inline]
        fn backward_through<Bt: Dim>(
            &self,
            device: &D,
            x: &Tensor<E, Bt, In, D>,
            cache: &mut Self::Cache<Bt>,
            dy: &Tensor<E, Bt, B::Out, D>,
            grads: &mut Self,
            act: Activation,
            dx: &mut Tensor<E, Bt, In, D>,
        ) -> Result<()> {
            // A carries the gradient through `act` itself
            // (A::FUSES_INPUT_DERIVATIVE), so it is no activation layer and
            // there is nothing to fuse between A and B: only B's own pairs
            // may fuse, inside its backward.
            let PairCache { a, b, dh } = cache;
            self.1
                .backward(device, A::output(a), b, dy, &mut grads.1, Some(dh))?;
            self.0
                .backward_through(device, x, a, dh, &mut grads.0, act, dx)
        }

        fn head_activation(&self) -> Option<Activation> {
            self.0.head_activation()
        }

        fn head_output<Bt: Dim>(cache: &mut Self::Cache<Bt>) -> Option<&mut Tensor<E, Bt, In, D>> {
            A::head_output(&mut cache.a)
        }

        #[inline]
        fn forward_after_head<Bt: Dim>(
            &self,
            device: &D,
            cache: &mut Self::Cache<Bt>,
        ) -> Result<()> {
            self.0.forward_after_head(device, &mut cache.a)?;
            self.1.forward(device, A::output(&cache.a), &mut cache.b)?;
            Ok(())
        }
    }
}
#[cfg(feature = "alloc")]
pub use train::PairCache;
