"""dense: u_k = Σ_j y_j w_jk + b_k (DESIGN.md section 3), the layer of the notes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import sympy as sp

from derive.network.kinds import Kind, Param, register


@register("dense")
@dataclass(frozen=True)
class Dense(Kind):
    bias: bool = True

    units_key = True
    default_activation = None  # required, as in the notes' specs
    title: ClassVar[dict[str, str]] = {"en": "Dense layer", "ko": "완전연결층"}

    def params(self):
        weights = Param("W", ("in", "out"), init="by_activation")
        return (weights, Param("b", ("out",), init="zeros")) if self.bias else (weights,)

    def forward(self, b):
        x, w = b.inputs[0], b.param("W")
        total = sp.Sum(x[b.n, b.j] * w[b.j, b.k], (b.j, 1, b.width_in))
        return total + b.param("b")[b.k] if self.bias else total
