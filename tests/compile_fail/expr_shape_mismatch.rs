// Adding a 2x3 expression to a 3x2 one is rejected where the `+` is written,
// by the `Broadcast` shape rule, whose message names both shapes.
use forma::expr::{Mat, var};

fn main() {
    let a = var::<0, Mat<2, 3>, f64>([[1.0; 3]; 2]);
    let b = var::<1, Mat<3, 2>, f64>([[1.0; 2]; 3]);
    let _sum = a + b;
}
