"""Elementwise SymPy expressions -> stable, vectorized NumPy source.

Three parts, all SymPy:

- `stabilize` rewrites an expression into numerically safe functions (sigmoid, log-add-exp, erfc,
  log1p, expm1) with `sympy.codegen.rewriting` optimisations. Every rewrite is an identity; none
  introduces a power or a quotient that can overflow where the original is finite.
- `ArrayPrinter` (a `NumPyPrinter` subclass) prints it over whole arrays, with `np.` as the module,
  `np.where` for piecewise functions and calls of the helpers below for what NumPy lacks.
- `reference` and `float_values` evaluate an expression of one variable exactly (mpmath) and as the
  generated module would (the printed NumPy lines, float64), so that `model` can keep only forms
  that are finite and right wherever the function is.

The helpers (`_sigmoid`, `_erf`, `_erfc`) are NumPy functions written here, tested here, and copied
into a generated module (by their source) only when its code calls them. Nothing here keeps a table
of derivatives: the expressions come from the derivation.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable

import mpmath
import numpy as np
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p
from sympy.codegen.numpy_nodes import logaddexp
from sympy.codegen.rewriting import ReplaceOptim, expm1_opt, log1p_opt, optimize
from sympy.printing.codeprinter import PrintMethodNotImplementedError
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.pycode import MpmathPrinter

# ---------------------------------------------------------------- helpers copied into the modules


def _sigmoid(u):
    """1 / (1 + exp(-u)) without overflow: exp of -|u| only."""
    e = np.exp(-np.abs(u))
    s = 1 / (1 + e)
    return np.where(u >= 0, s, e * s)


def _erf_near(x):
    """erf(x) for |x| <= 0.46875 (x is clipped to +-0.5): W. J. Cody's rational approximation x P(x**2) / Q(x**2)."""
    x = np.clip(x, -0.5, 0.5)
    z = x * x
    num = 1.85777706184603153e-1 * z
    den = z
    for p, q in ((3.16112374387056560e0, 2.36012909523441209e1), (1.13864154151050156e2, 2.44024637934444173e2),
                 (3.77485237685302021e2, 1.28261652607737228e3)):
        num = (num + p) * z
        den = (den + q) * z
    return x * (num + 3.20937758913846947e3) / (den + 2.84423683343917062e3)


def _erfc_far(a):
    """erfc(a) for a >= 0.46875: W. J. Cody's rational approximations (Math. Comp. 23, 1969, 631-638), one on
    [0.46875, 4] and one in 1/a**2 above 4, times exp(-a**2) taken as exp(-r**2) exp(-(a - r)(a + r)) with r = a
    rounded down to 1/16, so that a**2 loses no digits; a is clipped to [0, 28] (erfc(28) is 0 in float64)."""
    a = np.clip(a, 0.0, 28.0)
    m = np.minimum(a, 4.0)
    num = 2.15311535474403846e-8 * m
    den = m
    for p, q in ((5.64188496988670089e-1, 1.57449261107098347e1), (8.88314979438837594e0, 1.17693950891312499e2),
                 (6.61191906371416295e1, 5.37181101862009858e2), (2.98635138197400131e2, 1.62138957456669019e3),
                 (8.81952221241769090e2, 3.29079923573345963e3), (1.71204761263407058e3, 4.36261909014324716e3),
                 (2.05107837782607147e3, 3.43936767414372164e3)):
        num = (num + p) * m
        den = (den + q) * m
    near = (num + 1.23033935479799725e3) / (den + 1.23033935480374942e3)
    b = np.maximum(a, 4.0)
    z = 1 / (b * b)
    num = 1.63153871373020978e-2 * z
    den = z
    for p, q in ((3.05326634961232344e-1, 2.56852019228982242e0), (3.60344899949804439e-1, 1.87295284992346047e0),
                 (1.25781726111229246e-1, 5.27905102951428412e-1), (1.60837851487422766e-2, 6.05183413124413191e-2)):
        num = (num + p) * z
        den = (den + q) * z
    far = (5.6418958354775628695e-1 - z * (num + 6.58749161529837803e-4) / (den + 2.33520497626869185e-3)) / b
    r = np.floor(a * 16) / 16
    return np.where(a <= 4, near, far) * np.exp(-r * r) * np.exp(-(a - r) * (a + r))


