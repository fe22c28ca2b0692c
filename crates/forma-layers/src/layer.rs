//! The two traits every layer implements.

use forma_core::{ConstDim, Float};
#[cfg(feature = "alloc")]
use forma_core::{Dim, Tensor};

use crate::Params;

/// A layer that takes `In`-wide inputs: its output width and allocation-free
/// inference of one row.
///
/// The input width is a type parameter, so an activation fits any width and a
/// `Linear<I, O>` only `Const<I>`; feeding anything else fails to compile with
/// the message below (or the more precise one of
/// [`SameWidth`](forma_core::SameWidth)).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot take `{In}`-wide inputs",
    label = "this layer's input width does not match what feeds it",
    note = "the output width of each layer must equal the input width of the next"
)]
pub trait Layer<E: Float, In: ConstDim>: Params<E> {
    /// The output width.
    type Out: ConstDim;
    /// The output for one input row, computed on the stack.
    fn infer(&self, x: In::Array<E>) -> <Self::Out as ConstDim>::Array<E>;
}

/// A layer (or sequence) whose input width is fixed by its type: `Linear<I, O>`
/// takes `Const<I>`, and a sequence what its first layer takes. Activations
/// fit any width and so have none.
pub trait FixedInput {
    /// The input width.
    type Input: ConstDim;
}

/// A whole network: a [`Layer`] with a [`FixedInput`]. Implemented for every
/// such type; it lets the input width be inferred from the network alone.
pub trait Network<E: Float>: FixedInput + Layer<E, <Self as FixedInput>::Input> {
    /// The output for one input row, on the stack: no allocator needed.
    ///
    /// ```
    /// use forma_layers::{Inline, Linear, Network, SharedBias, Sigmoid, seq};
    /// // Seed 000's 2-2-2 net with its weights inline: usable on `no_std` without `alloc`.
    /// let net = seq!(
    ///     Linear::<2, 2, f64, SharedBias, Inline>::from_weights([[0.2, 0.1], [0.4, 0.15]], [0.3]).unwrap(),
    ///     Sigmoid,
    ///     Linear::<2, 2, f64, SharedBias, Inline>::from_weights([[0.65, 0.7], [0.45, 0.3]], [0.5]).unwrap(),
    ///     Sigmoid
    /// );
    /// let y = net.predict([0.2, 0.1]);
    /// assert!((y[0] - 0.7858).abs() < 1e-4 && (y[1] - 0.7198).abs() < 1e-4);
    /// ```
    fn predict(
        &self,
        x: <<Self as FixedInput>::Input as ConstDim>::Array<E>,
    ) -> <<Self as Layer<E, <Self as FixedInput>::Input>>::Out as ConstDim>::Array<E> {
        self.infer(x)
    }
}

impl<E: Float, T: FixedInput + Layer<E, <T as FixedInput>::Input>> Network<E> for T {}

/// A [`Network`] that can be trained: [`Module`] at its own input width, so that
/// a cache can be built without naming that width.
///
/// ```
/// use forma_core::Batch;
/// use forma_layers::{Initialize, Mlp, Model, Module};
/// let net = Mlp::<4, 8, 2>::initialize(&mut forma_core::rng(0));
/// let mut cache = net.cache(16); // rather than Module::<f32, Const<4>>::new_cache(&net, 16)
/// let x = Batch::<f32, 4>::from_flat(&[0.5; 64]).unwrap();
/// assert_eq!(net.forward(&x, &mut cache).rows(), 16);
/// ```
#[cfg(feature = "alloc")]
pub trait Model<E: Float>: Network<E> + Module<E, <Self as FixedInput>::Input> {
    /// Buffers for batches of `batch` rows ([`Module::new_cache`] at the network's input width).
    fn cache<B: Dim>(
        &self,
        batch: B,
    ) -> <Self as Module<E, <Self as FixedInput>::Input>>::Cache<B> {
        self.new_cache(batch)
    }
}

#[cfg(feature = "alloc")]
impl<E: Float, T: Network<E> + Module<E, <T as FixedInput>::Input>> Model<E> for T {}

/// Training: a batched forward into a reusable cache, and a backward that
/// fills a gradient of the layer's own type.
///
/// ```text
/// forward (x, cache)            -> &y          (y lives in the cache)
/// backward(x, cache, dy, grads) -> grads = dL/dθ, and dx if asked for
/// ```
/// The cache holds every buffer of one pass for batches of row type `B`; it is
/// built once by [`Module::new_cache`] and adapts to a shorter batch without
/// allocating. Backward overwrites `grads` (it does not accumulate).
#[cfg(feature = "alloc")]
pub trait Module<E: Float, In: ConstDim>: Layer<E, In> {
    /// The buffers of one forward and backward pass.
    type Cache<B: Dim>;
    /// Buffers for batches of `batch` rows.
    fn new_cache<B: Dim>(&self, batch: B) -> Self::Cache<B>;
    /// Computes the output of a batch into `cache` and returns it.
    fn forward<'c, B: Dim>(
        &self,
        x: &Tensor<E, B, In>,
        cache: &'c mut Self::Cache<B>,
    ) -> &'c Tensor<E, B, Self::Out>;
    /// The output of the last [`Module::forward`] on this cache.
    fn output<B: Dim>(cache: &Self::Cache<B>) -> &Tensor<E, B, Self::Out>;
    /// Given the input and cache of the last forward and the gradient `dy` of the
    /// loss with respect to the output, writes the parameter gradients to
    /// `grads` and, if `dx` is given, the gradient with respect to the input.
    fn backward<B: Dim>(
        &self,
        x: &Tensor<E, B, In>,
        cache: &mut Self::Cache<B>,
        dy: &Tensor<E, B, Self::Out>,
        grads: &mut Self,
        dx: Option<&mut Tensor<E, B, In>>,
    );
}
