"""The printed derivation as LaTeX: structure, notation, escaping, determinism, activation steps and
the worked example's numbers (checked against published values and an independent NumPy computation).
No TeX needed here; tests/test_pdf.py compiles."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp

from derive.calculus.activation_steps import derivative_steps, maximum_steps, output_form_steps
from derive.calculus.derivation import derive
from derive.document.builder import escape, render_tex, visible_length
from derive.document.example import fmt, worked_example
from derive.spec import catalog
from derive.spec.catalog import x as X
from derive.spec.catalog import y as Y
from derive.spec.loader import load_spec, parse_spec

ROOT = Path(__file__).resolve().parent.parent
# the dense chain's document; a network of layer kinds has its own (tests/test_graph_document.py)
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.toml") if load_spec(p).is_chain)
KOREAN_TERMS = ("오차 역전파", "경사 하강법", "가중치", "편향", "학습률", "활성화 함수", "연쇄 법칙", "기울기 소실")


class StubProof:
    """Stands in for derive.calculus.proof's report, so these tests do not pay for the proof."""

    parameters = proven = 12

    def summary(self):
        return "proved 12/12 parameters: delta rule == direct differentiation (end to end, 2-2-2 instance)"

    def lines(self):
        return ["end to end: 12/12 proved (12 parameters, 2 layers): 12 simplified to zero symbolically"]


@functools.cache
def derivation(name: str):
    return derive(load_spec(ROOT / "examples" / f"{name}.toml"))


@functools.cache
def tex(name: str, lang: str, example: bool = True) -> str:
    return render_tex(derivation(name), StubProof(), lang=lang, example=example)


# -- structure --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_renders_in_both_languages(name):
    en, ko = tex(name, "en"), tex(name, "ko")
    for doc in (en, ko):
        assert doc.startswith("\\documentclass") and doc.rstrip().endswith("\\end{document}")
        assert "\\begin{tikzpicture}" in doc  # the diagram (and the plots)
        assert "\\label{eq:gd}" in doc and "\\eqref{" in doc
        assert "\\date{}" in doc
        assert doc.count("\\begin{") == doc.count("\\end{")
    assert "\\usepackage{kotex}" in ko and "\\usepackage{kotex}" not in en
    for term in KOREAN_TERMS:
        assert term in ko, term
    d = derivation(name)
    for ld in d.layers:  # a section per layer, with the numbered results referred to
        assert f"\\label{{sec:layer{ld.l}}}" in en
        assert f"\\label{{eq:l{ld.l}:dw}}" in en


def test_seed003_has_the_notes_formulas():
    doc = tex("seed003", "en")
    # seeds 000/002: the chain, the sum written out term by term, delta, the products
    assert r"\frac{\partial E}{\partial w_{jk}} = \frac{\partial E}{\partial u_{k}} \cdot \frac{\partial u_{k}}{\partial w_{jk}}" in doc
    assert r"y_{1} w_{1k} + y_{2} w_{2k} + \cdots + y_{j} w_{jk} + \cdots + y_{m} w_{mk} + b_{k}" in doc
    assert r"\boxed{\delta_{k} = \left(y_{k} - t_{k}\right)\, y_{k} \left(1 - y_{k}\right)}" in doc
    assert r"\boxed{\frac{\partial E}{\partial w_{jk}} = y_{j} \delta_{k}}" in doc
    assert r"\boxed{\frac{\partial E}{\partial b_{k}} = \delta_{k}}" in doc
    assert r"\boxed{\frac{\partial E}{\partial y_{j}} = \sum_{r=1}^{n} \delta_{r} w_{jr}}" in doc
    assert r"\left(\sum_{r=1}^{n} \delta_{r} w_{jr}\right)\, y_{j} \left(1 - y_{j}\right)" in doc
    # seed 003 in its own node numbers
    assert r"\left(y_{o1} - y_{t1}\right) \cdot y_{o1} \left(1 - y_{o1}\right) \cdot y_{h1}" in doc
    assert r"\left(\delta_{3} w_{31} + \delta_{4} w_{41}\right) \cdot y_{h1} \left(1 - y_{h1}\right) \cdot x_{1}" in doc
    # the sigmoid derivative, step by step, its output form, and its true maximum 1/4
    assert r"\frac{1}{1 + e^{- x}} \left(1 - \frac{1}{1 + e^{- x}}\right)" in doc
    assert r"y \left(1 - y\right)" in doc
    assert r"\sigma'(0) = \frac{1}{4} \approx 0.25" in doc
    assert "quoted as ``about 0.3''; the exact value is $1/4$" in doc  # the notes' slip, explained


