//! Checkpoints: a trainer's model, optimizer state, learning rate and step
//! count in one `.safetensors` file, so that training resumed from it (by
//! a trainer with the same optimizer and settings: momentum, betas, weight
//! decay are the code's, not the file's) is bitwise identical to training
//! that never stopped.

use std::collections::HashMap;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use forma_core::{ConstDim, Device, Dim, Error, Result};
use forma_layers::{Module, Named, Params};
use forma_losses::Loss;
use forma_optim::{Optimizer, Stateful};

use crate::Trainer;
use crate::io::{self, Extra, FileElement, Names};

/// The header entry that marks a forma checkpoint, and its version.
const FORMAT: (&str, &str) = ("forma.format", "checkpoint-1");

fn bad(file: &str, what: &str, got: String) -> Error {
    Error::Tensor {
        file: file.to_string(),
        name: String::new(),
        expected: what.to_string(),
        got,
    }
}

/// Checkpoints of a trainer whose model's parameters the host can read (on
/// the CPU; a GPU model comes back first with `to_host`).
///
/// The file holds the model's tensors as `model.<name>` (the names of
/// [`Named`]), each optimizer state set as `optimizer.<set>.<name>`
/// (`velocity`; `m` and `v`), and in its header the trainer's step count,
/// the optimizer's counters (Adam's `t`) and which state sets are present.
impl<E, In, B, M, L, O, D> Trainer<E, In, B, M, L, O, D>
where
    E: FileElement,
    In: ConstDim,
    B: Dim,
    D: Device<E>,
    M: Module<E, In, D> + Params<E> + Named,
    L: Loss<E, M::Out, D>,
    O: Optimizer<E, M, D> + Stateful<E, M>,
{
    /// The checkpoint as the bytes of a `.safetensors` file.
    pub fn checkpoint(&self) -> Result<Vec<u8>> {
        let mut tensors = Vec::new();
        io::tensors_of(self.model(), &Names::prefixed("model."), &mut tensors)?;
        let mut sets = Vec::new();
        let mut result = Ok(());
        self.optimizer().state(&mut |name, set| {
            sets.push(name);
            if result.is_ok() {
                let names = Names::prefixed(&std::format!("optimizer.{name}."));
                result = io::tensors_of(set, &names, &mut tensors);
            }
        });
        result?;
        let mut meta = HashMap::new();
        meta.insert(FORMAT.0.to_string(), FORMAT.1.to_string());
        meta.insert("trainer.steps".to_string(), self.steps().to_string());
        meta.insert("optimizer.sets".to_string(), sets.join(","));
        meta.insert("optimizer.kind".to_string(), O::KIND.to_string());
        let lr = self.learning_rate();
        meta.insert("optimizer.lr".to_string(), std::format!("{:?}", lr));
        for (name, value) in self.optimizer().counters() {
            meta.insert(std::format!("optimizer.{name}"), value.to_string());
        }
        io::serialize(E::DTYPE, &tensors, Some(meta))
    }

    /// Writes [`Trainer::checkpoint`] to a file.
    pub fn save_checkpoint(&self, path: impl AsRef<Path>) -> Result<()> {
        io::write_file(path.as_ref(), &self.checkpoint()?)
    }

    /// Restores the model, the optimizer state and the step count from the
    /// bytes of a checkpoint. Every tensor is checked against the model's
    /// type first (names, dtype, shape, finite values), and nothing changes
    /// unless all pass. `file` names the source in errors.
    pub fn restore_checkpoint(&mut self, bytes: &[u8], file: &str) -> Result<()> {
        let st = io::parse(file, bytes)?;
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| bad(file, "a safetensors header", e.to_string()))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let get = |key: &str| meta.get(key).map(String::as_str);
        if get(FORMAT.0) != Some(FORMAT.1) {
            let got = get(FORMAT.0).unwrap_or("no format entry").to_string();
            return Err(bad(
                file,
                "a forma checkpoint (forma.format = checkpoint-1)",
                got,
            ));
        }
        let number = |key: &str| -> Result<u64> {
            let text = get(key).ok_or_else(|| bad(file, key, "nothing".to_string()))?;
            text.parse()
                .map_err(|_| bad(file, key, std::format!("{text:?}, not a count")))
        };
        let steps = number("trainer.steps")?;
        if get("optimizer.kind") != Some(O::KIND) {
            let got = get("optimizer.kind")
                .unwrap_or("no optimizer.kind entry")
                .to_string();
            return Err(bad(
                file,
                &std::format!("a checkpoint of this optimizer ({})", O::KIND),
                got,
            ));
        }
        let lr_text = get("optimizer.lr").unwrap_or("");
        let lr: f64 = lr_text.parse().map_err(|_| {
            bad(
                file,
                "optimizer.lr, a learning rate",
                std::format!("{lr_text:?}"),
            )
        })?;
        let model = io::decode_all(
            self.model(),
            &st,
            &Names::prefixed("model."),
            Extra::Ignore,
            file,
        )?;
        let listed: Vec<&str> = get("optimizer.sets")
            .ok_or_else(|| bad(file, "optimizer.sets", "nothing".to_string()))?
            .split(',')
            .filter(|s| !s.is_empty())
            .collect();
        // Every tensor on file is one of the model's, or of a listed state
        // set's (shaped like the model): nothing else is ignored.
        let mut allowed = std::collections::HashSet::new();
        self.model().names(&mut |name, shape| {
            if shape.iter().product::<usize>() > 0 {
                allowed.insert(std::format!("model.{name}"));
                for set in &listed {
                    allowed.insert(std::format!("optimizer.{set}.{name}"));
                }
            }
        });
        let mut on_file = st.names();
        on_file.sort(); // the first unknown name, whatever the header's order
        for name in on_file {
            if !allowed.contains(name) {
                return Err(Error::Tensor {
                    file: file.to_string(),
                    name: name.to_string(),
                    expected: "only the model's tensors (model.*) and those of the listed optimizer state sets".to_string(),
                    got: "a tensor this trainer does not have".to_string(),
                });
            }
        }
        let mut sets = Vec::new();
        for &name in &listed {
            let Some(&known) = O::SETS.iter().find(|s| **s == name) else {
                let expected = std::format!("optimizer state sets among {:?}", O::SETS);
                return Err(bad(file, &expected, name.to_string()));
            };
            let names = Names::prefixed(&std::format!("optimizer.{known}."));
            let values = io::decode_all(self.model(), &st, &names, Extra::Ignore, file)?;
            let mut set = <M as Params<E>>::zeros_like(self.model())?;
            io::write_all(&mut set, &values);
            sets.push((known, set));
        }
        let mut counters = Vec::new();
        for key in meta.keys() {
            if let Some(name) = key.strip_prefix("optimizer.")
                && !matches!(name, "sets" | "kind" | "lr")
            {
                counters.push((name, number(key)?));
            }
        }
        // Everything decoded and checked: now change the trainer (the
        // learning rate first: it is checked in the element type).
        let old_lr = self.learning_rate();
        self.set_learning_rate(lr)?;
        if let Err(e) = self.optimizer_mut_for_restore().restore(sets, &counters) {
            self.set_learning_rate(old_lr)?;
            return Err(e);
        }
        io::write_all(self.model_mut(), &model);
        self.set_steps(steps);
        Ok(())
    }

    /// [`Trainer::restore_checkpoint`] from a file; errors name it.
    pub fn load_checkpoint(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = io::read_file(path)?;
        self.restore_checkpoint(&bytes, &path.display().to_string())
    }
}
