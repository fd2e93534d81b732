"""The catalog of activations and losses, each a SymPy expression that SymPy differentiates.

Nothing here types in a derivative: `Activation.derivative` is `sympy.diff` of the activation, and
`Activation.output_form` is found by `find_output_form`, which only accepts a form it has verified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import sympy as sp
from sympy.calculus.util import continuous_domain

from derive.budget import time_limit
from derive.spec.expr import FUNCTIONS

x = sp.Symbol("x", real=True)
u = sp.Symbol("u", real=True)
y = sp.Symbol("y", real=True)
t = sp.Symbol("t", real=True)

# Points where an output form is checked against f'(u); none sits on a kink at 0.
PROBE_POINTS = (-3.1, -1.7, -0.6, -0.15, 0.2, 0.9, 1.6, 2.8)


@dataclass(frozen=True)
class Activation:
    """y = f(u) elementwise (or softmax over the layer, where `expr` is None)."""

    name: str
    expr: sp.Expr | None  # in `x`
    custom: bool = False
    alpha: sp.Rational | None = None  # leaky_relu's slope

    @property
    def is_softmax(self) -> bool:
        return self.expr is None

    def of(self, arg: sp.Expr) -> sp.Expr:
        return self.expr.xreplace({x: arg})

    @cached_property
    def derivative(self) -> sp.Expr:
        """f'(x), by sympy.diff."""
        return _tidy(sp.diff(self.expr, x))

    @cached_property
    def output_form(self) -> sp.Expr | None:
        """g(y) with g(f(u)) == f'(u) for all real u, or None when there is none in closed form."""
        if self.is_softmax:
            return None
        return find_output_form(self.expr)

    @cached_property
    def domain(self) -> sp.Set:
        """Where f is real and continuous, when SymPy finds an interval (log: x > 0); else all reals."""
        return sp.Reals if self.is_softmax else real_domain(self.expr)

    @cached_property
    def derivative_sup(self) -> sp.Expr | None:
        """sup f' over the real domain of f, by SymPy: 1/4 for the sigmoid, 1 for softplus (approached, not
        reached), oo where the slope is unbounded (x**3, tan(x) at its poles, sqrt(x) at 0), 0 for log(-x)
        (on x < 0); None when SymPy cannot tell (or f' is piecewise)."""
        if self.is_softmax:
            return None
        return supremum(self.derivative, self.domain)

    @cached_property
    def derivative_max(self) -> tuple[sp.Expr, sp.Expr] | None:
        """(argmax, max) of f' over the reals when SymPy finds it, e.g. sigmoid: (0, 1/4); None where the
        slope has no maximum (unbounded, or a bound only approached)."""
        if self.derivative_sup is not None and not self.derivative_sup.is_finite:
            return None
        found = _maximum(self.derivative)
        if found is not None and self.derivative_sup is not None and sp.simplify(found[1] - self.derivative_sup) != 0:
            return None
        return found

    def dydu(self, u_value: sp.Expr, y_value: sp.Expr) -> sp.Expr:
        """The local derivative dy/du, in output form when there is one."""
        if self.output_form is not None:
            return self.output_form.xreplace({y: y_value})
        return self.derivative.xreplace({x: u_value})


def _tidy(e: sp.Expr) -> sp.Expr:
    if e.has(sp.Piecewise):
        return sp.piecewise_fold(e)
    return e


def _agrees(candidate: sp.Expr, f: sp.Expr, df: sp.Expr) -> bool:
    """candidate(f(u)) == f'(u) at every probe point, to 30 digits."""
    for point in PROBE_POINTS:
        p = sp.Float(point, 40)
        try:
            want = df.xreplace({x: p}).evalf(40)
            yv = f.xreplace({x: p}).evalf(40)
            got = candidate.xreplace({y: yv}).evalf(40)
        except (TypeError, ValueError, ZeroDivisionError):
            return False
        if not (want.is_real and got.is_real and want.is_finite and got.is_finite):
            return False
        if abs(want - got) > sp.Float(10) ** -25 * (1 + abs(want)):
            return False
    return True


