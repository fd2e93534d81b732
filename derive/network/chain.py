"""The network as SymPy expressions: index form (any width) and an explicit small instance.

Index form: per layer l, IndexedBase symbols y{l}, u{l}, w{l}, b{l}, delta{l}, with the free index
letter and summation letter of the notation, e.g. u_k = Σ_q y_q w_qk + b_k.
Explicit instance: the same depth, activations and loss with concrete small widths; its elements
are Indexed with integer indices (w2[1, 2]), and every y and u is an explicit expression.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sympy as sp
from sympy.functions.elementary.piecewise import ExprCondPair

from derive.network.notation import Notation, base
from derive.spec.catalog import Activation
from derive.spec.catalog import t as T
from derive.spec.catalog import x as X
from derive.spec.catalog import y as Y
from derive.spec.loader import Spec

E = sp.Symbol("E")  # the per-sample loss; printed E or J by the notation


@dataclass(frozen=True)
class LayerSymbols:
    l: int
    index: sp.Symbol  # free index letter (k for the output layer in "ijk")
    dummy: sp.Symbol  # summation letter over this layer (r for the output layer in "ijk")
    size: sp.Symbol  # width (n for the output layer in "ijk")
    activation: Activation | None  # None for the input layer
    bias: bool

    @property
    def y(self) -> sp.IndexedBase:
        return base("y", self.l)

    @property
    def u(self) -> sp.IndexedBase:
        return base("u", self.l)

    @property
    def w(self) -> sp.IndexedBase:
        return base("w", self.l)

    @property
    def b(self) -> sp.IndexedBase:
        return base("b", self.l)

    @property
    def delta(self) -> sp.IndexedBase:
        return base("delta", self.l)

    @property
    def grad(self) -> sp.IndexedBase:
        """dE/dy of this layer as one symbol, for local proofs and general forms."""
        return base("g", self.l)


def index_symbol(name: str) -> sp.Symbol:
    return sp.Symbol(name, integer=True, positive=True)


class IndexNetwork:
    """Index-form symbols and expressions of a spec, in one notation."""

    def __init__(self, spec: Spec, notation: Notation):
        self.spec = spec
        self.notation = notation
        self.layers = [
            LayerSymbols(
                l,
                index_symbol(notation.letter(l)),
                index_symbol(notation.dummy(l)),
                self._size(notation, l),
                spec.layers[l - 1].activation if l else None,
                spec.layers[l - 1].bias if l else False,
            )
            for l in range(spec.depth + 1)
        ]
        self.t = base("t")

    @staticmethod
    def _size(notation: Notation, l: int) -> sp.Expr:
        """The width of layer l as a symbol; seed 004's single output is just 1 (no index, no sum)."""
        if notation.name == "layer" and l == notation.depth and notation.sizes[l] == 1:
            return sp.Integer(1)
        return index_symbol(notation.size_name(l))

    @property
    def depth(self) -> int:
        return len(self.layers) - 1

    @property
    def output(self) -> LayerSymbols:
        return self.layers[-1]

    def weighted_sum(self, l: int, a: sp.Expr | None = None) -> sp.Expr:
        """u_a = Σ_q y_q w_qa + b_a over the layer below (a defaults to the layer's index)."""
        this, below = self.layers[l], self.layers[l - 1]
        a = this.index if a is None else a
        q = below.dummy
        total = sp.Sum(below.y[q] * this.w[q, a], (q, 1, below.size))
        return total + this.b[a] if this.bias else total

    def loss(self) -> sp.Expr:
        """E = scale * Σ_r loss(y_r, t_r) over the output layer."""
        out = self.output
        r = out.dummy
        loss = self.spec.loss
        total = sp.Sum(loss.of(out.y[r], self.t[r]), (r, 1, out.size))
        return total / out.size if loss.mean_over_outputs else total


def in_range(expr: sp.Expr) -> sp.Expr:
    """Drop the 'index out of range' branches that Sum(KroneckerDelta ...).doit() leaves behind.

    Indices always lie within their layer, so a Piecewise whose first condition only bounds
    integer symbols is its first branch.
    """

    def is_bound(cond) -> bool:
        return cond != sp.true and all(s.is_integer for s in cond.free_symbols)

    return expr.replace(
        lambda e: isinstance(e, sp.Piecewise) and is_bound(e.args[0].cond),
        lambda e: e.args[0].expr,
    )


class Instance:
    """An explicit network of concrete widths: every y and u written out in inputs and parameters."""

    def __init__(self, spec: Spec, widths: tuple[int, ...]):
        self.spec = spec
        self.widths = widths
        L = len(widths) - 1
        self.inputs = [base("y", 0)[i] for i in range(1, widths[0] + 1)]
        self.targets = [base("t")[i] for i in range(1, widths[L] + 1)]
        self.params: list[sp.Indexed] = []
        self.values: dict[sp.Indexed, sp.Expr] = {}  # y{l}[i], u{l}[i] -> explicit expression
        below = list(self.inputs)
        for l in range(1, L + 1):
            layer = spec.layers[l - 1]
            w, b, u, y = base("w", l), base("b", l), base("u", l), base("y", l)
            us = []
            for k in range(1, widths[l] + 1):
                weights = [w[j, k] for j in range(1, widths[l - 1] + 1)]
                self.params += weights
                total = sum((yj * wjk for yj, wjk in zip(below, weights)), sp.Integer(0))
                if layer.bias:
                    self.params.append(b[k])
                    total += b[k]
                us.append(total)
                self.values[u[k]] = total
            act = layer.activation
            if act.is_softmax:
                denominator = sum(sp.exp(v) for v in us)
                ys = [sp.exp(v) / denominator for v in us]
            else:
                ys = [written_out(act.expr, {X: v}) for v in us]
            for k, value in enumerate(ys, 1):
                self.values[y[k]] = value
            below = ys
        self.outputs = below
        loss = spec.loss
        total = sum((written_out(loss.expr, {Y: yk, T: tk}) for yk, tk in zip(below, self.targets)), sp.Integer(0))
        self.E = total / widths[L] if loss.mean_over_outputs else total

    @cached_property
    def symbols(self) -> list[sp.Indexed]:
        return [*self.inputs, *self.targets, *self.params]


def written_out(expr: sp.Expr, mapping: dict) -> sp.Expr:
    """expr with `mapping` substituted, functions and Piecewise left as written: SymPy's constructors
    would fold the conditions of nested kinks (ReLU after ReLU) and query assumptions through the
    whole net (is cosh(...) of layer 8 nonnegative?), which takes minutes on a deep net."""
    if expr in mapping:
        return mapping[expr]
    if not expr.args:
        return expr
    args = [written_out(a, mapping) for a in expr.args]
    if isinstance(expr, (sp.Piecewise, ExprCondPair)):
        return sp.Basic.__new__(type(expr), *args)
    if isinstance(expr, sp.Function):  # log(cosh(...)) of a deep net: no assumption queries on the way
        return expr.func(*args, evaluate=False)
    return expr.func(*args)


def instance_widths(spec: Spec) -> tuple[int, ...]:
    """Small widths for the explicit instance: the spec's own up to 3 (up to 2 past two layers,
    where the written-out loss grows as width ** depth)."""
    cap = 3 if spec.depth <= 2 else 2
    return tuple(min(n, cap) for n in spec.sizes)
