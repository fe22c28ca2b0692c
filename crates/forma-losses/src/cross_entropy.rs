//! Softmax cross-entropy over class indices.

use forma_core::math::rowwise;
use forma_core::{Const, Device, Dim, Error, Float, Result, Tensor};

use crate::loss::{inv, not_empty, same_batch};
use crate::{Classes, DeviceLoss, Loss};

/// `mean over rows of -ln softmax(x)[label]`, `nn.CrossEntropyLoss()` on
/// logits `x` and class indices; gradient `(softmax(x) - onehot) / rows`.
/// Computed with the row maximum subtracted, so large logits do not overflow.
#[derive(Clone, Copy, Debug, Default)]
pub struct SoftmaxCrossEntropy;

impl<E: Float, const C: usize> Loss<E, Const<C>> for SoftmaxCrossEntropy {
    type Target<B: Dim> = Classes<B, C>;

    fn value_and_grad<B: Dim>(
        &self,
        pred: &Tensor<E, B, Const<C>>,
        target: &Classes<B, C>,
        grad: &mut Tensor<E, B, Const<C>>,
    ) -> Result<E> {
        same_batch(
            "SoftmaxCrossEntropy target rows",
            pred.rows(),
            target.rows(),
        )?;
        not_empty("SoftmaxCrossEntropy", pred.rows())?;
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
                    label: label as f64,
                    classes: C,
                });
            }
            total += rowwise::cross_entropy(x, label, scale, g);
        }
        Ok(total * scale)
    }
}

/// Class labels on a device, for [`SoftmaxCrossEntropy`] over `C` classes:
/// one label per row, stored as an exact value of `E`, each checked below `C`
/// when uploaded (so the device never sees a label it could index out of bounds with).
pub struct DeviceClasses<E: Float, D: Device<E>, const C: usize> {
    labels: D::Buffer,
    rows: usize,
}

impl<E: Float, D: Device<E>, const C: usize> DeviceClasses<E, D, C> {
    /// Copies the labels to the device. `Err(ClassOutOfRange)` for a label of
    /// `C` or more, or one that `E` cannot hold exactly.
    pub fn upload<B: Dim>(device: &D, classes: &Classes<B, C>) -> Result<Self> {
        let mut coded = Vec::with_capacity(classes.rows());
        for (row, &label) in classes.labels().iter().enumerate() {
            let v = E::from_f64(label as f64);
            if label >= C || v.to_f64() != label as f64 {
                return Err(Error::ClassOutOfRange {
                    row,
                    label: label as f64,
                    classes: C,
                });
            }
            coded.push(v);
        }
        let mut labels = device.alloc(coded.len())?;
        device.write(&coded, &mut labels)?;
        Ok(DeviceClasses {
            labels,
            rows: classes.rows(),
        })
    }

    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
}

impl<E: Float, D: Device<E>, const C: usize> DeviceLoss<E, D, Const<C>> for SoftmaxCrossEntropy {
    type DeviceTarget = DeviceClasses<E, D, C>;

    fn value_and_grad_on(
        &self,
        device: &D,
        pred: &D::Buffer,
        rows: usize,
        target: &DeviceClasses<E, D, C>,
        grad: &mut D::Buffer,
    ) -> Result<E> {
        same_batch("SoftmaxCrossEntropy target rows", rows, target.rows)?;
        not_empty("SoftmaxCrossEntropy", rows)?;
        device.cross_entropy(rows, C, pred, &target.labels, grad)
    }
}
