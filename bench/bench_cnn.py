"""One training epoch of the generated digits CNN against the same network in PyTorch CPU eager, float32.

examples/cnn_digits.toml: conv 8 3x3 (padding 1) ReLU, max pool 2, flatten, dense 10 softmax with cross entropy;
scikit-learn's 1797 8x8 digits, Adam, batch 64, float32, measured in one run (best of a few epochs each); the
PyTorch network gets the generated module's initial weights (the same layouts). Run:
.venv/bin/python bench/bench_cnn.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_graph import load
from codegen.render import generate
from derive.spec.loader import load_spec

BATCH, REPEATS = 64, 7


def data():
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    T = np.eye(10, dtype=np.float32)[digits.target]
    return X, T


def time_numpy(module, X, T) -> float:
    params = module.init_params(0)
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        module.fit(params, X, T, epochs=1, batch_size=BATCH, optimizer=module.Adam(lr=1e-2), shuffle=False)
        best = min(best, time.perf_counter() - start)
    return best


def time_torch(module, X, T) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)
    params = module.init_params(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Flatten(), torch.nn.Linear(128, 10))
    with torch.no_grad():  # the module's weights, unchanged but for Linear's (out, in) layout
        net[0].weight.copy_(torch.tensor(params["W1"]))
        net[0].bias.copy_(torch.tensor(params["b1"]))
        net[4].weight.copy_(torch.tensor(params["W4"]).T)
        net[4].bias.copy_(torch.tensor(params["b4"]))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    Xt, yt = torch.tensor(X), torch.tensor(T.argmax(1))
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        for s in range(0, len(X), BATCH):
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(net(Xt[s:s + BATCH]), yt[s:s + BATCH])
            loss.backward()
            opt.step()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    spec = load_spec(ROOT / "examples" / "cnn_digits.toml")
    with tempfile.TemporaryDirectory() as folder:
        module = load(generate(spec, "float32"), folder, "cnn_digits32")
        X, T = data()
        ours = time_numpy(module, X, T)
        theirs = time_torch(module, X, T)
        line = f"one epoch of {len(X)} digits, batch {BATCH}, Adam, float32 (best of {REPEATS}): " \
               f"generated {ours * 1e3:.1f} ms"
        if theirs is None:
            line += ", PyTorch not installed: no comparison"
        else:
            line += f", PyTorch eager {theirs * 1e3:.1f} ms, PyTorch / generated = {theirs / ours:.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