def _erf(x):
    """The error function to float64 rounding, elementwise (W. J. Cody's approximations; NumPy has none)."""
    a = np.abs(x)
    return np.where(a <= 0.46875, _erf_near(x), np.copysign(1 - _erfc_far(a), x))


def _erfc(x):
    """1 - erf(x) to float64 rounding, tails included (erfc(10) = 2.1e-45, not 0)."""
    a = np.abs(x)
    far = _erfc_far(a)
    return np.where(a <= 0.46875, 1 - _erf_near(x), np.where(x < 0, 2 - far, far))


def _windows(a, pads, window, axes):
    """Every window of `window` positions along `axes` of `a`, zero-padded by `pads` first: a view (the new window
    axes last), copied only by the padding."""
    if any(pad != (0, 0) for pad in pads):
        a = np.pad(a, pads)
    return np.lib.stride_tricks.sliding_window_view(a, window, axis=axes)


def _dilate(a, steps):
    """`a` with step - 1 zeros between neighbours along each axis: a strided index map's gradient spread back."""
    out = np.zeros(tuple((n - 1) * s + 1 for n, s in zip(a.shape, steps)), dtype=a.dtype)
    out[tuple(slice(None, None, s) for s in steps)] = a
    return out


def _keep(rng, shape, p, dtype):
    """Inverted dropout's scaled mask: 0 with probability p, else 1/(1 - p), drawn from rng; 1 without one."""
    if rng is None:
        return np.ones(shape, dtype=dtype)
    return (rng.random(shape) >= p).astype(dtype) / dtype(1 - p)


def _window_max(a, axes):
    """The maximum over the short `axes` of a (a pooling window), taken pairwise: NumPy's reductions over a few
    strided elements cost far more than a few elementwise maxima."""
    for axis in sorted(axes, reverse=True):
        parts = np.moveaxis(a, axis, 0)
        a = parts[0]
        for part in parts[1:]:
            a = np.maximum(a, part)
    return a


def _first_max(a, axes):
    """1 where each window (the `axes` of a, moved last) has its first maximum in row-major order, 0 elsewhere:
    the maximum pairwise, then each element in turn marked where it equals it and no earlier one did."""
    a = np.moveaxis(a, axes, tuple(range(-len(axes), 0)))
    best = _window_max(a, tuple(range(a.ndim - len(axes), a.ndim)))
    out = np.empty(a.shape, dtype=a.dtype)
    found = np.zeros(best.shape, dtype=bool)
    for offset in np.ndindex(*a.shape[a.ndim - len(axes):]):
        hit = (a[(..., *offset)] == best) & ~found
        out[(..., *offset)] = hit
        found |= hit
    return out


HELPERS: dict[str, Callable] = {f.__name__: f for f in (_sigmoid, _erf, _erfc, _erf_near, _erfc_far, _windows,
                                                        _dilate, _window_max, _first_max, _keep)}
_NEEDS = {"_erf": ("_erf_near", "_erfc_far"), "_erfc": ("_erf_near", "_erfc_far")}


def helper_names(code: str) -> list[str]:
    """The helpers that NumPy source calls, with the ones they call, in a fixed order."""
    called = {name for name in HELPERS if re.search(rf"\b{name}\(", code)}
    called |= {need for name in list(called) for need in _NEEDS.get(name, ())}
    return [name for name in HELPERS if name in called]


def helper_source(name: str) -> str:
    """The source of a helper, as it is copied into a module."""
    return inspect.getsource(HELPERS[name]).rstrip() + "\n"


# ---------------------------------------------------------------- SymPy functions the printer knows


class Sigmoid(sp.Function):
    """The logistic function 1/(1 + exp(-a)), printed as a call of the module's stable `_sigmoid`."""

    nargs = 1

    def fdiff(self, argindex=1):
        s = Sigmoid(self.args[0])
        return s * (1 - s)


