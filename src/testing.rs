//! Gradient checks for your own layers: [`gradcheck`] compares a layer's
//! analytic backward with central finite differences, in `f64` on the CPU.
//!
//! ```
//! use forma::prelude::*;
//! use forma::testing::gradcheck;
//!
//! let mut layer = Linear::<3, 2, f64>::initialize(&mut rng(0));
//! let x = Batch::<f64, 3>::from_rows(&[[0.5, -1.0, 0.25], [0.8, 0.3, -0.6]]);
//! let r = Batch::<f64, 2>::from_rows(&[[1.0, -0.5], [0.25, 0.75]]);
//! let checked = gradcheck(&mut layer, &x, &r).expect("backward matches finite differences");
//! assert_eq!(checked.entries(), 8 + 6); // 8 parameters, 6 inputs
//! ```
//!
//! The objective is `L = Σ r ⊙ layer(x)` with a weighting `r` of your
//! choice (random values are best), so `dL/dy = r`. Each parameter and each
//! input is moved by `±h` and the derivative estimated as
//! `(L(p+h) - L(p-h)) / ((p+h) - (p-h))`; analytic `g` and numeric `fd`
//! must agree within `max(rtol·max(|g|, |fd|), atol·max(1, |scale|))`.
//! With the defaults ([`Tolerance::default`]: `h = 1e-6`, `rtol = 1e-6`,
//! `atol = 1e-8`) central differences in `f64` are accurate to about 1e-9,
//! while a missing factor, a wrong sign or a transposed index is off by far
//! more. The difference `L(p+h) - L(p-h)` is accumulated as
//! `Σ r_i (y+_i - y-_i)`, so outputs a perturbation does not touch cancel
//! exactly and the floor is the plain `atol`.
//!
//! Keep inputs away from kinks (ReLU at 0): a finite difference across one
//! is not a derivative. Backward is called with gradient and `dx` buffers
//! filled with a sentinel, so a backward that forgets to overwrite one is
//! caught too.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use forma_core::{ConstDim, Cpu, Dim, Tensor};
use forma_layers::{Module, Params};

/// What the gradient buffers hold before a backward: backward must
/// overwrite it.
const SENTINEL: f64 = 7.25;

/// The finite-difference step and the tolerances of a check.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// The step `h` each parameter and input is moved by.
    pub step: f64,
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute floor of the tolerance, scaled by `max(1, |scale|)`.
    pub atol: f64,
}

impl Default for Tolerance {
    /// `h = 1e-6`, `rtol = 1e-6`, `atol = 1e-8`.
    fn default() -> Self {
        Tolerance {
            step: 1e-6,
            rtol: 1e-6,
            atol: 1e-8,
        }
    }
}

/// The first derivative outside the tolerance.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    /// What was checked (the layer's type and the batch size).
    pub what: String,
    /// Which derivative: `param[3]` (in [`Params::visit`] order) or
    /// `x[1][0]` (row, column).
    pub name: String,
    /// The backward's value.
    pub analytic: f64,
    /// The finite difference.
    pub numeric: f64,
    /// The tolerance it had to meet.
    pub tolerance: f64,
}

impl core::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{}: d/d{}: analytic {:e}, finite difference {:e}, |diff| {:e} > tol {:e}",
            self.what,
            self.name,
            self.analytic,
            self.numeric,
            (self.analytic - self.numeric).abs(),
            self.tolerance
        )
    }
}

impl core::error::Error for Mismatch {}

/// Analytic and numeric derivatives of one scalar objective, with a name
/// for each entry (`param[3]`, `x[1][0]`).
#[derive(Clone, Debug, Default)]
pub struct Derivatives {
    /// Each entry's name.
    pub names: Vec<String>,
    /// The backward's values.
    pub analytic: Vec<f64>,
    /// The finite differences.
    pub numeric: Vec<f64>,
    /// `|L|` where the differences are of a black-box scalar `L` (a loss):
    /// the rounding error of `L(p+h) - L(p-h)` is proportional to it, so the
    /// absolute floor is `atol·max(1, |L|)`. Zero for [`gradcheck`]'s
    /// objective.
    pub scale: f64,
}

impl Derivatives {
    /// Adds one entry.
    pub fn push(&mut self, name: String, analytic: f64, numeric: f64) {
        self.names.push(name);
        self.analytic.push(analytic);
        self.numeric.push(numeric);
    }

    /// The number of entries.
    pub fn entries(&self) -> usize {
        self.names.len()
    }

    /// `Err` naming the first entry outside `tol` (or not finite).
    pub fn compare(&self, what: &str, tol: Tolerance) -> Result<(), Mismatch> {
        let entries = self.names.iter().zip(&self.analytic).zip(&self.numeric);
        for ((name, &g), &fd) in entries {
            let limit =
                (tol.rtol * g.abs().max(fd.abs())).max(tol.atol * self.scale.abs().max(1.0));
            if !(g.is_finite() && fd.is_finite()) || (g - fd).abs() > limit {
                return Err(Mismatch {
                    what: String::from(what),
                    name: name.clone(),
                    analytic: g,
                    numeric: fd,
                    tolerance: limit,
                });
            }
        }
        Ok(())
    }
}

