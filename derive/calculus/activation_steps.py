"""An activation's derivative worked out step by step, as seed 003 does for the sigmoid.

Modelled on SymPy's manualintegrate: each differentiation rule is a small dataclass that knows the
expression it differentiates and, in `expand()`, writes its derivative one level deep, leaving the
derivatives of the inner parts unevaluated. `derivative_steps` applies the rules level by level, so
every line of the printed chain is one application of named rules (power, chain, quotient, ...).
`output_form_steps` then rewrites f'(x) in y = f(x) (sigmoid: y(1 - y)), and `maximum_steps` finds
where f' peaks (sigmoid: f''(0) = 0, f'(0) = 1/4). Printers live in `derive.document.builder`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import mpmath
import sympy as sp

from derive.document.example import Evaluator
from derive.spec.catalog import PROBE_POINTS, Activation, time_limit
from derive.spec.catalog import x as X
from derive.spec.catalog import y as Y

D = sp.Derivative
ONE = sp.S.One  # a singleton: fine as a dataclass default


def _simple(g: sp.Expr) -> bool:
    """Derivatives evaluated on sight: constants and a x + b."""
    if X not in g.free_symbols:
        return True
    return g.is_polynomial(X) and sp.degree(g, X) <= 1


def _d(g: sp.Expr) -> sp.Expr:
    """d/dx g, left unevaluated unless it is trivial."""
    return sp.diff(g, X) if _simple(g) else D(g, X)


@dataclass(frozen=True)
class DiffRule:
    expr: sp.Expr
    name: str = field(default="", init=False)

    def expand(self) -> sp.Expr:
        raise NotImplementedError


@dataclass(frozen=True)
class ConstantRule(DiffRule):
    name: str = field(default="constant", init=False)

    def expand(self):
        return sp.Integer(0)


@dataclass(frozen=True)
class SumRule(DiffRule):
    name: str = field(default="sum", init=False)

    def expand(self):
        return sp.Add(*[_d(term) for term in self.expr.args])


@dataclass(frozen=True)
class ConstantTimesRule(DiffRule):
    coefficient: sp.Expr = ONE
    rest: sp.Expr = ONE
    name: str = field(default="constant_times", init=False)

    def expand(self):
        return self.coefficient * _d(self.rest)


@dataclass(frozen=True)
class ProductRule(DiffRule):
    factors: tuple = ()
    name: str = field(default="product", init=False)

    def expand(self):
        terms = []
        for i, f in enumerate(self.factors):
            others = [g for j, g in enumerate(self.factors) if j != i]
            terms.append(sp.Mul(*others) * _d(f))
        return sp.Add(*terms)


@dataclass(frozen=True)
class QuotientRule(DiffRule):
    numer: sp.Expr = ONE
    denom: sp.Expr = ONE
    name: str = field(default="quotient", init=False)

    def expand(self):
        top = self.denom * _d(self.numer) - self.numer * _d(self.denom)
        return top / self.denom**2


@dataclass(frozen=True)
class PowerRule(DiffRule):
    """d/dx g^n = n g^(n-1) g' (with the chain rule when g is not x)."""

    base: sp.Expr = X
    exponent: sp.Expr = ONE
    name: str = field(default="power", init=False)

    @property
    def chain(self) -> bool:
        return self.base != X

    def expand(self):
        return self.exponent * self.base ** (self.exponent - 1) * _d(self.base)


@dataclass(frozen=True)
class ExpRule(DiffRule):
    """d/dx e^g = e^g g'."""

    inner: sp.Expr = X
    name: str = field(default="exp", init=False)

    @property
    def chain(self) -> bool:
        return self.inner != X

    def expand(self):
        return sp.exp(self.inner) * _d(self.inner)


@dataclass(frozen=True)
class FunctionRule(DiffRule):
    """d/dx f(g) = f'(g) g' for a standard function f (log, tanh, sin, ...), f' by sympy.diff."""

    function: type = sp.log
    inner: sp.Expr = X
    name: str = field(default="function", init=False)

    @property
    def chain(self) -> bool:
        return self.inner != X

    def expand(self):
        outer = sp.diff(self.function(X), X).xreplace({X: self.inner})
        return outer * _d(self.inner)


@dataclass(frozen=True)
class PiecewiseRule(DiffRule):
    """Each piece differentiated on its own interval (the kink itself takes the lower piece's value)."""

    name: str = field(default="piecewise", init=False)

    def expand(self):
        return sp.Piecewise(*[(sp.diff(value, X), cond) for value, cond in self.expr.args])


