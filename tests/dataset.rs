//! Data in: CSV with a label column, a seeded split and shuffle, batches
//! with the last one kept or dropped, metrics; and the digits example's
//! whole pipeline (the UCI digits, 64-64-10, Adam) reaching at least 95%
//! test accuracy.

use forma::data::{CsvOptions, classification_csv, read_text};
use forma::dataset::{Batches, DataSet, Last};
use forma::metrics::{ConfusionMatrix, accuracy, argmax};
use forma::prelude::*;

fn regression(n: usize) -> DataSet<f32, 2, Batch<f32, 1>> {
    let x = Batch::<f32, 2>::from_fn(n, Const, |r, c| (r * 2 + c) as f32);
    let y = Batch::<f32, 1>::from_fn(n, Const, |r, _| r as f32);
    DataSet::new(x, y).unwrap()
}

#[test]
fn batches_keep_or_drop_the_short_last_one_and_pair_rows_with_targets() {
    let data = regression(10);
    for (last, sizes) in [(Last::Keep, vec![4, 4, 2]), (Last::Drop, vec![4, 4])] {
        let mut batches = Batches::new(4, last).unwrap();
        let mut got = Vec::new();
        while let Some((x, y)) = batches.next_batch(&data).unwrap() {
            for r in 0..x.rows() {
                // Feature (2r, 2r+1) belongs to target r.
                assert_eq!(x[(r, 0)], 2.0 * y[(r, 0)]);
            }
            got.push(x.rows());
        }
        assert_eq!(got, sizes);
    }
    assert!(Batches::<f32, 2, Batch<f32, 1>>::new(0, Last::Keep).is_err());
}

#[test]
fn a_seeded_shuffle_and_split_are_reproducible_and_lose_nothing() {
    let data = regression(20);
    let (a, b) = data.split(0.75, &mut rng(3)).unwrap();
    let (a2, _) = data.split(0.75, &mut rng(3)).unwrap();
    assert_eq!((a.len(), b.len()), (15, 5));
    assert_eq!(a.targets(), a2.targets());
    let mut all: Vec<f32> = a
        .targets()
        .as_slice()
        .iter()
        .chain(b.targets().as_slice())
        .copied()
        .collect();
    all.sort_by(f32::total_cmp);
    assert_eq!(all, (0..20).map(|v| v as f32).collect::<Vec<_>>());
    let mut shuffled = regression(20);
    shuffled.shuffle(&mut rng(4));
    let mut batches = Batches::new(20, Last::Keep).unwrap();
    let (_, y) = batches.next_batch(&shuffled).unwrap().unwrap();
    assert_ne!(
        y.as_slice(),
        regression(20).targets().as_slice(),
        "not shuffled"
    );
    assert!(data.split(1.0, &mut rng(0)).is_err());
    assert!(regression(1).split(0.5, &mut rng(0)).is_err());
}

#[test]
fn a_data_set_refuses_mismatched_rows_and_non_finite_features() {
    let x = Batch::<f32, 2>::from_rows(&[[0.0, 1.0], [f32::NAN, 2.0]]);
    let y = Batch::<f32, 1>::from_rows(&[[0.0], [1.0]]);
    let e = DataSet::new(x, y).unwrap_err();
    assert!(e.to_string().contains("row 1, column 0"), "{e}");
    let x = Batch::<f32, 2>::from_rows(&[[0.0, 1.0]]);
    assert!(DataSet::new(x, Batch::<f32, 1>::from_rows(&[[0.0], [1.0]])).is_err());
}

#[test]
fn csv_with_a_label_column_names_bad_rows() {
    let text = "a,label,b\n1,0,2\n3,2,4\n";
    let data = classification_csv::<f64, 2, 3>(text, &CsvOptions::with_header_lines(1), 1).unwrap();
    assert_eq!(data.targets().labels(), [0, 2]);
    assert_eq!(data.features().as_slice(), [1.0, 2.0, 3.0, 4.0]);
    let e = classification_csv::<f64, 2, 3>("1,3,2\n", &CsvOptions::new(), 1).unwrap_err();
    assert!(
        e.to_string()
            .contains("classification_csv label, row 0, column 1"),
        "{e}"
    );
    let e = classification_csv::<f64, 2, 3>("1,0.5,2\n", &CsvOptions::new(), 1).unwrap_err();
    assert!(e.to_string().contains("got 0.5"), "{e}");
    let e = classification_csv::<f64, 2, 3>("1,0\n", &CsvOptions::new(), 1).unwrap_err();
    assert!(e.to_string().contains("expected length 3, got 2"), "{e}");
}

