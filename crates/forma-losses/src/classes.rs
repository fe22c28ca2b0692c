//! Class-index targets.

use forma_core::{Cpu, Dim, LabelStore, Result};

/// One class index per row, the target of
/// [`SoftmaxCrossEntropy`](crate::SoftmaxCrossEntropy) over `C` classes.
///
/// The class count is a type parameter, and the loss takes `Classes<_, C>`
/// only for a network whose output is `C` wide: it comes from the network,
/// so it cannot disagree with it. Usually it is inferred from the loss or
/// the trainer it is given to:
///
/// ```
/// use forma_core::{Batch, Const, Cpu, Tensor};
/// use forma_losses::{Classes, Loss, SoftmaxCrossEntropy};
/// # fn main() -> forma_core::Result<()> {
/// // A 3-class prediction takes `Classes<_, 3>`; the count comes from it.
/// let logits: Batch<f32, 3> = Tensor::from_rows(&[[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]]);
/// let labels = Classes::from_labels(vec![0, 2])?; // C = 3, inferred
/// let loss = Loss::<f32, Const<3>>::value(&SoftmaxCrossEntropy, &Cpu, &logits, &labels)?;
/// assert!(loss > 0.0);
/// assert!(Classes::<usize, 3>::from_labels(vec![3]).is_err()); // not a class of 3
/// # Ok(()) }
/// ```
///
/// On another device the labels are uploaded once, like a batch:
/// `Classes::upload(&device, &classes)`.
pub struct Classes<B: Dim, const C: usize, D: LabelStore = Cpu> {
    labels: D::Labels,
    rows: B,
}

impl<B: Dim, const C: usize> Clone for Classes<B, C> {
    fn clone(&self) -> Self {
        Classes {
            labels: self.labels.clone(),
            rows: self.rows,
        }
    }
}

impl<B: Dim, const C: usize> core::fmt::Debug for Classes<B, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Classes")
            .field("labels", &self.labels)
            .finish()
    }
}

impl<B: Dim, const C: usize> PartialEq for Classes<B, C> {
    fn eq(&self, other: &Self) -> bool {
        self.labels == other.labels
    }
}

impl<B: Dim, const C: usize, D: LabelStore> Classes<B, C, D> {
    /// Copies host labels to `device`.
    pub fn upload(device: &D, host: &Classes<B, C>) -> Result<Self> {
        Ok(Classes {
            labels: device.upload_labels(&host.labels, C)?,
            rows: host.rows,
        })
    }

    /// The number of rows (labels).
    pub fn rows(&self) -> usize {
        self.rows.size()
    }

    /// The labels in the device's label buffer (what its `cross_entropy`
    /// takes).
    pub fn buffer(&self) -> &D::Labels {
        &self.labels
    }
}

impl<B: Dim, const C: usize> Classes<B, C> {
    /// `labels.len()` must equal `rows`, and every label must be below `C`
    /// (`Err(ClassOutOfRange)` naming the row otherwise).
    pub fn new(rows: B, labels: Vec<usize>) -> Result<Self> {
        forma_core::check_len("Classes::new labels", rows.size(), labels.len())?;
        forma_core::device::check_labels(&labels, C)?;
        Ok(Classes { labels, rows })
    }

    /// The labels.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }
}

impl<const C: usize> Classes<usize, C> {
    /// Replaces the labels with `labels` (each below `C`), keeping the
    /// buffer: a batch refilled each step allocates only beyond the
    /// largest batch so far. On `Err` (a label not below `C`, named with its
    /// row) the labels are unchanged.
    pub fn refill(&mut self, labels: impl Iterator<Item = usize> + Clone) -> Result<()> {
        if let Some((row, label)) = labels.clone().enumerate().find(|(_, l)| *l >= C) {
            return Err(forma_core::Error::ClassOutOfRange {
                row,
                label: label as f64,
                classes: C,
            });
        }
        self.labels.clear();
        self.labels.extend(labels);
        self.rows = self.labels.len();
        Ok(())
    }

    /// Labels for a batch of any length: one per row.
    pub fn from_labels(labels: Vec<usize>) -> Result<Self> {
        Self::new(labels.len(), labels)
    }
}
