"""The index letters of the graph engine, shared by every kind (one Symbol per letter)."""

from __future__ import annotations

import sympy as sp


def index(name: str) -> sp.Symbol:
    return sp.Symbol(name, integer=True, positive=True)


n, m = index("n"), index("m")  # samples of the batch
k = index("k")  # a layer's output feature (the free index of its formula); its channel in a signal or image
i, j = index("i"), index("j")  # features (channels) of its input
r = index("r")  # a second output feature, summed
o = index("o")  # an output unit of the network: the row of the Jacobian (the notes' δ^(m))
p, q = index("p"), index("q")  # positions in a signal (p) or an image (p, q)
a, b = index("a"), index("b")  # offsets in a window (a convolution's kernel, a pooling window)
BATCH = index("N")  # batch size

POSITIONS = (p, q)
OFFSETS = (a, b)


def own(rank: int) -> tuple[sp.Symbol, ...]:
    """The letters of a tensor's elements per sample: k for features, (k, p) a signal, (k, p, q) an image."""
    return (k, *POSITIONS[: rank - 1])
