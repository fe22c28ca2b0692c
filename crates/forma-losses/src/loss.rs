//! The loss trait.

use forma_core::{ConstDim, Dim, Float, Result, Tensor};

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

/// Applies `term(p, t) -> (loss term, d term / d p)` to every element, writes
/// `scale * d` into `grad` and returns `scale * Σ loss terms`.
pub(crate) fn elementwise<E: Float, B: Dim, C: ConstDim>(
    what: &'static str,
    pred: &Tensor<E, B, C>,
    target: &Tensor<E, B, C>,
    grad: &mut Tensor<E, B, C>,
    scale: E,
    term: impl Fn(E, E) -> (E, E),
) -> Result<E> {
    same_batch(what, pred.rows(), target.rows())?;
    grad.set_rows(pred.row_dim());
    let mut total = E::ZERO;
    for ((g, &p), &t) in grad
        .as_mut_slice()
        .iter_mut()
        .zip(pred.as_slice())
        .zip(target.as_slice())
    {
        let (l, d) = term(p, t);
        total += l;
        *g = scale * d;
    }
    Ok(scale * total)
}

/// `1 / n` in `E`, for mean reductions.
pub(crate) fn inv<E: Float>(n: usize) -> E {
    E::ONE / E::from_f64(n as f64)
}
