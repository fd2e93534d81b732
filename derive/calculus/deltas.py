"""Kronecker-delta elimination, the step that turns `sympy.diff` of an index expression into a formula.

`sympy.diff(Σ_j x_nj w_jk, x_ab)` is `Σ_j δ_an δ_bj w_jk`. The chain rule sums that over the node's own
indices; the deltas are then removed one at a time by the first rule of `RULES` that applies (a dispatch
table, as in SymPy's manualintegrate): a delta between a summed index and an index expression drops the
sum and substitutes (solving an affine map such as p + a - 1 = q for the summed index), keeping the range
guard unless it always holds; a delta between two free indices stays as a factor. Each use is a `Step`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import sympy as sp


@dataclass(frozen=True)
class Term:
    """factor · Π deltas · Π guards, summed over `sums` ((index, low, high), outermost first)."""

    factor: sp.Expr
    deltas: tuple[sp.KroneckerDelta, ...] = ()
    sums: tuple[tuple[sp.Symbol, sp.Expr, sp.Expr], ...] = ()
    guards: tuple[sp.Basic, ...] = ()

    def times(self, other: Term) -> Term:
        return Term(self.factor * other.factor, self.deltas + other.deltas, self.sums + other.sums,
                    self.guards + other.guards)

    def summed(self, limits) -> Term:
        return replace(self, sums=(*limits, *self.sums))

    def expr(self) -> sp.Expr:
        body = self.factor * sp.Mul(*self.deltas)
        for guard in self.guards:
            body = sp.Piecewise((body, guard), (0, True))
        for limit in reversed(self.sums):
            body = sp.Sum(body, limit)
        return body


@dataclass(frozen=True)
class Step:
    """One elimination: `rule` removed `delta` by setting `index` = `value`; `guard` kept, or None."""

    rule: str  # "substitute", "affine" or "merge"
    delta: sp.KroneckerDelta
    index: sp.Symbol | None
    value: sp.Expr | None
    guard: sp.Basic | None
    before: sp.Expr
    after: sp.Expr


def terms(expr: sp.Expr) -> list[Term]:
    """expr as a sum of Terms, its deltas and sums pulled to the top (sum indices renamed apart)."""
    if not expr.has(sp.KroneckerDelta):
        return [Term(expr)]
    if isinstance(expr, sp.Add):
        return [t for arg in expr.args for t in terms(arg)]
    if isinstance(expr, sp.Mul):
        found = [Term(sp.Integer(1))]
        for arg in expr.args:
            found = [a.times(b) for a in found for b in terms(arg)]
        return found
    if isinstance(expr, sp.KroneckerDelta):
        return [Term(sp.Integer(1), (expr,))]
    if isinstance(expr, sp.Sum):
        body, limits = expr.function, []
        for index, low, high in expr.limits:
            fresh = sp.Dummy(index.name, integer=True)
            body = body.xreplace({index: fresh})
            limits.append((fresh, low, high))
        return [t.summed(limits) for t in terms(body)]
    if isinstance(expr, sp.Piecewise) and len(expr.args) == 2 and expr.args[1].cond == sp.true:
        (inside, cond), (outside, _) = expr.args
        kept = [replace(t, guards=(*t.guards, cond)) for t in terms(inside)]
        return kept + ([replace(t, guards=(*t.guards, sp.Not(cond))) for t in terms(outside)] if outside != 0 else [])
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer and expr.exp > 0:
        return terms(sp.Mul(*([expr.base] * int(expr.exp)), evaluate=False))
    raise ValueError(f"cannot take the Kronecker deltas out of {expr}")


class Rule:
    name = ""

    def apply(self, term: Term, delta: sp.KroneckerDelta, ranges: dict) -> tuple[Term, Step] | None:
        raise NotImplementedError


class SubstituteSummed(Rule):
    """Σ_j δ_bj f(j) = f(b) (when 1 <= b <= n_j; the guard goes when b runs over the same range)."""

    name = "substitute"

    def solve(self, equation: sp.Expr, index: sp.Symbol) -> sp.Expr | None:
        coefficient = equation.coeff(index)
        rest = sp.expand(equation - coefficient * index)
        if coefficient == 1 and not rest.has(index):
            return -rest
        if coefficient == -1 and not rest.has(index):
            return rest
        return None

    def apply(self, term, delta, ranges):
        equation = sp.expand(delta.args[0] - delta.args[1])
        for position, (index, low, high) in enumerate(term.sums):
            if not equation.has(index):
                continue
            value = self.solve(equation, index)
            if value is None:
                continue
            sums = tuple(s for s in term.sums if s[0] != index)
            mapping = {index: value}
            others = tuple(d.xreplace(mapping) for d in term.deltas if d != delta)
            guards = tuple(g.xreplace(mapping) for g in term.guards)
            guard = _range_guard(value, low, high, ranges)
            if guard is not None:
                guards = (*guards, guard)
            new = Term(term.factor.xreplace(mapping), tuple(d for d in others if d != 1),
                       tuple((s, lo.xreplace(mapping), hi.xreplace(mapping)) for s, lo, hi in sums), guards)
            if any(d == 0 for d in others):
                new = Term(sp.Integer(0))
            rule = "substitute" if value.is_Symbol else "affine"
            return new, Step(rule, delta, index, value, guard, term.expr(), new.expr())
        return None


class MergeFree(Rule):
    """δ_ab between two free indices: the result is nonzero only where a = b; it stays as a factor."""

    name = "merge"

    def apply(self, term, delta, ranges):
        return None  # kept: the term is recombined with its delta


RULES: tuple[Rule, ...] = (SubstituteSummed(), MergeFree())


def _range_guard(value: sp.Expr, low: sp.Expr, high: sp.Expr, ranges: dict) -> sp.Basic | None:
    """low <= value <= high, or None where it always holds (value is an index of the same range)."""
    if value in ranges and ranges[value] == (low, high):
        return None
    if value.is_Integer and low.is_Integer and high.is_Integer and low <= value <= high:
        return None
    return sp.And(sp.Le(low, value), sp.Le(value, high))


def eliminate(expr: sp.Expr, ranges: dict) -> tuple[sp.Expr, list[Step]]:
    """expr with its Kronecker deltas eliminated, and the steps taken; `ranges` maps each free index to
    its (low, high)."""
    steps: list[Step] = []
    done: list[Term] = []
    for term in terms(expr):
        while True:
            for delta in term.deltas:
                found = next((hit for rule in RULES if (hit := rule.apply(term, delta, ranges))), None)
                if found:
                    term, step = found
                    steps.append(step)
                    break
            else:
                break
        if term.factor != 0:
            done.append(term)
    return _recombine(done), steps


def _recombine(done: list[Term]) -> sp.Expr:
    """The terms added up, those with the same sums under one Sum; a sum whose index no longer appears
    is a factor of its range's length."""
    groups: dict[tuple, list[sp.Expr]] = {}
    for term in done:
        body = term.factor * sp.Mul(*term.deltas)
        for guard in term.guards:
            body = sp.Piecewise((body, guard), (0, True))
        sums = []
        for index, low, high in term.sums:
            if body.has(index):
                sums.append((index, low, high))
            else:
                body = body * (high - low + 1)
        groups.setdefault(tuple(sums), []).append(body)
    total = sp.Integer(0)
    for sums, bodies in groups.items():
        body = sp.Add(*bodies)
        for limit in reversed(sums):
            body = sp.Sum(body, limit)
        total += body
    return total
