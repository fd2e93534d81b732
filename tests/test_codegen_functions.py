"""Every whitelisted function and constant, every catalog activation and loss, through the generated module.

Each module must import, run, and agree with an independent reference written here from the
definitions (Python's math elementwise for values, mpmath for exact values and slopes at extreme
inputs), and its gradients must match central differences. Also the regressions of issue 9: rows 2
(erf), 7 (a rewrite that overflowed) and 9 (a numeric probe that crashed), and the domain policy of
log and sqrt.
"""

from __future__ import annotations

import ast
import hashlib
import io
import math
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_codegen import build, numeric_gradients, random_params, spec_text, targets

from codegen import forms, printer
from codegen.cli import main
from codegen.gradcheck import check_module, main_gradcheck
from codegen.render import generate
from derive.calculus.derivation import derive
from derive.calculus.proof import prove
from derive.spec import catalog
from derive.spec.expr import CONSTANTS, FUNCTIONS
from derive.spec.loader import parse_spec

ROOT = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------- references from the definitions
# Each takes the module of functions `m` (math for float64 values, mpmath for exact ones) and x.


def _sigmoid(m, x):
    if x >= 0:
        return 1 / (1 + m.exp(-x))
    z = m.exp(x)
    return z / (1 + z)


def _softplus(m, x):
    return max(x, 0 * x) + m.log1p(m.exp(-abs(x)))


def _relu(m, x):
    return x if x > 0 else 0 * x


REFERENCE: dict[str, Callable] = {
    "exp": lambda m, x: m.exp(x),
    "log": lambda m, x: m.log(x),
    "sqrt": lambda m, x: m.sqrt(x),
    "abs": lambda m, x: abs(x),
    "sin": lambda m, x: m.sin(x),
    "cos": lambda m, x: m.cos(x),
    "tan": lambda m, x: m.tan(x),
    "sinh": lambda m, x: m.sinh(x),
    "cosh": lambda m, x: m.cosh(x),
    "tanh": lambda m, x: m.tanh(x),
    "atan": lambda m, x: m.atan(x),
    "asinh": lambda m, x: m.asinh(x),
    "erf": lambda m, x: m.erf(x),
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "relu": _relu,
}
CONSTANT_VALUES = {"pi": lambda m: m.pi, "e": lambda m: m.e}
KINKED = {"abs", "relu"}  # the slope jumps where the argument is 0
RESTRICTED = {"log", "sqrt"}  # real only for x > 0 (x >= 0)


def test_the_references_cover_the_whole_whitelist():
    assert set(REFERENCE) == set(FUNCTIONS)
    assert set(CONSTANT_VALUES) == set(CONSTANTS)


@dataclass(frozen=True)
class Term:
    """A custom activation: its text in a spec, its reference f(m, x), and the arguments of its kinks."""

    text: str
    f: Callable
    kinks: tuple[Callable, ...] = ()
    domain: str = "line"  # or "positive": real for x > 0 only


def _function_term(name: str, arg: Term) -> Term:
    ref = REFERENCE[name]
    kinks = arg.kinks + ((arg.f,) if name in KINKED else ())
    return Term(f"{name}({arg.text})", lambda m, x: ref(m, arg.f(m, x)), kinks)


X_TERM = Term("x", lambda m, x: x)

CASES: dict[str, Term] = {name: _function_term(name, X_TERM) for name in FUNCTIONS}
CASES = {name: (Term(t.text, t.f, t.kinks, "positive") if name in RESTRICTED else t) for name, t in CASES.items()}
CASES.update({
    "log_1_plus_x2": Term("log(1 + x**2)", lambda m, x: m.log(1 + x**2)),
    "sqrt_1_plus_x2": Term("sqrt(1 + x**2)", lambda m, x: m.sqrt(1 + x**2)),
    "tan_quarter": Term("tan(x / 4)", lambda m, x: m.tan(x / 4)),
    "pi_times": Term("pi * x", lambda m, x: m.pi * x),
    "over_e": Term("x / e", lambda m, x: x / m.e),
    "e_power": Term("e**x / pi", lambda m, x: m.e**x / m.pi),
    "pi_power": Term("pi**x", lambda m, x: m.pi**x),
    "shift_pi_e": Term("x + pi - e", lambda m, x: x + m.pi - m.e),
    "gelu": Term("x * (1 + erf(x / sqrt(2))) / 2", lambda m, x: x * (1 + m.erf(x / m.sqrt(2))) / 2),
    "row7_first": Term("sigmoid(pi * x) + softplus(x / e)", lambda m, x: _sigmoid(m, m.pi * x) + _softplus(m, x / m.e)),
    "row7_second": Term("relu(x) + e**x / pi", lambda m, x: _relu(m, x) + m.exp(x) / m.pi, (lambda m, x: x,)),
    "sigmoid_softplus": Term("sigmoid(x) * softplus(x)", lambda m, x: _sigmoid(m, x) * _softplus(m, x)),
    "swish": Term("x * sigmoid(x)", lambda m, x: x * _sigmoid(m, x)),
    # its output form 3 y - 3/(1/y)**(4/3) divides by zero where y underflows: f'(u) is printed instead
    "sigmoid_cubed": Term("sigmoid(x)**3", lambda m, x: _sigmoid(m, x) ** 3),
})


