"""The steps of a derivation: small rule objects, each holding its data and computing its result.

Modelled on SymPy's manualintegrate: a rule knows *what* it derives (`lhs`), from what, and
`eval()` computes the right-hand side with SymPy. Printers (text, LaTeX, Korean) are separate and
word each rule by its class; `role` ties a rule to the numbered equations of DESIGN.md section 3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import sympy as sp

from derive.network.chain import E, in_range
from derive.spec.catalog import Activation, Loss
from derive.spec.catalog import t as T
from derive.spec.catalog import x as X
from derive.spec.catalog import y as Y


def d(expr: sp.Expr, var: sp.Expr) -> sp.Derivative:
    """The unevaluated derivative ∂expr/∂var, as printed in the notes."""
    return sp.Derivative(expr, var)


def tidy(expr: sp.Expr) -> sp.Expr:
    """The shortest of a few equivalent forms; ties keep the earlier (the unexpanded) one.

    sympy.simplify is left out where the expression is a sum or piecewise, and where it has a sign (the
    derivative of abs): simplify rewrites sign(a) as Piecewise((0, Eq(a, 0)), (a/Abs(a), True)), never the
    shorter form, and its piecewise_simplify can crash on the result (SymPy 1.14: with sign(u_k) and
    sign(erf(u_k)), substituting u_k = 0 turns Eq(erf(u_k), 0) into True, which has no .lhs).
    """
    forms = [expr, sp.factor_terms(expr)]
    if not expr.has(sp.Sum, sp.Piecewise):
        forms += [sp.factor(expr)] if expr.has(sp.sign) else [sp.simplify(expr), sp.factor(expr)]
    return min(forms, key=sp.count_ops)


@dataclass(frozen=True)
class Rule:
    layer: int
    lhs: sp.Expr
    role: str = field(default="", kw_only=True)  # equation number of DESIGN.md section 3, if any

    def eval(self) -> sp.Expr:
        raise NotImplementedError

    @cached_property
    def rhs(self) -> sp.Expr:
        return self.eval()


@dataclass(frozen=True)
class ChainRule(Rule):
    """∂E/∂w = ∂E/∂u · ∂u/∂w: a product of local derivatives (or a sum of such products)."""

    factors: tuple[sp.Expr, ...]
    over: tuple | None = None  # (dummy, lower, upper) when the chain runs through a whole layer

    def eval(self):
        product = sp.Mul(*self.factors, evaluate=False)
        return sp.Sum(product, self.over) if self.over else product


@dataclass(frozen=True)
class LinearRule(Rule):
    """∂u_k/∂w_jk = ∂(Σ_q y_q w_qk + b_k)/∂w_jk = y_j: differentiate the weighted sum."""

    expr: sp.Expr  # the weighted sum
    wrt: sp.Expr

    def eval(self):
        return in_range(sp.diff(self.expr, self.wrt).doit())


@dataclass(frozen=True)
class LossRule(Rule):
    """∂E/∂y_k of E = Σ_r loss(y_r, t_r): only the r = k term depends on y_k."""

    loss: Loss
    total: sp.Expr  # E in index form
    y: sp.Expr  # y_k
    t: sp.Expr  # t_k
    size: sp.Expr  # n, for a mean over outputs

    def eval(self):
        # differentiate in the real symbols of the catalog, then index: abs(y - t) stays sign(y - t)
        term = self.loss.derivative.xreplace({Y: self.y, T: self.t})
        return tidy(term / self.size if self.loss.mean_over_outputs else term)


@dataclass(frozen=True)
class ActivationRule(Rule):
    """∂y_k/∂u_k = f'(u_k), and in output form g(y_k) where the catalog found one."""

    activation: Activation
    u: sp.Expr
    y: sp.Expr

    @property
    def in_u(self) -> sp.Expr:
        return self.activation.derivative.xreplace({X: self.u})

    def eval(self):
        return self.activation.dydu(self.u, self.y)


