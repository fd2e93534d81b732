"""Elementwise SymPy expressions -> stable, vectorized NumPy source.

Two steps, both SymPy: `stabilize` rewrites an expression into numerically safe functions
(sigmoid, log-add-exp, log1p, expm1) with `sympy.codegen.rewriting` optimisations, and
`ArrayPrinter` (a `NumPyPrinter` subclass) prints it over whole arrays, with `np.` as the module
and `np.where` for piecewise functions. Nothing here keeps a table of derivatives: the expressions
come from the derivation.
"""

from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p
from sympy.codegen.numpy_nodes import logaddexp
from sympy.codegen.rewriting import ReplaceOptim, expm1_opt, log1p_opt, optimize
from sympy.printing.codeprinter import PrintMethodNotImplementedError
from sympy.printing.numpy import NumPyPrinter


class Sigmoid(sp.Function):
    """The logistic function 1/(1 + exp(-a)), printed as a call of the module's stable `_sigmoid`."""

    nargs = 1

    def fdiff(self, argindex=1):
        s = Sigmoid(self.args[0])
        return s * (1 - s)


class RowSum(sp.Function):
    """A sum over the neurons of a layer (one row of the batch), e.g. the Σ_r of a softmax delta."""

    nargs = 1


class Mask(sp.Function):
    """Piecewise((1, cond), (0, True)) as a factor: the boolean array `cond`, which NumPy multiplies as 0/1."""

    nargs = 1


def _is_exp(e: sp.Expr) -> bool:
    return isinstance(e, sp.exp)


def _sigmoid_arguments(expr: sp.Expr) -> list[sp.Expr]:
    """Every `a` such that expr holds 1/(1 + exp(-a)) or a power of it (the logistic pattern)."""
    found = []
    for node in sp.preorder_traversal(expr):
        if node.is_Pow and node.exp.is_negative and node.base.is_Add and len(node.base.args) == 2:
            one, other = sorted(node.base.args, key=lambda a: a != 1)
            if one == 1 and _is_exp(other):
                a = sp.expand(-other.args[0])
                if a not in found:
                    found.append(a)
    return sorted(found, key=sp.default_sort_key)


def to_sigmoid(expr: sp.Expr) -> sp.Expr:
    """Write exp(±a) through s = sigmoid(a) where the logistic pattern appears (exp(-a) = (1 - s)/s).

    1/(1 + exp(-u)) becomes s, exp(-u)/(1 + exp(-u))**2 becomes s(1 - s): no exp left to overflow.
    The rewrite is kept only when every exp(±a) disappears.
    """
    for a in _sigmoid_arguments(expr):
        s = sp.Dummy("s", positive=True)
        candidate = expr.subs({sp.exp(-a): (1 - s) / s, sp.exp(a): s / (1 - s)})
        candidate = sp.factor(sp.cancel(candidate))
        if candidate.has(sp.exp(-a)) or candidate.has(sp.exp(a)):
            continue
        expr = candidate.xreplace({s: Sigmoid(a)})
    return expr


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

# stability first, then the C99/NumPy ones: exp(a) - 1 -> expm1(a), log(1 + a) -> log1p(a)
OPTIMISATIONS = (softplus_opt, logcosh_opt, log_sigmoid_opt, relu_opt, mask_opt, expm1_opt, log1p_opt)


def stabilize(expr: sp.Expr) -> sp.Expr:
    """The same function, rewritten so that large |u| gives no overflow, no log(0) and no inf/inf."""
    expr = to_sigmoid(expr)
    return optimize(expr, OPTIMISATIONS)


class ArrayPrinter(NumPyPrinter):
    """NumPy source over whole arrays, with `import numpy as np` and infix comparisons."""

    def __init__(self, settings=None):
        super().__init__({"fully_qualified_modules": True, **(settings or {})})

    def _module_format(self, fqn, register=True):
        if fqn.startswith("numpy."):
            fqn = "np." + fqn[len("numpy."):]
        return super()._module_format(fqn, register)

    def _print_Sigmoid(self, expr):
        return f"_sigmoid({self._print(expr.args[0])})"

    def _print_Mask(self, expr):
        return self._print(expr.args[0])

    def _print_RowSum(self, expr):
        return f"np.sum({self._print(expr.args[0])}, axis=1, keepdims=True)"

    def _print_logaddexp(self, expr):
        return f"np.logaddexp({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def _print_log1p(self, expr):
        return f"np.log1p({self._print(expr.args[0])})"

    def _print_expm1(self, expr):
        return f"np.expm1({self._print(expr.args[0])})"

    def _print_Max(self, expr):
        if len(expr.args) != 2:
            return super()._print_Max(expr)
        a, b = sorted(expr.args, key=lambda e: e.is_number)  # the array first: np.maximum(U, 0)
        return f"np.maximum({self._print(a)}, {self._print(b)})"

    def _print_Piecewise(self, expr):
        *branches, (last, cond) = expr.args
        if cond != sp.true:
            raise ValueError(f"a piecewise function without a default branch: {expr}")
        text = self._branch(last)
        for value, condition in reversed(branches):
            cond = self._print(condition)
            if isinstance(condition, sp.core.relational.Relational) and cond.startswith("("):
                cond = cond[1:-1]  # np.where(Y > 0, ...), not np.where((Y > 0), ...)
            text = f"np.where({cond}, {self._branch(value)}, {text})"
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


def print_array(expr: sp.Expr) -> str:
    """NumPy source of an elementwise expression over the arrays its symbols name."""
    if isinstance(expr, Mask):  # alone, not as a factor: give numbers, not booleans
        expr = sp.Piecewise((1, expr.args[0]), (0, True))
    return _doprint(expr)


def _doprint(expr: sp.Expr) -> str:
    try:
        return _PRINTER.doprint(numeric_constants(expr))
    except PrintMethodNotImplementedError as exc:
        kind = str(exc).splitlines()[0].rsplit(":", 1)[-1].strip()
        raise UnprintableError(f"no NumPy form for {kind} in {sp.sstr(expr)[:120]}") from None


def print_lines(expr: sp.Expr, target: str, temp_prefix: str, op: str = "=") -> list[str]:
    """`target = expr` (or `target *= expr`) as NumPy lines, common subexpressions first (sympy.cse)."""
    temps = sp.numbered_symbols(temp_prefix, real=True)
    replacements, (reduced,) = sp.cse([expr], symbols=temps, optimizations="basic")
    lines = [f"{name} = {print_array(value)}" for name, value in replacements]
    # a boolean mask may stand alone only as the factor of an in-place product: G *= (Y > 0)
    lines.append(f"{target} {op} {_doprint(reduced) if op == '*=' else print_array(reduced)}")
    return lines


__all__ = [
    "ArrayPrinter",
    "Mask",
    "RowSum",
    "Sigmoid",
    "expm1",
    "log1p",
    "logaddexp",
    "print_array",
    "print_lines",
    "stabilize",
    "to_sigmoid",
]
