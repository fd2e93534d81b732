"""From a derivation to the plan of a training module: per layer, the NumPy lines of each pass.

The backward pass is the derivation's delta rule in matrix form: the output δ (equation 3) and the
hidden δ (equation 7) are the derivation's own expressions, moved from index form (y2[k], t[k], u2[k])
onto whole arrays (Y2, T, U2) and printed by `printer`; the products of (4), (5), (6) and (8) become
`Y_prev.T @ D`, `D.sum(axis=0)` and `D @ W.T`. The templates only lay the lines out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import sympy as sp

from derive.calculus.derivation import Derivation, LayerDerivation, derive
from derive.calculus.rules import ActivationRule, DeltaRule, ProductRule, SoftmaxDeltaRule
from derive.network.notation import base
from derive.spec import catalog
from derive.spec.loader import DEFAULT_LR, OPTIMIZERS, Spec

from .printer import (
    RowSum,
    Sigmoid,
    UnprintableError,
    float_values,
    helper_names,
    helper_source,
    misses,
    print_array,
    print_lines,
    reference,
    stabilize,
)


class CodegenError(RuntimeError):
    """The derivation has a form the code generator cannot lay out (a bug, not a user error)."""


def array(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


X, T, G_NAME = "X", "T", "G"


@dataclass
class LayerPlan:
    l: int
    n_in: int
    n_out: int
    activation: str
    bias: bool
    init: str  # "he" or "glorot"
    init_std: str  # a Python expression for the standard deviation
    forward: list[str] = field(default_factory=list)
    backward: list[str] = field(default_factory=list)  # (comment or code) lines, comments start with '#'

    @property
    def W(self) -> str:
        return f"W{self.l}"

    @property
    def b(self) -> str:
        return f"b{self.l}"


@dataclass
class ModulePlan:
    spec: Spec
    dtype: str
    source: str
    layers: list[LayerPlan]
    cache: list[str]  # names _forward returns
    output: str  # the name of the output array
    loss_lines: list[str]
    loss_names: set[str]  # the arrays the loss expression reads
    loss_comment: str
    loss_divisor: str  # Python expression dividing np.sum(...) (batch mean, mean over outputs)
    helpers: list[str]  # the source of each helper function the lines call (_sigmoid, _erf, ...)
    domains: list[str]  # where a function of the network is real only on part of the line: "layer 1: u > 0 (log)"
    uses_softmax: bool
    optimizer: str  # the spec's default optimizer, as a constructor call
    optimizer_defaults: dict[str, dict[str, str]]

    @property
    def param_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """The parameters in the order of init_params, with their shapes."""
        shapes = []
        for layer in self.layers:
            shapes.append((layer.W, (layer.n_in, layer.n_out)))
            if layer.bias:
                shapes.append((layer.b, (layer.n_out,)))
        return shapes

    @property
    def param_names(self) -> list[str]:
        return [name for name, _ in self.param_shapes]

    @property
    def param_layout(self) -> list[tuple[str, tuple[int, ...], int, int]]:
        """(key, shape, start, stop) of each parameter as a slice of one flat buffer, in init_params order."""
        layout, start = [], 0
        for name, shape in self.param_shapes:
            stop = start + int(np.prod(shape))
            layout.append((name, shape, start, stop))
            start = stop
        return layout


def _index_form(ld: LayerDerivation, expr: sp.Expr, sizes: dict) -> sp.Expr:
    """Index form -> arrays: y{l}[a] -> Y{l}, u{l}[a] -> U{l}, t[a] -> T, sums over the layer -> RowSum."""
    s = ld.symbols
    l = s.l
    rows = {s.y: array(f"Y{l}"), s.u: array(f"U{l}"), base("t"): array(T)}

    def element(e: sp.Indexed):
        if e.base in rows and len(e.indices) == 1:
            return rows[e.base]
        raise CodegenError(f"layer {l}: unexpected element {e} in {expr}")

    def row_sum(e: sp.Sum):
        (dummy, _lo, _hi), = e.limits
        if dummy != s.dummy:
            raise CodegenError(f"layer {l}: sum over {dummy} in {expr}")
        return RowSum(e.function)

    expr = expr.replace(lambda e: isinstance(e, sp.Sum), row_sum)
    expr = expr.replace(lambda e: isinstance(e, sp.Indexed), element)
    return expr.xreplace(sizes)


def _plain(expr: sp.Expr) -> str:
    """The derivation's index form for a comment: delta2[k] = y2[k] - t[k]."""
    return sp.sstr(expr)


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