@dataclass(frozen=True)
class SoftmaxRule(Rule):
    """∂y_r/∂u_k = y_r([r = k] - y_k), from y_r = exp(u_r) / Σ_q exp(u_q) by sympy.diff.

    The sum is split as exp(u_k) + R (R free of u_k), which holds for any width.
    """

    y: sp.IndexedBase
    r: sp.Symbol
    k: sp.Symbol

    @cached_property
    def cases(self) -> tuple[sp.Expr, sp.Expr]:
        """(∂y_k/∂u_k, ∂y_r/∂u_k for r != k), each written in the outputs y."""
        uk, ur, rest, total = sp.symbols("u_k u_r R S", positive=True)
        s = sp.exp(uk) + sp.exp(ur) + rest
        yk, yr = sp.exp(uk) / s, sp.exp(ur) / s
        # write exp(u_k) = y_k S, exp(u_r) = y_r S and R = S - exp(u_k) - exp(u_r)
        Yk, Yr = self.y[self.k], self.y[self.r]
        in_outputs = {sp.exp(uk): Yk * total, sp.exp(ur): Yr * total, rest: total * (1 - Yk - Yr)}
        same = sp.simplify(sp.diff(yk, uk).subs(in_outputs))
        other = sp.simplify(sp.diff(yr, uk).subs(in_outputs))
        return sp.factor(same), other

    def eval(self):
        same, other = self.cases
        r, k = self.r, self.k
        # same = y_k(1 - y_k), other = -y_r y_k: one formula with the Kronecker delta
        joined = self.y[r] * (sp.KroneckerDelta(r, k) - self.y[k])
        assert sp.simplify(joined.subs(r, k) - same.subs(r, k)) == 0
        assert sp.simplify(joined - other - self.y[r] * sp.KroneckerDelta(r, k)) == 0
        return joined


@dataclass(frozen=True)
class DeltaRule(Rule):
    """δ_k = ∂E/∂y_k · ∂y_k/∂u_k with both factors worked out, simplified."""

    dEdy: sp.Expr
    dydu: sp.Expr

    def eval(self):
        return tidy(self.dEdy * self.dydu)


@dataclass(frozen=True)
class SoftmaxDeltaRule(Rule):
    """δ_k = Σ_r ∂E/∂y_r · ∂y_r/∂u_k, summed out; uses Σ_r t_r = 1 when that term appears."""

    dEdy: sp.Expr  # ∂E/∂y_r, in the dummy index r
    jacobian: sp.Expr  # ∂y_r/∂u_k
    over: tuple  # (r, 1, n)
    targets: sp.IndexedBase

    @cached_property
    def summed(self) -> sp.Expr:
        """The sum done, before the targets' constraint."""
        terms = sp.Add.make_args(sp.expand(self.dEdy * self.jacobian))
        parts = [sp.factor_terms(in_range(sp.Sum(term, self.over).doit())) for term in terms]
        return sp.Add(*parts)

    @property
    def target_sum(self) -> sp.Sum:
        return sp.Sum(self.targets[self.over[0]], self.over)

    @property
    def uses_target_sum(self) -> bool:
        return self.summed.has(self.target_sum)

    def eval(self):
        return tidy(self.summed.subs(self.target_sum, 1))


@dataclass(frozen=True)
class ProductRule(Rule):
    """The gradient as the product that (1)-(3) give: ∂E/∂w_jk = y_j δ_k, ∂E/∂b_k = δ_k."""

    factors: tuple[sp.Expr, ...]

    def eval(self):
        return sp.Mul(*self.factors)


@dataclass(frozen=True)
class BackpropRule(Rule):
    """∂E/∂y_j = Σ_r ∂E/∂u_r ∂u_r/∂y_j = Σ_r δ_r w_jr: the gradient handed to the layer below."""

    weighted_sum: sp.Expr  # u_r, in the dummy index r of the layer above
    wrt: sp.Expr  # y_j
    delta: sp.Expr  # δ_r
    over: tuple  # (r, 1, n)

    @cached_property
    def local(self) -> sp.Expr:
        """∂u_r/∂y_j by sympy.diff."""
        return in_range(sp.diff(self.weighted_sum, self.wrt).doit())

    def eval(self):
        return sp.Sum(self.delta * self.local, self.over)


@dataclass(frozen=True)
class UpdateRule(Rule):
    """Gradient descent: w <- w - η ∂E/∂w (other optimisers are printed from the spec)."""

    param: sp.Expr
    gradient: sp.Expr

    def eval(self):
        return self.param - sp.Symbol("eta") * self.gradient


__all__ = [
    "ActivationRule",
    "BackpropRule",
    "ChainRule",
    "DeltaRule",
    "E",
    "LinearRule",
    "LossRule",
    "ProductRule",
    "Rule",
    "SoftmaxDeltaRule",
    "SoftmaxRule",
    "UpdateRule",
    "d",
    "tidy",
]