def test_softmax_and_bce_deltas_simplify():
    digits = tex("digits", "en", example=False)
    assert r"\boxed{\delta_{k} = y_{k} - t_{k}}" in digits
    assert r"\sum_{r=1}^{n} t_{r} = 1" in digits
    bce = tex("bce_classifier", "en", example=False)
    assert r"&= y_{k} - t_{k} \label{eq:l2:deltavalue}" in bce


def test_seed004_layer_notation():
    doc = tex("seed004", "en", example=False)
    assert r"\frac{\partial J}{\partial w^{1}_{nm}}" in doc
    assert r"z^{1}_{m}" in doc and r"a^{1}_{m}" in doc
    assert r"\frac{\partial J}{\partial a^{1}_{m}} = \delta^{2} w^{2}_{m}" in doc  # the width-1 sum collapsed


def test_matrix_form_and_optimizer():
    doc = tex("seed003_ijk", "en", example=False)
    assert r"\Delta_{2} &= \left(\mathbf{Y}_{2} - \mathbf{T}\right) \odot \mathbf{Y}_{2} \odot \left(1 - \mathbf{Y}_{2}\right)" in doc
    assert r"\left(\Delta_{2} \mathbf{W}_{2}^{\top}\right)" in doc
    assert r"\frac{1}{N}\, \mathbf{X}^{\top} \Delta_{1}" in doc
    assert r"w &\leftarrow w - \eta\, g" in doc
    adam = tex("digits", "en", example=False)
    assert r"\hat m" in adam and r"\beta_1 = 0.9" in adam


def test_example_is_optional():
    assert "sec:example" in tex("seed003", "en") and "sec:example" not in tex("seed003", "en", example=False)


def test_without_proof_report():
    doc = render_tex(derivation("seed003_ijk"), None, lang="ko", example=False)
    assert "증명 보고서" in doc


def test_unknown_language():
    with pytest.raises(ValueError, match="--lang"):
        render_tex(derivation("seed003"), None, lang="fr", example=False)


def test_long_lines_are_shortened():
    # log-cosh and bce terms are long: only the k-th term is written out
    doc = tex("deep_swish", "en", example=False)
    assert r"\cdots + \log{\left(\cosh{\left(t_{k} - y_{k} \right)} \right)} + \cdots" in doc
    for line in doc.splitlines():
        if line.lstrip().startswith(r"\frac{\partial E}{\partial y_{k}} &="):
            assert visible_length(line) < 150


# -- escaping and determinism ---------------------------------------------------------------


HOSTILE = r"\input{/etc/passwd} \immediate\write18{rm -rf ~} $x^2$ 100% #1 & _a_ ~ {}"


def test_escape_neutralises_tex():
    text = escape(HOSTILE)
    assert "\\input{" not in text and "\\write18{" not in text
    assert not re.search(r"(?<!\\)[$%#&^_~{}]", text.replace("\\textbackslash{}", "").replace(
        "\\textasciicircum{}", "").replace("\\textasciitilde{}", ""))
    assert text.startswith(r"\textbackslash{}input\{/etc/passwd\}")
    assert escape("오차 역전파 é") == "오차 역전파 é"
    assert escape("a\u0000b\U0001F600") == "a?b?"


def test_hostile_title_is_printed_literally():
    spec_text = (ROOT / "examples" / "seed003.toml").read_text().replace(
        'title = "2-2-2 sigmoid network of seed 003"', 'title = "%s"' % HOSTILE.replace("\\", "\\\\"))
    spec = parse_spec(spec_text, "hostile.toml")
    assert spec.title == HOSTILE
    doc = render_tex(derive(spec), None, lang="en", example=False)
    assert "\\input{/etc/passwd}" not in doc and "\\write18{" not in doc
    assert r"\textbackslash{}input\{/etc/passwd\}" in doc


