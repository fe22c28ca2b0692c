//! Handwritten digits (the UCI data as scikit-learn ships it, in
//! `examples/data/digits/`): 1797 images of 8x8 pixels, a seeded 80/20
//! train/test split, a 64-64-10 ReLU network trained with Adam on shuffled
//! batches of 64, test accuracy and the confusion matrix at the end.
//!
//! Run: `cargo run --release --example digits`

use forma::data::{CsvOptions, classification_csv, read_text};
use forma::dataset::{Batches, Last};
use forma::metrics::ConfusionMatrix;
use forma::prelude::*;

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
    let (mut train, test) = data.split(0.8, &mut rng)?;
    println!("{} training and {} test images", train.len(), test.len());

    let mut trainer = Trainer::new(
        Net::initialize(&mut rng),
        SoftmaxCrossEntropy,
        Adam::new(0.002)?,
    );
    let mut batches = Batches::new(64, Last::Keep)?;
    for epoch in 1..=40 {
        train.shuffle(&mut rng);
        batches.rewind();
        let (mut total, mut count) = (0.0, 0);
        while let Some((x, y)) = batches.next_batch(&train) {
            total += trainer.step(x, y)? * x.rows() as f32;
            count += x.rows();
        }
        if epoch % 10 == 0 {
            println!("epoch {epoch:>2}  train loss {:.4}", total / count as f32);
        }
    }
    let mut matrix = ConfusionMatrix::<10>::new();
    matrix.add(trainer.predict(test.features())?, test.targets())?;
    println!("test accuracy {:.1}%\n{matrix}", 100.0 * matrix.accuracy()?);
    Ok(())
}
