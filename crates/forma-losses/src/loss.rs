//! The loss trait.

use forma_core::{ConstDim, Cpu, Device, Dim, Float, LossKind, Result, Tensor};

/// A loss over predictions of width `C` on device `D` (the [`Cpu`] unless
/// named): its value and its gradient with respect to the prediction.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot compare `{C}`-wide predictions on device `{D}`",
    note = "losses: HalfSumSquares, SumSquares, Mse, HalfMse, Bce, BceWithLogits (any width), SoftmaxCrossEntropy (its class count is the width)"
)]
pub trait Loss<E: Float, C: ConstDim, D: Device<E> = Cpu> {
    /// What the prediction is compared with, for batches of row type `B`
    /// (on the same device).
    type Target<B: Dim>;

    /// The loss, and its gradient written to `grad` (resized to the batch).
    /// `Err` if the target's batch length differs from the prediction's,
    /// for an empty batch, or where the loss refuses a prediction (`Bce`
    /// outside [0, 1], named by row and column on the host); `grad`'s
    /// contents are unspecified after an `Err`.
    fn value_and_grad<B: Dim>(
        &self,
        device: &D,
        pred: &Tensor<E, B, C, D>,
        target: &Self::Target<B>,
        grad: &mut Tensor<E, B, C, D>,
    ) -> Result<E>;

    /// The loss alone (it allocates a gradient buffer on each call).
    fn value<B: Dim>(
        &self,
        device: &D,
        pred: &Tensor<E, B, C, D>,
        target: &Self::Target<B>,
    ) -> Result<E> {
        let mut grad = Tensor::zeros_on(device, pred.row_dim(), pred.col_dim())?;
        self.value_and_grad(device, pred, target, &mut grad)
    }

    /// `Err` if the target holds a value no prediction should be compared
    /// with (NaN or infinity), naming its row and column (read in place on
    /// the host, copied back from other devices). The trainer calls it
    /// before each checked step on the CPU, and on other devices when
    /// [`Loss::count_target_nonfinite`] found something. Targets valid by
    /// construction ([`Classes`](crate::Classes)) need not override it.
    fn check_target<B: Dim>(&self, device: &D, target: &Self::Target<B>) -> Result<()> {
        let _ = (device, target);
        Ok(())
    }

    /// Queues [`Device::count_nonfinite`] of the target into
    /// `counts[slot]` (nothing for targets valid by construction).
    fn count_target_nonfinite<B: Dim>(
        &self,
        device: &D,
        target: &Self::Target<B>,
        counts: &mut D::Slice,
        slot: usize,
    ) -> Result<()> {
        let _ = (device, target, counts, slot);
        Ok(())
    }

    /// Called with the prediction, on the host, when the loss was not
    /// finite on a device that cannot check it first: `Err` naming the row
    /// and column if the loss refuses it (a `Bce` prediction outside
    /// [0, 1]).
    fn check_prediction(&self, pred: &[E]) -> Result<()> {
        let _ = pred;
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

/// A loss that is a sum (or mean) of one term per element: its formula is a
/// [`LossKind`], shared with every device. Implementing this gives [`Loss`]
/// on every device.
pub trait ElementwiseLoss {
    /// The per-element formula and reduction.
    const KIND: LossKind;
    /// Named in the error when the target's batch length is wrong.
    const NAME: &'static str;
}

impl<E: Float, C: ConstDim, D: Device<E>, L: ElementwiseLoss> Loss<E, C, D> for L {
    type Target<B: Dim> = Tensor<E, B, C, D>;

    #[inline]
    fn value_and_grad<B: Dim>(
        &self,
        device: &D,
        pred: &Tensor<E, B, C, D>,
        target: &Tensor<E, B, C, D>,
        grad: &mut Tensor<E, B, C, D>,
    ) -> Result<E> {
        same_batch(L::NAME, pred.rows(), target.rows())?;
        not_empty(L::NAME, pred.rows())?;
        grad.resize_rows(device, pred.row_dim())?;
        let len = pred.len();
        let loss = device.loss(
            L::KIND,
            len,
            pred.buffer(),
            target.buffer(),
            grad.buffer_mut(),
        )?;
        // A BCE term of a prediction outside [0, 1] (or NaN) is NaN on
        // every device, so a finite loss proves the predictions valid: the
        // scan that names the first bad one runs only when the loss is not
        // finite (on the host here; the trainer reads other devices' back),
        // not as a pass of its own on every step. The gradient has been
        // written by then: an `Err` leaves it unspecified.
        if !loss.is_finite()
            && let Some(p) = D::host(pred.buffer())
        {
            Loss::<E, C, D>::check_prediction(self, &p[..len])?;
        }
        Ok(loss)
    }

    fn check_target<B: Dim>(&self, device: &D, target: &Tensor<E, B, C, D>) -> Result<()> {
        match D::host(target.buffer()) {
            Some(t) => forma_core::check_finite_rows("target", C::SIZE, &t[..target.len()]),
            None => {
                let host = target.download(device)?;
                forma_core::check_finite_rows("target", C::SIZE, host.as_slice())
            }
        }
    }

    fn count_target_nonfinite<B: Dim>(
        &self,
        device: &D,
        target: &Tensor<E, B, C, D>,
        counts: &mut D::Slice,
        slot: usize,
    ) -> Result<()> {
        device.count_nonfinite(target.len(), target.buffer(), counts, slot)
    }

    fn check_prediction(&self, pred: &[E]) -> Result<()> {
        if L::KIND == LossKind::Bce {
            probabilities(C::SIZE, pred)?;
        }
        Ok(())
    }
}
