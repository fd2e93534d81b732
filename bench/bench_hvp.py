"""Speed of the generated hvp (Hessian-vector product by the R-operator) against PyTorch (a benchmark, not a test).

For each network, one H·V at a batch of samples, float64: the generated module's `hvp`, its `gradients`
(what one H·V is measured against: "about the cost of two gradients"), and PyTorch's `torch.func` forward-
over-reverse `jvp(grad(loss))` of the same network written with torch.nn.functional, when installed.
Medians of interleaved repetitions.

    python bench/bench_hvp.py [--reps 21] [--batch 200]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codegen.gradcheck import load_module
from codegen.render import generate
from derive.spec.loader import parse_spec

NETS = {  # name: (sizes, hidden activation, output activation, loss)
    "1-10-1 tanh (seed 004's regression size)": ((1, 10, 1), "tanh", "identity", "half_sse"),
    "64-64-10 relu/softmax (digits)": ((64, 64, 10), "relu", "softmax", "cross_entropy"),
    "784-256-128-10 relu/softmax": ((784, 256, 128, 10), "relu", "softmax", "cross_entropy"),
}


def spec_text(sizes, hidden, output, loss) -> str:
    layers = "".join(f'[[layer]]\nunits = {n}\nactivation = "{hidden if i < len(sizes) - 2 else output}"\n'
                     for i, n in enumerate(sizes[1:]))
    return f'name = "b"\ninputs = {sizes[0]}\nloss = "{loss}"\nreduction = "mean"\n' + layers


def torch_hvp(sizes, hidden, output, loss):
    try:
        import torch
        from torch.func import grad, jvp
    except ImportError:
        return None
    act = {"tanh": torch.tanh, "relu": torch.relu}[hidden]

    def objective(flat, X, T):
        params, at = [], 0
        for n_in, n_out in itertools.pairwise(sizes):
            W = flat[at:at + n_in * n_out].reshape(n_in, n_out)
            at += n_in * n_out
            params.append((W, flat[at:at + n_out]))
            at += n_out
        Y = X
        for i, (W, b) in enumerate(params):
            U = Y @ W + b
            Y = act(U) if i < len(params) - 1 else U
        if loss == "cross_entropy":
            return -(T * torch.log_softmax(Y, dim=1)).sum(dim=1).mean()
        return 0.5 * ((Y - T) ** 2).sum(dim=1).mean()

    def hvp(flat, X, T, V):
        return jvp(lambda p: grad(objective)(p, X, T), (flat,), (V,))[1]

    return torch, hvp


def measure(path: Path, sizes, hidden, output, loss, batch: int, reps: int) -> str:
    path.write_text(generate(parse_spec(spec_text(sizes, hidden, output, loss), "b.toml")))
    m = load_module(path)
    rng = np.random.default_rng(0)
    params = m.init_params(0)
    X = rng.standard_normal((batch, sizes[0]))
    T = np.eye(sizes[-1])[rng.integers(0, sizes[-1], batch)] if loss == "cross_entropy" else \
        rng.standard_normal((batch, sizes[-1]))
    V = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    contenders = {"generated hvp": lambda: m.hvp(params, X, T, V),
                  "generated gradients": lambda: m.gradients(params, X, T)}
    reference = torch_hvp(sizes, hidden, output, loss)
    agree = None
    if reference is not None:
        torch, hvp = reference
        flat = torch.tensor(np.concatenate([params[k].ravel() for k in m.PARAM_KEYS]))
        tv = torch.tensor(np.concatenate([V[k].ravel() for k in m.PARAM_KEYS]))
        tX, tT = torch.tensor(X), torch.tensor(T)
        ours = np.concatenate([m.hvp(params, X, T, V)[k].ravel() for k in m.PARAM_KEYS])
        agree = np.abs(hvp(flat, tX, tT, tv).numpy() - ours).max() / np.abs(ours).max()
        contenders["torch.func jvp(grad)"] = lambda: hvp(flat, tX, tT, tv)
    times = {k: [] for k in contenders}
    for rep in range(reps):
        order = list(contenders)[rep % len(contenders):] + list(contenders)[:rep % len(contenders)]
        for key in order:
            start = time.perf_counter()
            contenders[key]()
            times[key].append(time.perf_counter() - start)
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    line = ", ".join(f"{k} {v:.3f}" for k, v in med.items())
    line += f"; hvp / gradients {med['generated hvp'] / med['generated gradients']:.2f}"
    if agree is not None:
        line += f", hvp / torch {med['generated hvp'] / med['torch.func jvp(grad)']:.2f} (agree to {agree:.1e})"
    return line


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=21)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args(argv)
    folder = tempfile.TemporaryDirectory()
    print(f"one H·V at batch {args.batch}, float64, median of {args.reps} (ms)")
    for name, net in NETS.items():
        print(f"{name}: {measure(Path(folder.name) / 'm.py', *net, args.batch, args.reps)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
