"""Prints the forma-vs-PyTorch table from criterion's estimates and the
reference script's JSON: median time per step, and PyTorch time / forma time."""

import json
import os
import platform
import sys
import time


def fmt(seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def main(criterion_dir, reference_json):
    ref = json.load(open(reference_json))
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print(f"{time.strftime('%Y-%m-%d')}, {cpu}, {os.cpu_count()} cores, {platform.system()}; "
          f"PyTorch {ref['torch']} eager with {ref['threads']} thread(s), forma on 1 thread.\n")
    print("| workload | forma | PyTorch | PyTorch / forma |")
    print("|---|---|---|---|")
    for name, torch_s in ref["seconds_per_step"].items():
        path = os.path.join(criterion_dir, name.replace("/", "_"), "forma", "new", "estimates.json")
        try:
            forma_s = json.load(open(path))["median"]["point_estimate"] * 1e-9
        except OSError:
            print(f"| {name} | not measured | {fmt(torch_s)} | |")
            continue
        print(f"| {name} | {fmt(forma_s)} | {fmt(torch_s)} | {torch_s / forma_s:.1f}x |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
