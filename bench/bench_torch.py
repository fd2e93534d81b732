"""The exported PyTorch module (`codegen --target torch`: each layer's backward the derived one) against PyTorch's
own autograd on the same network, one training epoch on the CPU; and the array-API module on PyTorch tensors.

The network is bench_graph's residual MLP (784-256-256-256-10, two skip blocks with layer norm, softmax and
cross entropy); Adam (torch.optim), batch 128, 4096 samples, float32, best of a few epochs, one thread count
for all (PyTorch's default). Run: .venv/bin/python bench/bench_torch.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import torch
from bench_graph import BATCH, REPEATS, SAMPLES, SPEC, data, load

from codegen.render import generate, generate_torch
from derive.spec.loader import parse_spec


class Autograd(torch.nn.Module):
    """The same network in PyTorch's own layers, its gradients by autograd; weights copied from `net`."""

    def __init__(self, net):
        super().__init__()
        self.h1, self.h2, self.h3 = (torch.nn.Linear(n, 256) for n in (784, 256, 256))
        self.ln1, self.ln2 = torch.nn.LayerNorm(256), torch.nn.LayerNorm(256)
        self.out = torch.nn.Linear(256, 10)
        with torch.no_grad():
            for layer, l in ((self.h1, 1), (self.h2, 3), (self.h3, 6), (self.out, 8)):
                layer.weight.copy_(getattr(net, f"W{l}").T)
                layer.bias.copy_(getattr(net, f"b{l}"))
            for norm, l in ((self.ln1, 2), (self.ln2, 5)):
                norm.weight.copy_(getattr(net, f"gamma{l}"))
                norm.bias.copy_(getattr(net, f"beta{l}"))

    def loss(self, x, t):
        h1 = torch.relu(self.h1(x))
        s1 = h1 + torch.relu(self.h2(self.ln1(h1)))
        s2 = s1 + torch.relu(self.h3(self.ln2(s1)))
        return torch.nn.functional.cross_entropy(self.out(s2), t)


def epoch(net, X, T) -> float:
    """The best of REPEATS epochs of net.loss(X, T) with torch.optim.Adam."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        for s in range(0, SAMPLES, BATCH):
            opt.zero_grad(set_to_none=True)
            net.loss(X[s:s + BATCH], T[s:s + BATCH]).backward()
            opt.step()
        best = min(best, time.perf_counter() - start)
    return best


def array_api_epoch(module, params, X, T) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        moments, start = None, time.perf_counter()
        for s in range(0, SAMPLES, BATCH):
            grads = module.gradients(params, X[s:s + BATCH], T[s:s + BATCH])
            params, moments = module.adam_step(params, grads, moments, lr=1e-3)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    spec = parse_spec(SPEC, "resmlp.toml")
    X, T = (torch.tensor(a) for a in data(np.float32))
    with tempfile.TemporaryDirectory() as folder:
        exported = load(generate_torch(spec, "float32"), folder, "resmlp_torch")
        xp_module = load(generate(spec, "float32", "array-api"), folder, "resmlp_xp")
        net = exported.Network(seed=0, dtype=torch.float32)
        reference = Autograd(net)
        # the same network: the same loss and gradients before timing
        a, b = net.loss(X[:BATCH], T[:BATCH]), reference.loss(X[:BATCH], T[:BATCH].argmax(1))
        a.backward()
        b.backward()
        error = (net.W1.grad - reference.h1.weight.grad.T).abs().max().item()
        print(f"same loss {a.item():.6f} / {b.item():.6f}, largest difference of dJ/dW1 {error:.1e}")
        ours = epoch(net, X, T)
        theirs = epoch(reference, X, T.argmax(1))  # cross_entropy takes class labels
        params = {key: getattr(exported.Network(seed=0, dtype=torch.float32), key).detach() for key in exported.PARAM_KEYS}
        xp = array_api_epoch(xp_module, params, X, T)
    print(f"one epoch, {SAMPLES} samples, batch {BATCH}, Adam, float32, CPU ({torch.get_num_threads()} threads), "
          f"best of {REPEATS}:")
    print(f"  exported Network, derived backward   {ours * 1e3:7.1f} ms")
    print(f"  PyTorch autograd, same network       {theirs * 1e3:7.1f} ms   autograd / derived = {theirs / ours:.2f}")
    print(f"  array-API module on torch tensors    {xp * 1e3:7.1f} ms   (its own functional Adam)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
