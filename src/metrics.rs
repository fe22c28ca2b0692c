//! Classification metrics: argmax, accuracy and a confusion matrix, over
//! a model's outputs and class labels, without allocating per call.
//!
//! ```
//! use forma::metrics::{ConfusionMatrix, accuracy, argmax};
//! use forma::prelude::*;
//!
//! let logits = Batch::<f32, 3>::from_rows(&[[2.0, 0.5, -1.0], [0.1, 0.2, 3.0], [1.0, 0.0, 0.0]]);
//! let labels = Classes::<usize, 3>::from_labels(vec![0, 2, 1]).unwrap();
//! assert_eq!(argmax(&[0.1, 0.2, 3.0]), 2);
//! assert!((accuracy(&logits, &labels).unwrap() - 2.0 / 3.0).abs() < 1e-12);
//! let mut m = ConfusionMatrix::<3>::new();
//! m.add(&logits, &labels).unwrap();
//! assert_eq!(m.count(1, 0), 1); // one example of class 1 predicted as 0
//! ```

use std::vec;
use std::vec::Vec;

use forma_core::{Const, Dim, Float, Result, Tensor};
use forma_losses::Classes;

/// The index of the largest value (the first of equal ones); a NaN never
/// beats a number (a row of NaN only gives 0). 0 for an empty row.
/// [`accuracy`] and [`ConfusionMatrix::add`] refuse rows that are not
/// finite rather than score them.
pub fn argmax<E: Float>(row: &[E]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        // NaN compares false both ways: `x != x` finds it.
        let (v, b) = (*v, row[best]);
        #[allow(clippy::eq_op)]
        let (v_nan, b_nan) = (v != v, b != b);
        if v > b || (b_nan && !v_nan) {
            best = i;
        }
    }
    best
}

/// The fraction of rows whose argmax is their label. `Err` if the batch
/// lengths differ, the batch is empty, or an output is not finite (naming
/// its row and column).
pub fn accuracy<E: Float, B: Dim, const C: usize>(
    outputs: &Tensor<E, B, Const<C>>,
    labels: &Classes<B, C>,
) -> Result<f64> {
    scorable(outputs, labels)?;
    if outputs.rows() == 0 {
        return Err(forma_core::Error::EmptyBatch {
            what: "metrics::accuracy of no rows",
        });
    }
    let rows = outputs.as_rows().iter().zip(labels.labels());
    let right = rows
        .filter(|(row, label)| argmax(&row[..]) == **label)
        .count();
    Ok(right as f64 / outputs.rows() as f64)
}

/// `Err` unless there is one label per row and every output is finite.
fn scorable<E: Float, B: Dim, const C: usize>(
    outputs: &Tensor<E, B, Const<C>>,
    labels: &Classes<B, C>,
) -> Result<()> {
    forma_core::check_len(
        "metrics: labels, one per row",
        outputs.rows(),
        labels.rows(),
    )?;
    forma_core::check_finite_rows("metrics: output", C, outputs.as_slice())
}

/// `count(label, predicted)` over every example added (on the heap: a
/// matrix of 1000 classes is 8 MB).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix<const C: usize> {
    counts: Vec<u64>,
}

impl<const C: usize> Default for ConfusionMatrix<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const C: usize> ConfusionMatrix<C> {
    /// No examples yet.
    pub fn new() -> Self {
        ConfusionMatrix {
            counts: vec![0; C * C],
        }
    }

    /// Adds a batch: each row's argmax against its label. `Err` if the
    /// batch lengths differ or an output is not finite (nothing is added
    /// then).
    pub fn add<E: Float, B: Dim>(
        &mut self,
        outputs: &Tensor<E, B, Const<C>>,
        labels: &Classes<B, C>,
    ) -> Result<()> {
        scorable(outputs, labels)?;
        for (row, &label) in outputs.as_rows().iter().zip(labels.labels()) {
            self.counts[label * C + argmax(row)] += 1;
        }
        Ok(())
    }

    /// How many examples of class `label` were predicted as `predicted`.
    pub fn count(&self, label: usize, predicted: usize) -> u64 {
        if label < C && predicted < C {
            self.counts[label * C + predicted]
        } else {
            0
        }
    }

    /// Every count, row-major: `counts()[label * C + predicted]`.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The number of examples added.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The fraction predicted right; `Err(EmptyBatch)` before any example.
    pub fn accuracy(&self) -> Result<f64> {
        let total = self.total();
        if total == 0 {
            return Err(forma_core::Error::EmptyBatch {
                what: "ConfusionMatrix::accuracy of no examples",
            });
        }
        let right: u64 = (0..C).map(|c| self.counts[c * C + c]).sum();
        Ok(right as f64 / total as f64)
    }

    /// Forgets every example (a new epoch).
    pub fn clear(&mut self) {
        self.counts.fill(0);
    }
}

impl<const C: usize> core::fmt::Display for ConfusionMatrix<C> {
    /// Rows are labels, columns predictions.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "label \\ predicted")?;
        for c in 0..C {
            write!(f, " {c:>5}")?;
        }
        for (label, row) in self.counts.chunks_exact(C.max(1)).enumerate() {
            write!(f, "\n{label:>17}")?;
            for n in row {
                write!(f, " {n:>5}")?;
            }
        }
        Ok(())
    }
}
