//! The loss trait.

use forma_core::{ConstDim, Device, DeviceTensor, Dim, Float, LossKind, Result, Tensor};

/// A loss over predictions of width `C`: its value and its gradient with
/// respect to the prediction.
pub trait Loss<E: Float, C: ConstDim> {
    /// What the prediction is compared with, for batches of row type `B`.
    type Target<B: Dim>;

    /// The loss, and its gradient written to `grad` (resized to the batch).
    /// `Err` if the target's batch length differs from the prediction's.
    fn value_and_grad<B: Dim>(
        &self,
        pred: &Tensor<E, B, C>,
        target: &Self::Target<B>,
        grad: &mut Tensor<E, B, C>,
    ) -> Result<E>;

    /// The loss alone.
    fn value<B: Dim>(&self, pred: &Tensor<E, B, C>, target: &Self::Target<B>) -> Result<E> {
        let mut grad = Tensor::zeros(pred.row_dim(), pred.col_dim());
        self.value_and_grad(pred, target, &mut grad)
    }
}

/// `Err` unless prediction and target have the same number of rows.
pub(crate) fn same_batch(what: &'static str, pred: usize, target: usize) -> Result<()> {
    forma_core::check_len(what, pred, target)
}

/// `1 / n` in `E`, for mean reductions.
pub(crate) fn inv<E: Float>(n: usize) -> E {
    E::ONE / E::from_f64(n as f64)
}

/// A loss that is a sum (or mean) of one term per element: its formula is a
/// [`LossKind`], shared with every device. Implementing this gives both
/// [`Loss`] and [`DeviceLoss`].
pub trait ElementwiseLoss {
    /// The per-element formula and reduction.
    const KIND: LossKind;
    /// Named in the error when the target's batch length is wrong.
    const NAME: &'static str;
}

impl<E: Float, C: ConstDim, L: ElementwiseLoss> Loss<E, C> for L {
    type Target<B: Dim> = Tensor<E, B, C>;

    fn value_and_grad<B: Dim>(
        &self,
        pred: &Tensor<E, B, C>,
        target: &Tensor<E, B, C>,
        grad: &mut Tensor<E, B, C>,
    ) -> Result<E> {
        same_batch(L::NAME, pred.rows(), target.rows())?;
        grad.set_rows(pred.row_dim());
        Ok(L::KIND.value_and_grad(pred.as_slice(), target.as_slice(), grad.as_mut_slice()))
    }
}

/// A loss computed on a [`Device`]: predictions of `C` features in a device
/// buffer, compared with a target batch on the same device.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot run on a device yet",
    note = "device losses: HalfSumSquares, SumSquares, Mse, HalfMse, Bce, BceWithLogits, SoftmaxCrossEntropy"
)]
pub trait DeviceLoss<E: Float, D: Device<E>, C: ConstDim> {
    /// What the prediction is compared with, on the device.
    type DeviceTarget;
    /// The loss of the first `rows` rows of `pred`, with its gradient written
    /// to `grad`. `Err` if `target` has a different number of rows.
    fn value_and_grad_on(
        &self,
        device: &D,
        pred: &D::Buffer,
        rows: usize,
        target: &Self::DeviceTarget,
        grad: &mut D::Buffer,
    ) -> Result<E>;
}

impl<E: Float, D: Device<E>, C: ConstDim, L: ElementwiseLoss> DeviceLoss<E, D, C> for L {
    type DeviceTarget = DeviceTensor<E, D, C>;

    fn value_and_grad_on(
        &self,
        device: &D,
        pred: &D::Buffer,
        rows: usize,
        target: &DeviceTensor<E, D, C>,
        grad: &mut D::Buffer,
    ) -> Result<E> {
        same_batch(L::NAME, rows, target.rows())?;
        device.loss(L::KIND, rows * C::SIZE, pred, target.buffer(), grad)
    }
}
