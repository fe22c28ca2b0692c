//! Ready-made multi-layer perceptrons.

use forma_core::{Float, Rng};

use crate::seq::Initialize;
use crate::{Bias, HostStorage, Linear};

/// `I -> H -> O`: Linear, activation `A` (Sigmoid by default), Linear.
///
/// **Every `Mlp` ends in its last `Linear`**, with no activation after it:
/// its outputs are raw values (logits for [`BceWithLogits`] or
/// `SoftmaxCrossEntropy`, values for `Mse`). A network that must output
/// probabilities names its last activation, as the XOR tutorial does:
/// `seq!(@type Linear<2, 2>, Sigmoid, Linear<2, 1>, Sigmoid)` (with `Bce`,
/// which refuses a prediction outside [0, 1]).
///
/// [`BceWithLogits`]: https://docs.rs/forma-losses
///
/// ```
/// use forma_layers::{Mlp, Params};
/// // The XOR tutorial's 2-2-1 net has 9 parameters.
/// assert_eq!(<Mlp<2, 2, 1> as Params<f32>>::COUNT, 9);
/// ```
pub type Mlp<const I: usize, const H: usize, const O: usize, E = f32, A = crate::Sigmoid> =
    crate::seq!(@type Linear<I, H, E>, A, Linear<H, O, E>);

/// `I -> H1 -> H2 -> O` with activation `A` (ReLU by default) after the
/// hidden layers; like [`Mlp`], it ends in its last `Linear` (raw outputs).
pub type Mlp3<
    const I: usize,
    const H1: usize,
    const H2: usize,
    const O: usize,
    E = f32,
    A = crate::ReLU,
> = crate::seq!(@type Linear<I, H1, E>, A, Linear<H1, H2, E>, A, Linear<H2, O, E>);

impl<const I: usize, const O: usize, E: Float, B: Bias, S: HostStorage<E>> Initialize
    for Linear<I, O, E, B, S>
{
    fn initialize(rng: &mut Rng) -> Self {
        Self::pytorch_default(rng)
    }
}

macro_rules! init_default {
    ($($t:ty),*) => {$(
        impl Initialize for $t {
            fn initialize(_rng: &mut Rng) -> Self {
                Self::default()
            }
        }
    )*};
}
init_default!(
    crate::Sigmoid,
    crate::ReLU,
    crate::Tanh,
    crate::LeakyReLU,
    crate::Identity,
    crate::Softmax
);
