"""flatten: a signal [C, L] or an image [C, H, W] as one feature vector, channel-major (torch.flatten(x, 1)).

    y_k = Σ_j Σ_p Σ_q x_{j,p,q} [k = (j-1) H W + (p-1) W + q]

written as a Kronecker delta, so its gradient is differentiated like any other kind's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import sympy as sp

from derive.network import indices as ix
from derive.network.kinds import Kind, register


@register("flatten")
@dataclass(frozen=True)
class Flatten(Kind):
    rank = None
    default_activation = "identity"
    title: ClassVar[dict[str, str]] = {"en": "Flatten", "ko": "평탄화"}

    def check_shapes(self, shapes):
        if len(shapes[0]) < 2:
            return "flatten needs a signal [C, L] or an image [C, H, W]; its input is already flat"
        return None

    def shape(self, shapes, units):
        return (int(sp.prod(shapes[0])),)

    def dims(self, b):
        return (sp.Mul(*b.in_dims),)

    def forward(self, b):
        letters = (b.j, *ix.POSITIONS[: len(b.in_dims) - 1])
        position, stride = sp.Integer(0), sp.Integer(1)
        for letter, size in reversed(list(zip(letters, b.in_dims))):
            position += (letter - 1) * stride
            stride *= size
        body = b.inputs[0][(b.n, *letters)] * sp.KroneckerDelta(b.k, position + 1)
        return sp.Sum(body, *((letter, 1, size) for letter, size in zip(letters, b.in_dims)))
