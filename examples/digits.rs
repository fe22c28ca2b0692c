//! Handwritten digits (the UCI data as scikit-learn ships it, in
//! `examples/data/digits/`): 1797 images of 8x8 pixels, a seeded split
//! into 70% training, 10% validation and 20% test, a 64-64-10 ReLU network trained with Adam on shuffled
//! batches of 64 by `forma::fit::Fit` (a warm-up and cosine schedule, early
//! stopping, a progress bar on a terminal), its history saved as CSV, and
//! the test accuracy and confusion matrix at the end.
//!
//! Run: `cargo run --release --example digits [--features plot]`

use forma::data::{CsvOptions, classification_csv, read_text};
use forma::fit::Fit;
use forma::metrics::ConfusionMatrix;
use forma::prelude::*;
use forma::schedule::Schedule;

type Net = seq!(@type Linear<64, 64>, ReLU, Linear<64, 10>);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/digits/digits.csv.gz"
    );
    // 64 pixel columns, then the digit.
    let mut data = classification_csv::<f32, 64, 10>(&read_text(path)?, &CsvOptions::new(), 64)?;
    data.map_features(|v| v / 16.0)?;
    let mut rng = forma::rng(0);
    let (rest, test) = data.split(0.8, &mut rng)?;
    let (mut train, val) = rest.split(0.875, &mut rng)?;
    println!(
        "{} training, {} validation and {} test images",
        train.len(),
        val.len(),
        test.len()
    );

    let mut trainer = Trainer::new(
        Net::initialize(&mut rng),
        SoftmaxCrossEntropy,
        Adam::new(0.002)?,
    );
    // 40 epochs of shuffled batches of 64; a cosine schedule after a 3-epoch
    // warm-up; stop if the validation loss has not improved for 8 epochs.
    let history = Fit::new(40)
        .batch_size(64)
        .schedule(Schedule::cosine(0.002, 40, 1e-5)?.with_warmup(3, 0.1)?)
        .early_stopping(8)
        .run(&mut trainer, &mut train, Some(&val))?;
    let csv = std::env::temp_dir().join("forma-digits-history.csv");
    history.save_csv(&csv)?;
    println!("history: {}", csv.display());
    // With `--features plot`: the curves as a PNG (README: docs/digits-history.png).
    #[cfg(feature = "plot")]
    {
        let png = std::env::temp_dir().join("forma-digits-history.png");
        history.plot_png(&png)?;
        println!("plot: {}", png.display());
    }
    let mut matrix = ConfusionMatrix::<10>::new();
    matrix.add(trainer.predict(test.features())?, test.targets())?;
    println!("test accuracy {:.1}%\n{matrix}", 100.0 * matrix.accuracy()?);
    Ok(())
}