#[test]
fn argmax_accuracy_and_the_confusion_matrix() {
    assert_eq!(argmax(&[1.0f32, f32::NAN, 3.0, 3.0]), 2);
    assert_eq!(argmax(&[f32::NAN, 0.5]), 1);
    let out = Batch::<f32, 2>::from_rows(&[[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]);
    let labels = Classes::<usize, 2>::from_labels(vec![0, 1, 1, 1]).unwrap();
    assert_eq!(accuracy(&out, &labels).unwrap(), 0.75);
    let mut m = ConfusionMatrix::<2>::new();
    m.add(&out, &labels).unwrap();
    assert_eq!(m.counts(), [1, 0, 1, 2]);
    let nan = Batch::<f32, 2>::from_rows(&[[f32::NAN, f32::NAN]]);
    let e = accuracy(&nan, &Classes::from_labels(vec![0]).unwrap()).unwrap_err();
    assert!(e.to_string().contains("row 0, column 0"), "{e}");
    assert!(
        m.add(&out, &Classes::from_labels(vec![0]).unwrap())
            .is_err()
    );
    assert_eq!(m.total(), 4, "a refused batch adds nothing");
    m.clear();
    assert!(m.accuracy().is_err());
}

#[test]
fn the_uci_digits_reach_95_percent_test_accuracy() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/digits/digits.csv.gz"
    );
    let mut data =
        classification_csv::<f32, 64, 10>(&read_text(path).unwrap(), &CsvOptions::new(), 64)
            .unwrap();
    assert_eq!(data.len(), 1797);
    data.map_features(|v| v / 16.0).unwrap();
    let mut rng = forma::rng(0);
    let (mut train, test) = data.split(0.8, &mut rng).unwrap();
    type Net = seq!(@type Linear<64, 64>, ReLU, Linear<64, 10>);
    let mut trainer = Trainer::new(
        Net::initialize(&mut rng),
        SoftmaxCrossEntropy,
        Adam::new(0.002).unwrap(),
    );
    let mut batches = Batches::new(64, Last::Keep).unwrap();
    for _ in 0..40 {
        train.shuffle(&mut rng);
        batches.rewind();
        while let Some((x, y)) = batches.next_batch(&train).unwrap() {
            trainer.step(x, y).unwrap();
        }
    }
    let acc = accuracy(trainer.predict(test.features()).unwrap(), test.targets()).unwrap();
    assert!(acc >= 0.95, "test accuracy {acc}");
}

/// An IDX file of unsigned bytes with these dimensions and data.
fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out.extend(data);
    out
}

#[test]
fn mnist_style_idx_files_read_as_a_classification_data_set() {
    // Three 2x2 images and their labels, written here as MNIST's files are.
    let images = idx(&[3, 2, 2], &[0, 255, 51, 102, 255, 255, 0, 0, 1, 2, 3, 4]);
    let labels = idx(&[3], &[7, 0, 9]);
    let data = forma::data::idx_classification::<f32, 4, 10>(&images, &labels).unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data.targets().labels(), [7, 0, 9]);
    assert_eq!(&data.features().as_slice()[..4], [0.0, 1.0, 0.2, 0.4]);
    // Through a gzip file, as MNIST ships.
    let dir = std::env::temp_dir().join(format!("forma-idx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("labels.idx.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &labels).unwrap();
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    assert_eq!(forma::data::read_bytes(&path).unwrap(), labels);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_idx_files_are_errors_that_say_what_came() {
    let labels = idx(&[2], &[1, 2]);
    let cases: [(Vec<u8>, &str); 5] = [
        (vec![1, 2, 3], "expected an IDX magic number 0 0 8 d"),
        (
            vec![0, 0, 0x0d, 1, 0, 0, 0, 2],
            "expected IDX type 0x08 (unsigned bytes), got 0x0d",
        ),
        (
            idx(&[2, 2, 2], &[0; 7]),
            "expected 8 data bytes for dimensions [2, 2, 2], got 7",
        ),
        (
            vec![0, 0, 8, 3, 0, 0],
            "expected a header of 16 bytes for 3 dimensions, got 6",
        ),
        (
            idx(&[2, 3, 1], &[0; 6]),
            "pixels per image (the network's input width): expected length 4, got 3",
        ),
    ];
    for (images, want) in cases {
        let e = forma::data::idx_classification::<f32, 4, 10>(&images, &labels).unwrap_err();
        assert!(e.to_string().contains(want), "{e}\nwanted: {want}");
    }
    let images = idx(&[2, 2, 2], &[0; 8]);
    let e =
        forma::data::idx_classification::<f32, 4, 10>(&images, &idx(&[2], &[1, 10])).unwrap_err();
    assert!(e.to_string().contains("row 1"), "{e}");
    let e = forma::data::idx_classification::<f32, 4, 10>(&images, &idx(&[1], &[1])).unwrap_err();
    assert!(
        e.to_string()
            .contains("one per image: expected length 2, got 1"),
        "{e}"
    );
}

#[test]
fn a_label_column_past_the_last_is_a_setting_error() {
    let e = classification_csv::<f64, 2, 3>("1,0,2\n", &CsvOptions::new(), 3).unwrap_err();
    assert!(matches!(e, forma::Error::Config { .. }), "{e}");
}
