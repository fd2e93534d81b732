"""Pooling, channel by channel (PyTorch's AvgPool and MaxPool):

    avgpool:  u_{k,p,q} = 1/(A B) Σ_a Σ_b x_{k, s(p-1)+a, s(q-1)+b}
    maxpool:  u_{k,p,q} = Σ_a Σ_b x_{k, s(p-1)+a, s(q-1)+b} m_{k,p,q,a,b},
              m_{k,p,q,a,b} = [(a, b) is the first arg max of the window] (row-major on ties)

The selection m is a node of its own, piecewise constant in x: its derivative is zero wherever it is
defined, so no gradient flows through it and the sweep routes each δ to the arg max. The average spreads it
evenly. Both come from differentiating these expressions.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import ClassVar

import sympy as sp

from derive.network import indices as ix
from derive.network.kinds import register
from derive.network.kinds.conv import PRIMED, Windowed, read_sizes, window_problem


@dataclass(frozen=True)
class Pool(Windowed):
    size: tuple[int, ...] = (2,)
    stride: tuple[int, ...] = (2,)
    padding: tuple[tuple[int, int], ...] = ((0, 0),)

    default_activation = "identity"
    keys: ClassVar[tuple[str, ...]] = ("size", "stride")

    @classmethod
    def read(cls, r, shape):
        size = read_sizes(r, "size", cls.spatial)
        stride = read_sizes(r, "stride", cls.spatial, list(size))
        pads = ((0, 0),) * cls.spatial
        problem = window_problem(shape[1:], size, stride, pads)
        if problem:
            r.fail(*problem)
        return cls(size, stride, pads)

    def shape(self, shapes, units):
        channels, *positions = shapes[0]
        return (channels, *((length - k) // s + 1 for length, k, s in zip(positions, self.size, self.stride)))

    def dims(self, b):
        return (b.in_dims[0], *(None,) * self.spatial)


class AveragePool(Pool):
    def forward(self, b):
        count = sp.Mul(*(b.window[name] for name in "AB"[: self.spatial]))
        return sp.Sum(self.window_element(b, b.k), *self.window_sums(b)) / count


@register("avgpool1d")
@dataclass(frozen=True)
class AvgPool1d(AveragePool):
    spatial, rank = 1, 2
    title: ClassVar[dict[str, str]] = {"en": "1-D average pooling", "ko": "1차원 평균 풀링"}


@register("avgpool2d")
@dataclass(frozen=True)
class AvgPool2d(AveragePool):
    spatial, rank = 2, 3
    title: ClassVar[dict[str, str]] = {"en": "2-D average pooling", "ko": "2차원 평균 풀링"}


class FirstMax(sp.Function):
    """FirstMax(e, (a', b'), (A, B), (a, b)) = [offset (a, b) holds the first maximum of e over its window
    a' = 1..A, b' = 1..B] (row-major order breaks ties, as PyTorch and NumPy's argmax): 1 or 0."""

    def fdiff(self, argindex=1):
        return sp.Integer(0)  # piecewise constant: no gradient flows through a selection

    def written(self, value) -> sp.Expr:
        """At numeric offsets: the comparisons with every other element of the window; `value(e, {a': i, ...})`
        writes the window's element e out at the offsets given."""
        element, letters, sizes, chosen = self.args
        chosen = tuple(int(c) for c in chosen)
        mine = value(element, dict(zip(letters, map(sp.Integer, chosen))))
        conditions = []
        for other in itertools.product(*(range(1, int(size) + 1) for size in sizes)):
            if other == chosen:
                continue
            theirs = value(element, dict(zip(letters, map(sp.Integer, other))))
            relation = sp.StrictGreaterThan if other < chosen else sp.GreaterThan
            conditions.append(relation(mine, theirs, evaluate=False))
        return sp.Piecewise((1, sp.And(*conditions, evaluate=False)), (0, True), evaluate=False) if conditions \
            else sp.Integer(1)


class MaximumPool(Pool):
    def forward(self, b):
        offsets, letters = self.offsets, PRIMED[: self.spatial]
        sizes = tuple(b.window[name] for name in "AB"[: self.spatial])
        window = self.window_element(b, b.k).xreplace(dict(zip(offsets, letters)))
        select = b.node("m", (b.n, b.k, *ix.POSITIONS[: self.spatial], *offsets),
                        FirstMax(window, sp.Tuple(*letters), sp.Tuple(*sizes), sp.Tuple(*offsets)), "arg max",
                        (*b.out_dims, *sizes), constant=True)
        return sp.Sum(self.window_element(b, b.k) * select[(b.n, b.k, *ix.POSITIONS[: self.spatial], *offsets)],
                      *self.window_sums(b))


@register("maxpool1d")
@dataclass(frozen=True)
class MaxPool1d(MaximumPool):
    spatial, rank = 1, 2
    title: ClassVar[dict[str, str]] = {"en": "1-D max pooling", "ko": "1차원 최대 풀링"}


@register("maxpool2d")
@dataclass(frozen=True)
class MaxPool2d(MaximumPool):
    spatial, rank = 2, 3
    title: ClassVar[dict[str, str]] = {"en": "2-D max pooling", "ko": "2차원 최대 풀링"}
