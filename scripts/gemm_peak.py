# Practical FP32 GEMM peak of one core, measured with OpenBLAS through numpy
# (OPENBLAS_NUM_THREADS=1, OPENBLAS_CORETYPE unset): best of 20 runs of a
# 2048^3 product, and the two forma shapes.
import time, numpy as np
for (m, k, n) in [(2048, 2048, 2048), (1024, 1024, 1024), (128, 784, 256), (64, 1000, 100)]:
    a = np.random.rand(m, k).astype(np.float32); b = np.random.rand(k, n).astype(np.float32)
    a @ b
    best = 1e9
    reps = max(1, int(2e9 // (2*m*k*n)))
    for _ in range(20):
        t = time.perf_counter()
        for _ in range(reps): a @ b
        best = min(best, (time.perf_counter() - t) / reps)
    print(f"{m}x{k}x{n}: {2*m*k*n/best/1e9:.1f} GFLOP/s")
