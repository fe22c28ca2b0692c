//! A counting global allocator proves the static-graph promise: after the
//! first step (which builds the cache and optimizer state), a training step
//! performs no heap allocation, and inline-stored inference never does.

#[path = "device_common/opaque.rs"]
mod opaque;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use forma::layers::{Initialize, Inline};
use forma::prelude::*;
use opaque::Opaque;

/// Counts allocations made by the current thread (tests run in parallel threads).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator, which
// upholds GlobalAlloc's contract; the counter is a const-initialised
// thread-local `Cell`, whose access never allocates or re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: `ptr` came from this allocator with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

/// The XOR tutorial's net, with its final Sigmoid.
type Xor = seq!(@type Linear<2, 2>, Sigmoid, Linear<2, 1>, Sigmoid);

#[test]
fn the_counter_sees_allocations() {
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 10]))) >= 1);
}

#[test]
fn mazur_step_allocates_nothing_after_the_first() {
    let net = seq!(
        Linear::<2, 2, f64, SharedBias>::from_weights([[0.2, 0.1], [0.4, 0.15]], [0.3])
            .expect("finite weights"),
        Sigmoid,
        Linear::<2, 2, f64, SharedBias>::from_weights([[0.65, 0.7], [0.45, 0.3]], [0.5])
            .expect("finite weights"),
        Sigmoid
    );
    let x = Tensor::from_array([[0.2, 0.1]]);
    let t = Tensor::from_array([[0.99, 0.01]]);
    let mut trainer = Trainer::new(net, HalfSumSquares, Sgd::new(0.5).unwrap());
    trainer.step(&x, &t).unwrap();
    assert_eq!(
        allocations_during(|| for _ in 0..100 {
            trainer.step(&x, &t).unwrap();
        }),
        0
    );
}

#[test]
fn xor_step_with_momentum_allocates_nothing_after_the_first() {
    let x = Batch::<f32, 2>::from_rows(&[[0., 0.], [0., 1.], [1., 0.], [1., 1.]]);
    let y = Batch::<f32, 1>::from_rows(&[[0.], [1.], [1.], [0.]]);
    let opt = Sgd::new(0.5)
        .unwrap()
        .with_momentum(0.9)
        .unwrap()
        .with_nesterov()
        .unwrap();
    let mut trainer = Trainer::new(Xor::initialize(&mut forma::rng(2)), Bce, opt);
    trainer.step(&x, &y).unwrap();
    assert_eq!(
        allocations_during(|| for _ in 0..100 {
            trainer.step(&x, &y).unwrap();
        }),
        0
    );
}

#[test]
fn two_layer_step_and_a_shorter_last_batch_allocate_nothing() {
    type Net = seq!(@type Linear<1000, 100, f32, NoBias>, ReLU, Linear<100, 10, f32, NoBias>);
    let x = Batch::<f32, 1000>::from_flat(&vec![0.01; 64 * 1000]).unwrap();
    let t = Batch::<f32, 10>::from_flat(&vec![0.5; 64 * 10]).unwrap();
    let short_x = Batch::<f32, 1000>::from_flat(&vec![0.02; 17 * 1000]).unwrap();
    let short_t = Batch::<f32, 10>::from_flat(&vec![0.5; 17 * 10]).unwrap();
    let mut trainer = Trainer::new(
        Net::initialize(&mut forma::rng(0)),
        SumSquares,
        Sgd::new(1e-6).unwrap(),
    );
    trainer.step(&x, &t).unwrap();
    assert_eq!(
        allocations_during(|| {
            for _ in 0..5 {
                trainer.step(&x, &t).unwrap();
            }
            trainer.step(&short_x, &short_t).unwrap();
            trainer.step(&x, &t).unwrap();
        }),
        0
    );
}

