//! Binary cross-entropy, on probabilities and on logits.

use forma_core::{ConstDim, Dim, Float, Result, Tensor};

use crate::Loss;
use crate::loss::{elementwise, inv};

/// `-mean(t·ln p + (1-t)·ln(1-p))` over every element, `nn.BCELoss()`.
///
/// As in PyTorch, each log is clamped at -100, so the loss is finite at
/// `p = 0` and `p = 1`, and the gradient's denominator `p(1-p)` at 1e-12.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bce;

/// `mean(max(x,0) - x·t + ln(1 + e^(-|x|)))`, `nn.BCEWithLogitsLoss()`: the
/// sigmoid and BCE fused, stable for any logit `x`; gradient `(σ(x) - t) / n`.
#[derive(Clone, Copy, Debug, Default)]
pub struct BceWithLogits;

impl<E: Float, C: ConstDim> Loss<E, C> for Bce {
    type Target<B: Dim> = Tensor<E, B, C>;
    fn value_and_grad<B: Dim>(
        &self,
        pred: &Tensor<E, B, C>,
        target: &Tensor<E, B, C>,
        grad: &mut Tensor<E, B, C>,
    ) -> Result<E> {
        let floor = E::from_f64(-100.0);
        let eps = E::from_f64(1e-12);
        elementwise(
            "Bce target rows",
            pred,
            target,
            grad,
            inv(pred.as_slice().len()),
            |p, t| {
                let log_p = p.ln().max(floor);
                let log_q = (E::ONE - p).ln().max(floor);
                let loss = -(t * log_p + (E::ONE - t) * log_q);
                let d = (p - t) / ((E::ONE - p) * p).max(eps);
                (loss, d)
            },
        )
    }
}

impl<E: Float, C: ConstDim> Loss<E, C> for BceWithLogits {
    type Target<B: Dim> = Tensor<E, B, C>;
    fn value_and_grad<B: Dim>(
        &self,
        pred: &Tensor<E, B, C>,
        target: &Tensor<E, B, C>,
        grad: &mut Tensor<E, B, C>,
    ) -> Result<E> {
        elementwise(
            "BceWithLogits target rows",
            pred,
            target,
            grad,
            inv(pred.as_slice().len()),
            |x, t| {
                let loss = x.max(E::ZERO) - x * t + (E::ONE + (-x.abs()).exp()).ln();
                let sig = if x >= E::ZERO {
                    E::ONE / (E::ONE + (-x).exp())
                } else {
                    let e = x.exp();
                    e / (E::ONE + e)
                };
                (loss, sig - t)
            },
        )
    }
}
