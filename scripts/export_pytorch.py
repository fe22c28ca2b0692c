#!/usr/bin/env python3
"""PyTorch <-> forma through .safetensors files.

Export a PyTorch model for forma (the names are `state_dict()`'s, which
forma's `Named` reproduces for the equivalent `seq!`):

    from safetensors.torch import save_file
    save_file(model.state_dict(), "model.safetensors")
    # in Rust: forma::io::load(&mut net, "model.safetensors")?

Load a forma-saved file in PyTorch:

    from safetensors.torch import load_file
    model.load_state_dict(load_file("net.safetensors"))  # strict: every name and shape

Commands:

    export_pytorch.py fixtures DIR   # the test fixtures: a Sequential of Linear/ReLU/Tanh/Sigmoid
                                     # in float32 and float64, its inputs and PyTorch's outputs
    export_pytorch.py check-xor FILE # loads forma's XOR net (examples/embed_train) into
                                     # nn.Sequential(Linear(2,2), Sigmoid, Linear(2,1), Sigmoid)
                                     # and prints its outputs on the four XOR inputs
"""

import sys

import torch
from safetensors.torch import load_file, save_file


def fixture_model(dtype):
    """3 -> 5 -> 4 -> 2: Linear, ReLU, Linear, Tanh, Linear, Sigmoid."""
    torch.manual_seed(7)
    return torch.nn.Sequential(
        torch.nn.Linear(3, 5),
        torch.nn.ReLU(),
        torch.nn.Linear(5, 4),
        torch.nn.Tanh(),
        torch.nn.Linear(4, 2),
        torch.nn.Sigmoid(),
    ).to(dtype)


def fixtures(out_dir):
    for dtype, name in [(torch.float32, "f32"), (torch.float64, "f64")]:
        model = fixture_model(dtype)
        x = torch.linspace(-2.0, 2.0, 8 * 3, dtype=dtype).reshape(8, 3)
        with torch.no_grad():
            y = model(x)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                  f"{out_dir}/sequential_{name}.safetensors")
        save_file({"x": x.contiguous(), "y": y.contiguous()}, f"{out_dir}/io_{name}.safetensors",
                  metadata={"torch": torch.__version__})
        print(f"{out_dir}/sequential_{name}.safetensors: {list(model.state_dict())}")


def check_xor(path):
    model = torch.nn.Sequential(
        torch.nn.Linear(2, 2), torch.nn.Sigmoid(), torch.nn.Linear(2, 1), torch.nn.Sigmoid())
    model.load_state_dict(load_file(path))  # strict: fails on any missing, extra or misshapen tensor
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    with torch.no_grad():
        print(model(x).flatten().tolist())


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "fixtures":
        fixtures(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "check-xor":
        check_xor(sys.argv[2])
    else:
        sys.exit(__doc__)