def _relu_like(act: catalog.Activation) -> bool:
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


def _forward_lines(l: int, act: catalog.Activation, below: str, bias: bool, keep_u: bool,
                   fused_softmax: bool) -> list[str]:
    U, Y = f"U{l}", f"Y{l}"
    lines = [f'{U} = {below} @ params["W{l}"]']
    if bias:
        lines.append(f'{U} += params["b{l}"]')
    if act.is_softmax:
        lines.append(f"{Y}, LSE{l} = _softmax({U})" if fused_softmax else f"{Y}, _ = _softmax({U})")
        return lines
    value = activation_forms(act).forward(act, array(U))
    if value == array(U):
        lines.append(f"{Y} = {U}  # identity")
        return lines
    shown = _plain(act.expr.xreplace({catalog.x: sp.Symbol("u")}))
    if not keep_u and value == sp.Max(array(U), 0):
        # ReLU in place: u is not needed by the backward pass (its derivative has a form in y)
        lines.append(f"{Y} = np.maximum({U}, 0, out={U})  # y = f(u) = {shown}")
    else:
        lines.append(f"{Y} = {print_array(value)}  # y = f(u) = {shown}")
    return lines


def _dydu(ld: LayerDerivation, sizes: dict) -> sp.Expr:
    """∂y/∂u of the layer on arrays, in the form activation_forms chose: the derivation's own (in y where it
    has an output form), or its f'(u) where that form is not safe in floating point."""
    act = ld.symbols.activation
    forms = activation_forms(act)
    step = ld.step(ActivationRule)
    expr = step.rhs if forms.derivative_in_y or act.output_form is None else step.in_u
    return forms.derivative(_index_form(ld, expr, sizes))


def _delta_expression(ld: LayerDerivation, sizes: dict) -> sp.Expr:
    """δ of the layer on arrays, hidden layers with ∂E/∂y (the Σ_r δ_r w_jr of (6)) as the array G."""
    if ld.is_output:
        delta = _index_form(ld, ld.delta, sizes)
        step = ld.step(DeltaRule)
        in_u = step is not None and (delta.has(array(f"U{ld.l}"))
                                     or activation_forms(ld.symbols.activation).output_form_unsafe)
        if in_u:
            # no (safe) output form: keep the factors of the delta rule apart, each stable
            return stabilize(_index_form(ld, step.dEdy, sizes)) * _dydu(ld, sizes)
        return stabilize(delta)
    g = array(f"G{ld.l}")
    step = ld.step(DeltaRule)
    if step is None or step.dEdy != ld.dEdy:
        raise CodegenError(f"layer {ld.l}: hidden layer without the delta rule (7)")
    # (7): δ = ∂E/∂y · ∂y/∂u, the two factors of the derivation's delta rule; ∂E/∂y is the array G of (6)
    delta = _index_form(ld, g * step.dydu, sizes)
    rest = sp.Mul(*[f for f in sp.Mul.make_args(delta) if f != g])
    if g in rest.free_symbols or g not in delta.free_symbols:
        raise CodegenError(f"layer {ld.l}: delta {ld.delta} is not a multiple of dE/dy")
    return sp.Mul(g, _dydu(ld, sizes), evaluate=False)


def _check_products(ld: LayerDerivation):
    """(4)/(8) and (5) must be the products y_j δ_k and δ_k that the matrix forms implement."""
    w_rule = next(s for s in ld.steps if isinstance(s, ProductRule) and s.role in ("4", "8"))
    expected = ld.below.y[ld.below.index] * ld.symbols.delta[ld.symbols.index]
    if sp.simplify(w_rule.rhs - expected) != 0:
        raise CodegenError(f"layer {ld.l}: dE/dw is {w_rule.rhs}, expected {expected}")
    if ld.dEdb is not None and ld.dEdb != ld.symbols.delta[ld.symbols.index]:
        raise CodegenError(f"layer {ld.l}: dE/db is {ld.dEdb}")


def _equation(ld: LayerDerivation) -> str:
    """'3' for the output δ, '7' for a hidden one: the equation the delta lines implement."""
    return "3" if ld.is_output else "7"


