//! [`Module`]: the one trait a trainable layer implements, for every device.

use forma_core::{Activation, ConstDim, Cpu, Device, Dim, Float, Result, Tensor};

use crate::{FixedInput, Params, Takes};

/// Training: a batched forward into a reusable typed cache, and a backward
/// that fills a gradient of the layer's own type, on device `D` (the
/// [`Cpu`] unless named).
///
/// ```text
/// forward (x, cache)            -> &y          (y lives in the cache)
/// backward(x, cache, dy, grads) -> grads = dL/dθ, and dx if asked for
/// ```
/// The layer's parameters live in its own storage on `D` (the
/// [`Params`] supertrait walks them), and every tensor it takes or makes
/// carries its width in its type, on every device. The cache holds every
/// buffer of one pass for batches of row type `B`; it is built once by
/// [`Module::new_cache`] and adapts to another batch length, allocating
/// only to grow beyond the largest one. Backward overwrites `grads` (it
/// does not accumulate).
///
/// A layer is written once, generic over `D`, from the [`Device`]
/// primitives (matrix products, elementwise `binary` and `axpby`, sums
/// along an axis, activations, softmax). The guide (`forma::guide`, in
/// `docs/guide.md`) writes a SiLU and a residual block that way.
///
/// The five items after [`Module::backward`] let a layer that can apply
/// an activation in its own output pass (`Linear`) write straight into
/// the activation's output, and the three after them let it carry its
/// input gradient on through the activation before it; their defaults
/// opt out (an activation layer's [`Module::backward_then`] opts in).
pub trait Module<E: Float, In: ConstDim, D: Device<E> = Cpu>:
    Takes<In> + Params<E, D::Slice>
{
    /// The buffers of one forward and backward pass.
    type Cache<B: Dim>;
    /// Buffers for batches of `batch` rows.
    fn new_cache<B: Dim>(&self, device: &D, batch: B) -> Result<Self::Cache<B>>;
    /// Computes the output of a batch into `cache` and returns it.
    fn forward<'c, B: Dim>(
        &self,
        device: &D,
        x: &Tensor<E, B, In, D>,
        cache: &'c mut Self::Cache<B>,
    ) -> Result<&'c Tensor<E, B, Self::Out, D>>;
    /// The output of the last [`Module::forward`] on this cache.
    fn output<B: Dim>(cache: &Self::Cache<B>) -> &Tensor<E, B, Self::Out, D>;
    /// Given the input and cache of the last forward and the gradient `dy` of
    /// the loss with respect to the output, writes the parameter gradients
    /// to `grads` and, if `dx` is given, the gradient with respect to the
    /// input.
    fn backward<B: Dim>(
        &self,
        device: &D,
        x: &Tensor<E, B, In, D>,
        cache: &mut Self::Cache<B>,
        dy: &Tensor<E, B, Self::Out, D>,
        grads: &mut Self,
        dx: Option<&mut Tensor<E, B, In, D>>,
    ) -> Result<()>;

    /// Whether [`Module::forward_fused`] is implemented.
    const FUSES_ACTIVATION: bool = false;

    /// The activation this layer (or sequence) starts with, if its
    /// derivative needs only its output
    /// ([`Activation::derivative_from_output`]): the layer before may then
    /// apply it in its own pass. A layer that says so implements
    /// [`Module::head_output`] and [`Module::forward_after_head`] too, and
    /// its backward must not read its input `x` after such a fused forward
    /// (it was never written).
    fn head_activation(&self) -> Option<Activation> {
        None
    }

    /// The output tensor of that first activation.
    fn head_output<B: Dim>(cache: &mut Self::Cache<B>) -> Option<&mut Tensor<E, B, In, D>> {
        let _ = cache;
        None
    }

    /// The forward pass after the first activation's output was written by
    /// the layer before it.
    fn forward_after_head<B: Dim>(&self, device: &D, cache: &mut Self::Cache<B>) -> Result<()> {
        let _ = (device, cache);
        Err(unfused(
            "forward_after_head (needed when head_activation is Some)",
        ))
    }

    /// The forward pass with `act` applied to the output, written to `out`
    /// instead of this layer's cache.
    fn forward_fused<B: Dim>(
        &self,
        device: &D,
        x: &Tensor<E, B, In, D>,
        cache: &mut Self::Cache<B>,
        act: Activation,
        out: &mut Tensor<E, B, Self::Out, D>,
    ) -> Result<()> {
        let _ = (device, x, cache, act, out);
        Err(unfused(
            "forward_fused (needed when FUSES_ACTIVATION is true)",
        ))
    }

    /// The backward pass of the sequence `(self, next)`: `next`'s backward,
    /// whose input gradient `dh` is then this layer's output gradient. An
    /// activation layer overrides it: when `next` can carry its input
    /// gradient on through the activation ([`Module::backward_through`],
    /// a `Linear`) on a device that fuses that
    /// ([`Device::FUSES_INPUT_DERIVATIVE`]), `next` writes this layer's
    /// input gradient into `dx` itself and this layer's own pass (a read of
    /// the gradient just written, and a write) is skipped.
    ///
    /// A pair `(A, B)` calls it on `A` with `next = B`; so the fusion
    /// happens where an activation is the first element of a pair whose
    /// second starts with a `Linear`, as everywhere in a [`seq!`](crate::seq!)
    /// (which nests to the right). In a left-nested `((L, Sigmoid), L2)`
    /// (`chain(chain(l, Sigmoid), l2)`) the Sigmoid ends the inner pair and
    /// runs its own backward pass: the same result, one pass more.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn backward_then<B: Dim, Next: Module<E, Self::Out, D>>(
        &self,
        device: &D,
        x: &Tensor<E, B, In, D>,
        cache: &mut Self::Cache<B>,
        grads: &mut Self,
        (next, next_cache, next_grads): (&Next, &mut Next::Cache<B>, &mut Next),
        dh: &mut Tensor<E, B, Self::Out, D>,
        dy: &Tensor<E, B, Next::Out, D>,
        dx: Option<&mut Tensor<E, B, In, D>>,
    ) -> Result<()> {
        next.backward(
            device,
            Self::output(cache),
            next_cache,
            dy,
            next_grads,
            Some(&mut *dh),
        )?;
        self.backward(device, x, cache, dh, grads, dx)
    }

    /// Whether [`Module::backward_through`] is implemented (`Linear`, and
    /// sequences that start with one): the layer's side of
    /// [`Device::FUSES_INPUT_DERIVATIVE`].
    const FUSES_INPUT_DERIVATIVE: bool = false;

    /// [`Module::backward`], with the input gradient carried on through
    /// `act`, the activation whose output `x` is: `dx` gets the gradient
    /// with respect to that activation's input, `(dL/dx) ·
    /// act.derivative(x, x)` elementwise (the derivative as a function of
    /// the output), as the activation's own backward would have made it,
    /// bit for bit. Called by an activation layer's
    /// [`Module::backward_then`] (and by a pair, for its first element)
    /// only on a device whose [`Device::FUSES_INPUT_DERIVATIVE`] is true.
    #[allow(clippy::too_many_arguments)]
    fn backward_through<B: Dim>(
        &self,
        device: &D,
        x: &Tensor<E, B, In, D>,
        cache: &mut Self::Cache<B>,
        dy: &Tensor<E, B, Self::Out, D>,
        grads: &mut Self,
        act: Activation,
        dx: &mut Tensor<E, B, In, D>,
    ) -> Result<()> {
        let _ = (device, x, cache, dy, grads, act, dx);
        Err(unfused(
            "backward_through (needed when FUSES_INPUT_DERIVATIVE is true)",
        ))
    }
}

