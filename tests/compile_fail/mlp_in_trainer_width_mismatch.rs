// A hand-written sequence whose hidden widths disagree (32 out, 16 in) is a
// type the compiler accepts on its own, but it is not a `Module`, so it cannot
// be trained: building a `Trainer` with it and stepping fails to compile.
use forma::prelude::*;

type Net = seq!(@type Linear<2, 32>, Sigmoid, Linear<16, 1>, Sigmoid);

fn main() {
    let net = Net::initialize(&mut forma::rng(0));
    let x = Batch::<f32, 2>::from_rows(&[[0.0, 1.0]]);
    let y = Batch::<f32, 1>::from_rows(&[[1.0]]);
    let mut trainer = Trainer::new(net, Bce, Sgd::new(0.1).unwrap());
    let _ = trainer.step(&x, &y);
}
