//! Ready-made multi-layer perceptrons.

use forma_core::{Float, Rng};

use crate::seq::Initialize;
use crate::{Bias, Linear, Storage};

/// `I -> H -> O`: Linear, activation, Linear, activation (Sigmoid by default),
/// the net of the XOR and iris tutorials.
///
/// ```
/// use forma_layers::{Mlp, Params};
/// // The XOR tutorial prints 9 parameters for its 2-2-1 net.
/// assert_eq!(<Mlp<2, 2, 1> as Params<f32>>::COUNT, 9);
/// ```
pub type Mlp<const I: usize, const H: usize, const O: usize, E = f32, A = crate::Sigmoid> =
    crate::seq!(@type Linear<I, H, E>, A, Linear<H, O, E>, A);

/// `I -> H1 -> H2 -> O` with activation `A` after the hidden layers and none
/// after the last (logits for a classifier loss).
pub type Mlp3<
    const I: usize,
    const H1: usize,
    const H2: usize,
    const O: usize,
    E = f32,
    A = crate::ReLU,
> = crate::seq!(@type Linear<I, H1, E>, A, Linear<H1, H2, E>, A, Linear<H2, O, E>);

impl<const I: usize, const O: usize, E: Float, B: Bias, S: Storage> Initialize
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