def _dydu_comment(ld: LayerDerivation) -> str:
    """Which ∂y/∂u the hidden δ lines use, and why u is kept when it is."""
    forms = activation_forms(ld.symbols.activation)
    if forms.output_form_unsafe:
        in_u = ld.step(ActivationRule).in_u
        return (f"#     with ∂y/∂u = {_plain(in_u)} (u is kept: the form in y, {_plain(ld.dydu)}, "
                "is not finite and exact in floating point for every u)")
    suffix = " (no form in y: u is kept)" if ld.dydu is not None and ld.dydu.has(ld.symbols.u) else ""
    return f"#     with ∂y/∂u = {_plain(ld.dydu)}{suffix}"


def _backward_lines(ld: LayerDerivation, delta: sp.Expr, below: str, scale: bool) -> list[str]:
    l, s = ld.l, ld.symbols
    D, Y = f"D{l}", f"Y{l}"
    index = s.index
    lines = []
    if ld.is_output:
        rule = "softmax: Σ_r ∂E/∂y_r ∂y_r/∂u_k" if ld.step(SoftmaxDeltaRule) else "∂E/∂y_k ∂y_k/∂u_k"
        lines.append(f"# ({_equation(ld)}) δ_{index} = {rule} = {_plain(ld.delta)}")
        step = ld.step(SoftmaxDeltaRule)
        if step is not None and step.uses_target_sum:
            lines.append("#     using Σ_r t_r = 1 (each row of T sums to one)")
        if step is None and activation_forms(ld.symbols.activation).output_form_unsafe:
            lines.append(_dydu_comment(ld))
    else:
        lines.append(f"# ({_equation(ld)}) δ_{index} = ∂E/∂y_{index} ∂y_{index}/∂u_{index} = {_plain(ld.delta)}")
        lines.append(_dydu_comment(ld))
    full = {array(Y), array(f"U{l}"), array(T), array(f"G{l}")}
    outside_sums = delta.replace(lambda e: isinstance(e, RowSum), lambda e: sp.Integer(1))
    g = array(f"G{l}")
    if not ld.is_output:
        # δ = ∂E/∂y ⊙ ∂y/∂u, in place in G (∂E/∂y is not needed afterwards)
        rest = sp.Mul(*[f for f in sp.Mul.make_args(delta) if f != g])
        code = [] if rest == 1 else print_lines(rest, f"G{l}", f"c{l}_", op="*=")
        code.append(f"{D} = G{l}")
    else:
        code = print_lines(delta, D, f"c{l}_")
        if not (outside_sums.free_symbols & full):
            code[-1] = f"{D} = np.broadcast_to({code[-1].split(' = ', 1)[1]}, {Y}.shape).copy()"
        if scale:
            if isinstance(delta, sp.Symbol):
                code[-1] = f"{D} = {print_array(delta)} * scale"
            else:
                code.append(f"{D} *= scale  # the batch mean: ∂(1/N Σ_n E_n)/∂u = δ/N")
    lines += code
    role_w = next(st.role for st in ld.steps if isinstance(st, ProductRule) and st.role in ("4", "8"))
    # the gradients go straight into their place in `grads` (views of one flat buffer, see _LAYOUT)
    lines.append(f'np.matmul({below}.T, {D}, out=grads["W{l}"])  # ({role_w}) ∂E/∂w = {_plain(ld.dEdw)}')
    if ld.dEdb is not None:
        role_b = "5" if ld.is_output else "8"
        lines.append(f'np.sum({D}, axis=0, out=grads["b{l}"])  # ({role_b}) ∂E/∂b = {_plain(ld.dEdb)}')
    if ld.handed_down is not None:
        lines.append(f'G{l - 1} = {D} @ params["W{l}"].T  # (6) ∂E/∂y = {_plain(ld.handed_down)}')
    return lines


def _loss_expression(spec: Spec, L: int, sizes: dict) -> tuple[sp.Expr, bool]:
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


def _restrictions(expr: sp.Expr, var: sp.Symbol, shown: sp.Symbol) -> list[str]:
    """The conditions under which expr (in var) is real: log(a) needs a > 0, sqrt(a) and other fractional
    powers a >= 0; those SymPy proves for every real var (log(1 + x**2), sqrt(exp(x))) are left out."""
    found = []
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.log) and node.args[0].is_positive is not True:
            found.append(f"{_plain(node.args[0].xreplace({var: shown}))} > 0 (log)")
        elif node.is_Pow and not node.exp.is_integer and node.base.is_nonnegative is not True:
            kind = "sqrt" if abs(node.exp) == sp.S.Half else f"power {node.exp}"
            found.append(f"{_plain(node.base.xreplace({var: shown}))} >= 0 ({kind})")
    return list(dict.fromkeys(found))


