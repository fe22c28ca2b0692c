//! The first half of embedded inference: train the XOR net and save its
//! weights twice, as `examples/data/xor.safetensors` (for PyTorch and
//! `forma::io::load`) and as forma's flat format, `examples/data/xor.bin`,
//! which `examples/embed_predict.rs` embeds at compile time.
//!
//! Run: `cargo run --release --example embed_train`, then
//! `cargo run --release --example embed_predict`.

use forma::prelude::*;

/// The XOR net with inline storage, as `embed_predict` declares it.
type Xor = seq!(@type
    Linear<2, 2, f32, PerOutput, forma::layers::Inline>, Sigmoid,
    Linear<2, 1, f32, PerOutput, forma::layers::Inline>, Sigmoid
);

fn main() -> forma::Result<()> {
    let x = Batch::<f32, 2>::from_rows(&[[0., 0.], [0., 1.], [1., 0.], [1., 1.]]);
    let y = Batch::<f32, 1>::from_rows(&[[0.], [1.], [1.], [0.]]);
    let mut trainer = Trainer::new(Xor::initialize(&mut rng(2)), Bce, Sgd::new(0.5)?);
    for _ in 0..10_000 {
        trainer.step(&x, &y)?;
    }
    println!("loss {:.5}", trainer.evaluate(&x, &y)?);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data");
    forma::io::save(trainer.model(), dir.join("xor.safetensors"))?;
    forma::io::save_flat(trainer.model(), dir.join("xor.bin"))?;
    println!("wrote examples/data/xor.safetensors and examples/data/xor.bin");
    Ok(())
}
