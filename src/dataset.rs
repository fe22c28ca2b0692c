//! [`DataSet`]: features and targets in memory, a seeded shuffle, a
//! train/test split, and mini-batches that refill reusable buffers.
//!
//! ```
//! use forma::dataset::{Batches, DataSet, Last};
//! use forma::prelude::*;
//!
//! # fn main() -> forma::Result<()> {
//! // 10 points of y = 2x, shuffled with a seed, split 8 / 2, batches of 3.
//! let x = Batch::<f32, 1>::from_fn(10, Const, |r, _| r as f32);
//! let y = Batch::<f32, 1>::from_fn(10, Const, |r, _| 2.0 * r as f32);
//! let mut rng = forma::rng(0);
//! let (mut train, test) = DataSet::new(x, y)?.split(0.8, &mut rng)?;
//! assert_eq!((train.len(), test.len()), (8, 2));
//! train.shuffle(&mut rng);
//! let mut batches = Batches::new(3, Last::Keep)?;
//! let mut rows = 0;
//! while let Some((x, y)) = batches.next_batch(&train)? {
//!     assert_eq!(x.rows(), y.rows());
//!     rows += x.rows();
//! }
//! assert_eq!(rows, 8); // 3 + 3 + 2
//! # Ok(()) }
//! ```

use std::vec::Vec;

use forma_core::rand::seq::SliceRandom;
use forma_core::{Batch, Const, Error, Float, Result, Rng, Tensor};
use forma_losses::Classes;

/// Targets a [`DataSet`] can hold: one row per example, gathered into a
/// batch of the same kind by index.
pub trait Targets: Sized {
    /// The number of rows.
    fn rows(&self) -> usize;
    /// An empty batch of this kind (filled by [`Targets::gather`]).
    fn empty(&self) -> Self;
    /// Makes `out` hold rows `indices` of `self`, in that order, reusing
    /// its buffer.
    fn gather(&self, indices: &[usize], out: &mut Self) -> Result<()>;
}

/// Regression targets: `C` values a row.
impl<E: Float, const C: usize> Targets for Batch<E, C> {
    fn rows(&self) -> usize {
        Tensor::rows(self)
    }
    fn empty(&self) -> Self {
        Batch::zeros(0, Const)
    }
    fn gather(&self, indices: &[usize], out: &mut Self) -> Result<()> {
        gather_rows(self, indices, out)
    }
}

/// Class labels.
impl<const C: usize> Targets for Classes<usize, C> {
    fn rows(&self) -> usize {
        Classes::rows(self)
    }
    fn empty(&self) -> Self {
        match Classes::from_labels(Vec::new()) {
            Ok(c) => c,
            Err(_) => unreachable!("no labels are all below C"),
        }
    }
    fn gather(&self, indices: &[usize], out: &mut Self) -> Result<()> {
        let labels = self.labels();
        out.refill(indices.iter().map(|&i| labels[i]))
    }
}

/// Rows `indices` of `src` into `out` (resized; its buffer kept).
fn gather_rows<E: Float, const C: usize>(
    src: &Batch<E, C>,
    indices: &[usize],
    out: &mut Batch<E, C>,
) -> Result<()> {
    out.resize_rows(&forma_core::Cpu, indices.len())?;
    let rows = src.as_rows();
    for (o, &i) in out.as_rows_mut().iter_mut().zip(indices) {
        *o = rows[i];
    }
    Ok(())
}

/// What to do with a last batch shorter than the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Last {
    /// Train on it (`drop_last=False` in PyTorch's `DataLoader`).
    Keep,
    /// Skip it.
    Drop,
}

/// Examples in memory: `F` features and a target (regression values or
/// class labels) a row, and the order batches are drawn in.
#[derive(Clone, Debug)]
pub struct DataSet<E: Float, const F: usize, T> {
    x: Batch<E, F>,
    y: T,
    order: Vec<usize>,
}

impl<E: Float, const F: usize, T: Targets> DataSet<E, F, T> {
    /// The examples `x` and their targets `y`: `Err` unless they have the
    /// same number of rows, or if a feature is NaN or infinite (naming its
    /// row and column).
    pub fn new(x: Batch<E, F>, y: T) -> Result<Self> {
        forma_core::check_len(
            "DataSet::new: target rows, one per example",
            x.rows(),
            y.rows(),
        )?;
        forma_core::check_finite_rows("DataSet feature", F, x.as_slice())?;
        let order = (0..x.rows()).collect();
        Ok(DataSet { x, y, order })
    }

