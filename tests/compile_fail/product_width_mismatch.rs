// A matrix product whose inner dimensions are both compile-time constants and
// differ, (2 x 3) . (2 x 4), is rejected by the compiler through the
// `AreMultipliable` shape rule, whose message names both widths.
use forma::prelude::*;

fn main() {
    let a = Tensor::<f32, Const<2>, Const<3>>::zeros(Const, Const);
    let b = Tensor::<f32, Const<2>, Const<4>>::zeros(Const, Const);
    let _ = a.matmul(&b);
}
