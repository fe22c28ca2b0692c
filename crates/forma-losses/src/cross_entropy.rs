//! Softmax cross-entropy over class indices.

use forma_core::{Const, Device, Dim, Float, Result, Tensor};

use crate::loss::{not_empty, same_batch};
use crate::{Classes, Loss};

/// `mean over rows of -ln softmax(x)[label]`, `nn.CrossEntropyLoss()` on
/// logits `x` and class indices; gradient `(softmax(x) - onehot) / rows`.
/// Computed with the row maximum subtracted, so large logits do not overflow.
#[derive(Clone, Copy, Debug, Default)]
pub struct SoftmaxCrossEntropy;

impl<E: Float, D: Device<E>, const C: usize> Loss<E, Const<C>, D> for SoftmaxCrossEntropy {
    type Target<B: Dim> = Classes<B, C, D>;

    fn value_and_grad<B: Dim>(
        &self,
        device: &D,
        pred: &Tensor<E, B, Const<C>, D>,
        target: &Classes<B, C, D>,
        grad: &mut Tensor<E, B, Const<C>, D>,
    ) -> Result<E> {
        same_batch(
            "SoftmaxCrossEntropy target rows",
            pred.rows(),
            target.rows(),
        )?;
        not_empty("SoftmaxCrossEntropy", pred.rows())?;
        grad.resize_rows(device, pred.row_dim())?;
        let (rows, labels) = (pred.rows(), target.buffer());
        device.cross_entropy(rows, C, pred.buffer(), labels, grad.buffer_mut())
    }
}
