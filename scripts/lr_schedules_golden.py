#!/usr/bin/env python3
"""PyTorch's learning rates for the schedules forma implements, as golden
values: tests/fixtures/pytorch/lr_schedules.json.

Each case: an SGD optimizer with lr 0.1, a torch.optim.lr_scheduler, and
the learning rate before epoch 0 and after each of 40 `scheduler.step()`
calls (`get_last_lr()`), in float64.

Run: python3 scripts/lr_schedules_golden.py > tests/fixtures/pytorch/lr_schedules.json
"""

import json

import torch
from torch.optim.lr_scheduler import (CosineAnnealingLR, ExponentialLR, LinearLR, SequentialLR,
                                      StepLR)

EPOCHS = 40
LR = 0.1


def run(make):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    sched = make(opt)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(EPOCHS):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    return lrs


def warm(make, warmup, start):
    return lambda o: SequentialLR(o, [LinearLR(o, start_factor=start, total_iters=warmup), make(o)],
                                  milestones=[warmup])


CASES = {
    "step_10_0.5": (lambda o: StepLR(o, step_size=10, gamma=0.5)),
    "exponential_0.9": (lambda o: ExponentialLR(o, gamma=0.9)),
    "cosine_30_0.001": (lambda o: CosineAnnealingLR(o, T_max=30, eta_min=0.001)),
    "cosine_25_0": (lambda o: CosineAnnealingLR(o, T_max=25)),
    "warmup_5_0.1_cosine_30_0.001": warm(lambda o: CosineAnnealingLR(o, T_max=30, eta_min=0.001), 5, 0.1),
    "warmup_3_0.25_step_10_0.5": warm(lambda o: StepLR(o, step_size=10, gamma=0.5), 3, 0.25),
    "warmup_4_0.5_exponential_0.9": warm(lambda o: ExponentialLR(o, gamma=0.9), 4, 0.5),
}

if __name__ == "__main__":
    import warnings
    warnings.filterwarnings("ignore")
    out = {"torch": torch.__version__, "lr": LR, "epochs": EPOCHS,
           "cases": {name: run(make) for name, make in CASES.items()}}
    print(json.dumps(out, indent=1))
