"""How the functions of a spec are printed in NumPy, chosen by evaluating them (shared by every module).

- `activation_forms`: y = f(u) and ∂y/∂u as written or stabilized, in y or in u, whichever is finite and
  right at probe points from tiny to extreme |u| (checked against mpmath);
- `loss_expression`: the per-element loss on arrays, fused with a softmax or sigmoid output where it has a
  log (log-softmax, log-sigmoid);
- `domains`: where a function is real only on part of the line (the module's docstring says so);
- `relu_like`: He or Glorot initialisation, decided from the activation's expression.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp

from derive.spec import catalog
from derive.spec.loader import Spec

from .printer import Sigmoid, UnprintableError, float_values, misses, print_array, reference, stabilize

T = "T"


class CodegenError(RuntimeError):
    """The derivation has a form the code generator cannot lay out (a bug, not a user error)."""


def array(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


# Points where every printed form of an activation and of its derivative is checked against the exact
# value (mpmath): small, moderate and extreme |u|, both signs; 40 and 720 lie just past 36.7 and 709.8,
# where 1 - sigmoid(u) rounds to 0 and exp(u) overflows in float64.
PROBE_U = tuple(sorted(sign * p for p in (1e-8, 0.3, 1.1, 2.6, 7.3, 19.0, 40.0, 90.0, 200.0, 400.0, 720.0, 1000.0)
                       for sign in (1, -1)))
U_ARRAY, Y_ARRAY = array("U"), array("Y")


@dataclass(frozen=True)
class ActivationForms:
    """How one activation is printed: y = f(u), and ∂y/∂u in y (the derivation's output form) or in u.

    Each is the first of its candidates (stabilized, then as written) that is finite and right to 1e-6 at
    every probe point where the exact value is a float; a rewrite that overflows where the function does
    not is never kept. With no such candidate, the one that misses fewest points.
    """

    forward_stable: bool  # y = stabilize(f(u)), else f(u) as written
    derivative_in_y: bool  # the output form g(y); else f'(u)
    derivative_stable: bool  # stabilized (in y or in u), else as written
    output_form_unsafe: bool  # an output form exists but is not finite/right everywhere in float64

    def forward(self, act: catalog.Activation, u: sp.Expr) -> sp.Expr:
        value = act.expr.xreplace({catalog.x: u})
        return stabilize(value) if self.forward_stable else value

    def derivative(self, expr: sp.Expr) -> sp.Expr:
        return stabilize(expr) if self.derivative_stable else expr


def _first_sound(candidates: list[tuple[object, sp.Expr, dict]], exact: list) -> object | None:
    """The key of the first candidate (key, expr, arrays) that misses no point, else of the one missing fewest."""
    best, fewest = None, None
    for key, expr, arrays in candidates:
        try:
            missed = misses(float_values(expr, arrays), exact)
        except UnprintableError:
            continue
        if missed == 0:
            return key
        if fewest is None or missed < fewest:
            best, fewest = key, missed
    return best


@lru_cache(maxsize=1024)
def activation_forms(act: catalog.Activation) -> ActivationForms:
    """Choose the printed forms of an elementwise activation by evaluating them (see ActivationForms)."""
    u_values = {"U": np.array(PROBE_U)}
    f_u = act.expr.xreplace({catalog.x: U_ARRAY})
    forward = [(True, stabilize(f_u), u_values)]
    if forward[0][1] != f_u:
        forward.append((False, f_u, u_values))
    forward_stable = _first_sound(forward, reference(act.expr, catalog.x, PROBE_U))
    if forward_stable is None:
        print_array(forward[0][1])  # raises UnprintableError, naming what has no NumPy form
    chosen = next(expr for key, expr, _ in forward if key == forward_stable)
    # y as the module computes it: an output form is checked on these values, not on exact ones
    y_values = {"Y": np.array([np.nan if v is None else v for v in float_values(chosen, u_values)])}

    df_u = act.derivative.xreplace({catalog.x: U_ARRAY})
    derivative = []
    if act.output_form is not None:
        g_y = act.output_form.xreplace({catalog.y: Y_ARRAY})
        derivative.append(((True, True), stabilize(g_y), y_values))
    derivative.append(((False, True), stabilize(df_u), u_values))
    if derivative[-1][1] != df_u:
        derivative.append(((False, False), df_u, u_values))
    choice = _first_sound(derivative, reference(act.derivative, catalog.x, PROBE_U))
    if choice is None:
        print_array(derivative[-1][1])  # raises UnprintableError
    in_y, stable = choice
    return ActivationForms(bool(forward_stable), in_y, stable, act.output_form is not None and not in_y)


def relu_like(act: catalog.Activation) -> bool:
    """He initialisation for activations that grow like x on the right and flatten (slope in [0, 1)) on the left.

    Decided from the activation's expression by evaluating f(x)/x far out (x = ±10^4) with 30 digits; a
    value that overflows, is complex or undefined there means "not ReLU-like" (Glorot).
    """
    if act.is_softmax:
        return False
    plus, minus = reference(act.expr / catalog.x, catalog.x, (10**4, -(10**4)))
    if plus is None or minus is None:
        return False
    return abs(plus - 1) < 1e-3 and -1e-9 <= minus < 1 - 1e-3


def loss_expression(spec: Spec, L: int) -> tuple[sp.Expr, bool]:
    """The per-element loss on arrays, and whether it is fused with the output activation.

    With a log in the loss and a softmax or sigmoid output, y = f(u) is substituted into the loss and
    SymPy simplifies and rewrites it: log(softmax) = u - logsumexp(u), log(sigmoid(u)) = -softplus(-u).
    """
    act = spec.layers[-1].activation
    Y, U, Tt = array(f"Y{L}"), array(f"U{L}"), array(T)
    loss = spec.loss.expr
    if loss.has(sp.log):
        if act.is_softmax:
            fused = loss.xreplace({catalog.y: sp.exp(U - array(f"LSE{L}")), catalog.t: Tt})
            return stabilize(sp.expand_log(fused, force=True)), True
        value = activation_forms(act).forward(act, U)
        if value.has(Sigmoid):
            return stabilize(loss.xreplace({catalog.y: value, catalog.t: Tt})), True
    return stabilize(loss.xreplace({catalog.y: Y, catalog.t: Tt})), False


def restrictions(expr: sp.Expr, var: sp.Symbol, shown: sp.Symbol) -> list[str]:
    """The conditions under which expr (in var) is real: log(a) needs a > 0, sqrt(a) and other fractional
    powers a >= 0; those SymPy proves for every real var (log(1 + x**2), sqrt(exp(x))) are left out."""
    found = []
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.log) and node.args[0].is_positive is not True:
            found.append(f"{sp.sstr(node.args[0].xreplace({var: shown}))} > 0 (log)")
        elif node.is_Pow and not node.exp.is_integer and node.base.is_nonnegative is not True:
            kind = "sqrt" if abs(node.exp) == sp.S.Half else f"power {node.exp}"
            found.append(f"{sp.sstr(node.base.xreplace({var: shown}))} >= 0 ({kind})")
    return list(dict.fromkeys(found))


def domains(spec: Spec) -> list[str]:
    """Where the network's functions are real only on part of the line: "layer 1: u > 0 (log)", one line
    per layer (and the loss) that has such a function."""
    notes = []
    for l, layer in enumerate(spec.layers, 1):
        if not layer.activation.is_softmax:
            conditions = restrictions(layer.activation.expr, catalog.x, sp.Symbol("u"))
            if conditions:
                notes.append(f"layer {l}: {', '.join(conditions)}")
    if spec.loss.custom:
        conditions = restrictions(spec.loss.expr, catalog.y, catalog.y)
        if conditions:
            notes.append(f"the loss: {', '.join(conditions)}")
    return notes


INTEGER_KEYS = ("history", "max_size", "cg_iterations")


def optimizer_call(spec: Spec) -> str:
    classes = {"sgd": "SGD", "momentum": "Momentum", "nesterov": "Nesterov", "adagrad": "AdaGrad",
               "rmsprop": "RMSProp", "adam": "Adam", "lbfgs": "LBFGS", "cg": "ConjugateGradient",
               "lm": "LevenbergMarquardt", "newton": "Newton", "hf": "HessianFree"}
    opt = spec.train.optimizer
    args = [*([f"lr={opt.lr!r}"] if opt.lr is not None else []),
            *(f"{key}={int(value) if key in INTEGER_KEYS else value!r}" for key, value in opt.params)]
    return f"{classes[opt.name]}({', '.join(args)})"
