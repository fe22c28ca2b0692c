//! Class-index targets.

use forma_core::{Dim, Error, Result};

/// One class index per row, the target of
/// [`SoftmaxCrossEntropy`](crate::SoftmaxCrossEntropy) over `C` classes.
///
/// The class count is a type parameter, and the loss takes `Classes<_, C>`
/// only for a network whose output is `C` wide: it comes from the network,
/// so it cannot disagree with it. Usually it is inferred from the trainer:
///
/// ```
/// use forma::prelude::*;
/// # fn main() -> forma::Result<()> {
/// let net = Mlp3::<2, 8, 8, 3>::initialize(&mut rng(0));
/// let mut trainer = Trainer::new(net, SoftmaxCrossEntropy, Sgd::new(0.1)?);
/// let x = Batch::<f32, 2>::from_rows(&[[0.0, 1.0], [1.0, 0.0]]);
/// let labels = Classes::from_labels(vec![2, 0])?; // C = 3, from the net
/// trainer.step(&x, &labels)?;
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
