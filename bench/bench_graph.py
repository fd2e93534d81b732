"""One training epoch of a generated residual MLP with layer norm against the same network in PyTorch CPU eager.

784-256-256-256-10: dense 784->256 relu, then two skip blocks (layer_norm -> dense 256 relu -> add with the
block's input), then dense 10 softmax with cross entropy; Adam, batch 128, 4096 samples, float32 and float64,
measured in one run (best of a few epochs each). Run: .venv/bin/python bench/bench_graph.py
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codegen.render import generate
from derive.spec.loader import parse_spec

SPEC = """
name = "resmlp"
inputs = 784
loss = "cross_entropy"

[[layer]]
name = "h1"
units = 256
activation = "relu"

[[layer]]
kind = "layer_norm"
name = "ln1"

[[layer]]
name = "h2"
units = 256
activation = "relu"

[[layer]]
kind = "add"
name = "s1"
input = ["h1", "h2"]

[[layer]]
kind = "layer_norm"
name = "ln2"

[[layer]]
name = "h3"
units = 256
activation = "relu"

[[layer]]
kind = "add"
name = "s2"
input = ["s1", "h3"]

[[layer]]
units = 10
activation = "softmax"
"""

SAMPLES, BATCH, REPEATS = 4096, 128, 5


def load(source: str, folder: str, name: str):
    path = Path(folder) / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def data(dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((SAMPLES, 784)).astype(dtype)
    T = np.eye(10, dtype=dtype)[rng.integers(0, 10, SAMPLES)]
    return X, T


def time_numpy(module, dtype) -> float:
    X, T = data(dtype)
    params = module.init_params(0)
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        module.fit(params, X, T, epochs=1, batch_size=BATCH, optimizer=module.Adam(lr=1e-3), shuffle=False)
        best = min(best, time.perf_counter() - start)
    return best


def time_torch(dtype) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    tdtype = {np.float32: torch.float32, np.float64: torch.float64}[dtype]

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.h1 = torch.nn.Linear(784, 256)
            self.ln1, self.h2 = torch.nn.LayerNorm(256), torch.nn.Linear(256, 256)
            self.ln2, self.h3 = torch.nn.LayerNorm(256), torch.nn.Linear(256, 256)
            self.out = torch.nn.Linear(256, 10)

        def forward(self, x):
            h1 = torch.relu(self.h1(x))
            s1 = h1 + torch.relu(self.h2(self.ln1(h1)))
            s2 = s1 + torch.relu(self.h3(self.ln2(s1)))
            return self.out(s2)

    torch.manual_seed(0)
    net = Net().to(tdtype)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    X, T = data(dtype)
    Xt, yt = torch.tensor(X), torch.tensor(T.argmax(1))
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        for s in range(0, SAMPLES, BATCH):
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(net(Xt[s:s + BATCH]), yt[s:s + BATCH])
            loss.backward()
            opt.step()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    spec = parse_spec(SPEC, "resmlp.toml")
    start = time.perf_counter()
    sources = {dtype: generate(spec, dtype) for dtype in ("float32", "float64")}
    print(f"generated the residual MLP module (both dtypes) in {time.perf_counter() - start:.1f} s")
    with tempfile.TemporaryDirectory() as folder:
        modules = {dtype: load(source, folder, f"resmlp_{dtype}") for dtype, source in sources.items()}
        print(f"one epoch, {SAMPLES} samples, batch {BATCH}, Adam (best of {REPEATS}):")
        for dtype, np_dtype in (("float32", np.float32), ("float64", np.float64)):
            ours = time_numpy(modules[dtype], np_dtype)
            theirs = time_torch(np_dtype)
            line = f"  {dtype}: generated {ours * 1e3:7.1f} ms"
            if theirs is None:
                line += "   PyTorch not installed: no comparison"
            else:
                line += f"   PyTorch eager {theirs * 1e3:7.1f} ms   PyTorch / generated = {theirs / ours:.2f}"
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
