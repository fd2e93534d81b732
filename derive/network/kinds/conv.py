"""conv1d, conv2d: cross-correlation over a signal [C, L] or an image [C, H, W], as PyTorch's Conv1d/Conv2d.

    u_{k,p,q} = Σ_j Σ_a Σ_b w_{k,j,a,b} x_{j, s(p-1)+a-pad, s(q-1)+b-pad} + b_k

(indices from 1). Zero padding is a range guard on the input's index: outside the image the term is 0.
Nothing else is written here: the gradient for the input, the full correlation with the flipped kernel,
comes from differentiating this expression and solving its affine index map.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import sympy as sp

from derive.network import indices as ix
from derive.network.kinds import Kind, Param, register


def read_sizes(r, key: str, rank: int, default=..., *, low: int = 1) -> tuple[int, ...]:
    """An int (every dimension) or a list of `rank` ints, each at least `low`."""
    value = r.get(key, (int, list), default, what=f"an integer or a list of {rank}")
    values = [value] * rank if isinstance(value, int) else value
    if len(values) != rank or any(not isinstance(v, int) or isinstance(v, bool) or not low <= v <= 64
                                  for v in values):
        r.fail(key, f"expected an integer from {low} to 64 or a list of {rank} of them, got {value!r}")
    return tuple(values)


def window_problem(positions, sizes, strides, pads) -> tuple[str, str] | None:
    """(the key, why) when a window sliding over `positions` does not fit them exactly, else None."""
    for axis, (length, size, stride, (left, right)) in enumerate(zip(positions, sizes, strides, pads)):
        padded = length + left + right
        if size > padded:
            return "size", (f"window {size} is larger than its {'padded ' if left or right else ''}input {padded} "
                            f"(dimension {axis + 1})")
        if (padded - size) % stride:
            return "stride", (f"stride {stride} does not fit: a window of {size} over {padded} positions "
                              f"(dimension {axis + 1}) leaves {(padded - size) % stride} unread; change the "
                              "padding or stride")
    return None


PRIMED = (ix.index("a'"), ix.index("b'"))  # a window's offsets counted the other way (the flipped kernel), or
#                                          running over the window beside a chosen one (max pooling)


class Windowed(Kind):
    """A kind that slides a window over the positions of a signal or image (convolution, pooling)."""

    spatial: ClassVar[int] = 1  # positions per sample: 1 for a signal, 2 for an image
    # fields of the subclasses: size (the window), stride, padding ((before, after) per dimension)

    @property
    def offsets(self):
        return ix.OFFSETS[: self.spatial]

    def windows(self):
        return dict(zip("AB", self.size))

    def reads(self, b) -> tuple[sp.Expr, ...]:
        """The input position each output position and window offset reads: s(p-1) + a - pad."""
        return tuple(s * (p - 1) + a - left for p, a, s, (left, _) in
                     zip(ix.POSITIONS, self.offsets, self.stride, self.padding))

    def window_element(self, b, channel: sp.Symbol) -> sp.Expr:
        """x[n, channel, s(p-1)+a-pad, ...], zero where the index falls in the padding."""
        reads = self.reads(b)
        element = b.inputs[0][(b.n, channel, *reads)]
        inside = [sp.And(sp.Le(1, e), sp.Le(e, size)) for e, size, pads in
                  zip(reads, b.in_dims[1:], self.padding) if any(pads)]
        return sp.Piecewise((element, sp.And(*inside)), (0, True)) if inside else element

    def check_shapes(self, shapes):
        problem = window_problem(shapes[0][1:], self.size, self.stride, self.padding)
        return None if problem is None else problem[1]

    def window_sums(self, b):
        return tuple((a, 1, b.window[name]) for a, name in zip(self.offsets, "AB"))


@dataclass(frozen=True)
class Conv(Windowed):
    channels: int = 1
    size: tuple[int, ...] = (1,)  # the kernel
    stride: tuple[int, ...] = (1,)
    padding: tuple[tuple[int, int], ...] = ((0, 0),)  # (before, after) per dimension
    bias: bool = True

    default_activation = "identity"
    keys: ClassVar[tuple[str, ...]] = ("channels", "kernel", "stride", "padding", "bias")

    @classmethod
    def read(cls, r, shape: tuple[int, ...]) -> Conv:
        spatial = cls.spatial
        channels = r.positive_int("channels", limit=4096)
        size = read_sizes(r, "kernel", spatial)
        stride = read_sizes(r, "stride", spatial, 1)
        if r.table.get("padding") == "same":
            if any(s != 1 for s in stride):
                r.fail("padding", '"same" needs stride 1 (as PyTorch)')
            pads = tuple(((k - 1) // 2, k - 1 - (k - 1) // 2) for k in size)
        else:
            pads = tuple((p, p) for p in read_sizes(r, "padding", spatial, 0, low=0))
        bias = r.get("bias", bool, True, what="true or false")
        kind = cls(channels, size, stride, pads, bias)
        problem = window_problem(shape[1:], size, stride, pads)
        if problem:
            r.fail("kernel" if problem[0] == "size" else problem[0], problem[1])
        return kind

    def shape(self, shapes, units):
        out = [(length + left + right - k) // s + 1 for length, k, s, (left, right) in
               zip(shapes[0][1:], self.size, self.stride, self.padding)]
        return (self.channels, *out)

    def dims(self, b):
        return (None,) * (self.spatial + 1)

    def capped(self, cap):
        return replace(self, channels=min(self.channels, cap))

    def params(self):
        weights = Param("W", ("out", "in", *"AB"[: self.spatial]), init="by_activation")
        return (weights, Param("b", ("out",), init="zeros")) if self.bias else (weights,)

    closed_in = "u"

    def textbook_input_gradient(self, b, g):
        """The closed form the proof compares with: the full correlation of g = ∂J/∂u, dilated by the stride and
        zero-padded by A - 1 - pad, with the kernel flipped:
            ∂J/∂x_{n,k,p} = Σ_r Σ_a' w_{r,k,A+1-a'} G_{n,r,p+a'-1},  G_{m} = g_{(m - A + pad - 1)/s + 1 + ...}
        (G is g at every s-th position from A - pad on, 0 elsewhere)."""
        flipped, reads, inside = [], [], []
        for p, a, size, stride, (left, _), length in zip(ix.POSITIONS, PRIMED, (b.window[n] for n in "AB"[: self.spatial]),
                                                          self.stride, self.padding, b.out_dims[1:]):
            flipped.append(size + 1 - a)
            dilated = p + a - size + left  # the position in the dilated map, 1 at g's first element
            read = (dilated - 1) / stride + 1
            reads.append(read)
            inside += [sp.Le(1, read), sp.Le(read, length)]
            if stride > 1:
                inside.append(sp.Eq(sp.Mod(dilated - 1, stride), 0))
        primed = PRIMED[: self.spatial]
        body = sp.Piecewise((b.param("W")[(b.r, b.k, *flipped)] * g[(b.n, b.r, *reads)], sp.And(*inside)), (0, True))
        offsets = [(a, 1, b.window[n]) for a, n in zip(primed, "AB")]
        return sp.Sum(body, *reversed(offsets), (b.r, 1, b.width))  # printed as r, a', b' from the outside

    def forward(self, b):
        total = sp.Sum(b.param("W")[(b.k, b.j, *self.offsets)] * self.window_element(b, b.j),
                       (b.j, 1, b.in_dims[0]), *self.window_sums(b))
        return total + b.param("b")[b.k] if self.bias else total


@register("conv1d")
@dataclass(frozen=True)
class Conv1d(Conv):
    spatial, rank = 1, 2
    title: ClassVar[dict[str, str]] = {"en": "1-D convolution", "ko": "1차원 합성곱"}


@register("conv2d")
@dataclass(frozen=True)
class Conv2d(Conv):
    spatial, rank = 2, 3
    title: ClassVar[dict[str, str]] = {"en": "2-D convolution", "ko": "2차원 합성곱"}
