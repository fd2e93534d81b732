"""avgpool1d/2d: the mean of each window of a signal or image, channel by channel (PyTorch's AvgPool).

    u_{k,p,q} = 1/(A B) Σ_a Σ_b x_{k, s(p-1)+a, s(q-1)+b}

The gradient spreads each output's δ evenly over its window: that too comes from differentiation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import sympy as sp

from derive.network.kinds import register
from derive.network.kinds.conv import Windowed, read_sizes, window_problem


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
