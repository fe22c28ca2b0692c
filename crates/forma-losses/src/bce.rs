//! Binary cross-entropy, on probabilities and on logits.

use forma_core::LossKind;

use crate::ElementwiseLoss;

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

impl ElementwiseLoss for Bce {
    const KIND: LossKind = LossKind::Bce;
    const NAME: &'static str = "Bce target rows";
}

impl ElementwiseLoss for BceWithLogits {
    const KIND: LossKind = LossKind::BceWithLogits;
    const NAME: &'static str = "BceWithLogits target rows";
}
