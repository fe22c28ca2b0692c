// An `Mlp<2, 32, 1>` takes 2 features per row; handing it a batch of 3-wide
// rows is a compile error, both in a training step and in a bare forward pass.
use forma::prelude::*;

fn main() {
    let x = Batch::<f32, 3>::from_rows(&[[0.0, 1.0, 2.0]]);
    let y = Batch::<f32, 1>::from_rows(&[[1.0]]);

    let net = Mlp::<2, 32, 1>::initialize(&mut forma::rng(0));
    let mut cache = net.new_cache(&Cpu, x.rows()).unwrap();
    let _ = net.forward(&Cpu, &x, &mut cache);

    let net = Mlp::<2, 32, 1>::initialize(&mut forma::rng(0));
    let mut trainer = Trainer::new(net, Bce, Sgd::new(0.1).unwrap());
    let _ = trainer.step(&x, &y);
}
