"""The small IR a graph module is lowered to (DESIGN.md 9.1, after tinygrad's renderer model).

An `Array` is a named NumPy array whose axes are index letters (U3 has axes (n, k), MU2 has (n,)). A `Ref`
is one use of an array with the letters of the formula it appears in (W6[k, j] in ∂J/∂y5: axis 0 of W6 is
the formula's k). The operations are few:

- `Elementwise`: out[axes] = expr, a SymPy expression over `Ref` symbols, aligned by broadcasting;
- `Contract`: out[axes] = Σ over the letters not in axes of a product of refs (matmul, einsum);
- `Reduce`: out[axes] = Σ (or the mean, or the maximum) of one ref over its other letters (`.sum(axis=...)`);
- `Alias`: out = a ref with the same letters (no copy: identity activations, single-path gradients);
- `Softmax`: out, LSE = the row softmax of a ref, with log-sum-exp (the fused loss reads it);
- `Window`: out = a view of an array read at affine indices (s(p-1) + a - pad: a convolution's input, the
  flipped kernel's correlation), zero outside it (the range guard is the padding), dilated for a stride;
- `Reshape`: out = an array with axes merged or split (a flatten and its gradient);
- `FirstMaxOp`: out = the one-hot of each window's first maximum (max pooling's selection);
- `Load`: out = text (a parameter of `params`, a running statistic of `state`);
- `Comment`: a line naming the node and the rule the next ops implement.

A renderer prints them (`render.NumpyRenderer`); another backend is another renderer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp


@dataclass(frozen=True)
class Array:
    name: str
    axes: tuple[sp.Symbol, ...]  # the letters of its axes, in storage order
    shape: tuple[sp.Expr, ...]  # sizes: ints, or the batch symbol N

    def ref(self, letters: tuple[sp.Symbol, ...] | None = None) -> Ref:
        return Ref(self, tuple(self.axes if letters is None else letters))


@dataclass(frozen=True)
class Ref:
    array: Array
    letters: tuple[sp.Symbol, ...]  # the formula's letter at each stored axis

    @property
    def symbol(self) -> sp.Symbol:
        """The symbol standing for this use inside an elementwise expression."""
        return sp.Symbol(f"{self.array.name}[{','.join(a.name for a in self.letters)}]", real=True)


@dataclass
class Op:
    out: Array
    comment: str = field(default="", kw_only=True)

    def reads(self) -> tuple[Array, ...]:
        return ()


@dataclass
class Elementwise(Op):
    expr: sp.Expr  # over Ref symbols (see `uses`), numbers and the batch size N
    uses: dict[sp.Symbol, Ref]

    def reads(self):
        return tuple(dict.fromkeys(r.array for s, r in self.uses.items() if s in self.expr.free_symbols))


@dataclass
class Contract(Op):
    operands: tuple[Ref, ...]

    def reads(self):
        return tuple(r.array for r in self.operands)


@dataclass
class Reduce(Op):
    operand: Ref
    mean: bool = False
    maximum: bool = False  # Σ_a x_a [a is the arg max] = max_a x_a (max pooling's forward pass)

    def reads(self):
        return (self.operand.array,)


@dataclass
class Alias(Op):
    source: Ref

    def reads(self):
        return (self.source.array,)


@dataclass
class Softmax(Op):
    lse: Array
    source: Ref

    def reads(self):
        return (self.source.array,)


@dataclass
class Window(Op):
    """out[axes] = source read at affine indices: `dilate` (steps between its elements, 1 for none), then `pads`
    ((before, after) per axis) and the windows (length, axis) of `window`, then `slices` (start, stop, step) of the
    resulting view's axes (the window axes last)."""

    source: Array
    dilate: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]
    window: tuple[tuple[int, int], ...]
    slices: tuple[tuple[int | None, int | None, int | None], ...]
    diagonals: tuple[tuple[int, int], ...] = ()  # then each (i, j): the diagonal of axes i and j, put last

    def reads(self):
        return (self.source,)


@dataclass
class FirstMaxOp(Op):
    """out = 1 at the first maximum over the `axes` of source (row-major on ties), 0 elsewhere; those axes last."""

    source: Array
    axes: tuple[int, ...]

    def reads(self):
        return (self.source,)


@dataclass
class Reshape(Op):
    """out = source with its axes merged or split in C order (`out.shape`)."""

    source: Array

    def reads(self):
        return (self.source,)


@dataclass
class Load(Op):
    text: str  # params["W3"], state["mean5"]


@dataclass
class Comment:
    """A comment line before the ops of one formula (which node, which rule)."""

    text: str
    out = None

    def reads(self) -> tuple[Array, ...]:
        return ()


@dataclass
class Block:
    """Straight-line ops; `condition` makes it one branch of an if/else with `otherwise`."""

    ops: list[Op | Comment] = field(default_factory=list)
    condition: str | None = None
    otherwise: list[Op | Comment] = field(default_factory=list)

    def all_ops(self) -> list[Op]:
        return [op for op in (*self.ops, *self.otherwise) if isinstance(op, Op)]
