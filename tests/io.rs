//! Models and checkpoints in `.safetensors` files (issue 13): names from the
//! type, every tensor checked on load, and training resumed from a
//! checkpoint bitwise identical to training that never stopped.

use forma::io::{self, Extra, Names};
use forma::prelude::*;
use safetensors::{Dtype, SafeTensors};

type Net = seq!(@type Linear<2, 4>, ReLU, Linear<4, 3>, Tanh, Linear<3, 1>);

fn names_of<M: Named>(m: &M) -> Vec<String> {
    let mut v = Vec::new();
    m.names(&mut |n, s| v.push(format!("{n} {s:?}")));
    v
}

fn bits<P: Params<f32>>(p: &P) -> Vec<u32> {
    p.to_vec().iter().map(|v| v.to_bits()).collect()
}

#[test]
fn names_follow_pytorch_sequential() {
    let net = Net::initialize(&mut rng(0));
    assert_eq!(
        names_of(&net),
        [
            "0.weight [4, 2]",
            "0.bias [4]",
            "2.weight [3, 4]",
            "2.bias [3]",
            "4.weight [1, 3]",
            "4.bias [1]"
        ]
    );
    // A layer at the root has no number; a shared bias is one value; no bias
    // is an empty tensor, which files leave out (nn.Linear(bias=False)).
    assert_eq!(
        names_of(&Linear::<2, 3>::zeros()),
        ["weight [3, 2]", "bias [3]"]
    );
    assert_eq!(
        names_of(&Linear::<2, 3, f32, SharedBias>::zeros())[1],
        "bias [1]"
    );
    let bytes = io::to_bytes(&Linear::<2, 3, f32, NoBias>::zeros()).unwrap();
    assert_eq!(
        SafeTensors::deserialize(&bytes).unwrap().names(),
        ["weight"]
    );
}

#[test]
fn the_file_header_is_what_pytorch_load_state_dict_expects() {
    for dtype in [Dtype::F32, Dtype::F64] {
        let bytes = if dtype == Dtype::F32 {
            io::to_bytes(&Net::initialize(&mut rng(1))).unwrap()
        } else {
            type Net64 =
                seq!(@type Linear<2, 4, f64>, ReLU, Linear<4, 3, f64>, Tanh, Linear<3, 1, f64>);
            io::to_bytes(&Net64::initialize(&mut rng(1))).unwrap()
        };
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let mut got: Vec<(String, Dtype, Vec<usize>)> = st
            .tensors()
            .into_iter()
            .map(|(n, t)| (n, t.dtype(), t.shape().to_vec()))
            .collect();
        got.sort();
        let want = [
            ("0.bias", vec![4]),
            ("0.weight", vec![4, 2]),
            ("2.bias", vec![3]),
            ("2.weight", vec![3, 4]),
            ("4.bias", vec![1]),
            ("4.weight", vec![1, 3]),
        ];
        assert_eq!(got.len(), want.len());
        for ((n, d, s), (wn, ws)) in got.iter().zip(want) {
            assert_eq!((n.as_str(), *d, s), (wn, dtype, &ws));
        }
    }
}

