//! Squared-error losses, one per reduction.

use forma_core::LossKind;

use crate::ElementwiseLoss;

/// `0.5 · Σ (t - y)²`, seed 000's loss; gradient `y - t`.
#[derive(Clone, Copy, Debug, Default)]
pub struct HalfSumSquares;

/// `Σ (y - t)²`, the 64x1000 tutorial's loss; gradient `2 (y - t)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SumSquares;

/// `mean (y - t)²` over every element, `nn.MSELoss()`; gradient `2 (y - t) / n`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mse;

/// `0.5 · mean (y - t)²`, seed 004's loss; gradient `(y - t) / n`.
#[derive(Clone, Copy, Debug, Default)]
pub struct HalfMse;

/// ```text
/// squared_loss!(Mse, 1.0, true) =>
///     impl ElementwiseLoss for Mse { KIND = SquaredError { factor: 1.0, mean: true } }
/// ```
macro_rules! squared_loss {
    ($t:ident, $factor:expr, $mean:expr) => {
        impl ElementwiseLoss for $t {
            const KIND: LossKind = LossKind::SquaredError {
                factor: $factor,
                mean: $mean,
            };
            const NAME: &'static str = concat!(stringify!($t), " target rows");
        }
    };
}

squared_loss!(HalfSumSquares, 0.5, false);
squared_loss!(SumSquares, 1.0, false);
squared_loss!(Mse, 1.0, true);
squared_loss!(HalfMse, 0.5, true);
