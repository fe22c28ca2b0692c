//! What a layer's type says: the width it takes and gives ([`Takes`]), and
//! allocation-free inference ([`Layer`]).

use forma_core::{ConstDim, Float};

use crate::Params;

/// The shape rule of a layer: it takes `In`-wide inputs and gives
/// [`Takes::Out`]-wide outputs, whatever the element type and the device.
///
/// The input width is a type parameter, so an activation fits any width and a
/// `Linear<I, O>` only `Const<I>`; feeding anything else fails to compile with
/// the message below (or the more precise one of
/// [`SameWidth`](forma_core::SameWidth)). Both [`Layer`] (inference) and
/// [`Module`](crate::Module) (training) build on it, so a width mismatch reads
/// the same in either.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot take `{In}`-wide inputs",
    label = "this layer's input width does not match what feeds it",
    note = "the output width of each layer must equal the input width of the next"
)]
pub trait Takes<In: ConstDim> {
    /// The output width.
    type Out: ConstDim;
}

/// A layer's allocation-free inference of one row, on the stack (with its
/// parameters in host memory).
pub trait Layer<E: Float, In: ConstDim>: Takes<In> + Params<E> {
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
    ) -> <<Self as Takes<<Self as FixedInput>::Input>>::Out as ConstDim>::Array<E> {
        self.infer(x)
    }
}

impl<E: Float, T: FixedInput + Layer<E, <T as FixedInput>::Input>> Network<E> for T {}
