"""The proof covers every parameter, for every example spec and for generated architectures,
and it fails when a rule is wrong."""

from dataclasses import replace

import pytest
import sympy as sp
from conftest import EXAMPLES, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from derive.calculus.derivation import derive
from derive.calculus.proof import prove
from derive.network.chain import Instance, instance_widths
from derive.network.notation import base
from derive.spec.loader import load_spec, parse_spec

ELEMENTWISE = ["identity", "sigmoid", "tanh", "relu", "softplus", "leaky_relu",
               '{ name = "swish", expr = "x*sigmoid(x)" }', '{ name = "cube", expr = "x + x**3/3" }',
               '{ name = "gauss", expr = "exp(-x**2)" }']
LOSSES = ["half_sse", "sse", "mse", '{ name = "logcosh", expr = "log(cosh(y - t))" }',
          '{ name = "quartic", expr = "(y - t)**4/4" }']


def spec_text(sizes, activations, loss):
    text = f'name = "gen"\ninputs = {sizes[0]}\nloss = {loss if loss.startswith("{") else repr(loss)}\n'
    for units, act in zip(sizes[1:], activations):
        act = act if act.startswith("{") else f'"{act}"'
        text += f"[[layer]]\nunits = {units}\nactivation = {act}\n"
    return text.replace("'", '"') if not loss.startswith("{") else text


@st.composite
def architectures(draw):
    depth = draw(st.integers(1, 4))
    sizes = [draw(st.integers(1, 3)) for _ in range(depth + 1)]
    activations = [draw(st.sampled_from(ELEMENTWISE)) for _ in range(depth)]
    head = draw(st.sampled_from(["plain", "softmax_ce", "sigmoid_bce"]))
    if head == "softmax_ce":
        sizes[-1] = max(sizes[-1], 2)
        activations[-1], loss = "softmax", "cross_entropy"
    elif head == "sigmoid_bce":
        activations[-1], loss = "sigmoid", "bce"
    else:
        loss = draw(st.sampled_from(LOSSES))
    return spec_text(sizes, activations, loss)


def parameter_count(spec) -> int:
    return len(Instance(spec, instance_widths(spec)).params)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_is_proved_for_every_parameter(path):
    spec = load_spec(path)
    report = prove(derive(spec))
    assert report.ok, report.lines()
    assert report.parameters == report.proven == parameter_count(spec)


@settings(max_examples=max(4, settings().max_examples // 6))
@given(architectures())
def test_generated_architectures_are_proved(text):
    spec = parse_spec(text)
    report = prove(derive(spec))
    assert report.ok, (text, report.lines())
    assert report.parameters == report.proven == parameter_count(spec)


def test_deep_nets_are_proved_end_to_end_or_layer_by_layer():
    layers = "".join('[[layer]]\nunits = 3\nactivation = "tanh"\n' for _ in range(6))
    spec = parse_spec(f'name = "deep"\ninputs = 2\nloss = "half_sse"\n{layers}')
    derivation = derive(spec)
    full = prove(derivation)
    assert full.end_to_end and full.ok and full.parameters == full.proven == parameter_count(spec)
    assert prove(derivation, mode="off") is None
    report = prove(derivation, mode="fast")
    assert not report.end_to_end and report.ok
    assert report.parameters == parameter_count(spec)
    # every layer hands its gradient down, and that is proved too
    handed = [i for i in report.items if i.quantity.base.label.name.startswith("y")]
    assert len(handed) == sum(instance_widths(spec)[1:-1])


def test_a_wrong_rule_is_caught():
    derivation = derive(load_spec(EXAMPLES[0]))
    out = derivation.layers[0]
    wrong = replace(out, delta=2 * out.delta)  # off by a factor of two
    derivation.layers[0] = wrong
    report = prove(derivation)
    assert not report.ok
    assert report.proven < report.parameters
    assert any("FAILED" in line for line in report.lines())


def test_a_missing_activation_derivative_is_caught():
    derivation = derive(parse_spec('name = "n"\ninputs = 2\nloss = "half_sse"\n'
                                   '[[layer]]\nunits = 2\nactivation = "tanh"\n'
                                   '[[layer]]\nunits = 2\nactivation = "sigmoid"\n'))
    hidden = derivation.layers[1]
    derivation.layers[1] = replace(hidden, delta=hidden.dEdy)  # forgot f'(u_j)
    report = prove(derivation)
    assert not report.ok


def test_cli_prints_formulas_and_proof():
    result = run_cli("examples/seed003.toml")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "δ_3 = (1 - y_o1)*(y_o1 - y_t1)*y_o1" in out or "δ_3 = " in out
    assert "∂E/∂w_31 = δ_3*y_h1" in out
    assert "proved 12/12 parameters: delta rule == direct differentiation" in out


def test_cli_json():
    import json

    result = run_cli("examples/seed003_ijk.toml", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["proof"]["parameters"] == data["proof"]["proven"] == 12
    quantities = {(f["layer"], f["quantity"]) for f in data["formulas"]}
    assert {(2, "delta"), (2, "dE/dw"), (2, "dE/db"), (2, "dE/dy_below"), (1, "delta"), (1, "dE/dw")} <= quantities
    delta_k = next(f for f in data["formulas"] if f["layer"] == 2 and f["quantity"] == "delta")
    assert set(delta_k) >= {"layer", "quantity", "sympy", "latex"}
    y2, t, k = base("y", 2), base("t"), sp.Symbol("k", integer=True, positive=True)
    assert delta_k["sympy"] == str((y2[k] - t[k]) * y2[k] * (1 - y2[k])) or "y2[k]" in delta_k["sympy"]
    assert delta_k["text"] == "δ_k = (1 - y_k)*(y_k - t_k)*y_k"