/// Calls `f` on parameter `idx` (in [`Params::visit`] order) of `m`;
/// returns whether there was one.
pub fn with_param<M: Params<f64>>(m: &mut M, idx: usize, f: impl FnOnce(&mut f64)) -> bool {
    let mut f = Some(f);
    let mut at = 0;
    m.visit_mut(&mut |p| {
        if (at..at + p.len()).contains(&idx)
            && let Some(f) = f.take()
        {
            f(&mut p[idx - at]);
        }
        at += p.len();
    });
    f.is_none()
}

/// Derivatives of an objective `phi(y)` of the output `y = m(x)`, with
/// respect to every parameter of `m` and every element of `x`: the engine
/// of [`gradcheck`], for other objectives (a loss on a whole network).
///
/// `dy` is `dphi/dy` at the unperturbed output and `diff(y+, y-)` computes
/// `phi(y+) - phi(y-)`. The analytic side is one [`Module::backward`] into
/// gradient and `dx` buffers prefilled with a sentinel. `Err` if the
/// layer's forward or backward is.
pub fn derivatives<In, B, M>(
    m: &mut M,
    x: &Tensor<f64, B, In>,
    h: f64,
    dy: impl FnOnce(&Tensor<f64, B, M::Out>) -> Tensor<f64, B, M::Out>,
    diff: impl Fn(&Tensor<f64, B, M::Out>, &Tensor<f64, B, M::Out>) -> f64,
) -> forma_core::Result<Derivatives>
where
    In: ConstDim,
    B: Dim,
    M: Module<f64, In>,
{
    let (rows, width) = (x.rows(), x.cols());

    // Analytic.
    let mut cache = m.new_cache(&Cpu, x.row_dim())?;
    let dy = dy(m.forward(&Cpu, x, &mut cache)?);
    let mut grads = m.zeros_like()?;
    grads.visit_mut(&mut |p| p.fill(SENTINEL));
    let mut dx = Tensor::full(x.row_dim(), In::default(), SENTINEL);
    m.backward(&Cpu, x, &mut cache, &dy, &mut grads, Some(&mut dx))?;
    let g = grads.to_vec();

    // Numeric, with a cache of its own.
    let mut fd_cache = m.new_cache(&Cpu, x.row_dim())?;
    let mut out = Derivatives::default();
    for (idx, &gi) in g.iter().enumerate() {
        let mut orig = 0.0;
        with_param(m, idx, |p| orig = *p);
        let (plus, minus) = (orig + h, orig - h);
        with_param(m, idx, |p| *p = plus);
        let y_plus = m.forward(&Cpu, x, &mut fd_cache)?.clone();
        with_param(m, idx, |p| *p = minus);
        let y_minus = m.forward(&Cpu, x, &mut fd_cache)?.clone();
        with_param(m, idx, |p| *p = orig);
        let numeric = diff(&y_plus, &y_minus) / (plus - minus);
        out.push(format!("param[{idx}]"), gi, numeric);
    }
    let mut xp = x.clone();
    for k in 0..rows * width {
        let orig = x.as_slice()[k];
        let (plus, minus) = (orig + h, orig - h);
        xp.as_mut_slice()[k] = plus;
        let y_plus = m.forward(&Cpu, &xp, &mut fd_cache)?.clone();
        xp.as_mut_slice()[k] = minus;
        let y_minus = m.forward(&Cpu, &xp, &mut fd_cache)?.clone();
        xp.as_mut_slice()[k] = orig;
        let name = format!("x[{}][{}]", k / width, k % width);
        let numeric = diff(&y_plus, &y_minus) / (plus - minus);
        out.push(name, dx.as_slice()[k], numeric);
    }
    Ok(out)
}

/// The derivatives of `L = Σ r ⊙ m(x)` (so `dy = r`), with step `h`.
pub fn weighted_derivatives<In, B, M>(
    m: &mut M,
    x: &Tensor<f64, B, In>,
    r: &Tensor<f64, B, M::Out>,
    h: f64,
) -> forma_core::Result<Derivatives>
where
    In: ConstDim,
    B: Dim,
    M: Module<f64, In>,
{
    let diff = |a: &Tensor<f64, B, M::Out>, b: &Tensor<f64, B, M::Out>| {
        let pairs = a.as_slice().iter().zip(b.as_slice());
        r.as_slice()
            .iter()
            .zip(pairs)
            .map(|(&ri, (&ai, &bi))| ri * (ai - bi))
            .sum()
    };
    derivatives(m, x, h, |_| r.clone(), diff)
}

/// Checks `layer`'s backward (every parameter gradient and the input
/// gradient) against central finite differences under `L = Σ r ⊙ layer(x)`,
/// with the default [`Tolerance`]. `Ok` gives the derivatives compared;
/// `Err` names the first one outside the tolerance (or the error the
/// layer's forward or backward returned, as a [`Mismatch`] whose `name` is
/// `forward/backward`).
pub fn gradcheck<In, B, M>(
    layer: &mut M,
    x: &Tensor<f64, B, In>,
    r: &Tensor<f64, B, M::Out>,
) -> Result<Derivatives, Mismatch>
where
    In: ConstDim,
    B: Dim,
    M: Module<f64, In>,
{
    gradcheck_with(layer, x, r, Tolerance::default())
}

