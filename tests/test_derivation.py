"""The seed formulas (DESIGN.md section 3) as exact SymPy identities, derived, not typed in."""

import pytest
import sympy as sp
from conftest import ROOT

from derive.calculus.derivation import derive
from derive.calculus.rules import d
from derive.network.chain import E
from derive.network.notation import base
from derive.spec import catalog
from derive.spec.catalog import custom_activation, find_output_form, x, y
from derive.spec.expr import parse_expression
from derive.spec.loader import load_spec, parse_spec


def net(*layers, inputs=2, loss="half_sse", notation="ijk"):
    text = f'name = "n"\ninputs = {inputs}\nloss = "{loss}"\nnotation = "{notation}"\n'
    for units, act in layers:
        act = f'"{act}"' if not act.startswith("{") else act
        text += f"[[layer]]\nunits = {units}\nactivation = {act}\n"
    return derive(parse_spec(text))


def same(a, b) -> bool:
    return sp.simplify(a - b) == 0


def test_seed003_output_and_hidden_delta():
    D = derive(load_spec(ROOT / "examples" / "seed003_ijk.toml"))
    out, hidden = D.layers
    k, j, r = out.symbols.index, hidden.symbols.index, out.symbols.dummy
    yk, tk, yj = base("y", 2)[k], base("t")[k], base("y", 1)[j]
    assert same(out.delta, (yk - tk) * yk * (1 - yk))
    n = out.symbols.size
    expected = sp.Sum(base("delta", 2)[r] * base("w", 2)[j, r], (r, 1, n)) * yj * (1 - yj)
    assert same(hidden.delta, expected)
    # the notation prints the seeds' letters
    assert (k.name, j.name, hidden.below.index.name) == ("k", "j", "i")


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_product_and_backprop_rules_for_any_depth(depth):
    D = net(*[(3, "tanh")] * (depth - 1), (2, "sigmoid"))
    for ld in D.layers:
        a, b = ld.symbols.index, ld.below.index
        delta = ld.symbols.delta[a]
        assert ld.dEdw == ld.below.y[b] * delta  # (4), (8): dw = y_j delta_k
        assert ld.dEdb == delta  # (5): db = delta_k
        # (2): du_k/dw_jk = y_j, by differentiating the weighted sum
        assert ld.steps[1].rhs == ld.below.y[b]
        if ld.l > 1:  # (6): dy_j = sum_r delta_r w_jr
            r = ld.symbols.dummy
            assert ld.handed_down == sp.Sum(ld.symbols.delta[r] * ld.symbols.w[b, r], (r, 1, ld.symbols.size))
        else:
            assert ld.handed_down is None
    # (7): a hidden delta is what the layer above hands down, times dy/du in output form
    for ld in D.layers[1:]:
        a = ld.symbols.index
        yj = ld.symbols.y[a]
        assert same(ld.delta, ld.dEdy * (1 - yj**2))


def test_softmax_cross_entropy_gives_y_minus_t():
    D = net((3, "relu"), (4, "softmax"), loss="cross_entropy")
    out = D.layers[0]
    k = out.symbols.index
    assert out.delta == base("y", 2)[k] - base("t")[k]
    assert out.steps[-6].uses_target_sum if hasattr(out.steps[-6], "uses_target_sum") else True


def test_sigmoid_bce_gives_y_minus_t():
    D = net((3, "tanh"), (2, "sigmoid"), loss="bce")
    k = D.layers[0].symbols.index
    assert same(D.layers[0].delta, base("y", 2)[k] - base("t")[k])


def test_softmax_with_squared_error_keeps_the_jacobian_sum():
    D = net((2, "softmax"), loss="half_sse")
    out = D.layers[0]
    k, r = out.symbols.index, out.symbols.dummy
    y2, t = base("y", 1), base("t")
    n = out.symbols.size
    expected = y2[k] * ((y2[k] - t[k]) - sp.Sum((y2[r] - t[r]) * y2[r], (r, 1, n)))
    # compare on a width-3 instance of the index form
    inst = {n: 3}
    lhs = out.delta.xreplace(inst).doit()
    rhs = expected.xreplace(inst).doit()
    for kk in (1, 2, 3):
        assert same(lhs.xreplace({k: kk}), rhs.xreplace({k: kk}))


