//! [`Named`]: stable names for a network's parameter tensors, derived from
//! its structure.

use alloc::string::String;
use core::fmt::Write;

/// Names and shapes for every parameter tensor of a network, in
/// [`Params::visit`](crate::Params::visit) order: the names PyTorch's
/// `state_dict()` gives the equivalent `nn.Sequential`.
///
/// # The naming contract
///
/// * A `Linear` has `weight` (shape `[out, in]`, PyTorch's layout) and
///   `bias` (`[out]`; `[1]` for a shared bias; a layer without bias has
///   none, as `nn.Linear(bias=False)`).
/// * A sequence (`seq!(a, b, c)`, nested pairs) numbers its elements from 0,
///   and every element takes a number, parameters or not, as in
///   `nn.Sequential`: `Linear, ReLU, Linear` is `0.weight`, `0.bias`,
///   `2.weight`, `2.bias`. A pair nested on the left continues the same
///   numbering (a sequence is flat).
/// * A struct of layers (`params!([F] Residual<F> { f: F })`) prefixes each
///   field's names with the field's name: `f.0.weight`.
/// * A single layer at the root has no number: `weight`, `bias`.
///
/// Where a PyTorch model is not a plain `Sequential`, a prefix or a renaming
/// map (see `forma::io::Names`) adapts the names on save and load.
///
/// ```
/// use forma_layers::{Linear, Mlp, Named, ReLU, seq};
/// let net = seq!(Linear::<2, 3>::zeros(), ReLU, Linear::<3, 1>::zeros());
/// let mut names = Vec::new();
/// net.names(&mut |name, shape| names.push(format!("{name} {shape:?}")));
/// assert_eq!(names, ["0.weight [3, 2]", "0.bias [3]", "2.weight [1, 3]", "2.bias [1]"]);
/// ```
pub trait Named {
    /// Calls `f(name, shape)` for each parameter tensor of this value as a
    /// whole module, every name starting with `prefix`. An empty tensor (a
    /// layer without bias) is reported with shape `[0]`; savers skip it.
    fn names_at(&self, prefix: &mut String, f: &mut dyn FnMut(&str, &[usize]));

    /// The same for this value as element `at` of a sequence (names
    /// `"{prefix}{at}."…`); returns the number of the next element. A layer
    /// is one element; a sequence continues the numbering.
    fn names_in_sequence(
        &self,
        prefix: &mut String,
        at: usize,
        f: &mut dyn FnMut(&str, &[usize]),
    ) -> usize {
        let len = prefix.len();
        // Writing to a String cannot fail.
        let _ = write!(prefix, "{at}.");
        self.names_at(prefix, f);
        prefix.truncate(len);
        at + 1
    }

    /// Calls `f(name, shape)` for each parameter tensor, in visiting order.
    fn names(&self, f: &mut dyn FnMut(&str, &[usize])) {
        self.names_at(&mut String::new(), f);
    }
}

/// `prefix` + `name`, for one tensor.
pub(crate) fn tensor(
    prefix: &mut String,
    name: &str,
    shape: &[usize],
    f: &mut dyn FnMut(&str, &[usize]),
) {
    let len = prefix.len();
    prefix.push_str(name);
    f(prefix, shape);
    prefix.truncate(len);
}

impl<A: Named, B: Named> Named for (A, B) {
    fn names_at(&self, prefix: &mut String, f: &mut dyn FnMut(&str, &[usize])) {
        self.names_in_sequence(prefix, 0, f);
    }

    fn names_in_sequence(
        &self,
        prefix: &mut String,
        at: usize,
        f: &mut dyn FnMut(&str, &[usize]),
    ) -> usize {
        let next = self.0.names_in_sequence(prefix, at, f);
        self.1.names_in_sequence(prefix, next, f)
    }
}

/// Parameter-free layers: a number in a sequence, no tensors.
macro_rules! unnamed {
    ($($t:ty),*) => {$(
        impl Named for $t {
            fn names_at(&self, _prefix: &mut String, _f: &mut dyn FnMut(&str, &[usize])) {}
        }
    )*};
}

unnamed!(
    crate::Sigmoid,
    crate::ReLU,
    crate::Tanh,
    crate::LeakyReLU,
    crate::Identity,
    crate::Softmax
);
