// A loss compares a prediction with a target of the same width: a 1-wide
// prediction against a 2-wide target is a compile error.
use forma::prelude::*;

fn main() {
    let pred = Batch::<f32, 1>::from_rows(&[[0.5], [0.25]]);
    let target = Batch::<f32, 2>::from_rows(&[[1.0, 0.0], [0.0, 1.0]]);
    let _ = Mse.value(&Cpu, &pred, &target);
}
