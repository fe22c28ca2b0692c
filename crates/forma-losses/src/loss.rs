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

    /// `Err` if the target holds a value no prediction should be compared
    /// with (NaN or infinity), naming its row and column. The trainer calls
    /// it before each step; targets that are valid by construction
    /// ([`Classes`](crate::Classes)) need not override it.
    fn check_target<B: Dim>(&self, target: &Self::Target<B>) -> Result<()> {
        let _ = target;
        Ok(())
    }
}

/// `Err(EmptyBatch)` for a batch of no rows: every loss is a mean or sum
/// over rows, and a step on nothing is almost surely a bug upstream (an
/// empty file, a batcher past its end). Every path says so the same way.
pub(crate) fn not_empty(what: &'static str, rows: usize) -> Result<()> {
    if rows == 0 {
        Err(forma_core::Error::EmptyBatch { what })
    } else {
        Ok(())
    }
}

/// `Err` naming the row and column of the first prediction outside [0, 1]
/// (or NaN): `Bce` takes probabilities, and the log of anything else has no
/// meaning (PyTorch raises an error too).
pub(crate) fn probabilities<E: Float>(cols: usize, pred: &[E]) -> Result<()> {
    match pred.iter().position(|&p| !(p >= E::ZERO && p <= E::ONE)) {
        None => Ok(()),
        Some(i) => Err(forma_core::Error::Value {
            what: "Bce prediction",
            row: i / cols.max(1),
            column: i % cols.max(1),
            value: pred[i].to_f64(),
            expected: "a probability in [0, 1] (end the network in a Sigmoid, or use BceWithLogits)",
        }),
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
        not_empty(L::NAME, pred.rows())?;
        if L::KIND == LossKind::Bce {
            probabilities(C::SIZE, pred.as_slice())?;
        }
        grad.set_rows(pred.row_dim());
        Ok(L::KIND.value_and_grad(pred.as_slice(), target.as_slice(), grad.as_mut_slice()))
    }

    fn check_target<B: Dim>(&self, target: &Tensor<E, B, C>) -> Result<()> {
        forma_core::check_finite_rows("target", C::SIZE, target.as_slice())
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

    /// Queues [`Device::count_nonfinite`] of the target into
    /// `counts[slot]` (nothing for targets valid by construction).
    fn count_target_nonfinite(
        &self,
        device: &D,
        target: &Self::DeviceTarget,
        counts: &mut D::Buffer,
        slot: usize,
    ) -> Result<()> {
        let _ = (device, target, counts, slot);
        Ok(())
    }

    /// The target copied to the host, flat, if it is a tensor of values
    /// (to name the row and column of a bad one).
    fn download_target(&self, device: &D, target: &Self::DeviceTarget) -> Result<Option<Vec<E>>> {
        let _ = (device, target);
        Ok(None)
    }

    /// Called with the prediction, on the host, when the loss was not
    /// finite: `Err` naming the row and column if the loss refuses it
    /// (a `Bce` prediction outside [0, 1]).
    fn check_prediction(&self, pred: &[E]) -> Result<()> {
        let _ = pred;
        Ok(())
    }
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
        not_empty(L::NAME, rows)?;
        device.loss(L::KIND, rows * C::SIZE, pred, target.buffer(), grad)
    }

    fn count_target_nonfinite(
        &self,
        device: &D,
        target: &DeviceTensor<E, D, C>,
        counts: &mut D::Buffer,
        slot: usize,
    ) -> Result<()> {
        let len = target.rows() * C::SIZE;
        device.count_nonfinite(len, target.buffer(), counts, slot)
    }

    fn download_target(
        &self,
        device: &D,
        target: &DeviceTensor<E, D, C>,
    ) -> Result<Option<Vec<E>>> {
        let mut host = vec![E::ZERO; target.rows() * C::SIZE];
        device.read(target.buffer(), &mut host)?;
        Ok(Some(host))
    }

    fn check_prediction(&self, pred: &[E]) -> Result<()> {
        if L::KIND == LossKind::Bce {
            probabilities(C::SIZE, pred)?;
        }
        Ok(())
    }
}