def elementwise(f: Callable) -> Callable:
    """f(math, x) over an array, NaN where math raises (outside the domain), inf where it overflows."""

    def one(v):
        try:
            return float(f(math, float(v)))
        except OverflowError:
            return math.inf
        except ValueError:
            return math.nan

    return np.vectorize(one, otypes=[float])


def act_text(name: str, term: Term) -> str:
    return f'{{ name = "{name}", expr = "{term.text}" }}'


# ---------------------------------------------------------------- reference networks


def reference_forward(layers: list[Callable], params: dict, X: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(u, y) of every layer, by NumPy matrix products and the references elementwise."""
    out, y = [], X
    for l, f in enumerate(layers, 1):
        u = y @ params[f"W{l}"] + params.get(f"b{l}", 0.0)
        y = f(u)
        out.append((u, y))
    return out


def reference_loss(layers, loss: Callable, params, X, T, mean_over_outputs=False, reduction="mean") -> float:
    y = reference_forward(layers, params, X)[-1][1]
    per_sample = loss(y, T).sum(axis=1) / (y.shape[1] if mean_over_outputs else 1)
    return float(per_sample.mean() if reduction == "mean" else per_sample.sum())


def reference_gradients(layers, loss, params, X, T, eps=1e-6, **kw) -> dict:
    """Central differences of the reference loss: independent of the module and of SymPy."""
    grads = {}
    for key, value in params.items():
        g = np.zeros_like(value)
        flat, out = value.reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            keep = flat[i]
            flat[i] = keep + eps
            up = reference_loss(layers, loss, params, X, T, **kw)
            flat[i] = keep - eps
            down = reference_loss(layers, loss, params, X, T, **kw)
            flat[i] = keep
            out[i] = (up - down) / (2 * eps)
        grads[key] = g
    return grads


def half_sse(y, t):
    return (y - t) ** 2 / 2


def problem(spec, seed, domain_layer=None, n=6):
    """Parameters, inputs and targets; with domain_layer, that layer's pre-activations are all positive."""
    rng = np.random.default_rng(seed)
    params = random_params(spec, rng)
    X = rng.normal(0, 1, (n, spec.inputs))
    if domain_layer == 1:
        X = rng.uniform(0.2, 2.0, X.shape)
        params["W1"] = rng.uniform(0.1, 1.0, params["W1"].shape)
        params["b1"] = rng.uniform(0.1, 0.5, params["b1"].shape)
    elif domain_layer == 2:  # below it a tanh layer, |y| < 1: a small W2 and a large b2 keep u2 > 0
        params["W2"] = rng.uniform(-0.25, 0.25, params["W2"].shape)
        params["b2"] = rng.uniform(1.5, 2.0, params["b2"].shape)
    return params, X, targets(rng, n, spec.sizes[-1])


def assert_matches_reference(module, layers, loss, params, X, T, *, kinks=(), **kw):
    """Forward and loss equal to the reference; gradients equal to central differences of the module's
    loss (codegen.gradcheck) and of the reference loss."""
    ref = reference_forward(layers, params, X)
    for (u, _), layer_kinks in zip(ref, kinks, strict=False):
        for kink in layer_kinks:
            assert np.abs(elementwise(kink)(u)).min() > 1e-3, "the test point sits on a kink; choose another seed"
    np.testing.assert_allclose(module.forward(params, X), ref[-1][1], rtol=1e-10, atol=1e-12)
    assert module.loss(params, X, T) == pytest.approx(reference_loss(layers, loss, params, X, T, **kw),
                                                      rel=1e-10, abs=1e-12)
    report = check_module(module, problem=(params, X, T))
    assert report.passed(1e-6), report
    grads = module.gradients(params, X, T)
    numeric = reference_gradients(layers, loss, params, X, T, **kw)
    scale = 1 + max(np.abs(g).max() for g in numeric.values())
    for key in params:
        np.testing.assert_allclose(grads[key], numeric[key], rtol=1e-5, atol=1e-6 * scale, err_msg=key)


TANH = elementwise(REFERENCE["tanh"])


def identity(u):
    return u


# ---------------------------------------------------------------- every whitelisted function and constant


@pytest.mark.parametrize("position", ["hidden", "output"])
@pytest.mark.parametrize("case", list(CASES))
def test_whitelisted_function_as_activation(case, position):
    term = CASES[case]
    f = elementwise(term.f)
    if position == "hidden":
        layers_text, layers = [(3, act_text("f", term)), (2, '"identity"')], [f, identity]
    else:
        layers_text, layers = [(3, '"tanh"'), (2, act_text("f", term))], [TANH, f]
    spec, module = build(spec_text(2, layers_text, '"half_sse"'))
    domain_layer = (1 if position == "hidden" else 2) if term.domain == "positive" else None
    params, X, T = problem(spec, seed=sorted(CASES).index(case), domain_layer=domain_layer)
    kinks = [term.kinks, ()] if position == "hidden" else [(), term.kinks]
    assert_matches_reference(module, layers, half_sse, params, X, T, kinks=kinks)


EXTREME_POINTS = (0.37, 3.1, 11.0, 37.0, 101.0, 350.0, 710.0, 1000.0)


@pytest.mark.parametrize("case", list(CASES))
def test_extreme_inputs_are_finite_and_right_where_the_math_is(case):
    """y = f(x) and dE/db1 = f'(x) of a 1-1-1 net (loss E = y), at |x| up to 1e3, against mpmath: where the
    exact values are floats, the module gives them, without an overflow, invalid or divide warning."""
    term = CASES[case]
    linear_loss = '{ name = "linear", expr = "y" }'
    _, module = build(spec_text(1, [(1, act_text("f", term)), (1, '"identity"')], linear_loss, reduction="sum"))
    params = {"W1": np.ones((1, 1)), "b1": np.zeros(1), "W2": np.ones((1, 1)), "b2": np.zeros(1)}
    points = EXTREME_POINTS if term.domain == "positive" else (*EXTREME_POINTS, *(-p for p in EXTREME_POINTS))
    checked = 0
    for x in points:
        with mpmath.workdps(40):
            try:
                exact_y = float(term.f(mpmath, mpmath.mpf(x)))
                exact_slope = float(mpmath.diff(lambda v: term.f(mpmath, v), mpmath.mpf(x)))
            except (OverflowError, ValueError, TypeError):
                continue
        if not all(math.isfinite(v) and abs(v) < 1e300 for v in (exact_y, exact_slope, exact_slope * x)):
            continue  # the math itself overflows here
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            y = module.forward(params, [[x]])[0, 0]
            grads = module.gradients(params, [[x]], [[0.0]])
        assert y == pytest.approx(exact_y, rel=1e-8, abs=1e-12), (x, y, exact_y)
        assert grads["b1"][0] == pytest.approx(exact_slope, rel=1e-7, abs=1e-12), (x, grads["b1"][0], exact_slope)
        assert grads["W1"][0, 0] == pytest.approx(exact_slope * x, rel=1e-7, abs=1e-12)
        checked += 1
    assert checked >= 4


def test_output_form_only_where_it_is_safe():
    """The derivation's ∂y/∂u in y is printed where it is finite and exact for every u (the catalog's
    sigmoid, tanh, softplus); where it is not (sigmoid(x)**3), the module keeps u and says why."""
    for name in ("sigmoid", "tanh", "softplus", "relu"):
        chosen = forms.activation_forms(catalog.activation(name))
        assert chosen.derivative_in_y and not chosen.output_form_unsafe, name
    cubed = act_text("f", CASES["sigmoid_cubed"])
    spec, module = build(spec_text(2, [(3, cubed), (2, cubed)], '"half_sse"'))
    assert spec.layers[0].activation.output_form is not None
    assert forms.activation_forms(spec.layers[0].activation).output_form_unsafe
    source = Path(module.__file__).read_text()
    backward = source.split("def _backward")[1].split("\ndef ")[0]
    assert backward.count("(u is kept: the form in y,") == 2  # the hidden and the output layer
    assert "U1" in source.split("def _backward")[1] and "U2" in source.split("def _backward")[1]


# ---------------------------------------------------------------- a grammar over the whole whitelist

UNARY = sorted(FUNCTIONS)
ATOMS = [
    X_TERM,
    Term("pi * x", lambda m, x: m.pi * x),
    Term("x / e", lambda m, x: x / m.e),
    Term("e * x / pi", lambda m, x: m.e * x / m.pi),
]


def _in_domain(name: str, arg: Term) -> Term:
    """name(arg), with the argument of log and sqrt kept positive (1 + arg**2) and that of tan off its
    poles (sin(arg)): the raw ones are tested above, with data in their domain."""
    if name in RESTRICTED:
        inner = Term(f"1 + ({arg.text})**2", lambda m, x: 1 + arg.f(m, x) ** 2, arg.kinks)
        return _function_term(name, inner)
    if name == "tan":
        return _function_term("tan", _function_term("sin", arg))
    return _function_term(name, arg)


@st.composite
def terms(draw, depth=2):
    arg = draw(st.sampled_from(ATOMS))
    for _ in range(draw(st.integers(1, depth))):
        arg = _in_domain(draw(st.sampled_from(UNARY)), arg)
    return arg


@st.composite
def custom_activations(draw):
    """g, g + h, g * h, c g or g + c x, with g, h drawn from the whole whitelist and c from pi, e."""
    first = draw(terms())
    shape = draw(st.sampled_from(["one", "sum", "product", "scaled", "slope"]))
    if shape == "one":
        return first
    if shape in ("sum", "product"):
        second = draw(terms(depth=1))
        op = "+" if shape == "sum" else "*"
        kinks = first.kinks + second.kinks
        if op == "+":
            return Term(f"{first.text} + {second.text}", lambda m, x: first.f(m, x) + second.f(m, x), kinks)
        return Term(f"({first.text}) * ({second.text})", lambda m, x: first.f(m, x) * second.f(m, x), kinks)
    c = draw(st.sampled_from(sorted(CONSTANTS)))
    value = CONSTANT_VALUES[c]
    if shape == "scaled":
        return Term(f"{c} * ({first.text})", lambda m, x: value(m) * first.f(m, x), first.kinks)
    return Term(f"{first.text} + x / {c}", lambda m, x: first.f(m, x) + x / value(m), first.kinks)


# each example derives two custom activations (about a second each, mostly the output-form search)
@settings(deadline=None, max_examples=max(6, settings().max_examples // 5),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(hidden=custom_activations(), output=st.one_of(st.none(), custom_activations()), seed=st.integers(0, 2**32 - 1))
def test_custom_activations_from_the_whole_whitelist(hidden, output, seed):
    out_text = '"identity"' if output is None else act_text("g", output)
    text = spec_text(2, [(3, act_text("f", hidden)), (2, out_text)], '"half_sse"')
    try:
        spec, module = build(text)
    except Exception as exc:
        raise AssertionError(f"codegen failed on {text!r}: {type(exc).__name__}: {exc}") from exc
    layers = [elementwise(hidden.f), identity if output is None else elementwise(output.f)]
    params, X, T = problem(spec, seed % 2**32, n=4)
    ref = reference_forward(layers, params, X)
    for (u, y), kinks in zip(ref, [hidden.kinks, () if output is None else output.kinks], strict=True):
        assume(np.all(np.isfinite(u)) and np.abs(u).max() < 30)
        assume(np.all(np.isfinite(y)) and np.abs(y).max() < 1e6)
        for kink in kinks:
            assume(np.abs(elementwise(kink)(u)).min() > 1e-3)
    np.testing.assert_allclose(module.forward(params, X), ref[-1][1], rtol=1e-9, atol=1e-12)
    assert module.loss(params, X, T) == pytest.approx(reference_loss(layers, half_sse, params, X, T), rel=1e-9,
                                                      abs=1e-12)
    grads = module.gradients(params, X, T)
    numeric = numeric_gradients(module, params, X, T)
    scale = 1 + max(np.abs(g).max() for g in numeric.values())
    for key in params:
        np.testing.assert_allclose(grads[key], numeric[key], rtol=1e-5, atol=1e-6 * scale, err_msg=key)


# ---------------------------------------------------------------- every catalog activation and loss


def _softmax_rows(u):
    out = np.empty_like(u)
    for n, row in enumerate(u):
        top = max(row)
        e = [math.exp(v - top) for v in row]
        out[n] = [v / sum(e) for v in e]
    return out


CATALOG = {
    "identity": ('"identity"', identity),
    "sigmoid": ('"sigmoid"', elementwise(_sigmoid)),
    "tanh": ('"tanh"', TANH),
    "relu": ('"relu"', elementwise(_relu)),
    "leaky_relu": ('"leaky_relu"', elementwise(lambda m, x: x if x > 0 else x / 100)),
    "leaky_relu_0.2": ('{ name = "leaky_relu", alpha = 0.2 }', elementwise(lambda m, x: x if x > 0 else x / 5)),
    "softplus": ('"softplus"', elementwise(_softplus)),
    "softmax": ('"softmax"', _softmax_rows),
}
CUSTOM_LOSS = "sqrt(e + (y - t)**2) + pi * (y - t)**2"  # (log(cosh) + ... takes derive ~25 s to simplify)
LOSS_REFERENCE = {
    "half_sse": ('"half_sse"', half_sse, False),
    "sse": ('"sse"', lambda y, t: (y - t) ** 2, False),
    "mse": ('"mse"', lambda y, t: (y - t) ** 2, True),
    "cross_entropy": ('"cross_entropy"', lambda y, t: -t * np.log(y), False),
    "bce": ('"bce"', lambda y, t: -(t * np.log(y) + (1 - t) * np.log(1 - y)), False),
    "custom": (f'{{ name = "mixed", expr = "{CUSTOM_LOSS}" }}',
               lambda y, t: np.sqrt(math.e + (y - t) ** 2) + math.pi * (y - t) ** 2,
               False),
}


def _catalog_name(key: str) -> str:
    return key.split("_0")[0]


def test_the_catalog_is_covered():
    assert {_catalog_name(k) for k in CATALOG} == set(catalog.ACTIVATION_NAMES)
    assert set(LOSS_REFERENCE) - {"custom"} == set(catalog.LOSSES)


OUTPUT_PAIRS = [(act, loss) for act in CATALOG for loss in LOSS_REFERENCE
                if not (loss in ("cross_entropy", "bce") and _catalog_name(act) not in catalog.PROBABILITY_ACTIVATIONS)
                and (act, loss) != ("softmax", "bce")]


@pytest.mark.parametrize("act, loss", OUTPUT_PAIRS)
def test_catalog_output_activation_and_loss(act, loss):
    act_spec, act_ref = CATALOG[act]
    loss_spec, loss_ref, over_outputs = LOSS_REFERENCE[loss]
    spec, module = build(spec_text(3, [(4, '"tanh"'), (3, act_spec)], loss_spec))
    params, X, T = problem(spec, seed=OUTPUT_PAIRS.index((act, loss)))
    assert_matches_reference(module, [TANH, act_ref], loss_ref, params, X, T, mean_over_outputs=over_outputs,
                             kinks=[(), (lambda m, x: x,) if act.startswith(("relu", "leaky")) else ()])


@pytest.mark.parametrize("act", [a for a in CATALOG if a != "softmax"])
def test_catalog_hidden_activation(act):
    act_spec, act_ref = CATALOG[act]
    spec, module = build(spec_text(3, [(4, act_spec), (3, '"sigmoid"')], '"bce"', reduction="sum"))
    params, X, T = problem(spec, seed=len(act))
    kinks = [(lambda m, x: x,) if act.startswith(("relu", "leaky")) else (), ()]
    assert_matches_reference(module, [act_ref, CATALOG["sigmoid"][1]], LOSS_REFERENCE["bce"][1], params, X, T,
                             kinks=kinks, reduction="sum")


# ---------------------------------------------------------------- domains: log and sqrt


@pytest.mark.parametrize("name, condition", [("log", "layer 1: u > 0 (log)"), ("sqrt", "layer 1: u >= 0 (sqrt)")])
def test_outside_the_domain_nan_with_numpy_warning_never_a_wrong_number(name, condition, tmp_path):
    spec, module = build(spec_text(2, [(3, act_text("f", CASES[name])), (2, '"identity"')], '"half_sse"'))
    assert "Domains:" in module.__doc__ and f"\n    {condition}\n" in module.__doc__
    params, X, T = problem(spec, seed=5, domain_layer=1)
    X[2] = -X[2]  # one sample whose pre-activations are all negative
    with pytest.warns(RuntimeWarning, match=f"invalid value encountered in {name}"):
        Y = module.forward(params, X)
    assert np.isnan(Y[2]).all() and np.isfinite(np.delete(Y, 2, axis=0)).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        E, grads = module.loss_and_gradients(params, X, T)
    assert math.isnan(E)
    for key, g in grads.items():
        assert np.isnan(g).all(), key
    # the samples inside the domain alone: right, with no warning at all
    inside = np.delete(X, 2, axis=0), np.delete(T, 2, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isfinite(module.loss(params, *inside))
    # gradcheck at its random point (inputs of both signs) says why it fails, in words
    path = tmp_path / "m.py"
    path.write_text(generate(spec))
    out = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert main_gradcheck(str(path), 1e-5, 0, out=out) == 1
    assert "not finite" in out.getvalue() and out.getvalue().strip().endswith("FAILED")


def test_functions_real_everywhere_carry_no_domain_note():
    for case in ("log_1_plus_x2", "sqrt_1_plus_x2", "gelu", "sigmoid_softplus"):
        _, module = build(spec_text(2, [(3, act_text("f", CASES[case])), (2, '"identity"')], '"half_sse"'))
        assert "Domains:" not in module.__doc__, case
    _, module = build(spec_text(2, [(3, '"tanh"'), (2, '"identity"')], '{ name = "l", expr = "log(y**2 + 1) + y*t" }'))
    assert "Domains:" not in module.__doc__
    _, module = build(spec_text(2, [(3, '"tanh"'), (2, '"identity"')], '{ name = "l", expr = "(y - t)**2 + log(y)" }'))
    assert "the loss: y > 0 (log)" in module.__doc__


# ---------------------------------------------------------------- issue 9, row 2: erf

GELU_SPEC = """name = "gelu"
inputs = 2
loss = "half_sse"

[[layer]]
units = 3
activation = { name = "gelu", expr = "x * (1 + erf(x / sqrt(2))) / 2" }

[[layer]]
units = 2
activation = "identity"
"""


def _imports(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add(node.module)
    return found


def test_row2_gelu_module_runs_gradchecks_and_imports_numpy_only(tmp_path, capsys):
    source = generate(parse_spec(GELU_SPEC, "gelu.toml"))
    assert "math." not in source and _imports(source) == {"numpy"}
    assert source == generate(parse_spec(GELU_SPEC, "gelu.toml"))  # deterministic, helpers included
    spec, module = build(GELU_SPEC)
    gelu = elementwise(CASES["gelu"].f)
    params, X, T = problem(spec, seed=2)
    assert_matches_reference(module, [gelu, identity], half_sse, params, X, T)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        E, grads = module.loss_and_gradients(params, X * 1e3, T)
    assert math.isfinite(E) and all(np.isfinite(g).all() for g in grads.values())
    path = tmp_path / "gelu.py"
    spec_path = tmp_path / "gelu.toml"
    spec_path.write_text(GELU_SPEC)
    assert main([str(spec_path), "-o", str(path)]) == 0
    assert main(["--gradcheck", str(path)]) == 0
    assert capsys.readouterr().out.strip().endswith("OK")


def test_row2_gelu_float32_module_stays_float32():
    _, module = build(GELU_SPEC, "float32")
    params = module.init_params(0)
    X = np.random.default_rng(0).normal(size=(5, 2))
    Y = module.forward(params, X)
    assert Y.dtype == np.float32
    assert all(g.dtype == np.float32 for g in module.gradients(params, X, np.zeros((5, 2))).values())
    assert module._erfc(np.float32([0.3, -2.0, 7.0])).dtype == np.float32


def test_row2_erf_is_accurate_to_float64_rounding_on_the_whole_line():
    """The module's _erf and _erfc (copied from codegen.printer where called) against math.erf, math.erfc."""
    _, gelu = build(GELU_SPEC)  # calls _erfc: 1 + erf(a) is written erfc(-a)
    _, plain = build(spec_text(2, [(3, act_text("f", CASES["erf"])), (2, '"identity"')], '"half_sse"'))
    assert not hasattr(gelu, "_erf") and not hasattr(plain, "_erfc")  # emitted only where used
    assert printer.helper_source("_erfc") in Path(gelu.__file__).read_text()
    grid = np.concatenate([
        np.linspace(-30, 30, 120001),  # every branch and its edges (0.46875, 4, the 1/16 steps of exp)
        np.geomspace(1e-300, 1e3, 4000), -np.geomspace(1e-300, 1e3, 4000),  # tiny x, and large |x|
        [0.0, -0.0, 0.46875, -0.46875, 4.0, -4.0, 26.5, 27.3, 28.0, 1e300, -1e300],
    ])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        erf, erfc = plain._erf(grid), gelu._erfc(grid)
    for got, exact in ((erf, [math.erf(v) for v in grid]), (erfc, [math.erfc(v) for v in grid])):
        exact = np.array(exact)
        normal = np.abs(exact) >= np.finfo(float).tiny
        relative = np.abs(got[normal] - exact[normal]) / np.abs(exact[normal])
        assert relative.max() < 1.5e-15, grid[normal][np.argmax(relative)]  # a few units in the last place
        assert np.abs(got[~normal] - exact[~normal]).max(initial=0) < 1e-307  # underflow, gradually
        assert np.array_equal(np.signbit(got[exact == 0]), np.signbit(exact[exact == 0]))
    assert plain._erf(np.inf) == 1 and plain._erf(-np.inf) == -1 and gelu._erfc(np.inf) == 0
    assert gelu._erfc(-np.inf) == 2 and gelu._erfc(-30.0) == 2
    assert np.isnan(plain._erf(np.nan)) and np.isnan(gelu._erfc(np.nan))


# ---------------------------------------------------------------- issue 9, row 7: no rewrite that overflows

ROW7_SPEC = """name = "row7"
inputs = 12
loss = "half_sse"

[[layer]]
units = 3
activation = { name = "f", expr = "sigmoid(pi * x) + softplus(x / e)" }

[[layer]]
units = 2
activation = { name = "g", expr = "relu(x) + e**x / pi" }
"""


def test_row7_forward_is_finite_and_right_for_large_inputs():
    spec, module = build(ROW7_SPEC)
    # its first layer alone, as the output of a one-layer net: the layer whose rewrite overflowed
    _, first = build(ROW7_SPEC.split("[[layer]]\nunits = 2")[0])
    params = module.init_params(0)
    rng = np.random.default_rng(7)
    layers = [elementwise(CASES["row7_first"].f), elementwise(CASES["row7_second"].f)]
    for magnitude in (1.0, 30.0, 300.0):
        X = rng.uniform(-magnitude, magnitude, (8, 12))
        ref = reference_forward(layers, params, X)
        assume_finite = np.isfinite(ref[-1][1]).all()
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            Y1 = first.forward({"W1": params["W1"], "b1": params["b1"]}, X)
        np.testing.assert_allclose(Y1, ref[0][1], rtol=1e-12)
        if assume_finite:
            np.testing.assert_allclose(module.forward(params, X), ref[-1][1], rtol=1e-10)
    source = generate(spec)
    assert "**(-" not in source  # no power of a sigmoid in the forward pass or the deltas


@pytest.mark.parametrize("x", [-1e3, -100.0, -30.0, 30.0, 100.0, 1e3])
def test_row7_sigmoid_times_softplus_at_large_inputs(x):
    _, module = build(spec_text(1, [(1, act_text("f", CASES["sigmoid_softplus"])), (1, '"identity"')],
                                '{ name = "linear", expr = "y" }', reduction="sum"))
    params = {"W1": np.ones((1, 1)), "b1": np.zeros(1), "W2": np.ones((1, 1)), "b2": np.zeros(1)}
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = module.forward(params, [[x]])[0, 0]
        slope = module.gradients(params, [[x]], [[0.0]])["b1"][0]
    with mpmath.workdps(40):
        exact = CASES["sigmoid_softplus"].f(mpmath, mpmath.mpf(x))
        exact_slope = mpmath.diff(lambda v: CASES["sigmoid_softplus"].f(mpmath, v), mpmath.mpf(x))
    assert y == pytest.approx(float(exact), rel=1e-12, abs=1e-300)
    assert slope == pytest.approx(float(exact_slope), rel=1e-10, abs=1e-300)


def test_row7_stabilize_writes_no_power_of_a_sigmoid():
    """exp(u/e) beside sigmoid(pi u) is not a power of sigmoid(pi u): the forward pass keeps softplus as
    logaddexp, and the slope has no sigmoid in a denominator (the (-1 + 1/s)**-0.117 of the defect)."""
    u = forms.array("U")
    f = parse_spec(ROW7_SPEC).layers[0].activation.expr
    forward = printer.stabilize(f.xreplace({catalog.x: u}))
    assert forward == printer.Sigmoid(sp.pi * u) + printer.logaddexp(0, u / sp.E)
    slope = printer.stabilize(sp.diff(f, catalog.x).xreplace({catalog.x: u}))
    assert not any(isinstance(e, sp.exp) and e.has(u) for e in sp.preorder_traversal(slope))
    assert not any(p.is_Pow and isinstance(p.base, printer.Sigmoid) and p.exp.is_negative
                   for p in sp.preorder_traversal(slope))


# ---------------------------------------------------------------- issue 9, row 9: probes that never crash

ROW9_SPEC = """name = "row9"
inputs = 2
loss = "half_sse"

[[layer]]
units = 2
activation = { name = "eee", expr = "exp(exp(exp(x)))" }
"""


def test_row9_exp_exp_exp_generates_a_working_module(tmp_path, capsys):
    spec_path, out = tmp_path / "row9.toml", tmp_path / "row9.py"
    spec_path.write_text(ROW9_SPEC)
    assert main([str(spec_path), "-o", str(out)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    _, module = build(ROW9_SPEC)
    assert "Glorot" in out.read_text()  # f(x)/x overflows far out: not ReLU-like, and no crash deciding so
    f = elementwise(lambda m, x: m.exp(m.exp(m.exp(x))))
    rng = np.random.default_rng(9)
    params = {"W1": rng.normal(0, 0.3, (2, 2)), "b1": rng.normal(0, 0.1, 2)}
    X = rng.normal(0, 1, (5, 2))
    T = rng.uniform(0, 1, (5, 2))
    assert_matches_reference(module, [f], half_sse, params, X, T)


def test_row9_numeric_probes_return_none_for_overflow_complex_and_undefined():
    x = catalog.x
    values = printer.reference(sp.exp(sp.exp(sp.exp(sp.exp(x)))) / x, x, (10**4, -(10**4), 3.0))
    assert values[0] is None and values[2] is None  # far outside float64: None, at once
    assert values[1] == pytest.approx(-math.exp(math.e) / 1e4)  # exp(exp(exp(exp(-10^4)))) = exp(e)
    assert printer.reference(sp.log(x), x, (-1.0, 0.0, 2.0)) == [None, None, pytest.approx(math.log(2))]
    assert printer.reference(sp.sqrt(x) + 1 / x, x, (-4.0,)) == [None]
    for expr in (sp.exp(sp.exp(sp.exp(x))), sp.exp(sp.exp(sp.exp(sp.exp(sp.exp(x))))), sp.log(x), sp.sqrt(x),
                 x ** sp.Rational(1, 3), sp.tan(x)):
        assert forms.relu_like(catalog.custom_activation("f", expr)) is False


# ---------------------------------------------------------------- the modules stay ruff-clean


def test_new_modules_pass_ruff():
    texts = [GELU_SPEC, ROW7_SPEC, ROW9_SPEC,
             spec_text(2, [(3, act_text("f", CASES["log"])), (2, '"identity"')], '"half_sse"'),
             spec_text(2, [(3, act_text("f", CASES["erf"])), (2, '"identity"')], '"half_sse"')]
    files = [build(text)[1].__file__ for text in texts]  # the files the other tests import
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config",
                             str(ROOT / "pyproject.toml"), *files], check=False, capture_output=True, text=True)
    if "No module named ruff" in result.stderr:  # pragma: no cover
        pytest.skip("ruff is not installed")
    assert result.returncode == 0, result.stdout + result.stderr


DETERMINISM = """
import hashlib, sys
from codegen.render import generate
from derive.spec.loader import parse_spec
for i, text in enumerate(sys.stdin.read().split("\\0")):
    print(hashlib.sha256(generate(parse_spec(text, f"m{i}.toml")).encode()).hexdigest())
"""


def test_new_modules_are_byte_identical_in_another_process():
    """Another process, another hash seed: the same bytes (helpers, probes and rewrites included)."""
    texts = [GELU_SPEC, spec_text(1, [(2, act_text("f", CASES["sigmoid_softplus"])), (1, '"sigmoid"')], '"bce"')]
    here = [hashlib.sha256(generate(parse_spec(t, f"m{i}.toml")).encode()).hexdigest() for i, t in enumerate(texts)]
    result = subprocess.run([sys.executable, "-c", DETERMINISM], input="\0".join(texts), capture_output=True,
                            text=True, check=False, cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "4242"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == here


# ---------------------------------------------------------------- sign factors in the delta rule


@pytest.mark.parametrize("inner", ["erf", "tanh"])
def test_abs_of_a_function_plus_abs_derives_with_sign_and_matches_the_reference(inner):
    """The hypothesis failure abs(x) / abs(erf(x)) + abs(x): the output δ = (y - t) f'(u) has the factors
    sign(u) and sign(erf(u)), on which sympy.simplify (via its Abs rewrite) crashed in piecewise_simplify
    ('BooleanTrue' object has no attribute 'lhs'). The derivation keeps sign, proves, and the module is right."""
    hidden = CASES["abs"]
    inner_abs = _function_term("abs", _function_term(inner, X_TERM))
    output = Term(f"{inner_abs.text} + {hidden.text}", lambda m, x: inner_abs.f(m, x) + hidden.f(m, x),
                  inner_abs.kinks + hidden.kinks)
    text = spec_text(2, [(3, act_text("f", hidden)), (2, act_text("g", output))], '"half_sse"')
    spec = parse_spec(text, "test.toml")
    d = derive(spec)
    out, first = d.layers
    u2, u1 = out.symbols.u[out.symbols.index], first.symbols.u[first.symbols.index]
    assert not out.delta.has(sp.Piecewise) and out.delta.has(sp.sign(u2))
    assert sp.simplify(out.delta - out.dEdy * spec.layers[1].activation.derivative.xreplace({catalog.x: u2})) == 0
    assert first.dydu == sp.sign(u1)
    assert prove(d).ok
    spec, module = build(text)
    params, X, T = problem(spec, seed=3)
    assert_matches_reference(module, [elementwise(hidden.f), elementwise(output.f)], half_sse, params, X, T,
                             kinks=[hidden.kinks, output.kinks])
