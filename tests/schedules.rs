//! forma's learning-rate schedules against PyTorch's `lr_scheduler`
//! (`tests/fixtures/pytorch/lr_schedules.json`, made by
//! `scripts/lr_schedules_golden.py` with torch 2.15): the rate before
//! epoch 0 and after each of 40 `scheduler.step()` calls. PyTorch updates
//! most rates recursively (`lr *= gamma`), forma from the closed form: they
//! agree to 1e-12 relative.

use forma::prelude::*;
use forma::schedule::Schedule;

fn golden() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pytorch/lr_schedules.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn check(name: &str, schedule: Schedule) {
    let g = golden();
    let want: Vec<f64> = g["cases"][name]
        .as_array()
        .unwrap_or_else(|| panic!("no case {name}"))
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(want.len(), 41);
    for (epoch, w) in want.iter().enumerate() {
        let got = schedule.at(epoch as u64);
        assert!(
            (got - w).abs() <= 1e-12 * w.abs(),
            "{name}, epoch {epoch}: forma {got}, PyTorch {w}"
        );
    }
}

#[test]
fn step_exponential_and_cosine_match_pytorch() {
    check("step_10_0.5", Schedule::step(0.1, 10, 0.5).unwrap());
    check("exponential_0.9", Schedule::exponential(0.1, 0.9).unwrap());
    check("cosine_30_0.001", Schedule::cosine(0.1, 30, 0.001).unwrap());
    check("cosine_25_0", Schedule::cosine(0.1, 25, 0.0).unwrap());
}

#[test]
fn warm_ups_match_pytorchs_sequential_lr() {
    let cosine = Schedule::cosine(0.1, 30, 0.001).unwrap();
    check(
        "warmup_5_0.1_cosine_30_0.001",
        cosine.with_warmup(5, 0.1).unwrap(),
    );
    let step = Schedule::step(0.1, 10, 0.5).unwrap();
    check(
        "warmup_3_0.25_step_10_0.5",
        step.with_warmup(3, 0.25).unwrap(),
    );
    let exp = Schedule::exponential(0.1, 0.9).unwrap();
    check(
        "warmup_4_0.5_exponential_0.9",
        exp.with_warmup(4, 0.5).unwrap(),
    );
}

#[test]
fn settings_are_checked() {
    assert!(Schedule::step(0.1, 0, 0.5).is_err());
    assert!(Schedule::exponential(0.1, f64::NAN).is_err());
    assert!(Schedule::cosine(-0.1, 10, 0.0).is_err());
    assert!(
        Schedule::constant(0.1)
            .unwrap()
            .with_warmup(3, 0.0)
            .is_err()
    );
}

#[test]
fn the_trainer_takes_the_schedules_rate_each_epoch() {
    let schedule = Schedule::step(0.5, 2, 0.1).unwrap();
    let x = Batch::<f32, 2>::from_rows(&[[0., 1.], [1., 0.]]);
    let y = Batch::<f32, 1>::from_rows(&[[1.], [0.]]);
    let mut trainer = Trainer::new(
        Mlp::<2, 4, 1>::initialize(&mut rng(0)),
        Mse,
        Sgd::new(0.5).unwrap(),
    );
    for epoch in 0..5 {
        trainer.set_learning_rate(schedule.at(epoch)).unwrap();
        assert_eq!(trainer.learning_rate(), (schedule.at(epoch) as f32) as f64);
        trainer.step(&x, &y).unwrap();
    }
    assert!((trainer.learning_rate() - 0.005).abs() < 1e-9);
    // A rate infinite in the element type is refused and changes nothing.
    assert!(trainer.set_learning_rate(1e39).is_err());
    assert!((trainer.learning_rate() - 0.005).abs() < 1e-9);
    let mut adam = Trainer::new(
        Mlp::<2, 4, 1>::initialize(&mut rng(0)),
        Mse,
        Adam::new(0.01).unwrap(),
    );
    adam.set_learning_rate(0.002).unwrap();
    assert!((adam.learning_rate() - 0.002).abs() < 1e-9);
    adam.step(&x, &y).unwrap();
}