def _candidates(f: sp.Expr, df: sp.Expr) -> list[sp.Expr]:
    """Ways to write f'(u) in y = f(u): substitution, solving for a function inside f, inverting f,
    and piecewise thresholds."""
    direct = df.subs(f, y)
    if x not in direct.free_symbols and _agrees(direct, f, df):
        return [direct]  # found by substitution (tanh: 1 - y**2); no need to invert f
    if isinstance(f, sp.Piecewise):
        return _piecewise_candidates(f, df)
    found = _atom_candidates(f, df)
    try:
        with time_limit(5):
            inverses = sp.solve(sp.Eq(y, f), x)
            found += [sp.simplify(df.xreplace({x: inverse})) for inverse in inverses]
    except (NotImplementedError, TimeoutError, ValueError, TypeError):
        pass
    return found


def _atom_candidates(f: sp.Expr, df: sp.Expr) -> list[sp.Expr]:
    """Solve y = f for one function of x inside it (exp(-x) in the sigmoid, tanh(x) in 2 tanh(x)),
    when f and f' are both written in that function alone."""
    a = sp.Dummy("a")
    found = []
    for atom in sorted(f.atoms(sp.Function), key=sp.default_sort_key):
        if x not in atom.free_symbols:
            continue
        f_a, df_a = f.subs(atom, a), df.subs(atom, a)
        if x in f_a.free_symbols | df_a.free_symbols:
            continue
        try:
            with time_limit(2):
                found += [sp.simplify(df_a.xreplace({a: value})) for value in sp.solve(sp.Eq(y, f_a), a)]
        except (NotImplementedError, TimeoutError, ValueError, TypeError):
            continue
    return found


def _piecewise_candidates(f: sp.Piecewise, df: sp.Expr) -> list[sp.Expr]:
    """For a monotone piecewise f with thresholds x > a, the same pieces hold for y > f(a)."""
    df = sp.piecewise_fold(df)
    if not isinstance(df, sp.Piecewise):
        return []
    pieces = []
    for value, cond in df.args:
        if x in value.free_symbols:
            return []
        if cond == sp.true:
            pieces.append((value, True))
            continue
        if not isinstance(cond, sp.core.relational.Relational) or cond.lhs != x or x in cond.rhs.free_symbols:
            return []
        threshold = f.xreplace({x: cond.rhs})
        pieces.append((value, cond.func(y, threshold)))
    return [sp.Piecewise(*pieces)]


def find_output_form(f: sp.Expr) -> sp.Expr | None:
    """Search for g with g(f(u)) = f'(u), verified at probe points; prefer the simplest one."""
    df = _tidy(sp.diff(f, x))
    best = None
    for candidate in _candidates(f, df):
        if candidate.has(sp.I, sp.LambertW) or x in candidate.free_symbols:
            continue
        if not _agrees(candidate, f, df):
            continue
        candidate = _pretty(candidate)
        if best is None or sp.count_ops(candidate) < sp.count_ops(best):
            best = candidate
    if best is not None and sp.count_ops(best) > sp.count_ops(df) + 2:
        return None  # no simpler than f'(u): not worth printing
    return best


def _pretty(e: sp.Expr) -> sp.Expr:
    """y*(1 - y) rather than -y**2 + y: factor a polynomial when that is no longer."""
    if isinstance(e, sp.Piecewise):
        return e
    factored = sp.factor(e)
    if sp.count_ops(factored) <= sp.count_ops(e):
        e = factored
    # -y*(y - 1) reads better as y*(1 - y)
    if isinstance(e, sp.Mul) and e.could_extract_minus_sign():
        for arg in e.args:
            if arg.is_Add and arg.could_extract_minus_sign():
                return sp.Mul(*[a for a in (-e).args if a != arg], -arg, evaluate=False)
    return e


SUP_SECONDS = 4.0  # several times what the slowest activation of the whitelist takes (tan: 0.8 s)


def real_domain(f: sp.Expr) -> sp.Set:
    """Where f is real and continuous, when that is an interval (log: x > 0); else all reals (tan's poles
    are left to the search for a supremum, which finds them)."""
    try:
        with time_limit(SUP_SECONDS):
            domain = continuous_domain(f, x, sp.Reals)
    except (NotImplementedError, TimeoutError, ValueError, TypeError, AttributeError):
        return sp.Reals
    return domain if isinstance(domain, sp.Interval) else sp.Reals


