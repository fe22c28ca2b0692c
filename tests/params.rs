//! Parameter counting and visiting: compile-time counts (const and typenum),
//! flat export/import, and errors for wrong lengths and NaN.

use forma::core::generic_array::GenericArray;
use forma::core::typenum::Unsigned;
use forma::layers::{FlatParams, Initialize, Inline};
use forma::prelude::*;

#[test]
fn parameter_counts_are_compile_time_constants() {
    // The XOR tutorial prints 9 for its 2-2-1 net.
    const XOR: usize = <Mlp<2, 2, 1> as Params<f32>>::COUNT;
    assert_eq!(XOR, 9);
    assert_eq!(
        <<Mlp<2, 2, 1> as FlatParams<f32>>::Count as Unsigned>::USIZE,
        9
    );
    // Seed 000: two 2x2 weights and two shared scalar biases.
    type Mazur =
        seq!(@type Linear<2, 2, f64, SharedBias>, Sigmoid, Linear<2, 2, f64, SharedBias>, Sigmoid);
    assert_eq!(<Mazur as Params<f64>>::COUNT, 10);
    assert_eq!(<<Mazur as FlatParams<f64>>::Count as Unsigned>::USIZE, 10);
    // The iris net has no biases.
    type Iris =
        seq!(@type Linear<2, 32, f32, NoBias>, Sigmoid, Linear<32, 1, f32, NoBias>, Sigmoid);
    assert_eq!(<<Iris as FlatParams<f32>>::Count as Unsigned>::USIZE, 96);
    // 784-256-128-10: widths past typenum's table still have a const count.
    assert_eq!(
        <Mlp3<784, 256, 128, 10> as Params<f32>>::COUNT,
        784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10
    );
}

#[test]
fn flat_arrays_round_trip_without_an_allocator_type() {
    type Net = seq!(@type Linear<2, 3, f32, PerOutput, Inline>, Tanh, Linear<3, 1, f32, SharedBias, Inline>);
    let net = Net::initialize(&mut forma::rng(5));
    let flat: GenericArray<f32, <Net as FlatParams<f32>>::Count> = net.to_array();
    assert_eq!(flat.len(), 2 * 3 + 3 + 3 + 1);
    assert_eq!(flat.as_slice(), net.to_vec().as_slice());
    let mut other = net.zeros_like().unwrap();
    assert_ne!(other.to_vec(), net.to_vec());
    other.load_array(&flat).unwrap();
    assert_eq!(other.to_vec(), net.to_vec());
    assert_eq!(other.predict([0.3, -0.7]), net.predict([0.3, -0.7]));
}

#[test]
fn loading_checks_length_and_finiteness() {
    let mut net = Mlp::<2, 2, 1>::initialize(&mut forma::rng(1));
    assert_eq!(
        net.load(&[0.0; 8]),
        Err(Error::Length {
            what: "Params::load",
            expected: 9,
            got: 8
        })
    );
    let mut bad = [0.5f32; 9];
    bad[4] = f32::NAN;
    assert_eq!(
        net.load(&bad),
        Err(Error::NonFinite {
            what: "Params::load",
            index: 4
        })
    );
    let mut out = [0.0f32; 10];
    assert!(net.copy_to(&mut out).is_err());
    assert!(Linear::<2, 2>::from_slices(&[1.0; 3], &[0.0; 2]).is_err());
    assert!(Linear::<2, 2>::from_slices(&[1.0; 4], &[0.0; 1]).is_err());
    assert!(Linear::<2, 2, f32, SharedBias>::from_slices(&[1.0; 4], &[0.0; 1]).is_ok());
}

#[test]
fn visiting_order_is_weight_then_bias_layer_by_layer() {
    let l1 = Linear::<2, 2, f64>::from_weights([[1.0, 2.0], [3.0, 4.0]], [5.0, 6.0])
        .expect("finite weights");
    let l2 =
        Linear::<2, 1, f64, SharedBias>::from_weights([[7.0, 8.0]], [9.0]).expect("finite weights");
    let net = seq!(l1, ReLU, l2);
    assert_eq!(net.to_vec(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
}

#[test]
fn optimizers_reject_invalid_settings() {
    type Net = Mlp<2, 2, 1>;
    assert!(Sgd::<f32, Net>::new(-0.1).is_err());
    assert!(Sgd::<f32, Net>::new(f64::NAN).is_err());
    assert!(
        Sgd::<f32, Net>::new(0.1)
            .unwrap()
            .with_momentum(1.0)
            .is_err()
    );
    assert!(Sgd::<f32, Net>::new(0.1).unwrap().with_nesterov().is_err());
    assert!(
        Adam::<f32, Net>::new(1e-3)
            .unwrap()
            .with_betas(0.9, 1.0)
            .is_err()
    );
}

#[test]
fn mlp_and_mlp3_both_end_in_their_last_linear_raw_outputs() {
    // Issue 11: `Mlp` used to end in a Sigmoid and `Mlp3` in nothing. Both
    // now end in their last `Linear`: with every weight 0 and the output
    // bias -3, the prediction is -3 (a Sigmoid would give 0.047).
    fn last_bias_minus_3<P: Params<f32>>(net: &mut P) {
        let mut v = vec![0.0f32; P::COUNT];
        *v.last_mut().unwrap() = -3.0;
        net.load(&v).unwrap();
    }
    let mut mlp = Mlp::<2, 4, 1>::initialize(&mut rng(0));
    last_bias_minus_3(&mut mlp);
    assert_eq!(mlp.predict([0.5, 0.5]), [-3.0]);
    let mut mlp3 = Mlp3::<2, 4, 3, 1>::initialize(&mut rng(0));
    last_bias_minus_3(&mut mlp3);
    assert_eq!(mlp3.predict([0.5, 0.5]), [-3.0]);
}
