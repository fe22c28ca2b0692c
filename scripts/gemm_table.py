"""Prints GFLOP/s of the last `cargo bench --bench matmul` run (criterion's
median per product, 2·m·k·n flops) as a Markdown table."""

import json
import os
import sys

SHAPES = ["4x2x2", "100x2x32", "64x1000x100", "128x784x256", "512x512x512"]
GROUPS = [("gemm_f32", "forma f32"), ("matrixmultiply_f32", "matrixmultiply f32"),
          ("gemm_f64", "forma f64"), ("matrixmultiply_f64", "matrixmultiply f64"),
          ("fixed_f32", "fixed-width f32"), ("fixed_f64", "fixed-width f64")]


def gflops(root, group, layout, shape):
    path = os.path.join(root, group, layout, shape, "new", "estimates.json")
    if not os.path.exists(path):
        return None
    m, k, n = (int(v) for v in shape.split("x"))
    return 2 * m * k * n / json.load(open(path))["median"]["point_estimate"]


def main(root="target/criterion"):
    print("| m x k x n (nt / nn / tn) | " + " | ".join(label for _, label in GROUPS) + " |")
    print("|---" * (len(GROUPS) + 1) + "|")
    for shape in SHAPES:
        cells = []
        for group, _ in GROUPS:
            vals = [gflops(root, group, layout, shape) for layout in ("nt", "nn", "tn")]
            cells.append("–" if all(v is None for v in vals) else " / ".join("–" if v is None else f"{v:.1f}" for v in vals))
        print(f"| {shape} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(*sys.argv[1:])
