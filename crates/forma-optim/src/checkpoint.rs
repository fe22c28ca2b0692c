//! [`Stateful`]: an optimizer's state, read and restored for checkpoints.

use alloc::vec::Vec;

use forma_core::{Error, Float, Result};
use forma_layers::Params;

use crate::{Adam, Sgd};

/// An optimizer whose state can be saved and restored, so that training
/// resumed from a checkpoint is bitwise identical to training that never
/// stopped. State is a set of tensors shaped like the parameters (SGD's
/// velocity, Adam's two moments), each named, and a few counters (Adam's
/// step count).
pub trait Stateful<E: Float, P: Params<E>> {
    /// The optimizer's name in a checkpoint (`"sgd"`, `"adam"`): a
    /// checkpoint of one does not restore into another.
    const KIND: &'static str;
    /// The names of every state set this optimizer can have.
    const SETS: &'static [&'static str];
    /// Calls `f(name, set)` for each state set the optimizer has now (none
    /// before its first step).
    fn state(&self, f: &mut dyn FnMut(&'static str, &P));
    /// The counters, by name.
    fn counters(&self) -> Vec<(&'static str, u64)>;
    /// Replaces the state: the sets present (by name, from [`Stateful::SETS`])
    /// and the counters. `Err` if they do not make a state of this
    /// optimizer (one of Adam's moments without the other, a counter
    /// missing or out of range).
    fn restore(&mut self, sets: Vec<(&'static str, P)>, counters: &[(&str, u64)]) -> Result<()>;
}

fn counter(counters: &[(&str, u64)], name: &str) -> Option<u64> {
    counters.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

fn bad_state(what: &'static str) -> Error {
    Error::Invalid {
        what,
        value: f64::NAN,
        expected: "a state this optimizer can have",
    }
}

impl<E: Float, P: Params<E>> Stateful<E, P> for Sgd<E, P> {
    const KIND: &'static str = "sgd";
    /// The momentum buffer (present after the first step with momentum).
    const SETS: &'static [&'static str] = &["velocity"];

    fn state(&self, f: &mut dyn FnMut(&'static str, &P)) {
        if let Some(v) = self.velocity() {
            f("velocity", v);
        }
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }

    fn restore(&mut self, sets: Vec<(&'static str, P)>, _counters: &[(&str, u64)]) -> Result<()> {
        let mut velocity = None;
        for (name, set) in sets {
            match name {
                "velocity" => velocity = Some(set),
                _ => return Err(bad_state("SGD state: only a velocity")),
            }
        }
        self.restore_velocity(velocity);
        Ok(())
    }
}

impl<E: Float, P: Params<E>> Stateful<E, P> for Adam<E, P> {
    const KIND: &'static str = "adam";
    /// The first and second moments.
    const SETS: &'static [&'static str] = &["m", "v"];

    fn state(&self, f: &mut dyn FnMut(&'static str, &P)) {
        if let Some((m, v)) = self.moments_ref() {
            f("m", m);
            f("v", v);
        }
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        alloc::vec![("t", self.steps_taken())]
    }

    fn restore(&mut self, sets: Vec<(&'static str, P)>, counters: &[(&str, u64)]) -> Result<()> {
        let (mut m, mut v) = (None, None);
        for (name, set) in sets {
            match name {
                "m" => m = Some(set),
                "v" => v = Some(set),
                _ => return Err(bad_state("Adam state: only moments m and v")),
            }
        }
        let t = counter(counters, "t").ok_or_else(|| bad_state("Adam state: its step count t"))?;
        let moments = match (m, v) {
            (Some(m), Some(v)) => Some((m, v)),
            (None, None) => None,
            _ => return Err(bad_state("Adam state: both moments m and v, or neither")),
        };
        if moments.is_some() != (t > 0) {
            return Err(bad_state(
                "Adam state: moments exactly when the step count t is above 0",
            ));
        }
        if let Some((_, v)) = &moments {
            let mut negative = false;
            v.visit(&mut |s| negative |= s.iter().any(|x| *x < E::ZERO));
            if negative {
                return Err(bad_state(
                    "Adam state: a second moment v that is not negative",
                ));
            }
        }
        self.restore_state(moments, t)
    }
}
