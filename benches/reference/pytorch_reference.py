"""PyTorch eager reference for forma's CPU benchmark suite (benches/training_step.rs).

Runs the same six workloads in PyTorch on the CPU, timed in-process after a
warm-up: per workload, REPEATS runs of a fixed number of steps, the median time
per step. Prints JSON {workload id: seconds per step} on stdout.

Usage: python pytorch_reference.py --threads 1 > pytorch.json
(set up with: python3 -m venv benches/reference/.venv &&
 benches/reference/.venv/bin/pip install torch numpy)
"""

import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

REPEATS = 7


def median_seconds(step, target_seconds=0.25):
    """Median seconds per call of `step` over REPEATS timed runs, after warm-up."""
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < 0.2:
        step()
        n += 1
    per_run = max(1, int(n / 0.2 * target_seconds))
    samples = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        for _ in range(per_run):
            step()
        samples.append((time.perf_counter() - t) / per_run)
    return statistics.median(samples)


def training_step(model_params, forward, loss_fn, lr):
    opt = torch.optim.SGD(model_params, lr=lr)

    def step():
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(forward())
        loss.backward()
        opt.step()
        return loss

    return step


def mazur():
    d = torch.float64
    x = torch.tensor([[0.2, 0.1]], dtype=d)
    t = torch.tensor([[0.99, 0.01]], dtype=d)
    w1 = torch.tensor([[0.2, 0.4], [0.1, 0.15]], dtype=d, requires_grad=True)
    b1 = torch.tensor([0.3], dtype=d, requires_grad=True)
    w2 = torch.tensor([[0.65, 0.45], [0.7, 0.3]], dtype=d, requires_grad=True)
    b2 = torch.tensor([0.5], dtype=d, requires_grad=True)

    def forward():
        h = torch.sigmoid(x @ w1 + b1)
        return torch.sigmoid(h @ w2 + b2)

    return training_step([w1, b1, w2, b2], forward, lambda o: (0.5 * (t - o) ** 2).sum(), 0.5)


def mlp(sizes, activation, bias=True, dtype=torch.float32, last_activation=None):
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b, bias=bias, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(activation())
    if last_activation is not None:
        layers.append(last_activation())
    return nn.Sequential(*layers)


def xor():
    torch.manual_seed(70)
    net = mlp([2, 2, 1], nn.Sigmoid, last_activation=nn.Sigmoid)
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    bce = nn.BCELoss()
    return training_step(net.parameters(), lambda: net(x), lambda o: bce(o, y), 0.5)


def iris():
    torch.manual_seed(0)
    net = mlp([2, 32, 1], nn.Sigmoid, bias=False, last_activation=nn.Sigmoid)
    x = torch.rand(100, 2)
    y = (torch.rand(100, 1) > 0.5).float()
    bce = nn.BCELoss()
    return training_step(net.parameters(), lambda: net(x), lambda o: bce(o, y), 0.001)


def two_layer(dtype):
    torch.manual_seed(0)
    net = mlp([1000, 100, 10], nn.ReLU, bias=False, dtype=dtype)
    x = torch.rand(64, 1000, dtype=dtype)
    y = torch.rand(64, 10, dtype=dtype)
    return training_step(net.parameters(), lambda: net(x), lambda o: ((o - y) ** 2).sum(), 1e-9)


def mnist_net():
    torch.manual_seed(0)
    return mlp([784, 256, 128, 10], nn.ReLU)


def mnist_step():
    net = mnist_net()
    x = torch.rand(128, 784)
    labels = torch.randint(0, 10, (128,))
    return training_step(net.parameters(), lambda: net(x), lambda o: F.cross_entropy(o, labels), 0.01)


def mnist_infer(batch):
    net = mnist_net()
    x = torch.rand(batch, 784)

    def step():
        with torch.no_grad():
            return net(x)

    return step


WORKLOADS = {
    "step/mazur_2-2-2_f64_b1": mazur,
    "step/xor_2-2-1_f32_b4": xor,
    "step/iris_2-32-1_f32_b100": iris,
    "step/two_layer_64x1000-100-10_f32": lambda: two_layer(torch.float32),
    "step/two_layer_64x1000-100-10_f64": lambda: two_layer(torch.float64),
    "step/mnist_784-256-128-10_f32_b128": mnist_step,
    "infer/mnist_784-256-128-10_f32_b1": lambda: mnist_infer(1),
    "infer/mnist_784-256-128-10_f32_b1024": lambda: mnist_infer(1024),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = {"torch": torch.__version__, "threads": args.threads, "seconds_per_step": {}}
    for name, build in WORKLOADS.items():
        out["seconds_per_step"][name] = median_seconds(build())
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
