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
///
/// Every activation trains through one blanket `Module` impl over this
/// trait, so when a layer has no `Module` impl for a device, the compiler
/// names this trait: the message below says what is missing.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot train here: it has no `Module` impl for this element type and device",
    label = "not a layer on this device",
    note = "a layer trains on a device when it implements `Module<E, In, D>` for it (the built-in activations do so through `Elementwise`)",
    note = "`RowFn` and `RowLoss` run on the `Cpu` device only"
)]
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
        impl<E: Float, P: ?Sized> Params<E, P> for $t {
            const COUNT: usize = 0;
            fn zeros_like(&self) -> forma_core::Result<Self> {
                Ok(*self)
            }
            fn visit(&self, _f: &mut impl FnMut(&P)) {}
            fn visit_mut(&mut self, _f: &mut impl FnMut(&mut P)) {}
            fn zip_mut(&mut self, _g: &Self, _f: &mut impl FnMut(&mut P, &P)) {}
            fn zip2_mut(
                &mut self,
                _g: &Self,
                _s: &mut Self,
                _f: &mut impl FnMut(&mut P, &P, &mut P),
            ) {
            }
            fn zip3_mut(
                &mut self,
                _g: &Self,
                _s: &mut Self,
                _t: &mut Self,
                _f: &mut impl FnMut(&mut P, &P, &mut P, &mut P),
            ) {
            }
            fn zip3(&self, _g: &Self, _s: &Self, _t: &Self, _f: &mut impl FnMut(&P, &P, &P, &P)) {}
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
/// impl Takes<Const<N>> for Sigmoid     { type Out = Const<N>; }
/// impl Layer<E, Const<N>> for Sigmoid  { infer: map f }
/// impl Module<E, Const<N>> for Sigmoid { Cache = output y; backward: dx = dy * df(x, y) }
/// ```
macro_rules! elementwise_layer {
    ($($t:ty),*) => {$(
        no_params!($t);

        impl<const N: usize> crate::Takes<Const<N>> for $t {
            type Out = Const<N>;
        }

        impl<E: Float, const N: usize> Layer<E, Const<N>> for $t {
            fn infer(&self, x: [E; N]) -> [E; N] {
                x.map(|v| self.f(v))
            }
        }

    )*};
}

elementwise_layer!(Sigmoid, ReLU, Tanh, LeakyReLU, Identity);

/// Every activation, at every width and on every device:
/// `y = act(x)`, `dx = dy · act'(x, y)`.
#[cfg(feature = "alloc")]
impl<E, D, A, const N: usize> crate::Module<E, Const<N>, D> for A
where
    E: Float,
    D: forma_core::Device<E>,
    A: Elementwise + Params<E, D::Slice> + crate::Takes<Const<N>, Out = Const<N>>,
{
    /// The output.
    type Cache<B: forma_core::Dim> = forma_core::Tensor<E, B, Const<N>, D>;

    fn new_cache<B: forma_core::Dim>(
        &self,
        device: &D,
        batch: B,
    ) -> forma_core::Result<Self::Cache<B>> {
        forma_core::Tensor::zeros_on(device, batch, Const)
    }

    #[inline]
    fn forward<'c, B: forma_core::Dim>(
        &self,
        device: &D,
        x: &forma_core::Tensor<E, B, Const<N>, D>,
        y: &'c mut Self::Cache<B>,
    ) -> forma_core::Result<&'c forma_core::Tensor<E, B, Const<N>, D>> {
        y.resize_rows(device, x.row_dim())?;
        let kind = forma_core::BiasKind::None;
        let (rows, act) = (x.rows(), self.activation());
        device.bias_act(rows, N, Some(x.buffer()), None, kind, act, y.buffer_mut())?;
        Ok(y)
    }

    fn output<B: forma_core::Dim>(y: &Self::Cache<B>) -> &forma_core::Tensor<E, B, Const<N>, D> {
        y
    }

    #[inline]
    fn backward<B: forma_core::Dim>(
        &self,
        device: &D,
        x: &forma_core::Tensor<E, B, Const<N>, D>,
        y: &mut Self::Cache<B>,
        dy: &forma_core::Tensor<E, B, Const<N>, D>,
        _grads: &mut Self,
        dx: Option<&mut forma_core::Tensor<E, B, Const<N>, D>>,
    ) -> forma_core::Result<()> {
        let Some(dx) = dx else { return Ok(()) };
        let act = self.activation();
        dx.resize_rows(device, dy.row_dim())?;
        // With a derivative from the output alone the input is not read: it
        // was never written when the layer before applied this activation.
        let x = if act.derivative_from_output() {
            y.buffer()
        } else {
            x.buffer()
        };
        device.act_backward(dy.len(), act, x, y.buffer(), dy.buffer(), dx.buffer_mut())
    }

    fn head_activation(&self) -> Option<forma_core::Activation> {
        Some(self.activation()).filter(|a| a.derivative_from_output())
    }

    /// `(activation, next)` backward: where `next` (a `Linear`) can carry
    /// its input gradient on through this activation, it writes this
    /// layer's input gradient itself, from this layer's output.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn backward_then<B: forma_core::Dim, Next: crate::Module<E, Const<N>, D>>(
        &self,
        device: &D,
        x: &forma_core::Tensor<E, B, Const<N>, D>,
        y: &mut Self::Cache<B>,
        grads: &mut Self,
        (next, next_cache, next_grads): (&Next, &mut Next::Cache<B>, &mut Next),
        dh: &mut forma_core::Tensor<E, B, Const<N>, D>,
        dy: &forma_core::Tensor<E, B, Next::Out, D>,
        dx: Option<&mut forma_core::Tensor<E, B, Const<N>, D>>,
    ) -> forma_core::Result<()> {
        let act = self.activation();
        match dx {
            Some(dx)
                if Next::FUSES_INPUT_DERIVATIVE
                    && D::FUSES_INPUT_DERIVATIVE
                    && act.derivative_from_output() =>
            {
                next.backward_through(device, y, next_cache, dy, next_grads, act, dx)
            }
            Some(dx) => {
                next.backward(device, y, next_cache, dy, next_grads, Some(&mut *dh))?;
                self.backward(device, x, y, dh, grads, Some(dx))
            }
            // The network's first layer: nothing to pass back, so `next`
            // need not compute its input gradient either (this layer has no
            // parameters).
            None => next.backward(device, y, next_cache, dy, next_grads, None),
        }
    }

    fn head_output<B: forma_core::Dim>(
        y: &mut Self::Cache<B>,
    ) -> Option<&mut forma_core::Tensor<E, B, Const<N>, D>> {
        Some(y)
    }

    #[inline]
    fn forward_after_head<B: forma_core::Dim>(
        &self,
        _device: &D,
        _y: &mut Self::Cache<B>,
    ) -> forma_core::Result<()> {
        Ok(())
    }
}
