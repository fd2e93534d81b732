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

    rule: str  # "substitute", "affine", "strided" (a stride: the index exists where it divides) or "merge"
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
        return kept + ([replace(t, guards=(*t.guards, sp.Not(cond))) for t in terms(outside)] if not is_zero(outside)
                       else [])
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer and expr.exp > 0:
        return terms(sp.Mul(*([expr.base] * int(expr.exp)), evaluate=False))
    raise ValueError(f"cannot take the Kronecker deltas out of {expr}")


def is_zero(expr: sp.Expr) -> bool:
    """0, or a sum or product of which it is plain that it is 0 (the derivative of a zero branch: Σ 0)."""
    if isinstance(expr, sp.Sum):
        return is_zero(expr.function)
    return expr == 0 or (expr.is_Mul and any(is_zero(a) for a in expr.args))


class Rule:
    name = ""

    def apply(self, term: Term, delta: sp.KroneckerDelta, ranges: dict) -> tuple[Term, Step] | None:
        raise NotImplementedError


class SubstituteSummed(Rule):
    """Σ_j δ_bj f(j) = f(b) (when 1 <= b <= n_j; the guard goes when b runs over the same range)."""

    name = "substitute"

    def solve(self, equation: sp.Expr, index: sp.Symbol) -> tuple[sp.Expr, sp.Basic | None] | None:
        """index from equation = 0, and the condition for it to be an integer: with a coefficient c other than
        ±1 (a stride), index = rest / c only where c divides rest (the dilation of a strided map)."""
        coefficient = equation.coeff(index)
        rest = sp.expand(equation - coefficient * index)
        if not coefficient.is_Integer or coefficient == 0 or rest.has(index):
            return None
        if abs(coefficient) == 1:
            return -rest / coefficient, None
        return -rest / coefficient, sp.Eq(sp.Mod(rest, abs(coefficient)), 0)

    def apply(self, term, delta, ranges):
        equation = sp.expand(delta.args[0] - delta.args[1])
        for position, (index, low, high) in enumerate(term.sums):
            if not equation.has(index):
                continue
            solved = self.solve(equation, index)
            if solved is None:
                continue
            value, divides = solved
            sums = tuple((s, lo.xreplace({index: value}), hi.xreplace({index: value}))
                         for s, lo, hi in term.sums if s != index)
            mapping = {index: value}
            others = tuple(d.xreplace(mapping) for d in term.deltas if d != delta)
            box = {**ranges, **{s: (lo, hi) for s, lo, hi in sums}}
            guard = _guard([*(() if divides is None else (divides,)), sp.Le(low, value), sp.Le(value, high)], box)
            guards = tuple(g for g in (_guard([g.xreplace(mapping)], box) for g in term.guards) if g is not None)
            if guard is not None:
                guards = (*guards, guard)
            new = Term(term.factor.xreplace(mapping), tuple(d for d in others if d != 1), sums, guards)
            if any(d == 0 for d in others):
                new = Term(sp.Integer(0))
            rule = "substitute" if value.is_Symbol else "strided" if divides is not None else "affine"
            return new, Step(rule, delta, index, value, guard, term.expr(), new.expr())
        return None


class MergeFree(Rule):
    """δ_ab between two free indices: the result is nonzero only where a = b; it stays as a factor."""

    name = "merge"

    def apply(self, term, delta, ranges):
        return None  # kept: the term is recombined with its delta


RULES: tuple[Rule, ...] = (SubstituteSummed(), MergeFree())


def _guard(conditions: list[sp.Basic], box: dict) -> sp.Basic | None:
    """The conjunction of the conditions that do not always hold where each index runs over its range in `box`
    ({index: (low, high)}), or None when all do."""
    kept = []
    for condition in conditions:
        for part in (condition.args if isinstance(condition, sp.And) else (condition,)):
            if part is not sp.true and not _always(part, box):
                kept.append(part)
    return sp.And(*kept) if kept else None


def _always(relation: sp.Basic, box: dict) -> bool:
    """A relation low <= high that holds for every index value in the box (its sides affine in the indices, the
    coefficients of known sign): the minimum of high - low over the box is not negative."""
    if not isinstance(relation, (sp.LessThan, sp.GreaterThan, sp.StrictLessThan, sp.StrictGreaterThan)):
        return False
    gap = sp.expand(relation.gts - relation.lts)  # must be >= 0 (> 0 if strict)
    lowest = gap
    for index, (low, high) in box.items():
        coefficient = gap.coeff(index)
        if coefficient == 0:
            continue
        if sp.expand(gap - coefficient * index).has(index) or coefficient.has(*box):
            return False
        if coefficient.is_nonnegative:
            lowest = lowest - coefficient * index + coefficient * low
        elif coefficient.is_nonpositive:
            lowest = lowest - coefficient * index + coefficient * high
        else:
            return False
    lowest = sp.expand(lowest)
    if lowest.has(*box):
        return False
    strict = isinstance(relation, (sp.StrictLessThan, sp.StrictGreaterThan))
    return bool(lowest.is_positive if strict else lowest.is_nonnegative)


def eliminate(expr: sp.Expr, ranges: dict, sums=()) -> tuple[sp.Expr, list[Step]]:
    """Σ over `sums` of expr, its Kronecker deltas eliminated, and the steps taken; `ranges` maps each free index
    to its (low, high). (The outer sums are not built as a Sum first: SymPy's constructor would fold a Piecewise
    out of an inner sum when the outer letter appears in it, though its condition reads the inner sum's index.)"""
    steps: list[Step] = []
    done: list[Term] = []
    fresh = {index: sp.Dummy(index.name, integer=True) for index, _, _ in sums}
    outer = tuple((fresh[index], low, high) for index, low, high in sums)
    for term in (t.summed(outer) for t in terms(expr.xreplace(fresh))):
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
