//! # forma-losses
//!
//! Losses with their gradients. The reduction is in the name, because the
//! tutorials need all of them: [`HalfSumSquares`] `0.5·Σ(t-y)²` (seed 000),
//! [`SumSquares`] `Σ(y-t)²` (the 64x1000 net), [`Mse`] and [`HalfMse`]
//! (means), [`Bce`] on probabilities (logs clamped at -100 like PyTorch),
//! [`BceWithLogits`] (stable), and [`SoftmaxCrossEntropy`] over class indices.
//!
//! The target's type is fixed by the prediction's, so a target of the wrong
//! width does not compile; a runtime batch of the wrong length is an [`Error`](forma_core::Error).
#![deny(missing_docs)]

mod bce;
mod classes;
mod cross_entropy;
mod loss;
mod squares;

pub use bce::{Bce, BceWithLogits};
pub use classes::Classes;
pub use cross_entropy::SoftmaxCrossEntropy;
pub use loss::{ElementwiseLoss, Loss};
pub use squares::{HalfMse, HalfSumSquares, Mse, SumSquares};
