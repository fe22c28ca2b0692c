//! PyTorch's weights in forma: `tests/fixtures/pytorch` holds an
//! `nn.Sequential` of Linear, ReLU, Linear, Tanh, Linear, Sigmoid saved by
//! PyTorch (`scripts/export_pytorch.py fixtures`, torch 2.15) in float32 and
//! float64, with inputs and PyTorch's outputs. forma loads the state dict
//! into the equivalent `seq!` and must reproduce the outputs: float64 to
//! 1e-12, float32 to 1e-6.

use forma::io::FileElement;
use forma::layers::Network;
use forma::prelude::*;
use safetensors::SafeTensors;

type Seq<E> = seq!(@type Linear<3, 5, E>, ReLU, Linear<5, 4, E>, Tanh, Linear<4, 2, E>, Sigmoid);

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/pytorch/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `x` and `y` tensors of PyTorch's run, as rows.
fn io_rows<E: FileElement>(name: &str) -> (Vec<[E; 3]>, Vec<[E; 2]>) {
    let bytes = fixture(name);
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let values = |t: &str| -> Vec<E> {
        let size = std::mem::size_of::<E>();
        let view = st.tensor(t).unwrap();
        view.data().chunks_exact(size).map(E::get).collect()
    };
    let x = values("x")
        .chunks_exact(3)
        .map(|r| [r[0], r[1], r[2]])
        .collect();
    let y = values("y").chunks_exact(2).map(|r| [r[0], r[1]]).collect();
    (x, y)
}

fn matches_pytorch<E: FileElement>(suffix: &str, tol: f64) {
    let mut net = Seq::<E>::initialize(&mut rng(0));
    forma::io::load_bytes(
        &mut net,
        &fixture(&format!("sequential_{suffix}.safetensors")),
    )
    .unwrap();
    let (xs, ys) = io_rows::<E>(&format!("io_{suffix}.safetensors"));
    assert_eq!(xs.len(), 8);
    for (row, (x, want)) in xs.iter().zip(&ys).enumerate() {
        let got = net.predict(*x);
        for c in 0..2 {
            let (g, w) = (got[c].to_f64(), want[c].to_f64());
            assert!(
                (g - w).abs() <= tol * w.abs().max(1.0),
                "row {row}, output {c}: forma {g}, PyTorch {w}"
            );
        }
    }
    // The batched path agrees with the row-by-row one.
    let batch = Batch::<E, 3>::from_rows(&xs);
    let mut trainer = Trainer::new(net, Mse, Sgd::new(0.1).unwrap());
    let out = trainer.predict(&batch).unwrap();
    for (row, want) in ys.iter().enumerate() {
        for c in 0..2 {
            let (g, w) = (out[(row, c)].to_f64(), want[c].to_f64());
            assert!(
                (g - w).abs() <= tol * w.abs().max(1.0),
                "batched row {row}, output {c}: {g} vs {w}"
            );
        }
    }
}

#[test]
fn a_pytorch_sequential_in_float64_gives_pytorchs_outputs_to_1e_12() {
    matches_pytorch::<f64>("f64", 1e-12);
}

#[test]
fn a_pytorch_sequential_in_float32_gives_pytorchs_outputs_to_1e_6() {
    matches_pytorch::<f32>("f32", 1e-6);
}

#[test]
fn a_pytorch_file_is_refused_by_the_wrong_network() {
    // The same parameter count, another shape: PyTorch's 3-5-4-2 file does
    // not load into a 5-3-... net.
    let mut wrong = seq!(
        Linear::<5, 3, f32>::zeros(),
        ReLU,
        Linear::<3, 4, f32>::zeros(),
        Tanh,
        Linear::<4, 2, f32>::zeros(),
        Sigmoid
    );
    let e = forma::io::load_bytes(&mut wrong, &fixture("sequential_f32.safetensors")).unwrap_err();
    assert!(
        e.to_string()
            .contains("`0.weight`: expected shape [3, 5], got [5, 3]"),
        "{e}"
    );
}

/// The XOR net of `examples/embed_train`, saved both ways: the safetensors
/// file (which PyTorch loads strictly, `scripts/export_pytorch.py
/// check-xor`) and the flat bytes the static network embeds agree.
#[test]
fn the_embedded_xor_weights_match_the_safetensors_file() {
    use forma::layers::Inline;
    use forma_no_std_example::NET;
    type L1 = Linear<2, 2, f32, PerOutput, Inline>;
    const WEIGHTS: &[u8] = include_bytes!("../examples/data/xor.bin");
    type Xor = seq!(@type Linear<2, 2>, Sigmoid, Linear<2, 1>, Sigmoid);
    let mut heap = Xor::initialize(&mut rng(0));
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/xor.safetensors"
    ))
    .unwrap();
    forma::io::load_bytes(&mut heap, &bytes).unwrap();
    assert_eq!(forma::io::to_flat_bytes(&heap), WEIGHTS);
    for x in [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] {
        assert_eq!(NET.predict(x), heap.predict(x));
    }
    // A runtime call to the const constructor refuses a short slice.
    assert_eq!(
        L1::from_le_bytes(&WEIGHTS[..10], 0).err(),
        Some("embedded weights: too few bytes for this layer")
    );
    let mut nan = WEIGHTS.to_vec();
    nan[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
    assert_eq!(
        L1::from_le_bytes(&nan, 0).err(),
        Some("embedded weights: a value is NaN or infinite")
    );
}
