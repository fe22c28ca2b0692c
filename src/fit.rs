//! [`Fit`]: the training loop people expect. Epochs of shuffled
//! mini-batches, the mean training loss of each, validation loss (and
//! accuracy for class labels), a learning-rate schedule, early stopping, a
//! progress bar on a terminal (plain lines otherwise, or nothing when asked
//! to be quiet), and a [`History`] that saves as CSV.
//!
//! ```
//! use forma::dataset::DataSet;
//! use forma::fit::Fit;
//! use forma::prelude::*;
//!
//! # fn main() -> forma::Result<()> {
//! let x = Batch::<f32, 2>::from_fn(64, Const, |r, c| ((r * 3 + c * 5) % 7) as f32 / 7.0);
//! let y = Batch::<f32, 1>::from_fn(64, Const, |r, _| ((r * 3) % 7) as f32 / 7.0);
//! let (mut train, val) = DataSet::new(x, y)?.split(0.75, &mut rng(0))?;
//! let mut trainer = Trainer::new(Mlp::<2, 16, 1>::initialize(&mut rng(1)), Mse, Adam::new(0.01)?);
//! let history = Fit::new(20).batch_size(16).quiet().run(&mut trainer, &mut train, Some(&val))?;
//! assert_eq!(history.epochs().len(), 20);
//! assert!(history.epochs()[19].train_loss < history.epochs()[0].train_loss);
//! # Ok(()) }
//! ```

use std::io::IsTerminal;
use std::path::Path;
use std::string::{String, ToString};
use std::time::Instant;
use std::vec::Vec;

use forma_core::{Const, ConstDim, Error, Float, Result, Tensor};
use forma_layers::Module;
use forma_losses::{Classes, Loss};
use forma_optim::Optimizer;

use crate::Trainer;
use crate::dataset::{Batches, DataSet, Last, Targets};
use crate::metrics::argmax;
use crate::schedule::Schedule;

/// Targets whose predictions can be scored right or wrong: class labels
/// (argmax against the label). Regression targets have no accuracy.
pub trait Scored<E: Float, O: ConstDim>: Targets {
    /// How many rows of `pred` are right, if the targets have a notion of
    /// right.
    fn correct(&self, pred: &Tensor<E, usize, O>) -> Option<usize>;
}

impl<E: Float, const C: usize> Scored<E, Const<C>> for forma_core::Batch<E, C> {
    fn correct(&self, _pred: &Tensor<E, usize, Const<C>>) -> Option<usize> {
        None
    }
}

impl<E: Float, const C: usize> Scored<E, Const<C>> for Classes<usize, C> {
    fn correct(&self, pred: &Tensor<E, usize, Const<C>>) -> Option<usize> {
        let rows = pred.as_rows().iter().zip(self.labels());
        Some(
            rows.filter(|(row, label)| argmax(&row[..]) == **label)
                .count(),
        )
    }
}

/// How a run reports its progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Progress {
    /// A bar on a terminal, lines otherwise.
    Auto,
    /// One line per epoch.
    Lines,
    /// Nothing.
    Quiet,
}

/// One epoch of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Epoch {
    /// From 1.
    pub epoch: usize,
    /// The learning rate of the epoch.
    pub learning_rate: f64,
    /// The mean training loss over the epoch's batches, weighted by rows.
    pub train_loss: f64,
    /// The mean loss over the validation set, if one was given.
    pub val_loss: Option<f64>,
    /// The fraction of the validation set predicted right (class labels).
    pub val_accuracy: Option<f64>,
    /// Seconds the epoch took.
    pub seconds: f64,
}

/// The epochs of a run, and why it ended.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    epochs: Vec<Epoch>,
    best: Option<usize>,
    stopped_early: bool,
}

impl History {
    /// Every epoch run.
    pub fn epochs(&self) -> &[Epoch] {
        &self.epochs
    }

    /// The epoch with the lowest validation loss, if there was validation.
    pub fn best_epoch(&self) -> Option<&Epoch> {
        self.best.map(|i| &self.epochs[i])
    }

    /// Whether early stopping ended the run.
    pub fn stopped_early(&self) -> bool {
        self.stopped_early
    }