#[test]
fn a_step_whose_products_are_shared_over_the_pool_allocates_nothing_on_the_caller() {
    // 128 x 784 x 256 is split over the pool where it has two threads: the
    // calling thread then holds the packing of B that the parts share (and
    // runs part 0). Workers' own buffers are per thread and not counted here.
    type Net = seq!(@type Linear<784, 256, f32>, ReLU, Linear<256, 10, f32>);
    let x = Batch::<f32, 784>::from_flat(&vec![0.01; 128 * 784]).unwrap();
    let t = Batch::<f32, 10>::from_flat(&vec![0.5; 128 * 10]).unwrap();
    let mut trainer = Trainer::new(
        Net::initialize(&mut forma::rng(0)),
        SumSquares,
        Sgd::new(1e-6).unwrap(),
    );
    if forma::core::math::parallel::threads() < 2 {
        eprintln!("one thread: products are not split, the split path went untested");
    }
    trainer.step(&x, &t).unwrap();
    trainer.step(&x, &t).unwrap();
    assert_eq!(
        allocations_during(|| {
            for _ in 0..3 {
                trainer.step(&x, &t).unwrap();
            }
        }),
        0
    );
}

#[test]
fn classifier_with_adam_allocates_nothing_after_the_first_step() {
    let x = Batch::<f32, 8>::from_flat(
        &(0..32 * 8)
            .map(|i| (i % 7) as f32 / 7.0)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let labels = Classes::<usize, 3>::from_labels((0..32).map(|i| i % 3).collect()).unwrap();
    let mut trainer = Trainer::new(
        Mlp3::<8, 16, 16, 3>::initialize(&mut forma::rng(4)),
        SoftmaxCrossEntropy,
        Adam::adamw(1e-3).unwrap(),
    );
    trainer.step(&x, &labels).unwrap();
    assert_eq!(
        allocations_during(|| for _ in 0..20 {
            trainer.step(&x, &labels).unwrap();
        }),
        0
    );
}

#[test]
fn inline_inference_never_allocates() {
    type Net = seq!(@type Linear<2, 2, f64, SharedBias, Inline>, Sigmoid, Linear<2, 2, f64, SharedBias, Inline>, Sigmoid);
    let mut y = [0.0; 2];
    let n = allocations_during(|| {
        let net: Net = seq!(
            Linear::from_weights([[0.2, 0.1], [0.4, 0.15]], [0.3]).expect("finite weights"),
            Sigmoid,
            Linear::from_weights([[0.65, 0.7], [0.45, 0.3]], [0.5]).expect("finite weights"),
            Sigmoid
        );
        y = net.predict([0.2, 0.1]);
    });
    assert_eq!(n, 0);
    // The tutorial's first forward pass: out_o1_o2 = [0.7858, 0.7198].
    assert!(
        (y[0] - 0.7858).abs() < 1e-4 && (y[1] - 0.7198).abs() < 1e-4,
        "{y:?}"
    );
}

#[test]
fn checked_steps_on_the_device_path_allocate_nothing_after_the_first() {
    // The 64x1000 net with Adam, and a classifier with softmax cross-entropy,
    // on the device code path (counts, snapshot) through the `Opaque` test
    // device; a shorter batch reuses the cache.
    type TwoLayer = seq!(@type Linear<1000, 100>, ReLU, Linear<100, 10>);
    let net = TwoLayer::initialize(&mut rng(4));
    let x = Batch::<f32, 1000>::from_flat(&vec![0.25; 64 * 1000]).unwrap();
    let y = Batch::<f32, 10>::from_flat(&[0.5; 640]).unwrap();
    let (dx, dy) = (
        Tensor::upload(&Opaque, &x).unwrap(),
        Tensor::upload(&Opaque, &y).unwrap(),
    );
    let mut trainer = Trainer::on(Opaque, net, SumSquares, Adam::new(1e-4).unwrap());
    trainer.step(&dx, &dy).unwrap();
    assert_eq!(
        allocations_during(|| {
            trainer.step(&dx, &dy).unwrap();
        }),
        0
    );
    let mut short_x = Tensor::zeros_on(&Opaque, 64, Const).unwrap();
    let mut short_y = Tensor::zeros_on(&Opaque, 64, Const).unwrap();
    let xs = Batch::<f32, 1000>::from_flat(&vec![0.5; 20 * 1000]).unwrap();
    let ys = Batch::<f32, 10>::from_flat(&[0.1; 200]).unwrap();
    let n = allocations_during(|| {
        short_x.write(&Opaque, &xs).unwrap();
        short_y.write(&Opaque, &ys).unwrap();
        trainer.step(&short_x, &short_y).unwrap();
    });
    assert_eq!(n, 0, "a shorter batch written into existing device tensors");

    let clf = seq!(
        Linear::<4, 16>::initialize(&mut rng(8)),
        ReLU,
        Linear::<16, 3>::initialize(&mut rng(9))
    );
    let x = Tensor::upload(&Opaque, &Batch::<f32, 4>::from_flat(&[0.3; 40]).unwrap()).unwrap();
    let labels = Classes::<usize, 3>::from_labels((0..10).map(|r| r % 3).collect()).unwrap();
    let labels = Classes::upload(&Opaque, &labels).unwrap();
    let mut trainer = Trainer::on(Opaque, clf, SoftmaxCrossEntropy, Sgd::new(0.1).unwrap());
    trainer.step(&x, &labels).unwrap();
    assert_eq!(
        allocations_during(|| {
            trainer.step(&x, &labels).unwrap();
        }),
        0
    );
}

#[test]
fn a_static_network_embedded_at_compile_time_predicts_without_allocating() {
    // examples/no_std's static network, built at compile time.
    use forma::layers::Network;
    use forma_no_std_example::NET;
    let mut classes = [0u8; 4];
    let n = allocations_during(|| {
        for (c, x) in classes
            .iter_mut()
            .zip([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        {
            *c = u8::from(NET.predict(x)[0] > 0.5);
        }
    });
    assert_eq!(n, 0);
    assert_eq!(classes, [0, 1, 1, 0]);
}

#[test]
fn epochs_of_shuffled_batches_allocate_nothing_after_the_first_batch() {
    use forma::dataset::{Batches, DataSet, Last};
    // 70 examples in batches of 16 (the last one 6), shuffled each epoch.
    let x = Batch::<f32, 4>::from_fn(70, Const, |r, c| ((r * 7 + c) % 11) as f32 / 11.0);
    let labels = Classes::<usize, 3>::from_labels((0..70).map(|r| r % 3).collect()).unwrap();
    let mut data = DataSet::new(x, labels).unwrap();
    let net = seq!(
        Linear::<4, 8>::initialize(&mut rng(1)),
        ReLU,
        Linear::<8, 3>::initialize(&mut rng(2))
    );
    let mut trainer = Trainer::new(net, SoftmaxCrossEntropy, Adam::new(0.01).unwrap());
    let mut batches = Batches::new(16, Last::Keep).unwrap();
    let mut rng = forma::rng(3);
    let (x, y) = batches.next_batch(&data).unwrap().unwrap();
    trainer.step(x, y).unwrap();
    let n = allocations_during(|| {
        for _ in 0..3 {
            while let Some((x, y)) = batches.next_batch(&data).unwrap() {
                trainer.step(x, y).unwrap();
            }
            data.shuffle(&mut rng);
            batches.rewind();
        }
    });
    assert_eq!(n, 0, "three epochs after the first batch");
}

#[test]
fn evaluating_a_data_set_allocates_nothing_after_the_first_pass() {
    use forma::dataset::{Batches, DataSet, Last};
    let x = Batch::<f32, 4>::from_fn(50, Const, |r, c| ((r * 5 + c) % 9) as f32 / 9.0);
    let labels = Classes::<usize, 3>::from_labels((0..50).map(|r| r % 3).collect()).unwrap();
    let data = DataSet::new(x, labels).unwrap();
    let net = seq!(
        Linear::<4, 8>::initialize(&mut rng(1)),
        ReLU,
        Linear::<8, 3>::initialize(&mut rng(2))
    );
    let mut trainer = Trainer::new(net, SoftmaxCrossEntropy, Sgd::new(0.1).unwrap());
    let mut batches = Batches::new(16, Last::Keep).unwrap();
    let first = forma::fit::evaluate(&mut trainer, &data, &mut batches).unwrap();
    let mut again = (0.0, None);
    let n = allocations_during(|| {
        again = forma::fit::evaluate(&mut trainer, &data, &mut batches).unwrap();
    });
    assert_eq!(n, 0, "a second evaluation pass");
    assert_eq!(again, first, "evaluation changed the model");
    assert!(first.1.is_some());
}
