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
    """A parameter of a layer: module key `name` + layer number; dimensions "in" and/or "out" (features or
    channels) and the names of the kind's window sizes ("A", "B": a kernel's rows and columns)."""

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
    closed_in: ClassVar[str] = ""  # a kind with `textbook_input_gradient(b, g)`: the node g = ∂J/∂(it) is of
    rank: ClassVar[int | None] = 1  # what it reads per sample: 1 features, 2 a signal [C, L], 3 an image [C, H, W]
    #                                 (None: any shape)

    def width(self, widths: tuple[int, ...], units: int | None) -> int:
        return units if self.units_key else widths[0]

    def check_widths(self, widths: tuple[int, ...]) -> str | None:
        """Why these input widths do not fit, or None."""
        return None

    def shape(self, shapes: tuple[tuple[int, ...], ...], units: int | None) -> tuple[int, ...]:
        """Its output's shape per sample, from its inputs' shapes (checked by `check_shapes` first)."""
        return (self.width(tuple(s[0] for s in shapes), units),)

    def check_shapes(self, shapes: tuple[tuple[int, ...], ...]) -> str | None:
        """Why these input shapes do not fit, or None (the rank is checked before)."""
        return self.check_widths(tuple(s[0] for s in shapes))

    def dims(self, b) -> tuple[sp.Expr | None, ...]:
        """Its output's sizes per sample as symbols: an input's, an expression of them, or None for a new size."""
        return (None,) if self.units_key else tuple(b.in_dims)

    def windows(self) -> dict[str, int]:
        """Its window sizes by name ("A", "B"), each a size symbol of the layer (A_3) with this value."""
        return {}

    def capped(self, cap: int) -> Kind:
        """The kind with its channel count at most `cap`, for the proof's small instance."""
        return self

    def params(self) -> tuple[Param, ...]:
        return ()

    def state(self) -> tuple[str, ...]:
        """Non-trainable state kept by the module (batch norm's running statistics)."""
        return ()

    def forward(self, b) -> sp.Expr:
        """Add the intermediate nodes with `b.node(...)` and return the pre-activation, indexed [n, *b.own]."""
        raise NotImplementedError


def kind_names() -> tuple[str, ...]:
    return tuple(KINDS)


# the built-in kinds register themselves on import
from derive.network.kinds import add, batch_norm, conv, custom, dense, dropout, flatten, layer_norm, pool  # noqa: F401