@dataclass(frozen=True)
class DirectRule(DiffRule):
    """Anything else: sympy.diff in one step."""

    name: str = field(default="direct", init=False)

    def expand(self):
        return sp.diff(self.expr, X)


def rule_for(expr: sp.Expr) -> DiffRule:
    if X not in expr.free_symbols:
        return ConstantRule(expr)
    if isinstance(expr, sp.Piecewise):
        return PiecewiseRule(expr)
    if expr.is_Add:
        return SumRule(expr)
    if expr.is_Mul:
        coeff, rest = expr.as_independent(X, as_Add=False)
        if coeff != 1:
            return ConstantTimesRule(expr, coeff, rest)
        numer, denom = sp.fraction(expr)
        if X in numer.free_symbols and X in denom.free_symbols:
            return QuotientRule(expr, numer, denom)
        return ProductRule(expr, tuple(sp.Mul.make_args(expr)))
    if expr.is_Pow:
        base, exponent = expr.as_base_exp()
        if X not in exponent.free_symbols:
            return PowerRule(expr, base, exponent)
        if base == sp.E:
            return ExpRule(expr, exponent)
        return DirectRule(expr)
    if isinstance(expr, sp.exp):
        return ExpRule(expr, expr.args[0])
    if isinstance(expr, sp.Function) and len(expr.args) == 1:
        return FunctionRule(expr, type(expr), expr.args[0])
    return DirectRule(expr)


@dataclass(frozen=True)
class Step:
    """One line of a chain of equalities: the expression, and the rules (or rewriting) that led to it."""

    expr: sp.Expr
    rules: tuple[str, ...] = ()


def _expand_once(expr: sp.Expr) -> tuple[sp.Expr, list[str]]:
    used: list[str] = []
    found: dict = {}

    def record(dv: sp.Derivative):
        rule = rule_for(dv.expr)
        used.append(rule.name)
        if getattr(rule, "chain", False):
            used.append("chain")
        return rule.expand()

    for dv in sorted(expr.atoms(sp.Derivative), key=sp.default_sort_key):
        found[dv] = record(dv)
    return expr.xreplace(found), used


def _names(used: list[str]) -> tuple[str, ...]:
    order = ["constant", "constant_times", "sum", "product", "quotient", "power", "exp", "function",
             "piecewise", "chain", "direct", "simplify"]
    return tuple(name for name in order if name in used)


MAX_STEPS = 8


def derivative_steps(activation: Activation) -> list[Step]:
    """d/dx f(x) = ... = f'(x): the first line is the unevaluated derivative, the last is f'."""
    f = activation.expr
    current = D(f, X)
    steps = [Step(current)]
    for _ in range(MAX_STEPS):
        if not current.has(sp.Derivative):
            break
        current, used = _expand_once(current)
        steps.append(Step(current, _names(used)))
    if current.has(sp.Derivative):
        current = current.doit()
        steps.append(Step(current, ("direct",)))
    final = activation.derivative
    if current != final:
        if not isinstance(final, sp.Piecewise) and not _same_slope(current, final, activation):
            raise AssertionError(f"derivative steps of {activation.name} reach {current}, not {final}")
        steps.append(Step(final, ("simplify",)))
    return steps


def _same_slope(a: sp.Expr, b: sp.Expr, activation: Activation) -> bool:
    """a == b as slopes of f: simplified to zero, or equal to 30 digits at every probe point where f is
    defined (pi |x|^(pi - 1) sign(x) and pi |x|^pi sign(x) / |x|, which simplify cannot join)."""
    if _equal(a, b):
        return True
    compared = 0
    for point in PROBE_POINTS:
        if real_at(activation.expr, point) is None:
            continue
        va, vb = real_at(a, point), real_at(b, point)
        if va is None and vb is None:
            continue
        if va is None or vb is None or abs(va - vb) > mpmath.mpf(10) ** -30 * (1 + abs(vb)):
            return False
        compared += 1
    return compared >= 3


def output_form_steps(activation: Activation) -> list[Step] | None:
    """f'(x) = ... = g(f(x)) = g(y), read as seed 003 reads it, from f' back to the output.

    Built backwards from g(y): substitute y = f(x) (kept whole), evaluate, put each factor over a
    common denominator, simplify; each form is checked equal to f'(x) before it is printed.
    """
    g = activation.output_form
    if g is None or isinstance(g, sp.Piecewise) or activation.is_softmax:
        return None
    f, df = activation.expr, activation.derivative
    evaluated = g.xreplace({Y: f})
    forms = [g]
    if evaluated != df:  # g(f(x)) with f kept whole, as seed 003 writes it
        forms.append(g.xreplace({Y: sp.UnevaluatedExpr(f)}))
    if not evaluated.has(f):  # the substitution simplified itself: show the result too
        forms.append(evaluated)
    forms += [sp.expand(evaluated, deep=False, multinomial=False, power_exp=False, power_base=False), df]
    chain: list[sp.Expr] = []
    for form in reversed(forms):
        if chain and form == chain[-1]:
            continue
        if form.has(sp.UnevaluatedExpr) or form is g or _equal(form, df):
            chain.append(form)
    return [Step(form) for form in chain]