class Erfc(sp.Function):
    """erfc(a) = 1 - erf(a), printed as a call of the module's `_erfc`; unlike sympy.erfc it is left as
    written (sympy.erfc(-a) becomes 2 - erfc(a), the cancellation the rewrite is there to avoid)."""

    nargs = 1

    def fdiff(self, argindex=1):
        a = self.args[0]
        return -2 * sp.exp(-(a**2)) / sp.sqrt(sp.pi)


class Mask(sp.Function):
    """Piecewise((1, cond), (0, True)) as a factor: the boolean array `cond`, which NumPy multiplies as 0/1."""

    nargs = 1


# ---------------------------------------------------------------- rewriting


def _is_exp(e: sp.Expr) -> bool:
    return isinstance(e, sp.exp)


def _canonical(a: sp.Expr) -> sp.Expr:
    """One of a, -a, the same for both: the argument a sigmoid pair s(a), s(-a) is named by."""
    return -a if a.could_extract_minus_sign() else a


def _logistic(e: sp.Expr) -> sp.Expr | None:
    """(1 + exp(b))**-k -> sigmoid(-b)**k; None for anything else."""
    if not (e.is_Pow and e.exp.is_negative and e.base.is_Add and len(e.base.args) == 2):
        return None
    one, other = sorted(e.base.args, key=lambda a: a != 1)
    if one != 1 or not _is_exp(other):
        return None
    return Sigmoid(-other.args[0]) ** (-e.exp)


# (1 + exp(-a))**-k = sigmoid(a)**k: the logistic function itself, always exact and bounded
logistic_opt = ReplaceOptim(lambda e: _logistic(e) is not None, _logistic)


def _negative_sigmoid_power(e: sp.Expr) -> bool:
    return any(f.is_Pow and isinstance(f.base, Sigmoid) and f.exp.is_negative for f in sp.preorder_traversal(e))


def _sigmoid_ratio(exponent: sp.Expr, pairs: list[sp.Expr]) -> sp.Expr | None:
    """exp(k a) = (s(a)/s(-a))**k for a sigmoid pair a and a nonzero integer k; None if there is none."""
    for a in pairs:
        k = sp.cancel(exponent / a)
        if k.is_Integer and k != 0:
            return (Sigmoid(a) / Sigmoid(-a)) ** k
    return None


def _exp_through_sigmoids(e: sp.Mul, pairs: list[sp.Expr]) -> sp.Expr:
    """A product holding exp(k a) and powers of s(a), s(-a), with exp(a) = s(a)/s(-a) put in, where that
    leaves no power of a sigmoid in a denominator: exp(-u) s(u)**2 -> s(u) s(-u), s'(u) without exp."""
    factors = []
    changed = False
    for f in e.args:
        ratio = _sigmoid_ratio(f.args[0], pairs) if _is_exp(f) else None
        factors.append(f if ratio is None else ratio)
        changed |= ratio is not None
    if not changed:
        return e
    candidate = sp.Mul(*factors)
    if not _negative_sigmoid_power(candidate):
        return candidate
    expanded = sp.expand(candidate)
    if not _negative_sigmoid_power(expanded):
        return expanded
    return e


def to_sigmoid(expr: sp.Expr) -> sp.Expr:
    """Write the logistic pattern 1/(1 + exp(-a)) as s(a) = sigmoid(a), and exp(±a) through s(a), s(-a)
    where it multiplies them: exp(-u)/(1 + exp(-u))**2 becomes s(u) s(-u), no exp left to overflow.

    Only exp(k a) with an integer k is written so (a rational function of the sigmoids), and only in a
    product where no sigmoid is left in a denominator: s(a) and s(-a) are in (0, 1], so what comes out
    is bounded where the terms were. exp(u/e) beside s(pi u) stays exp(u/e) (no power of s(pi u)).
    """
    expr = optimize(expr, (logistic_opt,))
    pairs = sorted({_canonical(s.args[0]) for s in expr.atoms(Sigmoid)}, key=sp.default_sort_key)
    if not pairs or not expr.has(sp.exp):
        return expr
    return expr.replace(lambda e: e.is_Mul and any(_is_exp(f) for f in e.args),
                        lambda e: _exp_through_sigmoids(e, pairs))