def test_same_spec_same_bytes_across_processes():
    first = tex("seed003", "ko")
    code = ("import sys; sys.path.insert(0, %r); from tests.test_document import tex; "
            "sys.stdout.write(tex('seed003', 'ko'))" % str(ROOT))
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                           timeout=300, check=True).stdout
    assert other == first


# -- activation derivatives, step by step ------------------------------------------------------


def test_sigmoid_steps_follow_seed003():
    sig = catalog.activation("sigmoid")
    chain = derivative_steps(sig)
    assert chain[0].expr == sp.Derivative(sig.expr, X)
    assert set(chain[1].rules) == {"power", "chain"}
    assert sp.simplify(chain[-1].expr - sig.derivative) == 0 and not chain[-1].expr.has(sp.Derivative)
    form = output_form_steps(sig)
    assert form[-1].expr == sig.output_form and sp.simplify(form[0].expr - sig.derivative) == 0
    top = maximum_steps(sig)
    assert (top.argmax, top.value) == (0, sp.Rational(1, 4))


@pytest.mark.parametrize("activation", [
    catalog.activation("tanh"), catalog.activation("softplus"), catalog.activation("relu"),
    catalog.activation("leaky_relu"), catalog.activation("identity"),
    catalog.custom_activation("swish", X / (1 + sp.exp(-X))),
    catalog.custom_activation("cubic", X + X**3 / 3),
    catalog.custom_activation("gauss", sp.exp(-X**2)),
    catalog.custom_activation("logsig", sp.log(1 + sp.exp(-X)) * sp.tanh(2 * X)),
])
def test_every_step_chain_reaches_the_derivative(activation):
    chain = derivative_steps(activation)
    last = chain[-1].expr
    assert not last.has(sp.Derivative)
    for point in (sp.Rational(-13, 10), sp.Rational(2, 5), sp.Rational(21, 10)):
        want = activation.derivative.subs(X, point).evalf(30)
        assert abs(last.subs(X, point).evalf(30) - want) < 1e-20
        for step in chain[1:]:  # every intermediate line is equal to the derivative too
            assert abs(step.expr.doit().subs(X, point).evalf(30) - want) < 1e-20
    form = output_form_steps(activation)
    if form:
        for step in form[:-1]:
            value = step.expr.doit().subs(X, sp.Rational(7, 10)).evalf(30)
            assert abs(value - activation.derivative.subs(X, sp.Rational(7, 10)).evalf(30)) < 1e-20
        y_value = activation.expr.subs(X, sp.Rational(7, 10))
        assert abs(form[-1].expr.subs(Y, y_value).evalf(30) - activation.derivative.subs(X, sp.Rational(7, 10)).evalf(30)) < 1e-20


# -- the worked example ------------------------------------------------------------------------


def test_seed003_matches_the_published_walkthrough():
    """The well-known 2-2-2 walk-through (same numbers as seed 003's network)."""
    ex = worked_example(derivation("seed003"))
    assert fmt(ex.y[1][0]) == "0.593269992"
    assert fmt(ex.y[2][0]) == "0.751365070"
    assert fmt(ex.y[2][1]) == "0.772928465"
    assert fmt(ex.E) == "0.298371109"
    assert fmt(ex.gW[2][0][0]) == "0.0821670406"
    assert fmt(ex.W_new[2][0][0]) == "0.358916480"  # w5
    assert fmt(ex.W_new[1][0][0]) == "0.149780716"  # w1
    assert fmt(ex.W_new[1][1][1]) == "0.299502287"  # w4
    doc = tex("seed003", "en")
    for number in ("0.751365070", "0.298371109", "0.358916480", "0.149780716"):
        assert number in doc


ACTIVATIONS_NP = {
    "sigmoid": lambda u: 1 / (1 + np.exp(-u)),
    "tanh": np.tanh,
    "relu": lambda u: np.where(u > 0, u, 0.0),
    "identity": lambda u: u,
    "softplus": lambda u: np.log1p(np.exp(u)),
    "swish": lambda u: u / (1 + np.exp(-u)),
    "cubic_soft": lambda u: u + u**3 / 3,
    "leaky_relu": lambda u: np.where(u > 0, u, 0.1 * u),
    "softmax": lambda u: np.exp(u - u.max()) / np.exp(u - u.max()).sum(),
}
LOSSES_NP = {
    "half_sse": lambda y, t: 0.5 * np.sum((y - t) ** 2),
    "sse": lambda y, t: np.sum((y - t) ** 2),
    "cross_entropy": lambda y, t: -np.sum(t * np.log(y)),
    "bce": lambda y, t: -np.sum(t * np.log(y) + (1 - t) * np.log(1 - y)),
    "logcosh": lambda y, t: np.sum(np.log(np.cosh(y - t))),
}


