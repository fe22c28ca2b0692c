//! Softmax cross-entropy over class indices.

use forma_core::{Const, Dim, Error, Float, Result, Tensor};

use crate::loss::{inv, same_batch};
use crate::{Classes, Loss};

/// `mean over rows of -ln softmax(x)[label]`, `nn.CrossEntropyLoss()` on
/// logits `x` and class indices; gradient `(softmax(x) - onehot) / rows`.
/// Computed with the row maximum subtracted, so large logits do not overflow.
#[derive(Clone, Copy, Debug, Default)]
pub struct SoftmaxCrossEntropy;

impl<E: Float, const C: usize> Loss<E, Const<C>> for SoftmaxCrossEntropy {
    type Target<B: Dim> = Classes<B>;

    fn value_and_grad<B: Dim>(
        &self,
        pred: &Tensor<E, B, Const<C>>,
        target: &Classes<B>,
        grad: &mut Tensor<E, B, Const<C>>,
    ) -> Result<E> {
        same_batch(
            "SoftmaxCrossEntropy target rows",
            pred.rows(),
            target.rows(),
        )?;
        grad.set_rows(pred.row_dim());
        let scale: E = inv(pred.rows());
        let mut total = E::ZERO;
        for (row, ((x, g), &label)) in pred
            .as_rows()
            .iter()
            .zip(grad.as_rows_mut())
            .zip(target.labels())
            .enumerate()
        {
            if label >= C {
                return Err(Error::ClassOutOfRange {
                    row,
                    label,
                    classes: C,
                });
            }
            let max = x
                .iter()
                .copied()
                .fold(E::from_f64(f64::NEG_INFINITY), E::max);
            let mut sum = E::ZERO;
            for (gk, &xk) in g.iter_mut().zip(x) {
                *gk = (xk - max).exp();
                sum += *gk;
            }
            total += sum.ln() + max - x[label];
            for gk in g.iter_mut() {
                *gk = *gk / sum * scale;
            }
            g[label] -= scale;
        }
        Ok(total * scale)
    }
}
