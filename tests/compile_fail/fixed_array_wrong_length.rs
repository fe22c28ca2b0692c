// A tensor whose whole shape is in its type cannot be built from a fixed array
// of another shape: rows of 3 values do not fit a 2 x 2 tensor.
use forma::prelude::*;

fn main() {
    let _ = Tensor::<f32, Const<2>, Const<2>>::from_array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
}