def _numpy_loss(spec, x, t, Ws, bs):
    y = x
    for layer, W, b in zip(spec.layers, Ws, bs):
        u = y @ W + (b if b is not None else 0.0)
        y = ACTIVATIONS_NP[layer.activation.name](u)
    return LOSSES_NP[spec.loss.name](y, t), y


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_matches_an_independent_numpy_computation(name):
    """Forward values and loss to float precision; every gradient against central differences."""
    d = derivation(name)
    spec = d.spec
    ex = worked_example(d)
    f = lambda v: np.array(v, dtype=float)
    x, t = f(ex.x), f(ex.t)
    Ws = [f(ex.W[l]) for l in range(1, ex.depth + 1)]
    bs = [None if ex.b[l] is None else f(ex.b[l]) for l in range(1, ex.depth + 1)]
    E, y = _numpy_loss(spec, x, t, Ws, bs)
    assert np.allclose(y, f(ex.y[ex.depth]), rtol=1e-12, atol=1e-14)
    assert np.isclose(E, float(ex.E), rtol=1e-12)
    rng = np.random.default_rng(0)
    eps = 1e-6
    for l in range(ex.depth):
        grad = f(ex.gW[l + 1])
        picks = [(i, j) for i in range(Ws[l].shape[0]) for j in range(Ws[l].shape[1])]
        for i, j in [picks[k] for k in rng.permutation(len(picks))[:12]]:
            plus = [W.copy() for W in Ws]
            minus = [W.copy() for W in Ws]
            plus[l][i, j] += eps
            minus[l][i, j] -= eps
            numeric = (_numpy_loss(spec, x, t, plus, bs)[0] - _numpy_loss(spec, x, t, minus, bs)[0]) / (2 * eps)
            assert np.isclose(grad[i, j], numeric, rtol=1e-5, atol=1e-8), (name, l + 1, i, j)
        if bs[l] is not None:
            for k in range(len(bs[l])):
                plus = [b if b is None else b.copy() for b in bs]
                minus = [b if b is None else b.copy() for b in bs]
                plus[l][k] += eps
                minus[l][k] -= eps
                numeric = (_numpy_loss(spec, x, t, Ws, plus)[0] - _numpy_loss(spec, x, t, Ws, minus)[0]) / (2 * eps)
                assert np.isclose(float(ex.gb[l + 1][k]), numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_update_follows_the_optimizer(name):
    d = derivation(name)
    ex = worked_example(d)
    opt = d.spec.train.optimizer
    p = dict(opt.params)
    if opt.lr is None:  # a full-batch optimiser (lm): no update from one sample is shown
        assert not ex.W_new and not ex.b_new
        return
    for l in range(1, ex.depth + 1):
        W, g, new = (np.array(ex_l, dtype=float) for ex_l in (ex.W[l], ex.gW[l], ex.W_new[l]))
        if opt.name in ("sgd", "momentum", "nesterov"):
            want = W - opt.lr * g
        elif opt.name == "adagrad":
            want = W - opt.lr * g / (np.sqrt(g * g) + p["eps"])
        elif opt.name == "rmsprop":
            want = W - opt.lr * g / (np.sqrt((1 - p["rho"]) * g * g) + p["eps"])
        else:  # adam, first step: bias-corrected moments are g and g^2
            want = W - opt.lr * g / (np.abs(g) + p["eps"])
        assert np.allclose(new, want, rtol=1e-12, atol=1e-15)


def test_fmt_nine_significant_digits():
    with mpmath.workdps(50):
        assert fmt(mpmath.mpf(1) / 3) == "0.333333333"
        assert fmt(mpmath.mpf("0.75136507")) == "0.751365070"
        assert fmt(mpmath.mpf("0.05"), exact=True) == "0.05"
        assert fmt(mpmath.mpf("-0.0000123456789123")) == r"-1.23456789 \times 10^{-5}"
        assert fmt(mpmath.mpf(0)) == "0"
