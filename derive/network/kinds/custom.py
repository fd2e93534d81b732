"""custom: the user's own layer, a per-sample index formula with declared parameters (DESIGN.md 10.1).

    params  = { v = ["in", "out"], g = ["in", "out"], c = ["out"] }
    forward = "sum(y[j]*v[j, k], j) * sigmoid(sum(y[j]*g[j, k], j)) + c[k]"

`y[j]` is the layer's input; `k` the output index (the only free one); `i`, `j` run over the input width
and `r` over the output width, each only inside a `sum(..., letter)`. The text is read by the `ast`
whitelist of `derive.spec.expr`; nothing else is accepted.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import ClassVar

import sympy as sp

from derive.errors import ExpressionError
from derive.network import indices
from derive.network.kinds import Kind, Param, register
from derive.spec.expr import parse_expression

LETTERS = {"i": "in", "j": "in", "r": "out", "k": "out"}
INPUT = sp.IndexedBase("y")  # the input as written in the formula; the sample index is added when built
MAX_PARAMS = 8
WIDTH = {"in": sp.Symbol("_in", integer=True, positive=True), "out": sp.Symbol("_out", integer=True, positive=True)}


@register("custom")
@dataclass(frozen=True)
class Custom(Kind):
    params_declared: tuple[tuple[str, tuple[str, ...]], ...] = ()
    forward_text: str = ""
    formula: sp.Expr = sp.S.Zero  # per sample, in INPUT[j] and the declared names

    units_key = True
    title: ClassVar[dict[str, str]] = {"en": "Custom layer", "ko": "사용자 정의 층"}

    def params(self):
        return tuple(Param(name, dims, init="fan_in" if "in" in dims else "zeros")
                     for name, dims in self.params_declared)

    def forward(self, b):
        x = b.inputs[0]
        mapping = {WIDTH["in"]: b.width_in, WIDTH["out"]: b.width}
        for e in self.formula.atoms(sp.Indexed):
            if e.base == INPUT:
                mapping[e] = x[(b.n, *e.indices)]
            else:
                mapping[e] = b.param(e.base.label.name)[e.indices]
        return self.formula.xreplace(mapping)


def read_formula(text: str, declared: dict[str, tuple[str, ...]]) -> sp.Expr:
    """The formula of `forward`, checked: raises ExpressionError naming what is wrong."""
    reader = _FormulaReader(declared)
    expr = parse_expression(text, lambda name: None, calls={"sum": reader.sum},
                            subscripts={"y": reader.input, **{name: reader.param(name) for name in declared}})
    if not expr.has(INPUT):
        raise ExpressionError("the formula does not use the input y[j]")
    return expr


class _FormulaReader:
    def __init__(self, declared: dict[str, tuple[str, ...]]):
        self.declared = declared
        self.bound: list[str] = []

    def letter(self, name: str, dim: str, where: str) -> sp.Symbol:
        if name not in LETTERS:
            raise ExpressionError(f"unknown index '{name}' in {where} (expected k, or i, j, r inside a sum)")
        if LETTERS[name] != dim:
            raise ExpressionError(f"index '{name}' runs over the {LETTERS[name]}put width, but {where} needs "
                                  f"an index over the {dim}put width")
        if name != "k" and name not in self.bound:
            raise ExpressionError(f"index '{name}' in {where} is not summed: only k may be free "
                                  f"(write sum(..., {name}))")
        return getattr(indices, name)

    def input(self, letters: list[str]) -> sp.Expr:
        if len(letters) != 1:
            raise ExpressionError("y takes one index, y[j]")
        return INPUT[self.letter(letters[0], "in", "y[...]")]

    def param(self, name: str):
        dims = self.declared[name]

        def element(letters: list[str]) -> sp.Expr:
            if len(letters) != len(dims):
                raise ExpressionError(f"{name} has {len(dims)} dimension(s) ({', '.join(dims)}), "
                                      f"got {len(letters)} index(es)")
            return sp.IndexedBase(name)[tuple(self.letter(a, dim, f"{name}[...]") for a, dim in zip(letters, dims))]

        return element

    def sum(self, builder, args, depth):
        if len(args) != 2 or not isinstance(args[1], ast.Name):
            raise ExpressionError("sum takes an expression and an index letter: sum(expr, j)")
        name = args[1].id
        if name not in LETTERS or name == "k":
            raise ExpressionError(f"cannot sum over '{name}' (sum over i, j or r; k is the output index)")
        if name in self.bound:
            raise ExpressionError(f"'{name}' is already summed in an outer sum")
        self.bound.append(name)
        try:
            body = builder.build(args[0], depth)
        finally:
            self.bound.pop()
        letter = getattr(indices, name)
        return sp.Sum(body, (letter, 1, WIDTH[LETTERS[name]]))
