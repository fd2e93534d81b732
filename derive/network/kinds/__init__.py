"""Layer kinds, registered under their spec names (DESIGN.md sections 9.1 and 10).

A kind is a frozen dataclass: its fields are the spec keys it takes (with their defaults), `params`
declares its parameters, `width` its output width, and `forward` writes its forward pass per sample as
SymPy index expressions, intermediate nodes included. No kind writes a backward rule: the generic
reverse pass of `derive.calculus.backward` differentiates every node with `sympy.diff`. To add a kind,
copy one of the files beside this one and register it with `@register("name")`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import sympy as sp

KINDS: dict[str, type[Kind]] = {}


def register(name: str):
    def enter(cls):
        cls.kind = name
        KINDS[name] = cls
        return cls

    return enter


@dataclass(frozen=True)
class Param:
    """A parameter of a layer: module key `name` + layer number, dimensions "in" and/or "out"."""

    name: str
    dims: tuple[str, ...]
    init: str = "fan_in"  # "fan_in": normal with std 1/sqrt(fan in); "he"/"glorot" by activation; "ones"; "zeros"


class Kind:
    """One layer kind; subclasses are frozen dataclasses whose fields are the kind's spec keys."""

    kind: ClassVar[str]
    inputs: ClassVar[tuple[int, int | None]] = (1, 1)  # how many inputs: (at least, at most or None)
    default_activation: ClassVar[str] = "identity"
    units_key: ClassVar[bool] = False  # takes `units` (its width); otherwise the width is its input's
    couples_samples: ClassVar[bool] = False  # its forward pass sums over the batch (batch norm)
    title: ClassVar[dict[str, str]] = {}  # its name in the document, per language

    def width(self, widths: tuple[int, ...], units: int | None) -> int:
        return units if self.units_key else widths[0]

    def check_widths(self, widths: tuple[int, ...]) -> str | None:
        """Why these input widths do not fit, or None."""
        return None

    def params(self) -> tuple[Param, ...]:
        return ()

    def state(self) -> tuple[str, ...]:
        """Non-trainable state kept by the module (batch norm's running statistics)."""
        return ()

    def forward(self, b) -> sp.Expr:
        """Add the intermediate nodes with `b.node(...)` and return the pre-activation, indexed [n, k]."""
        raise NotImplementedError


def kind_names() -> tuple[str, ...]:
    return tuple(KINDS)


# the built-in kinds register themselves on import
from derive.network.kinds import add, batch_norm, custom, dense, layer_norm  # noqa: F401