/// [`gradcheck`] with another step and tolerances.
pub fn gradcheck_with<In, B, M>(
    layer: &mut M,
    x: &Tensor<f64, B, In>,
    r: &Tensor<f64, B, M::Out>,
    tol: Tolerance,
) -> Result<Derivatives, Mismatch>
where
    In: ConstDim,
    B: Dim,
    M: Module<f64, In>,
{
    let what = format!("{} (batch {})", core::any::type_name::<M>(), x.rows());
    if r.rows() != x.rows() {
        return Err(Mismatch {
            what,
            name: format!(
                "r: {} rows for a batch of {} (one weight row per input row)",
                r.rows(),
                x.rows()
            ),
            analytic: f64::NAN,
            numeric: f64::NAN,
            tolerance: 0.0,
        });
    }
    let d = weighted_derivatives(layer, x, r, tol.step).map_err(|e| Mismatch {
        what: what.clone(),
        name: format!("forward/backward ({e})"),
        analytic: f64::NAN,
        numeric: f64::NAN,
        tolerance: 0.0,
    })?;
    d.compare(&what, tol)?;
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use forma_layers::{Linear, NoBias};

    fn batch<const W: usize>(v: &[f64]) -> forma_core::Batch<f64, W> {
        Tensor::from_flat(v).unwrap()
    }

    #[test]
    fn the_checker_rejects_broken_gradients() {
        let mut l = Linear::<3, 3, f64>::from_weights(
            [[0.3, -0.7, 0.2], [0.5, 0.1, -0.4], [-0.9, 0.6, 0.8]],
            [0.1, -0.2, 0.3],
        )
        .unwrap();
        let x = batch::<3>(&[0.5, -1.0, 0.25, 0.8, 0.3, -0.6]);
        let r = batch::<3>(&[1.0, -0.5, 0.25, 0.75, 0.6, -0.9]);
        let tol = Tolerance::default();
        assert_eq!(gradcheck(&mut l, &x, &r).unwrap().entries(), 12 + 6);
        let mut broken = |f: &dyn Fn(&mut Vec<f64>)| {
            let mut d = weighted_derivatives(&mut l, &x, &r, tol.step).unwrap();
            f(&mut d.analytic);
            d.compare("broken", tol).is_err()
        };
        // Every entry by a factor of 1 + 1e-5.
        assert!(broken(&|g| g.iter_mut().for_each(|v| *v *= 1.0 + 1e-5)));
        // One sign.
        assert!(broken(&|g| g[4] = -g[4]));
        // The weight gradient transposed.
        assert!(broken(&|g| {
            let w: Vec<f64> = g[..9].to_vec();
            for i in 0..3 {
                for j in 0..3 {
                    g[i * 3 + j] = w[j * 3 + i];
                }
            }
        }));
        // dx off by a factor of 2.
        assert!(broken(&|g| g[12..].iter_mut().for_each(|v| *v *= 2.0)));
        // A bias gradient missing.
        assert!(broken(&|g| g[10] = 0.0));
    }

    /// The numeric side alone recovers a known derivative to well within the
    /// tolerance: `d/dw Σ r ⊙ (x·wᵀ)` for one weight is `Σ_rows r·x`.
    #[test]
    fn finite_differences_are_accurate() {
        let mut l = Linear::<2, 1, f64, NoBias>::from_weights([[1.5, -2.5]], []).unwrap();
        let x = batch::<2>(&[0.3, 0.7, -1.1, 0.4]);
        let r = batch::<1>(&[2.0, -0.5]);
        let d = weighted_derivatives(&mut l, &x, &r, 1e-6).unwrap();
        let want = [2.0 * 0.3 + -0.5 * -1.1, 2.0 * 0.7 + -0.5 * 0.4];
        for (got, want) in d.numeric.iter().zip(want) {
            assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        }
    }

    #[test]
    fn a_weighting_with_other_rows_than_the_batch_is_refused() {
        let mut l = Linear::<2, 1, f64, NoBias>::from_weights([[1.5, -2.5]], []).unwrap();
        let x = batch::<2>(&[0.3, 0.7, -1.1, 0.4]);
        let r = batch::<1>(&[2.0]);
        let e = gradcheck(&mut l, &x, &r).unwrap_err();
        assert!(e.name.starts_with("r: 1 rows for a batch of 2"), "{e}");
    }

    #[test]
    fn a_mismatch_names_the_entry_and_both_values() {
        let mut d = Derivatives::default();
        d.push("param[3]".into(), 1.0, 1.5);
        let e = d.compare("Lin", Tolerance::default()).unwrap_err();
        assert_eq!(e.name, "param[3]");
        let text = e.to_string();
        assert!(
            text.starts_with("Lin: d/dparam[3]: analytic 1e0, finite difference 1.5e0"),
            "{text}"
        );
    }
}