def _equal(a: sp.Expr, b: sp.Expr) -> bool:
    try:
        return sp.simplify(a - b) == 0
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class Maximum:
    second: sp.Expr  # f''(x)
    second_in_y: sp.Expr | None  # f''(x) written in y = f(x), when the output form allows it
    argmax: sp.Expr
    value: sp.Expr
    exact: bool = True  # False: located numerically (f'' = 0 has no closed-form root SymPy finds quickly)


@dataclass(frozen=True)
class Unbounded:
    """f' has no upper bound on the real domain of f: x**3 at both ends, tan(x/4) at its poles, sqrt(x) at 0."""


@dataclass(frozen=True)
class Supremum:
    """f' approaches `value` at one end, x -> `end` (oo or -oo), without reaching it (softplus: 1 as x -> oo)."""

    value: sp.Expr
    end: sp.Expr


SOLVE_SECONDS = 1.0
LIMIT_SECONDS = 1.5
GRID = [i / 20 for i in range(-200, 201)]  # x in [-10, 10]
TOLERANCE = 1e-9


def real_at(expr: sp.Expr, v) -> mpmath.mpf | None:
    """expr at x = v, or None where it is undefined on the real line (log of a negative number, a pole)."""
    value = Evaluator({X: mpmath.mpf(v)})(expr)
    return None if mpmath.isnan(value) or mpmath.isinf(value) else value


def slopes(activation: Activation, points) -> list:
    """f' at those points where f itself is defined (1/(1 + x) is no slope of log(1 + x) at x = -5)."""
    found = []
    for point in points:
        if real_at(activation.expr, point) is not None:
            value = real_at(activation.derivative, point)
            if value is not None:
                found.append(value)
    return found


def _above(a, b) -> bool:
    """a > b beyond rounding."""
    return float(a) > float(b) + TOLERANCE * (1 + abs(float(b)))


@functools.lru_cache(maxsize=256)
def maximum_steps(activation: Activation) -> Maximum | Unbounded | Supremum | None:
    """Where f' peaks: f''(x) = 0 (and in y when f' has an output form), and the value there.

    With an output form g (f' = g(y)), f'' = g'(y) g(y) is a polynomial-like equation in y, solved
    exactly (sigmoid: y = 1/2, so x = 0 and f' = 1/4); else a short symbolic try in x, else the root
    of f'' found numerically beside the largest f' on a grid. A peak is reported only when it is the
    maximum over the whole real domain: it must equal SymPy's supremum of f' where SymPy finds one,
    else beat both limits at infinity; every sample on the grid must lie below it. Where there is no
    maximum the answer says why: `Unbounded` (x**3, tan, sqrt at 0), `Supremum` (softplus: 1, never
    reached), or None when it cannot be told.
    """
    df = activation.derivative
    if isinstance(df, sp.Piecewise) or df.is_number:
        return None
    samples = slopes(activation, GRID)
    sup = activation.derivative_sup
    if sup is not None and sup.is_finite and any(_above(v, sup) for v in samples):
        sup = None  # SymPy's bound is beaten on the grid: do not trust it
    if sup is sp.oo:
        return Unbounded()
    ends = _end_limits(activation) if sup is None else {}  # without a supremum, the ends decide
    if sp.oo in ends.values():
        return Unbounded()
    found = None
    for finder in (_maximum_in_y, _maximum):
        candidate = finder(activation)
        if candidate is not None and _is_maximum(candidate[1], sup, ends, samples, activation):
            found = candidate
            break
    if found is None:
        if sup is None:
            return None
        approached = [end for end, limit in _end_limits(activation).items() if limit == sup]
        if approached and all(_above(sup, v) for v in samples):
            return Supremum(sup, approached[0])  # approached at an end, below it everywhere sampled
        return None
    argmax, value, exact = found if len(found) == 3 else (*found, True)
    second = sp.factor(sp.together(sp.diff(df, X)))
    in_y = None
    g = activation.output_form
    if g is not None and not isinstance(g, sp.Piecewise):
        # chain rule in y: d/dx g(y) = g'(y) y' = g'(y) g(y)
        in_y = sp.factor(sp.diff(g, Y) * g)
    if exact and value.is_Float:
        value = sp.nsimplify(value)
    return Maximum(flip_signs(second), flip_signs(in_y), argmax, value, exact)