    /// The number of examples.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The features, in their stored order.
    pub fn features(&self) -> &Batch<E, F> {
        &self.x
    }

    /// The targets, in their stored order.
    pub fn targets(&self) -> &T {
        &self.y
    }

    /// Applies `f` to every feature (scaling, say); `Err` naming the row
    /// and column if a result is not finite (the data set is then as `f`
    /// left it up to that value: rebuild it).
    pub fn map_features(&mut self, f: impl FnMut(E) -> E) -> Result<()> {
        self.x.map_inplace(f);
        forma_core::check_finite_rows("DataSet feature", F, self.x.as_slice())
    }

    /// Shuffles the order batches are drawn in (no allocation; the data
    /// stays where it is).
    pub fn shuffle(&mut self, rng: &mut Rng) {
        self.order.shuffle(rng);
    }

    /// A seeded random split: the first data set holds `fraction` of the
    /// examples (rounded down, at least one on each side), the second the
    /// rest. `Err` for a fraction outside (0, 1) or too few examples.
    pub fn split(&self, fraction: f64, rng: &mut Rng) -> Result<(Self, Self)> {
        if !(fraction > 0.0 && fraction < 1.0) {
            return Err(Error::Config {
                what: "DataSet::split fraction must be in (0, 1)",
                got: fraction,
            });
        }
        let n = self.len();
        if n < 2 {
            return Err(Error::Length {
                what: "DataSet::split: examples, at least 2",
                expected: 2,
                got: n,
            });
        }
        let first = ((n as f64 * fraction) as usize).clamp(1, n - 1);
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(rng);
        let part = |idx: &[usize]| -> Result<Self> {
            let mut x = Batch::zeros(0, Const);
            gather_rows(&self.x, idx, &mut x)?;
            let mut y = self.y.empty();
            self.y.gather(idx, &mut y)?;
            DataSet::new(x, y)
        };
        Ok((part(&order[..first])?, part(&order[first..])?))
    }
}

/// Mini-batches of a [`DataSet`], drawn in its current order with
/// [`Batches::next_batch`] into two reusable buffers (a lending iterator:
/// each batch lives there until the next). One `Batches` serves every
/// epoch: [`Batches::rewind`] starts a new pass, after a
/// [`DataSet::shuffle`] if wanted; drawing allocates only for a batch
/// larger than any before, so after the first batch, nothing.
pub struct Batches<E: Float, const F: usize, T> {
    size: usize,
    last: Last,
    at: usize,
    x: Batch<E, F>,
    y: Option<T>,
}

impl<E: Float, const F: usize, T: Targets> Batches<E, F, T> {
    /// Batches of `size` rows; `Err` for a size of 0.
    pub fn new(size: usize, last: Last) -> Result<Self> {
        if size == 0 {
            return Err(Error::Config {
                what: "Batches: the batch size must be at least 1",
                got: 0.0,
            });
        }
        Ok(Batches {
            size,
            last,
            at: 0,
            x: Batch::zeros(0, Const),
            y: None,
        })
    }

    /// The next batch of `data`, or `None` at the end of the pass. `Err`
    /// only if a buffer cannot grow (no memory).
    pub fn next_batch(&mut self, data: &DataSet<E, F, T>) -> Result<Option<(&Batch<E, F>, &T)>> {
        let order = &data.order;
        let remaining = order.len().saturating_sub(self.at);
        if remaining == 0 || (remaining < self.size && self.last == Last::Drop) {
            return Ok(None);
        }
        let take = remaining.min(self.size);
        let idx = &order[self.at..self.at + take];
        self.at += take;
        let y = self.y.get_or_insert_with(|| data.y.empty());
        // Indices come from the data set's own order: in range by construction.
        gather_rows(&data.x, idx, &mut self.x)?;
        data.y.gather(idx, y)?;
        Ok(Some((&self.x, &*y)))
    }

    /// Starts a new pass.
    pub fn rewind(&mut self) {
        self.at = 0;
    }
}