#[test]
fn save_and_load_round_trip_through_a_file_bit_for_bit() {
    let dir = std::env::temp_dir().join(format!("forma-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("net.safetensors");
    let net = Net::initialize(&mut rng(2));
    io::save(&net, &path).unwrap();
    let mut back = Net::initialize(&mut rng(3));
    io::load(&mut back, &path).unwrap();
    assert_eq!(bits(&back), bits(&net));
    let e = io::load(&mut back, dir.join("missing.safetensors")).unwrap_err();
    assert!(
        e.to_string()
            .contains("missing.safetensors: expected a readable file"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_loads_from_any_byte_offset() {
    // include_bytes! gives no alignment: decoding must not need any.
    let net = Net::initialize(&mut rng(4));
    let bytes = io::to_bytes(&net).unwrap();
    let mut shifted = vec![0u8; bytes.len() + 1];
    shifted[1..].copy_from_slice(&bytes);
    let mut back = Net::initialize(&mut rng(5));
    io::load_bytes(&mut back, &shifted[1..]).unwrap();
    assert_eq!(bits(&back), bits(&net));
}

/// The error's text, and a check that the model did not change.
fn refused<M: Params<f32> + Named>(model: &mut M, bytes: &[u8]) -> String {
    let before = bits(model);
    let e = io::load_bytes(model, bytes).unwrap_err();
    assert_eq!(bits(model), before, "a refused load changed the model");
    e.to_string()
}

#[test]
fn a_file_for_another_shape_is_refused_even_with_the_same_count() {
    // 2-4-2 and 4-2-4 both have 22 parameters.
    let a = seq!(Linear::<2, 4>::zeros(), Sigmoid, Linear::<4, 2>::zeros());
    let mut b = seq!(Linear::<4, 2>::zeros(), Sigmoid, Linear::<2, 4>::zeros());
    let text = refused(&mut b, &io::to_bytes(&a).unwrap());
    assert!(
        text.contains("tensor `0.weight`: expected shape [2, 4], got [4, 2] (transposed"),
        "{text}"
    );
}

#[test]
fn missing_extra_wrong_dtype_and_non_finite_tensors_are_named() {
    let net = Net::initialize(&mut rng(6));
    // Missing: a smaller net's file.
    let small = seq!(Linear::<2, 4>::zeros(), ReLU, Linear::<4, 3>::zeros());
    let text = refused(&mut net.clone(), &io::to_bytes(&small).unwrap());
    assert!(
        text.contains("tensor `4.weight`: expected a tensor of shape [1, 3] (F32), got no tensor"),
        "{text}"
    );
    // Extra: the small net given the big file.
    let text = refused(&mut small.clone(), &io::to_bytes(&net).unwrap());
    assert!(
        text.contains("tensor `4.bias`: expected only the model's tensors"),
        "{text}"
    );
    // ...unless asked to ignore them.
    let mut part = small.clone();
    io::load_bytes_with(
        &mut part,
        &io::to_bytes(&net).unwrap(),
        &Names::plain(),
        Extra::Ignore,
        "net",
    )
    .unwrap();
    assert_eq!(part.0.weight(), net.0.weight());
    // Another dtype: no silent cast.
    type Net64 = seq!(@type Linear<2, 4, f64>, ReLU, Linear<4, 3, f64>, Tanh, Linear<3, 1, f64>);
    let text = refused(
        &mut net.clone(),
        &io::to_bytes(&Net64::initialize(&mut rng(7))).unwrap(),
    );
    assert!(
        text.contains("expected dtype F32 (no conversion is made), got F64"),
        "{text}"
    );
    // A NaN, named with its element.
    let mut bad = net.clone();
    bad.1.1.0.weight_mut()[1][2] = f32::NAN; // layer 2's weight
    // Saving writes what the model holds; loading refuses it.
    let file = io::to_bytes(&bad).unwrap();
    let text = refused(&mut net.clone(), &file);
    assert!(
        text.contains("tensor `2.weight`: expected finite values, got NaN at element 6"),
        "{text}"
    );
}

#[test]
fn prefixes_and_renames_map_forma_names_to_a_pytorch_models() {
    let net = Net::initialize(&mut rng(8));
    let names = Names::prefixed("body.")
        .rename("body.4.weight", "head.weight")
        .rename("body.4.bias", "head.bias");
    let bytes = io::to_bytes_with(&net, &names, None).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut on_file: Vec<String> = st.names().into_iter().map(|n| n.to_string()).collect();
    on_file.sort();
    assert_eq!(
        on_file,
        [
            "body.0.bias",
            "body.0.weight",
            "body.2.bias",
            "body.2.weight",
            "head.bias",
            "head.weight"
        ]
    );
    let mut back = Net::initialize(&mut rng(9));
    io::load_bytes_with(&mut back, &bytes, &names, Extra::Refuse, "mapped").unwrap();
    assert_eq!(bits(&back), bits(&net));
    // Two tensors renamed to one name is an error, not a silent overwrite.
    let clash = Names::plain().rename("0.bias", "0.weight");
    assert!(io::to_bytes_with(&net, &clash, None).is_err());
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let mut net = Net::initialize(&mut rng(10));
    for bytes in [
        &b""[..],
        b"\x08\0\0\0\0\0\0\0{}",
        b"\xff\xff\xff\xff\xff\xff\xff\xff",
        b"\x02\0\0\0\0\0\0\0{}",
    ] {
        let text = refused(&mut net, bytes);
        assert!(
            text.starts_with("(bytes): expected a safetensors file") || text.contains("tensor"),
            "{text}"
        );
    }
}

/// `steps` steps on a fixed batch: the losses.
fn run<M, O>(t: &mut Trainer<f32, Const<2>, usize, M, Mse, O>, steps: usize) -> Vec<u32>
where
    M: Module<f32, Const<2>, Out = Const<1>>,
    O: Optimizer<f32, M>,
{
    let x = Batch::<f32, 2>::from_rows(&[[0.0, 0.5], [1.0, -1.0], [0.25, 0.75], [-0.5, 0.0]]);
    let y = Batch::<f32, 1>::from_rows(&[[0.3], [-0.2], [0.9], [0.1]]);
    (0..steps)
        .map(|_| t.step(&x, &y).unwrap().to_bits())
        .collect()
}

fn resume_is_bitwise<O, F>(optimizer: F)
where
    O: Optimizer<f32, Net> + forma::optim::Stateful<f32, Net>,
    F: Fn() -> O,
{
    let mut straight = Trainer::new(Net::initialize(&mut rng(11)), Mse, optimizer());
    let all = run(&mut straight, 10);
    let mut first = Trainer::new(Net::initialize(&mut rng(11)), Mse, optimizer());
    let before = run(&mut first, 4);
    let bytes = first.checkpoint().unwrap();
    // A trainer from other weights and a fresh optimizer, restored.
    let mut resumed = Trainer::new(Net::initialize(&mut rng(99)), Mse, optimizer());
    resumed.restore_checkpoint(&bytes, "checkpoint").unwrap();
    assert_eq!(resumed.steps(), 4);
    let after = run(&mut resumed, 6);
    assert_eq!(
        [before, after].concat(),
        all,
        "losses differ after the resume"
    );
    assert_eq!(
        bits(resumed.model()),
        bits(straight.model()),
        "parameters differ after the resume"
    );
}

#[test]
fn training_resumed_from_a_checkpoint_is_bitwise_identical_with_sgd_momentum() {
    resume_is_bitwise(|| Sgd::new(0.1).and_then(|s| s.with_momentum(0.9)).unwrap());
}

#[test]
fn training_resumed_from_a_checkpoint_is_bitwise_identical_with_adam() {
    resume_is_bitwise(|| Adam::new(0.01).unwrap());
}

#[test]
fn a_checkpoint_is_checked_before_anything_changes() {
    let mut t = Trainer::new(Net::initialize(&mut rng(12)), Mse, Adam::new(0.01).unwrap());
    run(&mut t, 3);
    let model_file = io::to_bytes(t.model()).unwrap();
    let before = bits(t.model());
    let e = t
        .restore_checkpoint(&model_file, "net.safetensors")
        .unwrap_err();
    assert!(e.to_string().contains("expected a forma checkpoint"), "{e}");
    // A checkpoint of another network shape.
    type Other = seq!(@type Linear<2, 3>, ReLU, Linear<3, 3>, Tanh, Linear<3, 1>);
    let mut other = Trainer::new(
        Other::initialize(&mut rng(13)),
        Mse,
        Adam::new(0.01).unwrap(),
    );
    run(&mut other, 2);
    let e = t
        .restore_checkpoint(&other.checkpoint().unwrap(), "other.ckpt")
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("other.ckpt: tensor `model.0.weight`: expected shape [4, 2], got [3, 2]"),
        "{e}"
    );
    assert_eq!(bits(t.model()), before);
    assert_eq!(t.steps(), 3);
}

#[test]
fn a_checkpoint_of_another_optimizer_or_a_larger_model_is_refused() {
    let mut sgd = Trainer::new(Net::initialize(&mut rng(20)), Mse, Sgd::new(0.1).unwrap());
    run(&mut sgd, 2);
    let mut adam = Trainer::new(Net::initialize(&mut rng(21)), Mse, Adam::new(0.01).unwrap());
    run(&mut adam, 2);
    let e = sgd
        .restore_checkpoint(&adam.checkpoint().unwrap(), "adam.ckpt")
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("expected a checkpoint of this optimizer (sgd), got adam"),
        "{e}"
    );
    // A larger model whose first layers match: its extra tensors are refused.
    type Bigger =
        seq!(@type Linear<2, 4>, ReLU, Linear<4, 3>, Tanh, Linear<3, 1>, Tanh, Linear<1, 1>);
    let mut big = Trainer::new(
        Bigger::initialize(&mut rng(22)),
        Mse,
        Adam::new(0.01).unwrap(),
    );
    let x = Batch::<f32, 2>::from_rows(&[[0.0, 0.5]]);
    let y = Batch::<f32, 1>::from_rows(&[[0.3]]);
    big.step(&x, &y).unwrap();
    let before = bits(adam.model());
    let e = adam
        .restore_checkpoint(&big.checkpoint().unwrap(), "big.ckpt")
        .unwrap_err();
    assert!(
        e.to_string().contains("tensor `model.6.bias`") || e.to_string().contains("model.6.weight"),
        "{e}"
    );
    assert_eq!(bits(adam.model()), before);
    // The learning rate comes back with the checkpoint.
    adam.set_learning_rate(0.005).unwrap();
    let bytes = adam.checkpoint().unwrap();
    adam.set_learning_rate(0.5).unwrap();
    adam.restore_checkpoint(&bytes, "lr").unwrap();
    assert!((adam.learning_rate() - 0.005).abs() < 1e-9);
}
