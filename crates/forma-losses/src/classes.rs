//! Class-index targets.

use forma_core::{Dim, Error, Result};

/// One class index per row, the target of
/// [`SoftmaxCrossEntropy`](crate::SoftmaxCrossEntropy) over `C` classes.
///
/// The class count is a type parameter, and the loss takes `Classes<_, C>`
/// only for a network whose output is `C` wide: it comes from the network,
/// so it cannot disagree with it. Usually it is inferred from the loss or
/// the trainer it is given to:
///
/// ```
/// use forma_core::{Batch, Const, Tensor};
/// use forma_losses::{Classes, Loss, SoftmaxCrossEntropy};
/// # fn main() -> forma_core::Result<()> {
/// // A 3-class prediction takes `Classes<_, 3>`; the count comes from it.
/// let logits: Batch<f32, 3> = Tensor::from_rows(&[[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]]);
/// let labels = Classes::from_labels(vec![0, 2])?; // C = 3, inferred
/// let loss = Loss::<f32, Const<3>>::value(&SoftmaxCrossEntropy, &logits, &labels)?;
/// assert!(loss > 0.0);
/// assert!(Classes::<usize, 3>::from_labels(vec![3]).is_err()); // not a class of 3
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classes<B: Dim, const C: usize> {
    labels: Vec<usize>,
    rows: B,
}

impl<B: Dim, const C: usize> Classes<B, C> {
    /// Labels for a batch of `rows` rows; each must be below `C`.
    pub fn new(rows: B, labels: Vec<usize>) -> Result<Self> {
        forma_core::check_len("Classes::new labels", rows.size(), labels.len())?;
        if let Some((row, &label)) = labels.iter().enumerate().find(|(_, l)| **l >= C) {
            return Err(Error::ClassOutOfRange {
                row,
                label: label as f64,
                classes: C,
            });
        }
        Ok(Classes { labels, rows })
    }

    /// The labels.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows.size()
    }
}

impl<const C: usize> Classes<usize, C> {
    /// Labels for a runtime batch, its length taken from `labels`.
    pub fn from_labels(labels: Vec<usize>) -> Result<Self> {
        Self::new(labels.len(), labels)
    }
}
