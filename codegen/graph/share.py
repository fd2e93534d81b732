"""Common subexpressions of a pass's elementwise operations, computed once (sympy.cse).

The subexpressions shared by the elementwise ops of one straight-line block (1/√(σ² + ε) in several
gradients of a norm layer, sigmoid(P) in a custom layer's) become arrays of their own, each placed just
before the first op that reads it (every array it reads exists by then: they are read by that op too).
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from codegen.printer import numeric_constants

from .ir import Array, Elementwise, Op, Ref


def share(ops: list[Op], fresh: Callable[[str], str], prefix: str = "c") -> list[Op]:
    items = [op for op in ops if isinstance(op, Elementwise)]
    if not items:
        return ops
    uses: dict[sp.Symbol, Ref] = {}
    for op in items:
        uses.update(op.uses)
    exprs = [numeric_constants(op.expr) for op in items]
    names = (sp.Symbol(f"_cse{i}", real=True) for i in range(10**6))
    replacements, reduced = sp.cse(exprs, symbols=names, optimizations="basic", order="none")
    if not replacements:
        return ops
    raw = dict(replacements)
    closure: dict[sp.Symbol, set[sp.Symbol]] = {}

    def needs(expr: sp.Expr) -> set[sp.Symbol]:
        found = set()
        for s in expr.free_symbols:
            if s in raw:
                if s not in closure:
                    closure[s] = needs(raw[s])
                found |= {s} | closure[s]
        return found

    wanted = [needs(e) for e in reduced]
    defined: dict[sp.Symbol, Elementwise] = {}
    for symbol, value in replacements:  # in dependency order
        local = {s: uses[s] for s in value.free_symbols if s in uses}
        local.update({defined[s].out.ref().symbol: defined[s].out.ref() for s in value.free_symbols if s in defined})
        value = value.xreplace({s: defined[s].out.ref().symbol for s in value.free_symbols if s in defined})
        letters = {a for ref in local.values() for a in ref.letters}
        # the letters in the order of the first op that reads it (its views then need no transpose)
        first = next(op for op, need in zip(items, wanted) if symbol in need)
        order = tuple(a for a in first.out.axes if a in letters)
        out = Array(fresh(prefix), order, tuple(_size(local, a) for a in order))
        defined[symbol] = Elementwise(out, value, local)
    index = {s: i for i, (s, _) in enumerate(replacements)}
    result: list[Op] = []
    placed: set[sp.Symbol] = set()
    reduced_of = dict(zip(map(id, items), zip(reduced, wanted)))
    for op in ops:
        if isinstance(op, Elementwise):
            expr, need = reduced_of[id(op)]
            for symbol in sorted(need - placed, key=index.__getitem__):
                placed.add(symbol)
                result.append(defined[symbol])
            direct = [s for s in expr.free_symbols if s in defined]
            op.uses = {**op.uses, **{defined[s].out.ref().symbol: defined[s].out.ref() for s in direct}}
            op.expr = expr.xreplace({s: defined[s].out.ref().symbol for s in direct})
        result.append(op)
    return result


def _size(local: dict[sp.Symbol, Ref], letter: sp.Symbol) -> sp.Expr:
    for ref in local.values():
        if letter in ref.letters:
            return ref.array.shape[ref.letters.index(letter)]
    raise ValueError(letter)