    /// The history as CSV text: a header, then one row per epoch (empty
    /// fields where there was no validation).
    pub fn to_csv(&self) -> String {
        let mut out =
            String::from("epoch,learning_rate,train_loss,val_loss,val_accuracy,seconds\n");
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
        for e in &self.epochs {
            out.push_str(&std::format!(
                "{},{},{},{},{},{}\n",
                e.epoch,
                e.learning_rate,
                e.train_loss,
                opt(e.val_loss),
                opt(e.val_accuracy),
                e.seconds
            ));
        }
        out
    }

    /// Writes [`History::to_csv`] to a file.
    pub fn save_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_csv()).map_err(|e| Error::Data {
            what: path.display().to_string(),
            line: 0,
            column: None,
            message: std::format!("expected a writable file, got {e}"),
        })
    }
}

/// The settings of a training run (see the module's docs).
#[derive(Clone, Debug)]
pub struct Fit {
    epochs: usize,
    batch: usize,
    last: Last,
    seed: u64,
    patience: Option<usize>,
    schedule: Option<Schedule>,
    progress: Progress,
}

impl Fit {
    /// `epochs` epochs of batches of 32 (the last one kept), shuffled with
    /// seed 0, no schedule, no early stopping, progress on stderr.
    pub fn new(epochs: usize) -> Self {
        Fit {
            epochs,
            batch: 32,
            last: Last::Keep,
            seed: 0,
            patience: None,
            schedule: None,
            progress: Progress::Auto,
        }
    }

    /// Batches of `size` rows.
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch = size;
        self
    }

    /// Drops a last batch shorter than the others.
    pub fn drop_last(mut self) -> Self {
        self.last = Last::Drop;
        self
    }

    /// The seed of the per-epoch shuffle.
    pub fn shuffle_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Stops when the validation loss has not improved for `patience`
    /// epochs (needs a validation set).
    pub fn early_stopping(mut self, patience: usize) -> Self {
        self.patience = Some(patience);
        self
    }

    /// Sets the learning rate of epoch `e` (from 0) to `schedule.at(e)`.
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = Some(schedule);
        self
    }

    /// One plain line per epoch on stderr, even on a terminal.
    pub fn lines(mut self) -> Self {
        self.progress = Progress::Lines;
        self
    }

    /// No output.
    pub fn quiet(mut self) -> Self {
        self.progress = Progress::Quiet;
        self
    }

    /// Trains `trainer` on `train` (shuffled each epoch), validating on
    /// `val` after each epoch if given. Errors of a step end the run and
    /// come back as they are (`Error::Step`, with its step number).
    pub fn run<E, const F: usize, T, M, L, O>(
        &self,
        trainer: &mut Trainer<E, Const<F>, usize, M, L, O>,
        train: &mut DataSet<E, F, T>,
        val: Option<&DataSet<E, F, T>>,
    ) -> Result<History>
    where
        E: Float,
        T: Scored<E, M::Out>,
        M: Module<E, Const<F>>,
        L: Loss<E, M::Out, Target<usize> = T>,
        O: Optimizer<E, M>,
    {
        if self.patience.is_some() && val.is_none() {
            return Err(Error::Config {
                what: "Fit::early_stopping needs a validation set",
                got: f64::NAN,
            });
        }
        if self.patience == Some(0) {
            return Err(Error::Config {
                what: "Fit::early_stopping patience must be at least 1 epoch",
                got: 0.0,
            });
        }
        let mut rng = forma_core::rng(self.seed);
        let mut batches = Batches::new(self.batch, self.last)?;
        let mut eval = Batches::new(self.batch.max(1), Last::Keep)?;
        let steps = (train.len() / self.batch)
            + usize::from(self.last == Last::Keep && !train.len().is_multiple_of(self.batch));
        let bar = self.bar(steps);
        let mut history = History::default();
        let mut since_best = 0;
        for epoch in 0..self.epochs {
            let start = Instant::now();
            if let Some(s) = &self.schedule {
                trainer.set_learning_rate(s.at(epoch as u64))?;
            }
            train.shuffle(&mut rng);
            batches.rewind();
            let (mut total, mut rows) = (0.0, 0usize);
            if let Some(bar) = &bar {
                bar.reset();
                bar.set_prefix(std::format!("epoch {}/{}", epoch + 1, self.epochs));
            }
            while let Some((x, y)) = batches.next_batch(train)? {
                let loss = trainer.step(x, y)?.to_f64();
                total += loss * x.rows() as f64;
                rows += x.rows();
                if let Some(bar) = &bar {
                    bar.set_message(std::format!("loss {:.4}", total / rows as f64));
                    bar.inc(1);
                }
            }
            if rows == 0 {
                return Err(Error::EmptyBatch {
                    what: "Fit::run: an epoch without a batch (an empty training set, or drop_last with fewer rows than the batch size)",
                });
            }
            let (val_loss, val_accuracy) = match val {
                Some(v) => {
                    let (l, a) = evaluate(trainer, v, &mut eval)?;
                    (Some(l), a)
                }
                None => (None, None),
            };
            let record = Epoch {
                epoch: epoch + 1,
                learning_rate: trainer.learning_rate(),
                train_loss: total / rows as f64,
                val_loss,
                val_accuracy,
                seconds: start.elapsed().as_secs_f64(),
            };
            self.report(&record, bar.as_ref());
            history.epochs.push(record);
            if let Some(vl) = val_loss {
                let best = history
                    .best
                    .map(|b| history.epochs[b].val_loss.unwrap_or(f64::INFINITY));
                if best.is_none_or(|b| vl < b) {
                    history.best = Some(epoch);
                    since_best = 0;
                } else {
                    since_best += 1;
                }
                if self.patience.is_some_and(|p| since_best >= p) {
                    history.stopped_early = true;
                    break;
                }
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        Ok(history)
    }

    /// The progress bar, when one is wanted and stderr is a terminal.
    fn bar(&self, steps: usize) -> Option<indicatif::ProgressBar> {
        if self.progress != Progress::Auto || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = indicatif::ProgressBar::new(steps as u64);
        let style = indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} steps, {per_sec}, {msg}, {eta} left",
        )
        .map(|s| s.progress_chars("=> "));
        if let Ok(style) = style {
            bar.set_style(style);
        }
        Some(bar)
    }

    /// One epoch's line: above the bar on a terminal, on stderr otherwise.
    fn report(&self, e: &Epoch, bar: Option<&indicatif::ProgressBar>) {
        if self.progress == Progress::Quiet {
            return;
        }
        let mut line = std::format!(
            "epoch {:>3}/{}  train loss {:.5}",
            e.epoch,
            self.epochs,
            e.train_loss
        );
        if let Some(l) = e.val_loss {
            line.push_str(&std::format!("  val loss {l:.5}"));
        }
        if let Some(a) = e.val_accuracy {
            line.push_str(&std::format!("  val accuracy {:.2}%", 100.0 * a));
        }
        line.push_str(&std::format!(
            "  lr {:.3e}  {:.2}s",
            e.learning_rate,
            e.seconds
        ));
        match bar {
            Some(bar) => bar.println(line),
            None => std::eprintln!("{line}"),
        }
    }
}

