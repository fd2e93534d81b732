"""dropout: inverted dropout, y = r ⊙ x with r = m/(1 - p), m ~ Bernoulli(1 - p) drawn per call in training, r = 1
in inference (DESIGN.md 10.2).

The scaled mask r is a tensor of its own (role "mask"): data, like the input, never differentiated. The
gradient r ⊙ ∂J/∂y comes from differentiating the product.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from derive.network.kinds import Kind, register


@register("dropout")
@dataclass(frozen=True)
class Dropout(Kind):
    p: float = 0.5

    rank = None
    default_activation = "identity"
    title: ClassVar[dict[str, str]] = {"en": "Dropout", "ko": "드롭아웃"}

    def shape(self, shapes, units):
        return shapes[0]

    def forward(self, b):
        own = (b.n, *b.own)
        return b.inputs[0][own] * b.mask("mask", own)[own]