/// The error of a fusion hook a layer announced but did not implement.
fn unfused(what: &'static str) -> forma_core::Error {
    forma_core::Error::Invalid {
        what,
        value: f64::NAN,
        expected: "a layer that implements the fusion hooks it announces",
    }
}

/// A network that can be trained: a [`Module`] at its own input width, so
/// that a cache can be built without naming that width.
///
/// ```
/// use forma_core::{Batch, Cpu};
/// use forma_layers::{Initialize, Mlp, Model, Module};
/// let net = Mlp::<4, 8, 2>::initialize(&mut forma_core::rng(0));
/// let mut cache = net.cache(&Cpu, 16).unwrap();
/// let x = Batch::<f32, 4>::from_flat(&[0.5; 64]).unwrap();
/// assert_eq!(net.forward(&Cpu, &x, &mut cache).unwrap().rows(), 16);
/// ```
pub trait Model<E: Float, D: Device<E> = Cpu>:
    FixedInput + Module<E, <Self as FixedInput>::Input, D>
{
    /// Buffers for batches of `batch` rows ([`Module::new_cache`] at the
    /// network's input width).
    fn cache<B: Dim>(
        &self,
        device: &D,
        batch: B,
    ) -> Result<<Self as Module<E, <Self as FixedInput>::Input, D>>::Cache<B>> {
        self.new_cache(device, batch)
    }
}

impl<E: Float, D: Device<E>, T: FixedInput + Module<E, <T as FixedInput>::Input, D>> Model<E, D>
    for T
{
}