/// The mean loss over `data` (weighted by rows) and, for class labels, the
/// accuracy: forward passes only, in `batches`' batch size, reusing the
/// trainer's buffers.
pub fn evaluate<E, const F: usize, T, M, L, O>(
    trainer: &mut Trainer<E, Const<F>, usize, M, L, O>,
    data: &DataSet<E, F, T>,
    batches: &mut Batches<E, F, T>,
) -> Result<(f64, Option<f64>)>
where
    E: Float,
    T: Scored<E, M::Out>,
    M: Module<E, Const<F>>,
    L: Loss<E, M::Out, Target<usize> = T>,
    O: Optimizer<E, M>,
{
    batches.rewind();
    let (mut loss, mut rows, mut right, mut scored) = (0.0, 0usize, 0usize, true);
    while let Some((x, y)) = batches.next_batch(data)? {
        loss += trainer.evaluate(x, y)?.to_f64() * x.rows() as f64;
        let Some(out) = trainer.last_output() else {
            unreachable!("evaluate made a forward pass")
        };
        match y.correct(out) {
            Some(n) => right += n,
            None => scored = false,
        }
        rows += x.rows();
    }
    if rows == 0 {
        return Err(Error::EmptyBatch {
            what: "fit::evaluate on an empty data set",
        });
    }
    let accuracy = scored.then(|| right as f64 / rows as f64);
    Ok((loss / rows as f64, accuracy))
}
