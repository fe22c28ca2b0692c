// On a device the model's parameters and the batches live there, and the
// types say so: a CPU batch handed to a trainer on another device, a
// 3-wide batch on that device for a 2-input model, and a model left on the
// heap given to a trainer on another device all fail to compile.
use forma::layers::Resident;
use forma::prelude::*;

fn train_on<D: Resident<f32>>(device: D) -> Result<()> {
    let net = Mlp::<2, 8, 1>::initialize(&mut forma::rng(0)).to_device(&device)?;
    let mut trainer = Trainer::on(device.clone(), net, Mse, Sgd::new(0.1)?);
    let x = Batch::<f32, 2>::from_rows(&[[0.0, 1.0]]);
    let y = Batch::<f32, 1>::from_rows(&[[1.0]]);
    let _ = trainer.step(&x, &y); // host batches, device model

    let x3 = Tensor::upload(&device, &Batch::<f32, 3>::from_rows(&[[0.0, 1.0, 2.0]]))?;
    let y = Tensor::upload(&device, &y)?;
    let _ = trainer.step(&x3, &y); // 3 features for a 2-input model
    Ok(())
}

fn heap_model_on<D: Resident<f32>>(device: D) {
    let net = Mlp::<2, 8, 1>::initialize(&mut forma::rng(0)); // not moved
    let x = Tensor::upload(&device, &Batch::<f32, 2>::from_rows(&[[0.0, 1.0]])).unwrap();
    let y = Tensor::upload(&device, &Batch::<f32, 1>::from_rows(&[[1.0]])).unwrap();
    let mut trainer = Trainer::on(device, net, Mse, Sgd::new(0.1).unwrap());
    let _ = trainer.step(&x, &y);
}

fn main() {
    let _ = train_on(Cpu);
    heap_model_on(Cpu);
}