def _domains(spec: Spec) -> list[str]:
    """Where the network's functions are real only on part of the line: "layer 1: u > 0 (log)", one line
    per layer (and the loss) that has such a function."""
    notes = []
    for l, layer in enumerate(spec.layers, 1):
        if not layer.activation.is_softmax:
            conditions = _restrictions(layer.activation.expr, catalog.x, sp.Symbol("u"))
            if conditions:
                notes.append(f"layer {l}: {', '.join(conditions)}")
    if spec.loss.custom:
        conditions = _restrictions(spec.loss.expr, catalog.y, catalog.y)
        if conditions:
            notes.append(f"the loss: {', '.join(conditions)}")
    return notes


def _optimizer_call(spec: Spec) -> str:
    classes = {"sgd": "SGD", "momentum": "Momentum", "nesterov": "Nesterov", "adagrad": "AdaGrad",
               "rmsprop": "RMSProp", "adam": "Adam"}
    opt = spec.train.optimizer
    args = [f"lr={opt.lr!r}", *(f"{key}={value!r}" for key, value in opt.params)]
    return f"{classes[opt.name]}({', '.join(args)})"


def plan_module(spec: Spec, dtype: str | None = None, derivation: Derivation | None = None) -> ModulePlan:
    d = derivation or derive(spec)
    L = spec.depth
    layers_down = {ld.l: ld for ld in d.layers}
    sizes = {ls.size: sp.Integer(n) for ls, n in zip(d.net.layers, spec.sizes)}
    loss_expr, fused = _loss_expression(spec, L, sizes)
    scale = spec.reduction == "mean"

    deltas = {l: _delta_expression(layers_down[l], sizes) for l in layers_down}
    needs_u = {l for l in deltas if deltas[l].has(array(f"U{l}"))}
    if fused:
        needs_u.add(L)
    plans: list[LayerPlan] = []
    cache: list[str] = []
    for l in range(1, L + 1):
        layer = spec.layers[l - 1]
        act = layer.activation
        ld = layers_down[l]
        _check_products(ld)
        below = X if l == 1 else f"Y{l - 1}"
        n_in, n_out = spec.sizes[l - 1], spec.sizes[l]
        he = _relu_like(act)
        std = f"(2 / {n_in}) ** 0.5" if he else f"(2 / ({n_in} + {n_out})) ** 0.5"
        plan = LayerPlan(l, n_in, n_out, act.name, layer.bias, "He" if he else "Glorot", std)
        fused_softmax = fused and act.is_softmax
        plan.forward = _forward_lines(l, act, below, layer.bias, l in needs_u, fused_softmax)
        plan.backward = _backward_lines(ld, deltas[l], below, scale and l == L)
        plans.append(plan)
        cache.append(f"Y{l}")
        if l in needs_u:
            cache.append(f"U{l}")
        if fused_softmax:
            cache.append(f"LSE{l}")

    n_out = spec.sizes[-1]
    divisor = []
    if spec.loss.mean_over_outputs:
        divisor.append(str(n_out))
    loss_lines = print_lines(loss_expr, "E", "e")
    optimizer_defaults = {name: {"lr": repr(DEFAULT_LR[name]), **{k: repr(v) for k, v in params.items()}}
                          for name, params in OPTIMIZERS.items()}
    text = "\n".join([*(line for p in plans for line in p.forward + p.backward), *loss_lines])
    return ModulePlan(
        spec=spec,
        dtype=dtype or spec.dtype,
        source=Path(spec.source).name,
        layers=plans,
        cache=cache,
        output=f"Y{L}",
        loss_lines=loss_lines,
        loss_names={s.name for s in loss_expr.free_symbols},
        loss_comment=_plain(d.loss),
        loss_divisor=" * ".join(divisor),
        helpers=[helper_source(name) for name in helper_names(text)],
        domains=_domains(spec),
        uses_softmax=any(layer.activation.is_softmax for layer in spec.layers),
        optimizer=_optimizer_call(spec),
        optimizer_defaults=optimizer_defaults,
    )
