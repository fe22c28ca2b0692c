//! Squared-error losses, one per reduction.

use forma_core::{ConstDim, Dim, Float, Result, Tensor};

use crate::Loss;
use crate::loss::{elementwise, inv};

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

macro_rules! squared_loss {
    ($t:ty, $name:literal, $scale:expr, $factor:expr) => {
        impl<E: Float, C: ConstDim> Loss<E, C> for $t {
            type Target<B: Dim> = Tensor<E, B, C>;
            fn value_and_grad<B: Dim>(
                &self,
                pred: &Tensor<E, B, C>,
                target: &Tensor<E, B, C>,
                grad: &mut Tensor<E, B, C>,
            ) -> Result<E> {
                let n = pred.as_slice().len();
                let scale: E = $scale(n);
                let factor = E::from_f64($factor);
                elementwise($name, pred, target, grad, scale, |p, t| {
                    let d = p - t;
                    (factor * (d * d), (factor + factor) * d)
                })
            }
        }
    };
}

squared_loss!(
    HalfSumSquares,
    "HalfSumSquares target rows",
    |_n| E::ONE,
    0.5
);
squared_loss!(SumSquares, "SumSquares target rows", |_n| E::ONE, 1.0);
squared_loss!(Mse, "Mse target rows", inv::<E>, 1.0);
squared_loss!(HalfMse, "HalfMse target rows", inv::<E>, 0.5);
