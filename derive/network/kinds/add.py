"""add: the skip connection, y_k = f(Σ_i x^(i)_k) over two or more inputs of one shape (features,
signals or images alike; the loader checks the shapes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import sympy as sp

from derive.network.kinds import Kind, register


@register("add")
@dataclass(frozen=True)
class Add(Kind):
    inputs = (2, None)
    rank = None
    title: ClassVar[dict[str, str]] = {"en": "Addition (skip connection)", "ko": "덧셈 (스킵 연결)"}

    def shape(self, shapes, units):
        return shapes[0]

    def forward(self, b):
        return sp.Add(*(x[(b.n, *b.own)] for x in b.inputs))