def _log_of_sigmoid(e: sp.Expr) -> bool:
    return isinstance(e, sp.log) and _sigmoid_of(e.args[0]) is not None


def _sigmoid_of(arg: sp.Expr) -> sp.Expr | None:
    """a for arg = sigmoid(a); -a for arg = 1 - sigmoid(a) (= sigmoid(-a)); else None."""
    if isinstance(arg, Sigmoid):
        return arg.args[0]
    rest = sp.expand(1 - arg)
    if isinstance(rest, Sigmoid):
        return -rest.args[0]
    return None


def _complement(e: sp.Expr, function, complement, argument) -> sp.Expr | None:
    """In a sum, c + c f(a) -> c g(a) with the complement g of f (1 - sigmoid(a) = sigmoid(-a),
    1 - erf(a) = erfc(a), 1 + erf(a) = erfc(-a)): no cancellation of nearly equal numbers."""
    if not e.is_Add or not e.free_symbols:
        return None
    constant, rest = e.as_independent(*e.free_symbols)
    if constant == 0 or not constant.is_number:
        return None
    for term in sp.Add.make_args(rest):
        coefficient, f = term.as_coeff_Mul()
        if not isinstance(f, function):
            continue
        if coefficient == -constant:
            return e - constant - term + constant * complement(f.args[0])
        if coefficient == constant and argument is not None:
            return e - constant - term + constant * complement(argument(f.args[0]))
    return None


# 1 - sigmoid(a) = sigmoid(-a): accurate where sigmoid(a) is near 1
sigmoid_complement_opt = ReplaceOptim(
    lambda e: _complement(e, Sigmoid, lambda a: Sigmoid(-a), None) is not None,
    lambda e: _complement(e, Sigmoid, lambda a: Sigmoid(-a), None),
)

# 1 - erf(a) = erfc(a), 1 + erf(a) = erfc(-a): GELU's x (1 + erf(x/sqrt(2)))/2 keeps its digits for x < 0
erfc_opt = ReplaceOptim(
    lambda e: _complement(e, sp.erf, Erfc, lambda a: -a) is not None,
    lambda e: _complement(e, sp.erf, Erfc, lambda a: -a),
)

# log(sigmoid(a)) = -log(1 + exp(-a)) = -logaddexp(0, -a): the log-sigmoid without overflow or log(0)
log_sigmoid_opt = ReplaceOptim(_log_of_sigmoid, lambda e: -logaddexp(0, -_sigmoid_of(e.args[0])))

# log(1 + exp(a)) = logaddexp(0, a): softplus
softplus_opt = ReplaceOptim(
    lambda e: isinstance(e, sp.log) and e.args[0].is_Add and len(e.args[0].args) == 2 and 1 in e.args[0].args
    and any(_is_exp(a) for a in e.args[0].args),
    lambda e: logaddexp(0, next(a for a in e.args[0].args if _is_exp(a)).args[0]),
)

# log(cosh(a)) = logaddexp(a, -a) - log(2)
logcosh_opt = ReplaceOptim(
    lambda e: isinstance(e, sp.log) and isinstance(e.args[0], sp.cosh),
    lambda e: logaddexp(e.args[0].args[0], -e.args[0].args[0]) - sp.log(2),
)

# Piecewise((a, a > 0), (0, True)) = max(a, 0): ReLU
relu_opt = ReplaceOptim(
    lambda e: isinstance(e, sp.Piecewise) and len(e.args) == 2 and e.args[1] == (0, True)
    and e.args[0].cond == sp.StrictGreaterThan(e.args[0].expr, 0),
    lambda e: sp.Max(e.args[0].expr, 0),
)

# Piecewise((1, c), (0, True)) = [c], e.g. ReLU's derivative [y > 0]: a boolean factor, no np.where
mask_opt = ReplaceOptim(
    lambda e: isinstance(e, sp.Piecewise) and len(e.args) == 2 and e.args[0].expr == 1 and e.args[1] == (0, True),
    lambda e: Mask(e.args[0].cond),
)