def supremum(df: sp.Expr, domain: sp.Set = sp.Reals) -> sp.Expr | None:
    """sup of df(x) over the real x of `domain`, by `sympy.maximum`; None when SymPy cannot tell."""
    if df.is_number:
        return df if df.is_real else None
    if df.has(sp.Piecewise):
        return None
    try:
        with time_limit(SUP_SECONDS):
            sup = sp.maximum(df, x, domain)
    except (NotImplementedError, TimeoutError, ValueError, TypeError, AttributeError):
        return None
    if sup is sp.oo or (sup.is_real and sup.is_finite):
        return sup
    return None


def _maximum(df: sp.Expr):
    if df.has(sp.Piecewise) or df.is_number:
        return None
    try:
        with time_limit(5):
            critical = [c for c in sp.solve(sp.diff(df, x), x) if c.is_real]
    except (NotImplementedError, TimeoutError, ValueError, TypeError):
        return None
    best = None
    for c in critical:
        value = sp.simplify(df.xreplace({x: c}))
        if not value.is_real:
            continue
        if best is None or value > best[1]:
            best = (c, value)
    if best is None:
        return None
    # a maximum must beat the limits at both ends
    for end in (sp.oo, -sp.oo):
        try:
            limit = sp.limit(df, x, end)
        except (NotImplementedError, ValueError):
            return None
        if limit.is_comparable and limit > best[1]:
            return None
    return best


def _builtin(name: str, expr: sp.Expr) -> Activation:
    return Activation(name, expr)


ACTIVATIONS: dict[str, Activation] = {
    "identity": _builtin("identity", x),
    "sigmoid": _builtin("sigmoid", FUNCTIONS["sigmoid"](x)),
    "tanh": _builtin("tanh", sp.tanh(x)),
    "relu": _builtin("relu", FUNCTIONS["relu"](x)),
    "softplus": _builtin("softplus", FUNCTIONS["softplus"](x)),
    "softmax": Activation("softmax", None),
}
LEAKY_RELU_ALPHA = sp.Rational(1, 100)
ACTIVATION_NAMES = (*ACTIVATIONS, "leaky_relu")


def leaky_relu(alpha: sp.Rational = LEAKY_RELU_ALPHA) -> Activation:
    return Activation("leaky_relu", sp.Piecewise((x, x > 0), (alpha * x, True)), alpha=alpha)


def activation(name: str, alpha: sp.Rational | None = None) -> Activation:
    if name == "leaky_relu":
        return leaky_relu(LEAKY_RELU_ALPHA if alpha is None else alpha)
    return ACTIVATIONS[name]


def custom_activation(name: str, expr: sp.Expr) -> Activation:
    return Activation(name, expr, custom=True)


@dataclass(frozen=True)
class Loss:
    """Per-sample loss E = scale * sum_k expr(y_k, t_k); `mean_over_outputs` makes scale 1/n."""

    name: str
    expr: sp.Expr  # in `y` and `t`
    mean_over_outputs: bool = False
    custom: bool = False
    needs_probability: bool = False
    fused: dict = field(default_factory=dict, compare=False, hash=False)

    def of(self, y_value: sp.Expr, t_value: sp.Expr) -> sp.Expr:
        return self.expr.xreplace({y: y_value, t: t_value})

    @cached_property
    def derivative(self) -> sp.Expr:
        """d expr / d y, by sympy.diff (without the 1/n of a mean over outputs)."""
        return sp.diff(self.expr, y)


LOSSES: dict[str, Loss] = {
    "half_sse": Loss("half_sse", (y - t) ** 2 / 2),
    "sse": Loss("sse", (y - t) ** 2),
    "mse": Loss("mse", (y - t) ** 2, mean_over_outputs=True),
    "cross_entropy": Loss("cross_entropy", -t * sp.log(y), needs_probability=True),
    "bce": Loss("bce", -(t * sp.log(y) + (1 - t) * sp.log(1 - y)), needs_probability=True),
}
PROBABILITY_ACTIVATIONS = ("sigmoid", "softmax")


def custom_loss(name: str, expr: sp.Expr) -> Loss:
    return Loss(name, expr, custom=True)
