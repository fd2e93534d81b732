"""add: the skip connection, y_k = f(Σ_i x^(i)_k) over two or more inputs of one width."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import sympy as sp

from derive.network.kinds import Kind, register


@register("add")
@dataclass(frozen=True)
class Add(Kind):
    inputs = (2, None)
    title: ClassVar[dict[str, str]] = {"en": "Addition (skip connection)", "ko": "덧셈 (스킵 연결)"}

    def check_widths(self, widths):
        if len(set(widths)) > 1:
            return f"add needs inputs of one width, got {', '.join(map(str, widths))}"
        return None

    def forward(self, b):
        return sp.Add(*(x[b.n, b.k] for x in b.inputs))