# the logs first (before their exp becomes a sigmoid), then the sigmoids, then stability of what is
# left, then the C99/NumPy ones: exp(a) - 1 -> expm1(a), log(1 + a) -> log1p(a)
BEFORE_SIGMOID = (softplus_opt, logcosh_opt)
AFTER_SIGMOID = (sigmoid_complement_opt, log_sigmoid_opt, erfc_opt, relu_opt, mask_opt, expm1_opt, log1p_opt)


def stabilize(expr: sp.Expr) -> sp.Expr:
    """The same function, rewritten so that large |u| gives no overflow, no log(0) and no inf/inf."""
    expr = optimize(expr, BEFORE_SIGMOID)
    expr = to_sigmoid(expr)
    return optimize(expr, AFTER_SIGMOID)


# ---------------------------------------------------------------- printing


class ArrayPrinter(NumPyPrinter):
    """NumPy source over whole arrays, with `import numpy as np` and infix comparisons. `ns` names the array
    module in the printed code; `helper` prints a call of one of the module's helpers (a subclass for another
    array library changes both)."""

    language_name = "NumPy"
    ns = "np"

    def __init__(self, settings=None, views: dict[sp.Symbol, str] | None = None):
        super().__init__({"fully_qualified_modules": True, **(settings or {})})
        self.views = views or {}  # symbols printed as given: array uses as aligned views (MU2[:, None])

    def _print_Symbol(self, expr):
        return self.views.get(expr) or super()._print_Symbol(expr)

    def _module_format(self, fqn, register=True):
        if fqn.startswith("numpy."):
            fqn = self.ns + "." + fqn[len("numpy."):]
        return super()._module_format(fqn, register)

    def helper(self, name: str, *args) -> str:
        return f"{name}({', '.join(self._print(a) for a in args)})"

    def _print_Pow(self, expr, rational=False):
        # the arrays are floating point, so 1/U and U**(-2), not NumPyPrinter's U**(-1.0) (a slower np.power)
        return self._hprint_Pow(expr, rational=rational, sqrt=self._module + ".sqrt")

    def _print_Sigmoid(self, expr):
        return self.helper("_sigmoid", expr.args[0])

    def _print_erf(self, expr):
        return self.helper("_erf", expr.args[0])

    def _print_erfc(self, expr):
        return self.helper("_erfc", expr.args[0])

    def _print_Erfc(self, expr):
        return self.helper("_erfc", expr.args[0])

    def _print_Mask(self, expr):
        return self._print(expr.args[0])

    def _print_logaddexp(self, expr):
        return f"{self.ns}.logaddexp({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def _print_log1p(self, expr):
        return f"{self.ns}.log1p({self._print(expr.args[0])})"

    def _print_expm1(self, expr):
        return f"{self.ns}.expm1({self._print(expr.args[0])})"

    def _print_Max(self, expr):
        if len(expr.args) != 2:
            return super()._print_Max(expr)
        a, b = sorted(expr.args, key=lambda e: e.is_number)  # the array first: np.maximum(U, 0)
        return f"{self.ns}.maximum({self._print(a)}, {self._print(b)})"

    def _print_Piecewise(self, expr):
        *branches, (last, cond) = expr.args
        if cond != sp.true:
            raise UnprintableError(f"a piecewise function without a default branch: {sp.sstr(expr)[:120]}")
        text = self._branch(last)
        for value, condition in reversed(branches):
            cond = self._print(condition)
            if isinstance(condition, sp.core.relational.Relational) and cond.startswith("("):
                cond = cond[1:-1]  # np.where(Y > 0, ...), not np.where((Y > 0), ...)
            text = f"{self.ns}.where({cond}, {self._branch(value)}, {text})"
        return text

    def _branch(self, value):
        """A constant branch of np.where as a DTYPE scalar: np.where(c, 1, 0.1) would be float64."""
        return f"DTYPE({self._print(value)})" if value.is_number else self._print(value)

    def _print_Relational(self, expr):
        ops = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
        if expr.rel_op in ops:
            return f"({self._print(expr.lhs)} {ops[expr.rel_op]} {self._print(expr.rhs)})"
        return super()._print_Relational(expr)


