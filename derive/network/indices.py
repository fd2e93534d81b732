"""The index letters of the graph engine, shared by every kind (one Symbol per letter)."""

from __future__ import annotations

import sympy as sp


def index(name: str) -> sp.Symbol:
    return sp.Symbol(name, integer=True, positive=True)


n, m = index("n"), index("m")  # samples of the batch
k = index("k")  # a layer's output feature (the free index of its formula)
i, j = index("i"), index("j")  # features of its input
r = index("r")  # a second output feature, summed
o = index("o")  # an output unit of the network: the row of the Jacobian (the notes' δ^(m))
BATCH = index("N")  # batch size
