"""Prints the forma-vs-PyTorch table from criterion's estimates and one or more
JSON files of the reference script (one per PyTorch thread count), then any of
the peers' (benches/peers: dfdx, candle; "library" in place of "torch"): median
time per step, and the other library's time / forma's time. Rows come from the
first file, so pass PyTorch's first; a workload a file lacks reads n/a."""

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


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def label(ref):
    """The library and version a reference file measured."""
    return ref.get("library") or f"PyTorch {ref['torch']} eager"


def main(criterion_dir, *reference_jsons):
    refs = [json.load(open(path)) for path in reference_jsons]
    libraries = ", ".join(dict.fromkeys(label(r) for r in refs))
    print(f"{time.strftime('%Y-%m-%d')}, {cpu_name()}, {os.cpu_count()} cores, {platform.system()}; "
          f"{libraries}; forma with FORMA_THREADS={os.environ.get('FORMA_THREADS', 'unset (its pool: all cores)')}.\n")
    head = "| workload | forma |"
    rule = "|---|---|"
    for ref in refs:
        t, name = ref["threads"], label(ref).split()[0]
        head += f" {name} {t} thr | {name} {t} thr / forma |"
        rule += "---|---|"
    print(head)
    print(rule)
    for name in refs[0]["seconds_per_step"]:
        path = os.path.join(criterion_dir, name.replace("/", "_"), "forma", "new", "estimates.json")
        try:
            forma_s = json.load(open(path))["median"]["point_estimate"] * 1e-9
        except OSError:
            forma_s = None
        row = f"| {name} | {fmt(forma_s) if forma_s else 'not measured'} |"
        for ref in refs:
            other_s = ref["seconds_per_step"].get(name)
            if other_s is None:
                row += " n/a | |"
                continue
            ratio = f"{other_s / forma_s:.1f}x" if forma_s else ""
            row += f" {fmt(other_s)} | {ratio} |"
        print(row)


if __name__ == "__main__":
    main(*sys.argv[1:])