_PRINTER = ArrayPrinter()


class UnprintableError(ValueError):
    """An expression holds something with no NumPy form (e.g. an unevaluated derivative)."""


def numeric_constants(expr: sp.Expr) -> sp.Expr:
    """log(2), pi, sqrt(2) ... as Python float literals: np.log(2) would be a float64 scalar, which
    NumPy 2 does not demote, so float32 arrays would silently become float64."""
    return expr.replace(
        lambda e: e.is_number and not e.is_Rational and not e.is_Float and not e.free_symbols,
        lambda e: sp.Float(e.evalf(20), 17),
    )


def print_array(expr: sp.Expr, printer: ArrayPrinter = _PRINTER) -> str:
    """NumPy source (or another array library's, by `printer`) of an elementwise expression over the arrays its
    symbols name."""
    if isinstance(expr, Mask):  # alone, not as a factor: give numbers, not booleans
        expr = sp.Piecewise((1, expr.args[0]), (0, True))
    return _doprint(expr, printer)


def _doprint(expr: sp.Expr, printer: ArrayPrinter = _PRINTER) -> str:
    try:
        return printer.doprint(numeric_constants(expr))
    except PrintMethodNotImplementedError as exc:
        kind = str(exc).splitlines()[0].rsplit(":", 1)[-1].strip()
        raise UnprintableError(f"no {printer.language_name} form for {kind} in {sp.sstr(expr)[:120]}") from None


def print_lines(expr: sp.Expr, target: str, temp_prefix: str, op: str = "=",
                printer: ArrayPrinter = _PRINTER) -> list[str]:
    """`target = expr` (or `target *= expr`) as NumPy lines, common subexpressions first (sympy.cse)."""
    temps = sp.numbered_symbols(temp_prefix, real=True)
    # constants as floats first: cse would name exp(-1) or pi as a temporary of its own
    replacements, (reduced,) = sp.cse([numeric_constants(expr)], symbols=temps, optimizations="basic")
    lines = [f"{name} = {print_array(value, printer)}" for name, value in replacements]
    # a boolean mask may stand alone only as the factor of an in-place product: G *= (Y > 0)
    lines.append(f"{target} {op} {_doprint(reduced, printer) if op == '*=' else print_array(reduced, printer)}")
    return lines


# ---------------------------------------------------------------- numeric checks of a printed form

# |arguments| of exp, sinh, cosh past which the value is far outside float64; mpmath would compute it
# exactly, which for exp(exp(exp(x))) takes unbounded time and memory
_HUGE = 10**4
_DIGITS = 30
FLOAT_LIMIT = 1e300  # a reference value larger than this is not representable for the purpose of a check


def _exp(a):
    if mpmath.re(a) > _HUGE:
        return mpmath.inf
    if mpmath.re(a) < -_HUGE:
        return mpmath.mpf(0)
    return mpmath.exp(a)


def _sinh(a):
    if abs(mpmath.re(a)) > _HUGE:
        return mpmath.inf if mpmath.re(a) > 0 else -mpmath.inf
    return mpmath.sinh(a)


def _cosh(a):
    if abs(mpmath.re(a)) > _HUGE:
        return mpmath.inf
    return mpmath.cosh(a)


def _pow(base, exponent):
    if base != 0 and mpmath.isfinite(base) and mpmath.isfinite(exponent):
        size = mpmath.re(exponent) * mpmath.log(abs(base))
        if size > _HUGE:
            return mpmath.inf
        if size < -_HUGE:
            return mpmath.mpf(0)
    return mpmath.power(base, exponent)