def _end_limits(activation: Activation) -> dict:
    """{oo: lim f'(x) as x -> oo, -oo: ...}, for the ends of f's domain where SymPy finds a real limit (or
    +-oo) quickly."""
    df, domain = activation.derivative, activation.domain
    out = {}
    for end in (end for end in (sp.oo, -sp.oo) if end in (domain.inf, domain.sup)):
        try:
            with time_limit(LIMIT_SECONDS):
                limit = sp.limit(df, X, end)
        except (NotImplementedError, TimeoutError, ValueError, TypeError, AttributeError):
            continue
        if limit in (sp.oo, -sp.oo) or (limit.is_real and limit.is_finite):
            out[end] = limit
    return out


FAR = [10 * 1.5**k for k in range(40)]  # |x| from 10 to 10^8


def _is_maximum(value: sp.Expr, sup: sp.Expr | None, ends: dict, samples: list, activation: Activation) -> bool:
    """Whether `value` is the largest f' on the real domain (see maximum_steps)."""
    if not (value.is_real and value.is_finite):
        return False
    if any(_above(v, value) for v in samples):
        return False
    if sup is not None:
        return not _above(sup, value)
    for end in (sp.oo, -sp.oo):
        if end in ends:
            if _above(ends[end], value):
                return False
        elif any(_above(v, value) for v in slopes(activation, [(1 if end == sp.oo else -1) * p for p in FAR])):
            return False  # SymPy cannot take this limit: f' far out on that side must stay below too
    return True


def _maximum_in_y(activation: Activation):
    g, f = activation.output_form, activation.expr
    if g is None or isinstance(g, sp.Piecewise):
        return None
    try:
        with time_limit(SOLVE_SECONDS):
            roots = [r for r in sp.solve(sp.diff(g, Y) * g, Y) if r.is_real]
    except (NotImplementedError, TimeoutError, ValueError, TypeError):
        return None
    values = [(sp.nsimplify(g.xreplace({Y: r})), r) for r in roots]
    values = [(value, r) for value, r in values if value.is_real and value.is_finite]
    for value, r in sorted(values, key=lambda p: -float(p[0])):
        try:
            with time_limit(SOLVE_SECONDS):
                xs = [v for v in sp.solve(sp.Eq(f, r), X) if v.is_real]
        except (NotImplementedError, TimeoutError, ValueError, TypeError):
            xs = []
        if xs:
            return xs[0], value, True
    return None


def _maximum(activation: Activation):
    df = activation.derivative
    second = sp.diff(df, X)
    try:
        with time_limit(SOLVE_SECONDS):
            roots = [r for r in sp.solve(second, X) if r.is_real]
    except (NotImplementedError, TimeoutError, ValueError, TypeError):
        roots = None
    values = [(sp.simplify(df.xreplace({X: r})), r) for r in roots or []]
    values = [(value, r) for value, r in values if value.is_real and value.is_finite]
    if values:
        best = max(values, key=lambda v: float(v[0]))
        return best[1], best[0], True
    # numerically: the largest f' on the grid, then the root of f'' beside it
    samples = [(value, point) for value, point in ((real_at(df, point), point) for point in GRID) if value is not None]
    if not samples:
        return None
    top, at = max(samples)
    if at in (GRID[0], GRID[-1]):
        return None
    try:
        with mpmath.workdps(30):
            root = mpmath.findroot(lambda v: Evaluator({X: v})(second), mpmath.mpf(at))
            peak = Evaluator({X: root})(df)
    except (ValueError, ZeroDivisionError, TypeError):
        return None
    if isinstance(root, mpmath.mpc) or mpmath.isnan(peak) or _above(top, peak):
        return None  # found a lower point than the grid's best
    return sp.Float(mpmath.nstr(root, 8), 8), sp.Float(mpmath.nstr(peak, 8), 8), False


def flip_signs(e: sp.Expr | None) -> sp.Expr | None:
    """y (y - 1)(2y - 1) as y (1 - y)(1 - 2y): flip factors in pairs, so the value is unchanged."""
    if e is None or not e.is_Mul:
        return e
    factors = list(e.args)
    flips = [i for i, f in enumerate(factors) if f.is_Add and f.as_coeff_Add()[0] < 0]
    for i in flips[: len(flips) // 2 * 2]:
        factors[i] = sp.Mul(-1, factors[i])  # -(y - 1) evaluates to 1 - y
    return sp.Mul(*factors, evaluate=False) if flips else e
