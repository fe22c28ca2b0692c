//! The user's layers of `examples/custom_layers` (SiLU and a residual block,
//! written once from the device primitives): their gradients against finite
//! differences with the public `forma::testing::gradcheck`, and training on
//! the device code path (`Opaque`, the GPU's path on the CPU) step for step
//! as on the CPU. tests/cuda.rs trains them on a GPU.

mod device_common;
#[path = "../examples/custom_layers/layers.rs"]
mod layers;

use device_common::opaque::Opaque;
use device_common::{same_training, uniform};
use forma::prelude::*;
use forma::testing::gradcheck;
use layers::{Residual, SiLU};
use proptest::collection::vec;
use proptest::prelude::*;

/// The example's network.
type Net<E> = seq!(@type
    Linear<2, 16, E>, SiLU,
    Residual<seq!(@type Linear<16, 16, E>, SiLU)>,
    Linear<16, 1, E>
);

fn batch<const W: usize>(v: &[f64]) -> Batch<f64, W> {
    Batch::from_flat(v).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn silu_gradients_match_finite_differences(
        rows in 1usize..6,
        seed in any::<u64>(),
    ) {
        let x = uniform::<f64, 5>(rows, seed).map(|v| 3.0 * v);
        let r = uniform::<f64, 5>(rows, seed ^ 1);
        if let Err(m) = gradcheck(&mut SiLU, &x, &r) {
            return Err(TestCaseError::fail(m.to_string()));
        }
    }

    #[test]
    fn residual_gradients_match_finite_differences(
        params in vec(-1.0..1.0f64, 3 * 3 + 3),
        x in vec(-2.0..2.0f64, 4 * 3),
        r in vec(-1.0..1.0f64, 4 * 3),
    ) {
        let mut branch = seq!(Linear::<3, 3, f64>::zeros(), SiLU);
        branch.load(&params).unwrap();
        let mut block = Residual { f: branch };
        if let Err(m) = gradcheck(&mut block, &batch::<3>(&x), &batch::<3>(&r)) {
            return Err(TestCaseError::fail(m.to_string()));
        }
    }
}

#[test]
fn a_broken_backward_is_caught() {
    // The checker is not a formality: the residual block without its skip
    // gradient (dx += dy) fails it.
    let mut block = Residual {
        f: seq!(Linear::<3, 3, f64>::initialize(&mut rng(2)), SiLU),
    };
    let x = batch::<3>(&[0.5, -1.0, 0.25, 0.8, 0.3, -0.6]);
    let r = batch::<3>(&[1.0, -0.5, 0.25, 0.75, 0.6, -0.9]);
    let good = gradcheck(&mut block, &x, &r).unwrap();
    let mut d = forma::testing::weighted_derivatives(&mut block, &x, &r, 1e-6).unwrap();
    // Remove dy from every input derivative, as a block that forgot the
    // skip would compute.
    let inputs = d.analytic.len() - 6;
    for (k, g) in d.analytic[inputs..].iter_mut().enumerate() {
        *g -= r.as_slice()[k];
    }
    assert!(d.compare("no skip", Default::default()).is_err());
    assert_eq!(good.entries(), 12 + 6);
}

#[test]
fn user_layers_train_on_the_device_path_as_on_the_cpu() {
    let net = Net::<f64>::initialize(&mut rng(7));
    let x = uniform::<f64, 2>(33, 3);
    let y = uniform::<f64, 1>(33, 4);
    let adam = (Adam::new(0.01).unwrap(), Adam::new(0.01).unwrap());
    same_training(Opaque, net, Mse, adam, &x, &y, 10, 1e-10);
    let net = Net::<f32>::initialize(&mut rng(8));
    let x = uniform::<f32, 2>(33, 5);
    let y = uniform::<f32, 1>(33, 6);
    let momentum = || Sgd::new(0.1).and_then(|s| s.with_momentum(0.9));
    let sgd = (momentum().unwrap(), momentum().unwrap());
    same_training(Opaque, net, HalfMse, sgd, &x, &y, 10, 1e-5);
}
