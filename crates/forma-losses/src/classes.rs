//! Class-index targets.

use forma_core::{Dim, Error, Result};

/// One class index per row, the target of [`SoftmaxCrossEntropy`](crate::SoftmaxCrossEntropy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classes<B: Dim> {
    labels: Vec<usize>,
    rows: B,
}

impl<B: Dim> Classes<B> {
    /// Labels for a batch of `rows` rows; each must be below `classes`.
    pub fn new(rows: B, labels: Vec<usize>, classes: usize) -> Result<Self> {
        forma_core::check_len("Classes::new labels", rows.size(), labels.len())?;
        if let Some((row, &label)) = labels.iter().enumerate().find(|(_, l)| **l >= classes) {
            return Err(Error::ClassOutOfRange {
                row,
                label: label as f64,
                classes,
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

impl Classes<usize> {
    /// Labels for a runtime batch, its length taken from `labels`.
    pub fn from_labels(labels: Vec<usize>, classes: usize) -> Result<Self> {
        Self::new(labels.len(), labels, classes)
    }
}
