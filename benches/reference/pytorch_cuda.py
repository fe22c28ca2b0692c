"""PyTorch on the GPU, the baseline for benches/cuda.rs (same device, same call).

SGEMM at 1024^3 and 4096^3 through cuBLAS with TF32 off, and training
samples/s of a 64-64-64-64 sigmoid MLP (MSE, SGD lr 0.01) at batch 2^14 and
2^18. Timing: CUDA events after warm-up, median of many repetitions; inputs
uniform in [0.1, 1) (never zeros). Prints lines `name<TAB>median_seconds`.
"""
import statistics

import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_float32_matmul_precision("highest")
if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
    torch.backends.cuda.matmul.fp32_precision = "ieee"  # the newer switch for the same
dev = torch.device("cuda")


def median_seconds(fn, warmup=10, reps=100):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


print(f"# torch {torch.__version__}, {torch.cuda.get_device_name()}, "
      f"TF32 matmul {torch.backends.cuda.matmul.allow_tf32}", flush=True)
for n in (1024, 4096):
    a = torch.rand(n, n, device=dev) * 0.9 + 0.1
    b = torch.rand(n, n, device=dev) * 0.9 + 0.1
    out = torch.empty(n, n, device=dev)
    t = median_seconds(lambda: torch.matmul(a, b, out=out))
    print(f"sgemm_{n}\t{t:.9f}")

for log2 in (14, 18):
    rows = 1 << log2
    torch.manual_seed(5)
    layers = []
    for i in range(4):
        layers.append(torch.nn.Linear(64, 64))
        if i < 3:
            layers.append(torch.nn.Sigmoid())
    net = torch.nn.Sequential(*layers).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    loss_fn = torch.nn.MSELoss()
    x = torch.rand(rows, 64, device=dev) * 2 - 1
    y = torch.rand(rows, 64, device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        return loss.item()  # forma's step returns the loss too

    t = median_seconds(step)
    print(f"mlp_b2^{log2}\t{t:.9f}")
