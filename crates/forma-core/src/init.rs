//! Seeded initialisation.
//!
//! The generator is ChaCha8 ([`Rng`]): its output for a seed is fixed across
//! versions and platforms, unlike `rand`'s `StdRng`, so a seeded run is
//! reproducible forever.

use rand::{Rng as _, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use crate::Float;

/// forma's random number generator: ChaCha8, seeded.
pub type Rng = rand_chacha::ChaCha8Rng;

/// A generator from a seed.
pub fn rng(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// How to fill a parameter tensor of a layer with `fan_in` inputs and `fan_out` outputs.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Init {
    /// PyTorch's `nn.Linear` default for weight and bias: U(-1/√fan_in, 1/√fan_in).
    PyTorchLinear,
    /// Xavier/Glorot uniform: U(-a, a), a = √(6 / (fan_in + fan_out)).
    XavierUniform,
    /// Xavier/Glorot normal: N(0, 2 / (fan_in + fan_out)).
    XavierNormal,
    /// He/Kaiming uniform for ReLU: U(-a, a), a = √(6 / fan_in).
    KaimingUniform,
    /// He/Kaiming normal for ReLU: N(0, 2 / fan_in).
    KaimingNormal,
    /// N(mean, std²).
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
    /// U(low, high).
    Uniform {
        /// Lower bound (inclusive).
        low: f64,
        /// Upper bound (exclusive).
        high: f64,
    },
    /// Every value the same.
    Constant(f64),
}

impl Init {
    /// Fills `out`, drawing in order from `rng`. `Err(Error::Config)` if a
    /// setting is not finite, a standard deviation is negative, `low > high`,
    /// or the values would not be finite in `E` (`Constant(1e39)` in `f32`);
    /// then `out` is unchanged, except for a draw that left `E`'s range
    /// (reported after drawing: `out` then holds that draw).
    pub fn fill<E: Float>(
        &self,
        fan_in: usize,
        fan_out: usize,
        rng: &mut Rng,
        out: &mut [E],
    ) -> crate::Result<()> {
        let bad = |what: &'static str, got: f64| Err(crate::Error::Config { what, got });
        let in_e = |v: f64| E::from_f64(v).is_finite();
        match *self {
            Init::Normal { mean, std } => {
                if !in_e(mean) {
                    return bad("Init::Normal mean must be finite in the element type", mean);
                }
                if !(std >= 0.0 && in_e(std)) {
                    return bad("Init::Normal std must be finite and >= 0", std);
                }
            }
            Init::Uniform { low, high } => {
                if !in_e(low) {
                    return bad("Init::Uniform low must be finite in the element type", low);
                }
                if !(in_e(high) && high >= low) {
                    return bad("Init::Uniform high must be finite and >= low", high);
                }
                if !(high - low).is_finite() {
                    return bad("Init::Uniform high - low must be finite", high - low);
                }
            }
            Init::Constant(c) if !in_e(c) => {
                return bad("Init::Constant must be finite in the element type", c);
            }
            _ => {}
        }
        self.draw(fan_in, fan_out, rng, out);
        // A normal draw far in its tail can still leave the element type's
        // range (mean 3e38 in f32): say so rather than hand out infinity.
        if let Some(i) = out.iter().position(|v| !v.is_finite()) {
            return bad(
                "Init drew a value outside the element type's range",
                out[i].to_f64(),
            );
        }
        Ok(())
    }

    /// [`Init::fill`] for settings already known to be valid (the fan-based
    /// schemes are always finite).
    pub(crate) fn draw<E: Float>(
        &self,
        fan_in: usize,
        fan_out: usize,
        rng: &mut Rng,
        out: &mut [E],
    ) {
        let fan_in = fan_in.max(1) as f64;
        let fan_sum = fan_in + fan_out.max(1) as f64;
        let (uniform, normal) = match *self {
            Init::PyTorchLinear => (Some(1.0 / fan_in.sqrt()), None),
            Init::XavierUniform => (Some((6.0 / fan_sum).sqrt()), None),
            Init::XavierNormal => (None, Some((0.0, (2.0 / fan_sum).sqrt()))),
            Init::KaimingUniform => (Some((6.0 / fan_in).sqrt()), None),
            Init::KaimingNormal => (None, Some((0.0, (2.0 / fan_in).sqrt()))),
            Init::Normal { mean, std } => (None, Some((mean, std))),
            Init::Uniform { low, high } => {
                out.iter_mut()
                    .for_each(|v| *v = E::from_f64(low + (high - low) * rng.random::<f64>()));
                return;
            }
            Init::Constant(c) => {
                out.fill(E::from_f64(c));
                return;
            }
        };
        if let Some(a) = uniform {
            out.iter_mut()
                .for_each(|v| *v = E::from_f64(a * (2.0 * rng.random::<f64>() - 1.0)));
        }
        if let Some((mean, std)) = normal {
            out.iter_mut().for_each(|v| {
                let z: f64 = StandardNormal.sample(rng);
                *v = E::from_f64(mean + std * z)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(init: Init, fan_in: usize, fan_out: usize) -> (f64, f64, f64) {
        let mut v = [0f64; 20000];
        init.fill(fan_in, fan_out, &mut rng(7), &mut v).unwrap();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / v.len() as f64;
        let max = v.iter().fold(0f64, |m, x| m.max(x.abs()));
        (mean, var, max)
    }

    #[test]
    fn bounds_and_variances_match_their_definitions() {
        // U(-a, a) has variance a²/3.
        let (m, var, max) = moments(Init::PyTorchLinear, 4, 3);
        assert!(m.abs() < 0.01 && max <= 0.5 && (var - 0.25 / 3.0).abs() < 0.003);
        let (_, var, max) = moments(Init::KaimingUniform, 6, 1);
        assert!(max <= 1.0 && (var - 1.0 / 3.0).abs() < 0.01);
        let (_, var, _) = moments(Init::XavierNormal, 10, 10);
        assert!((var - 0.1).abs() < 0.005);
        let (m, var, _) = moments(
            Init::Normal {
                mean: 2.0,
                std: 0.5,
            },
            1,
            1,
        );
        assert!((m - 2.0).abs() < 0.02 && (var - 0.25).abs() < 0.01);
        let (m, var, _) = moments(Init::Constant(0.3), 1, 1);
        assert!((m - 0.3).abs() < 1e-12 && var < 1e-20);
    }

    #[test]
    fn settings_that_are_not_finite_are_errors() {
        let mut v = [0f32; 4];
        for init in [
            Init::Normal {
                mean: f64::NAN,
                std: 1.0,
            },
            Init::Normal {
                mean: 0.0,
                std: -1.0,
            },
            Init::Normal {
                mean: 0.0,
                std: f64::INFINITY,
            },
            Init::Uniform {
                low: 1.0,
                high: 0.0,
            },
            Init::Uniform {
                low: 0.0,
                high: f64::NAN,
            },
            Init::Constant(1e39), // finite in f64, infinite in f32
            Init::Uniform {
                low: -1e308,
                high: 1e308,
            }, // high - low overflows
        ] {
            let err = init.fill(2, 2, &mut rng(1), &mut v).unwrap_err();
            assert!(
                matches!(err, crate::Error::Config { .. }),
                "{init:?}: {err}"
            );
            assert_eq!(v, [0.0; 4], "{init:?} wrote values");
        }
        let mut d = [0f64; 2];
        Init::Constant(1e39)
            .fill(1, 1, &mut rng(1), &mut d)
            .unwrap();
        assert_eq!(d, [1e39; 2]);
    }

    #[test]
    fn same_seed_same_values() {
        let (mut a, mut b) = ([0f32; 8], [0f32; 8]);
        Init::XavierUniform.fill(3, 2, &mut rng(1), &mut a).unwrap();
        Init::XavierUniform.fill(3, 2, &mut rng(1), &mut b).unwrap();
        assert_eq!(a, b);
    }
}
