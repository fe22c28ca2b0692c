// The class count of `SoftmaxCrossEntropy` comes from the network's output
// width: labels made for 10 classes do not fit a 5-output classifier.
use forma::prelude::*;

fn main() {
    let net = Mlp3::<2, 8, 8, 5>::initialize(&mut forma::rng(0));
    let mut trainer = Trainer::new(net, SoftmaxCrossEntropy, Sgd::new(0.1).unwrap());
    let x = Batch::<f32, 2>::from_rows(&[[0.0, 1.0]]);
    let labels = Classes::<usize, 10>::from_labels(vec![7]).unwrap();
    let _ = trainer.step(&x, &labels);
}
