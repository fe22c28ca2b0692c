//! `forma::io::load_bytes` and `Trainer::restore_checkpoint` on arbitrary
//! bytes: they never panic; a load that fails leaves the model bit for bit
//! as it was; a load that succeeds leaves only finite parameters, and
//! saving them again gives bytes that load back to the same model.

#![no_main]

use forma::prelude::*;
use libfuzzer_sys::fuzz_target;

type Net = seq!(@type Linear<2, 3>, ReLU, Linear<3, 1, f32, SharedBias>);

fn bits(n: &Net) -> Vec<u32> {
    n.to_vec().iter().map(|v| v.to_bits()).collect()
}

fuzz_target!(|bytes: &[u8]| {
    let mut net = Net::initialize(&mut forma::rng(0));
    let before = bits(&net);
    match forma::io::load_bytes(&mut net, bytes) {
        Err(e) => {
            assert_eq!(bits(&net), before, "a refused load changed the model: {e}");
            assert!(!e.to_string().is_empty());
        }
        Ok(()) => {
            assert!(net.to_vec().iter().all(|v| v.is_finite()));
            let again = forma::io::to_bytes(&net).expect("a loaded model saves");
            let mut back = Net::initialize(&mut forma::rng(1));
            forma::io::load_bytes(&mut back, &again).expect("saved bytes load");
            assert_eq!(bits(&back), bits(&net));
        }
    }
    let mut trainer: Trainer<f32, Const<2>, usize, Net, Mse, Adam<f32, Net>> =
        Trainer::new(Net::initialize(&mut forma::rng(2)), Mse, Adam::new(0.01).unwrap());
    let before = bits(trainer.model());
    if trainer.restore_checkpoint(bytes, "fuzz").is_err() {
        assert_eq!(bits(trainer.model()), before, "a refused checkpoint changed the model");
        assert_eq!(trainer.steps(), 0);
    }
});
