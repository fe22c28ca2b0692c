// `RowFn` (a layer written as an expression) and `RowLoss` train on the CPU
// device only: on another device their `Module` and `Loss` impls do not
// exist, and the error says which device they have one for.
use forma::layers::Resident;
use forma::expr::Var;
use forma::prelude::*;

fn train_on<D: Resident<f32>>(device: D) {
    let swish = RowFn::<_, 2, 2>::new(|x: Ex<Var<0, Mat<1, 2>, f32>>| x * x.sigmoid());
    let x = Tensor::upload(&device, &Batch::<f32, 2>::from_rows(&[[0.0, 1.0]])).unwrap();
    let y = Tensor::upload(&device, &Batch::<f32, 2>::from_rows(&[[1.0, 0.0]])).unwrap();
    let mut trainer = Trainer::on(device, swish, Mse, Sgd::new(0.1).unwrap());
    let _ = trainer.step(&x, &y);
}

fn main() {
    train_on(Cpu);
}