class _ReferencePrinter(MpmathPrinter):
    """mpmath source with exp, sinh, cosh and powers bounded (see _HUGE)."""

    def _print_exp(self, expr):
        return f"_exp({self._print(expr.args[0])})"

    def _print_sinh(self, expr):
        return f"_sinh({self._print(expr.args[0])})"

    def _print_cosh(self, expr):
        return f"_cosh({self._print(expr.args[0])})"

    def _print_Pow(self, expr, rational=False):
        return f"_pow({self._print(expr.base)}, {self._print(expr.exp)})"

    def _print_Sigmoid(self, expr):
        return f"(1/(1 + _exp(-{self.parenthesize(expr.args[0], 50)})))"


_GUARDS = {"_exp": _exp, "_sinh": _sinh, "_cosh": _cosh, "_pow": _pow, "mpmath": mpmath}
# what evaluating a formula at a point can raise: a value outside a domain or too large, not a bug
NUMERIC_ERRORS = (ArithmeticError, ValueError, TypeError, RecursionError, mpmath.libmp.NoConvergence)


def reference(expr: sp.Expr, x: sp.Symbol, points) -> list[float | None]:
    """expr at each point, exactly (mpmath, 30 digits): a float, or None where it is not a real number
    (complex, NaN, a pole), is beyond ±FLOAT_LIMIT, or cannot be computed. Never raises."""
    try:
        f = sp.lambdify(x, expr, modules=[_GUARDS, "mpmath"], printer=_ReferencePrinter)
    except (*NUMERIC_ERRORS, NotImplementedError):  # nothing mpmath can evaluate
        return [None for _ in points]
    values = []
    with mpmath.workdps(_DIGITS):
        for p in points:
            try:
                v = f(mpmath.mpf(p))
                if isinstance(v, mpmath.mpc):
                    if abs(v.imag) > mpmath.mpf(10) ** -(_DIGITS - 5) * (1 + abs(v.real)):
                        raise ValueError("complex")
                    v = v.real
                v = float(v)
            except NUMERIC_ERRORS:
                values.append(None)
                continue
            values.append(v if math.isfinite(v) and abs(v) <= FLOAT_LIMIT else None)
    return values


def _numpy_function(expr: sp.Expr, names: tuple[str, ...]) -> Callable:
    """The printed lines of `expr` (exactly what a module runs) as a function of the named arrays."""
    body = print_lines(expr, "_value", "_p")
    source = f"def _probe({', '.join(names)}):\n" + "".join(f"    {line}\n" for line in body) + "    return _value\n"
    namespace = {"np": np, "DTYPE": np.float64, **HELPERS}
    # the source is this printer's output for a SymPy expression (no user text): run it as the module would
    exec(compile(source, "<codegen probe>", "exec"), namespace)  # noqa: S102 - printed code, not user text
    return namespace["_probe"]


def float_values(expr: sp.Expr, arrays: dict[str, np.ndarray]) -> list[float | None]:
    """expr in float64 at each point, computed by its printed NumPy lines: None where the result is not
    finite or where NumPy reported an overflow, an invalid operation or a division by zero."""
    names = tuple(arrays)
    f = _numpy_function(expr, names)
    count = len(next(iter(arrays.values())))
    values = []
    for i in range(count):
        args = [np.asarray(arrays[n][i : i + 1], dtype=np.float64) for n in names]
        try:
            with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
                v = np.broadcast_to(f(*args), (1,))[0]
        except (FloatingPointError, ZeroDivisionError, OverflowError):
            values.append(None)
            continue
        values.append(float(v) if np.isfinite(v) else None)
    return values


def misses(values: list[float | None], exact: list[float | None], rtol: float = 1e-6) -> int:
    """How many points where the exact value is a float and the computed one is missing or off by more
    than rtol (relative to max(1, |exact|))."""
    bad = 0
    for v, r in zip(values, exact, strict=True):
        if r is None:
            continue
        if v is None or abs(v - r) > rtol * max(1.0, abs(r)):
            bad += 1
    return bad


__all__ = [
    "HELPERS",
    "ArrayPrinter",
    "Erfc",
    "Mask",
    "Sigmoid",
    "UnprintableError",
    "expm1",
    "float_values",
    "helper_names",
    "helper_source",
    "log1p",
    "logaddexp",
    "misses",
    "print_array",
    "print_lines",
    "reference",
    "stabilize",
    "to_sigmoid",
]
