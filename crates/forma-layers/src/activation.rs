//! Elementwise activations: one trait for the function and its derivative,
//! one macro that turns each into a layer of any width.

use core::fmt::Debug;

use forma_core::{Activation, Const, Float};

use crate::{Layer, Params};

/// An elementwise function with its derivative.
///
/// Each is one [`Activation`]: the formulas live in forma-core, shared with
/// every device, so a network computes the same values on the CPU path and on
/// any [`Device`](forma_core::Device).
pub trait Elementwise: Copy + Debug + Default + Send + Sync + 'static {
    /// The function as a value a device dispatches on.
    fn activation(&self) -> Activation;
    /// `y = f(x)`.
    #[inline(always)]
    fn f<E: Float>(&self, x: E) -> E {
        self.activation().apply(x)
    }
    /// `dy/dx`, given both `x` and `y = f(x)` (whichever is cheaper).
    #[inline(always)]
    fn df<E: Float>(&self, x: E, y: E) -> E {
        self.activation().derivative(x, y)
    }
}

/// `1 / (1 + e^-x)`, with [`Float::exp_fast`]: vectorisable for `f32`, libm's for `f64`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sigmoid;

/// `max(0, x)`; its derivative at 0 is 0, as in PyTorch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReLU;

/// `tanh(x)`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tanh;

/// `x` for `x > 0`, else `slope * x` (PyTorch's default slope is 0.01).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyReLU {
    slope: f64,
}

impl LeakyReLU {
    /// A leaky ReLU with this slope for negative inputs; `Err` unless the
    /// slope is finite in `f32`, the narrowest element type it may run in
    /// (and the CUDA kernels' type).
    pub fn new(slope: f64) -> forma_core::Result<Self> {
        if !(slope as f32).is_finite() {
            return Err(forma_core::Error::Config {
                what: "LeakyReLU slope must be finite (in f32)",
                got: slope,
            });
        }
        Ok(LeakyReLU { slope })
    }

    /// The slope for negative inputs.
    pub fn slope(&self) -> f64 {
        self.slope
    }
}

impl Default for LeakyReLU {
    fn default() -> Self {
        LeakyReLU { slope: 0.01 }
    }
}

/// `x`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Identity;

macro_rules! activation_is {
    ($($t:ty => |$s:ident| $a:expr),* $(,)?) => {$(
        impl Elementwise for $t {
            #[inline(always)]
            fn activation(&self) -> Activation {
                let $s = self;
                $a
            }
        }
    )*};
}

activation_is!(
    Sigmoid => |_s| Activation::Sigmoid,
    ReLU => |_s| Activation::ReLU,
    Tanh => |_s| Activation::Tanh,
    LeakyReLU => |s| Activation::LeakyReLU { slope: s.slope },
    Identity => |_s| Activation::Identity,
);

/// A layer without parameters: every [`Params`] method is a no-op.
macro_rules! no_params {
    ($t:ty) => {
        impl<E: Float> Params<E> for $t {
            const COUNT: usize = 0;
            fn zeros_like(&self) -> Self {
                *self
            }
            fn visit(&self, _f: &mut impl FnMut(&[E])) {}
            fn visit_mut(&mut self, _f: &mut impl FnMut(&mut [E])) {}
            fn zip_mut(&mut self, _g: &Self, _f: &mut impl FnMut(&mut [E], &[E])) {}
            fn zip2_mut(
                &mut self,
                _g: &Self,
                _s: &mut Self,
                _f: &mut impl FnMut(&mut [E], &[E], &mut [E]),
            ) {
            }
            fn zip3_mut(
                &mut self,
                _g: &Self,
                _s: &mut Self,
                _t: &mut Self,
                _f: &mut impl FnMut(&mut [E], &[E], &mut [E], &mut [E]),
            ) {
            }
            fn zip3(
                &self,
                _g: &Self,
                _s: &Self,
                _t: &Self,
                _f: &mut impl FnMut(&[E], &[E], &[E], &[E]),
            ) {
            }
        }
        impl<E: Float> crate::FlatParams<E> for $t {
            type Count = forma_core::typenum::U0;
        }
    };
}
pub(crate) use no_params;

/// Turns an [`Elementwise`] function into a layer of every width `N`:
///
/// ```text
/// impl Layer<E, Const<N>> for Sigmoid  { type Out = Const<N>; infer: map f }
/// impl Module<E, Const<N>> for Sigmoid { Cache = output y; backward: dx = dy * df(x, y) }
/// ```
macro_rules! elementwise_layer {
    ($($t:ty),*) => {$(
        no_params!($t);

        impl<E: Float, const N: usize> Layer<E, Const<N>> for $t {
            type Out = Const<N>;
            fn infer(&self, x: [E; N]) -> [E; N] {
                x.map(|v| self.f(v))
            }
        }

        #[cfg(feature = "alloc")]
        impl<E: Float, const N: usize> crate::Module<E, Const<N>> for $t {
            type Cache<B: forma_core::Dim> = forma_core::Tensor<E, B, Const<N>>;

            fn new_cache<B: forma_core::Dim>(&self, batch: B) -> Self::Cache<B> {
                forma_core::Tensor::zeros(batch, Const)
            }

            fn forward<'c, B: forma_core::Dim>(
                &self,
                x: &forma_core::Tensor<E, B, Const<N>>,
                y: &'c mut Self::Cache<B>,
            ) -> &'c forma_core::Tensor<E, B, Const<N>> {
                y.set_rows(x.row_dim());
                for (o, &i) in y.as_mut_slice().iter_mut().zip(x.as_slice()) {
                    *o = self.f(i);
                }
                y
            }

            fn output<B: forma_core::Dim>(y: &Self::Cache<B>) -> &forma_core::Tensor<E, B, Const<N>> {
                y
            }

            fn backward<B: forma_core::Dim>(
                &self,
                x: &forma_core::Tensor<E, B, Const<N>>,
                y: &mut Self::Cache<B>,
                dy: &forma_core::Tensor<E, B, Const<N>>,
                _grads: &mut Self,
                dx: Option<&mut forma_core::Tensor<E, B, Const<N>>>,
            ) {
                if let Some(dx) = dx {
                    dx.set_rows(x.row_dim());
                    let (xs, ys, gs) = (x.as_slice(), y.as_slice(), dy.as_slice());
                    for (k, d) in dx.as_mut_slice().iter_mut().enumerate() {
                        *d = gs[k] * self.df(xs[k], ys[k]);
                    }
                }
            }
        }
    )*};
}

elementwise_layer!(Sigmoid, ReLU, Tanh, LeakyReLU, Identity);
