//! `forma::fit::Fit`: epochs, per-epoch losses, validation accuracy for
//! class labels, the schedule's rate each epoch, early stopping, and the
//! history as CSV.

use forma::dataset::DataSet;
use forma::fit::Fit;
use forma::prelude::*;
use forma::schedule::Schedule;

fn classes() -> (
    DataSet<f32, 2, Classes<usize, 2>>,
    DataSet<f32, 2, Classes<usize, 2>>,
) {
    // Two clusters: class = whether x0 + x1 > 1.
    let x = Batch::<f32, 2>::from_fn(80, Const, |r, c| {
        ((r * 13 + c * 7) % 17) as f32 / 17.0 * 1.2
    });
    let labels = (0..80)
        .map(|r| usize::from(x[(r, 0)] + x[(r, 1)] > 1.2))
        .collect();
    DataSet::new(x, Classes::from_labels(labels).unwrap())
        .unwrap()
        .split(0.75, &mut rng(0))
        .unwrap()
}

#[test]
fn a_run_records_every_epoch_with_the_schedules_rate_and_validation_accuracy() {
    let (mut train, val) = classes();
    let net = seq!(
        Linear::<2, 16>::initialize(&mut rng(1)),
        Tanh,
        Linear::<16, 2>::initialize(&mut rng(2))
    );
    let mut trainer = Trainer::new(net, SoftmaxCrossEntropy, Adam::new(0.05).unwrap());
    let schedule = Schedule::step(0.05, 5, 0.5).unwrap();
    let history = Fit::new(15)
        .batch_size(16)
        .schedule(schedule)
        .quiet()
        .run(&mut trainer, &mut train, Some(&val))
        .unwrap();
    assert_eq!(history.epochs().len(), 15);
    for e in history.epochs() {
        let want = schedule.at(e.epoch as u64 - 1) as f32 as f64;
        assert_eq!(e.learning_rate, want, "epoch {}", e.epoch);
        assert!(e.val_loss.is_some() && e.val_accuracy.is_some());
    }
    let last = &history.epochs()[14];
    assert!(last.train_loss < history.epochs()[0].train_loss);
    assert!(last.val_accuracy.unwrap() >= 0.9, "{last:?}");
    let csv = history.to_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "epoch,learning_rate,train_loss,val_loss,val_accuracy,seconds"
    );
    assert_eq!(lines.len(), 16);
    assert!(lines[1].starts_with("1,0.05"), "{}", lines[1]);
}

#[test]
fn regression_has_no_accuracy_and_early_stopping_ends_a_run_that_stops_improving() {
    let x = Batch::<f32, 1>::from_fn(40, Const, |r, _| r as f32 / 40.0);
    let y = Batch::<f32, 1>::from_fn(40, Const, |r, _| (r % 7) as f32); // noise: validation stalls
    let (mut train, val) = DataSet::new(x, y).unwrap().split(0.5, &mut rng(3)).unwrap();
    let mut trainer = Trainer::new(
        Mlp::<1, 32, 1>::initialize(&mut rng(4)),
        Mse,
        Adam::new(0.05).unwrap(),
    );
    let history = Fit::new(300)
        .batch_size(8)
        .early_stopping(5)
        .quiet()
        .run(&mut trainer, &mut train, Some(&val))
        .unwrap();
    assert!(
        history.stopped_early(),
        "ran {} epochs",
        history.epochs().len()
    );
    let best = history.best_epoch().unwrap();
    assert_eq!(history.epochs().len(), best.epoch + 5);
    assert!(history.epochs().iter().all(|e| e.val_accuracy.is_none()));
    // Early stopping needs validation.
    let mut t2 = Trainer::new(
        Mlp::<1, 4, 1>::initialize(&mut rng(5)),
        Mse,
        Adam::new(0.01).unwrap(),
    );
    assert!(
        Fit::new(3)
            .early_stopping(2)
            .quiet()
            .run(&mut t2, &mut train, None)
            .is_err()
    );
}

#[test]
fn a_refused_step_ends_the_run_with_its_error() {
    let x = Batch::<f32, 1>::from_fn(8, Const, |r, _| r as f32);
    let y = Batch::<f32, 1>::from_fn(8, Const, |_, _| 1e30);
    let mut data = DataSet::new(x, y).unwrap();
    let mut trainer = Trainer::new(
        Mlp::<1, 4, 1>::initialize(&mut rng(6)),
        Mse,
        Sgd::new(1e30).unwrap(),
    );
    let e = Fit::new(3)
        .quiet()
        .run(&mut trainer, &mut data, None)
        .unwrap_err();
    assert!(matches!(e, Error::Step { step: 1, .. }), "{e}");
}

/// The history as a PNG (feature `plot`): a real image of the size asked for.
#[cfg(feature = "plot")]
#[test]
fn the_history_plots_to_a_png() {
    let (mut train, val) = classes();
    let net = seq!(
        Linear::<2, 8>::initialize(&mut rng(1)),
        Tanh,
        Linear::<8, 2>::initialize(&mut rng(2))
    );
    let mut trainer = Trainer::new(net, SoftmaxCrossEntropy, Adam::new(0.05).unwrap());
    let history = Fit::new(5)
        .batch_size(16)
        .quiet()
        .run(&mut trainer, &mut train, Some(&val))
        .unwrap();
    let path = std::env::temp_dir().join(format!("forma-plot-{}.png", std::process::id()));
    history.plot_png(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR: width and height, big-endian, at bytes 16..24.
    assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 960);
    assert_eq!(u32::from_be_bytes(bytes[20..24].try_into().unwrap()), 400);
    // A directory that does not exist is an error naming the file.
    let e = history.plot_png("/nonexistent-dir/x.png").unwrap_err();
    assert!(e.to_string().contains("/nonexistent-dir/x.png"), "{e}");
}

#[test]
fn settings_that_cannot_train_are_errors_not_silent_epochs() {
    let (mut train, val) = classes();
    let net = seq!(
        Linear::<2, 4>::initialize(&mut rng(1)),
        Tanh,
        Linear::<4, 2>::initialize(&mut rng(2))
    );
    let mut trainer = Trainer::new(net, SoftmaxCrossEntropy, Adam::new(0.05).unwrap());
    // Patience 0 would stop after the first epoch whatever happened.
    let e = Fit::new(5)
        .early_stopping(0)
        .quiet()
        .run(&mut trainer, &mut train, Some(&val))
        .unwrap_err();
    assert!(e.to_string().contains("patience must be at least 1"), "{e}");
    // Dropping the last batch when it is the only one: an epoch of nothing.
    let e = Fit::new(5)
        .batch_size(1000)
        .drop_last()
        .quiet()
        .run(&mut trainer, &mut train, None)
        .unwrap_err();
    assert!(e.to_string().contains("an epoch without a batch"), "{e}");
}
