//! Seeds 002 and 003's autograd demos, with forma's static expression graph:
//! each expression is a type, and its gradient is generated at compile time.
//!
//! Run: `cargo run --release --example autograd`

use forma::expr::{Mat, Scalar, constant, var};

fn main() -> forma::Result<()> {
    // d/dx x² at x = 4.
    let x = var::<0, Scalar, f64>(4.0);
    let y = x.powi(2);
    println!("d/dx x^2 at x = {} is {:.1}", x.value(), y.grad(x)?);

    // z = (x + y)², x = 1, y = 3: z = 16, dz/dx = 8.
    let (x, y) = (var::<0, Scalar, f64>(1.0), var::<1, Scalar, f64>(3.0));
    let z = (x + y).powi(2);
    let (dx, dy) = z.grad((x, y))?;
    println!("z = (x + y)^2 = {}, dz/dx = {dx}, dz/dy = {dy}", z.value());

    // y = x + 2, z = 3·y·y, out = mean(z) over a 2x2 of ones: out = 27, d out/dx = 4.5.
    let x = var::<0, Mat<2, 2>, f64>([[1.0, 1.0], [1.0, 1.0]]);
    let y = x + 2.0;
    let z = 3.0 * y * y;
    let out = z.mean();
    println!("out = {}, d out/dx = {:?}", out.value(), out.grad(x)?);

    // Seed 000's whole 2-2-2 net as one expression, shared scalar biases included.
    let input = constant::<Mat<1, 2>, f64>([[0.2, 0.1]]);
    let target = constant::<Mat<1, 2>, f64>([[0.99, 0.01]]);
    let w1 = var::<0, Mat<2, 2>, f64>([[0.2, 0.4], [0.1, 0.15]]);
    let b1 = var::<1, Scalar, f64>(0.3);
    let w2 = var::<2, Mat<2, 2>, f64>([[0.65, 0.45], [0.7, 0.3]]);
    let b2 = var::<3, Scalar, f64>(0.5);
    let hidden = (input.matmul(w1) + b1).sigmoid();
    let output = (hidden.matmul(w2) + b2).sigmoid();
    let loss = ((target - output).powi(2) * 0.5).sum();
    let (dw1, db1, dw2, db2) = loss.grad((w1, b1, w2, b2))?;
    println!("2-2-2 net: loss {:.12}", loss.value());
    println!("  dW1 {dw1:?}\n  db1 {db1:.12e}\n  dW2 {dw2:?}\n  db2 {db2:.12e}");
    Ok(())
}
