// Chaining a layer with 32 outputs into a layer with 16 inputs is rejected
// where the network is built, by the `SameWidth` shape rule, whose message
// names both widths.
use forma::prelude::*;

fn main() {
    let mut rng = forma::rng(0);
    let _net = chain(
        Linear::<2, 32>::pytorch_default(&mut rng),
        Linear::<16, 1>::pytorch_default(&mut rng),
    );
}