def test_seed004_dJ_dw1():
    """-(1/N) sum 2 (t - y) * 1 * w^2_m * ReLU'(z^1_m) * x_n: per sample (N = 1), on both sides of the kink."""
    D = derive(load_spec(ROOT / "examples" / "seed004.toml"))
    hidden = D.layer(1)
    m, n = hidden.symbols.index, hidden.below.index
    assert (m.name, n.name) == ("m", "n")
    ours = D.expand_deltas(hidden.dEdw)
    t, yout, a1, w2, x_ = base("t")[1], base("y", 2)[1], base("y", 1)[m], base("w", 2)[m, 1], base("y", 0)[n]
    for z, relu_prime in ((sp.Symbol("z", positive=True), 1), (sp.Symbol("z", negative=True), 0)):
        relu = z if relu_prime else 0  # a^1_m = ReLU(z^1_m)
        seed = -2 * (t - yout) * 1 * w2 * relu_prime * x_
        assert same(sp.piecewise_fold(ours.xreplace({a1: relu})), seed)


@pytest.mark.parametrize("name, expected", [
    ("sigmoid", y * (1 - y)),
    ("tanh", 1 - y**2),
    ("softplus", 1 - sp.exp(-y)),
    ("identity", sp.Integer(1)),
])
def test_output_forms_found_symbolically(name, expected):
    assert same(catalog.ACTIVATIONS[name].output_form, expected)


def test_relu_output_form_is_an_indicator_of_y():
    form = catalog.ACTIVATIONS["relu"].output_form
    assert form.xreplace({y: sp.Rational(1, 2)}) == 1 and form.xreplace({y: 0}) == 0


@pytest.mark.parametrize("text, expected", [
    ("exp(x)", y),
    ("2*tanh(x)", 2 - y**2 / 2),
    ("x + x**3/3", None),  # 1 + x^2 has no closed form in y (the cubic's inverse): f'(u) is kept
])
def test_custom_output_forms(text, expected):
    f = parse_expression(text, {"x": x})
    form = find_output_form(f)
    if expected is None:
        assert form is None
    else:
        assert same(form, expected)
    act = custom_activation("custom", f)
    assert same(act.derivative, sp.diff(f, x))


def test_sigmoid_derivative_peaks_at_one_quarter():
    _, peak = catalog.ACTIVATIONS["sigmoid"].derivative_max
    assert peak == sp.Rational(1, 4)


def test_chain_rule_steps_are_data():
    D = net((2, "sigmoid"), (2, "sigmoid"))
    out = D.layers[0]
    k, j = out.symbols.index, out.below.index
    w = out.symbols.w[j, k]
    chain = out.steps[0]
    assert chain.lhs == d(E, w) and chain.role == "1"
    assert chain.factors == (d(E, out.symbols.u[k]), d(out.symbols.u[k], w))
    assert [s.role for s in out.steps if s.role] == ["1", "2", "3", "4", "5", "6", "9"]
    assert [s.role for s in D.layers[1].steps if s.role] == ["1", "2", "7", "8", "8", "9"]


def test_custom_loss_and_activation_are_derived():
    D = net((2, '{ name = "swish", expr = "x*sigmoid(x)" }'), (1, "identity"))
    u = D.layer(1).symbols.u[D.layer(1).symbols.index]
    f = u / (1 + sp.exp(-u))
    assert same(D.layer(1).dydu, sp.diff(f, u))  # swish has no output form: f'(u)


def test_notation_letters():
    ijk = net((2, "tanh"), (2, "tanh"), (2, "sigmoid"))
    assert [ls.index.name for ls in ijk.net.layers] == ["h", "i", "j", "k"]
    assert [str(ls.size) for ls in ijk.net.layers[1:]] == ["l", "m", "n"]
    layer = net((2, "relu"), (1, "identity"), notation="layer")
    assert [ls.index.name for ls in layer.net.layers] == ["n", "m", "k"]
