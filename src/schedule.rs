//! Learning-rate schedules: step, exponential and cosine decay, each with
//! or without a linear warm-up, as PyTorch's `lr_scheduler` computes them
//! (tested against its values: `tests/schedules.rs`).
//!
//! A schedule maps an epoch (or any step count) to a learning rate; the
//! training loop sets it with [`Trainer::set_learning_rate`](crate::Trainer::set_learning_rate):
//!
//! ```
//! use forma::schedule::Schedule;
//! # fn main() -> forma::Result<()> {
//! // PyTorch: SequentialLR([LinearLR(start_factor=0.1, total_iters=5),
//! //                        CosineAnnealingLR(T_max=30, eta_min=0.001)], milestones=[5])
//! let schedule = Schedule::cosine(0.1, 30, 0.001)?.with_warmup(5, 0.1)?;
//! assert!((schedule.at(0) - 0.01).abs() < 1e-15);
//! assert!((schedule.at(5) - 0.1).abs() < 1e-15);
//! # Ok(()) }
//! ```

use forma_core::{Error, Result};

/// How the learning rate decays after the warm-up.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Decay {
    /// `StepLR`: times `gamma` every `every` epochs.
    Step { every: u64, gamma: f64 },
    /// `ExponentialLR`: times `gamma` every epoch.
    Exponential { gamma: f64 },
    /// `CosineAnnealingLR`: half a cosine from the base rate down to `min`
    /// over `period` epochs (and up again after, as PyTorch's does).
    Cosine { period: u64, min: f64 },
    /// The base rate throughout.
    Constant,
}

/// A learning rate for every epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    base: f64,
    decay: Decay,
    /// `LinearLR`: `(epochs, start factor)`.
    warmup: Option<(u64, f64)>,
}

fn setting(what: &'static str, ok: bool, got: f64) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Config { what, got })
    }
}

fn base(lr: f64) -> Result<f64> {
    setting(
        "schedule base learning rate must be finite and >= 0",
        lr.is_finite() && lr >= 0.0,
        lr,
    )?;
    Ok(lr)
}

impl Schedule {
    /// `lr` throughout.
    pub fn constant(lr: f64) -> Result<Self> {
        Ok(Schedule {
            base: base(lr)?,
            decay: Decay::Constant,
            warmup: None,
        })
    }

    /// `lr · gamma^⌊epoch / every⌋` (PyTorch's `StepLR`).
    pub fn step(lr: f64, every: u64, gamma: f64) -> Result<Self> {
        setting(
            "StepLR step size must be at least 1",
            every >= 1,
            every as f64,
        )?;
        setting(
            "StepLR gamma must be finite and > 0",
            gamma.is_finite() && gamma > 0.0,
            gamma,
        )?;
        Ok(Schedule {
            base: base(lr)?,
            decay: Decay::Step { every, gamma },
            warmup: None,
        })
    }

    /// `lr · gamma^epoch` (PyTorch's `ExponentialLR`).
    pub fn exponential(lr: f64, gamma: f64) -> Result<Self> {
        setting(
            "ExponentialLR gamma must be finite and > 0",
            gamma.is_finite() && gamma > 0.0,
            gamma,
        )?;
        Ok(Schedule {
            base: base(lr)?,
            decay: Decay::Exponential { gamma },
            warmup: None,
        })
    }

    /// `min + (lr - min) · (1 + cos(π · epoch / period)) / 2` (PyTorch's
    /// `CosineAnnealingLR` with `T_max = period`, `eta_min = min`).
    pub fn cosine(lr: f64, period: u64, min: f64) -> Result<Self> {
        setting(
            "CosineAnnealingLR period (T_max) must be at least 1",
            period >= 1,
            period as f64,
        )?;
        setting(
            "CosineAnnealingLR minimum must be finite and >= 0",
            min.is_finite() && min >= 0.0,
            min,
        )?;
        Ok(Schedule {
            base: base(lr)?,
            decay: Decay::Cosine { period, min },
            warmup: None,
        })
    }

    /// First a linear warm-up over `epochs` epochs from `start · lr` to `lr`
    /// (PyTorch's `LinearLR(start_factor=start, total_iters=epochs)`), then
    /// this schedule from its epoch 0 (`SequentialLR` with the milestone at
    /// `epochs`). `start` in (0, 1].
    pub fn with_warmup(mut self, epochs: u64, start: f64) -> Result<Self> {
        setting(
            "warm-up start factor must be in (0, 1]",
            start > 0.0 && start <= 1.0,
            start,
        )?;
        setting(
            "warm-up must last at least 1 epoch",
            epochs >= 1,
            epochs as f64,
        )?;
        self.warmup = Some((epochs, start));
        Ok(self)
    }

    /// The learning rate of epoch `epoch` (0 before the first `step`).
    pub fn at(&self, epoch: u64) -> f64 {
        let epoch = match self.warmup {
            Some((w, start)) if epoch < w => {
                return self.base * (start + (1.0 - start) * epoch as f64 / w as f64);
            }
            Some((w, _)) => epoch - w,
            None => epoch,
        };
        match self.decay {
            Decay::Constant => self.base,
            Decay::Step { every, gamma } => self.base * gamma.powf((epoch / every) as f64),
            Decay::Exponential { gamma } => self.base * gamma.powf(epoch as f64),
            Decay::Cosine { period, min } => {
                let phase = core::f64::consts::PI * epoch as f64 / period as f64;
                min + (self.base - min) * (1.0 + phase.cos()) / 2.0
            }
        }
    }
}
