"""Graph modules (networks of layer kinds): gradients against central differences, the derivation evaluated
numerically, and an independent reference written here from the definitions (NumPy forward, PyTorch
autograd where installed); batch norm's inference path; the CLI dispatch; determinism."""

from __future__ import annotations

import hashlib
import random
import tempfile
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codegen.cli import main
from codegen.gradcheck import check_module, load_module
from codegen.render import generate
from derive.calculus.backward import backward, gradient_base
from derive.calculus.graph_proof import Instance, random_point
from derive.network import indices as ix
from derive.network.graph import Graph
from derive.spec.loader import parse_spec

try:
    import torch
except ImportError:  # pragma: no cover - the reference is skipped without PyTorch
    torch = None

EXPENSIVE = settings(deadline=None, max_examples=max(4, settings().max_examples // 4),
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ---------------------------------------------------------------- the reference, from the definitions


class NumpyOps:
    """What the reference forward pass needs of an array library; TorchOps below is the same for torch."""

    exp, tanh, log = np.exp, np.tanh, np.log

    @staticmethod
    def mean(a, axis):
        return a.mean(axis=axis, keepdims=True)

    @staticmethod
    def sigmoid(a):
        return 1 / (1 + np.exp(-a))

    @staticmethod
    def relu(a):
        return np.maximum(a, 0)

    @staticmethod
    def softplus(a):
        return np.logaddexp(0, a)


class TorchOps:
    @staticmethod
    def exp(a):
        return torch.exp(a)

    @staticmethod
    def tanh(a):
        return torch.tanh(a)

    @staticmethod
    def log(a):
        return torch.log(a)

    @staticmethod
    def mean(a, axis):
        return a.mean(dim=axis, keepdim=True)

    @staticmethod
    def sigmoid(a):
        return torch.sigmoid(a)

    @staticmethod
    def relu(a):
        return torch.relu(a)

    @staticmethod
    def softplus(a):
        return torch.nn.functional.softplus(a)


# activation: (its spec value, f(ops, u))
ACTIVATIONS = {
    "identity": ('"identity"', lambda o, u: u),
    "sigmoid": ('"sigmoid"', lambda o, u: o.sigmoid(u)),
    "tanh": ('"tanh"', lambda o, u: o.tanh(u)),
    "relu": ('"relu"', lambda o, u: o.relu(u)),
    "leaky_relu": ('"leaky_relu"', lambda o, u: o.relu(u) - 0.01 * o.relu(-u)),
    "softplus": ('"softplus"', lambda o, u: o.softplus(u)),
    "swish": ('{ name = "swish", expr = "x * sigmoid(x)" }', lambda o, u: u * o.sigmoid(u)),
    "tanh_lin": ('{ name = "tanh_lin", expr = "tanh(x) + x/10" }', lambda o, u: o.tanh(u) + u / 10),
}
HIDDEN = sorted(ACTIVATIONS)

# a small grammar of custom layers: (params, forward, its meaning written here)
CUSTOM = [
    ('{ v = ["in", "out"], g = ["in", "out"], c = ["out"] }',
     "sum(y[j]*v[j, k], j) * sigmoid(sum(y[j]*g[j, k], j)) + c[k]",
     lambda o, y, p: (y @ p["v"]) * o.sigmoid(y @ p["g"]) + p["c"]),
    ('{ w = ["in", "out"] }', "tanh(sum(y[j]*w[j, k], j))", lambda o, y, p: o.tanh(y @ p["w"])),
    ('{ w = ["in", "out"], a = ["out"] }', "sum(y[j]*w[j, k], j) * a[k] + sum(y[i], i)",
     lambda o, y, p: (y @ p["w"]) * p["a"] + y.sum(1, keepdims=True) if o is NumpyOps
     else (y @ p["w"]) * p["a"] + y.sum(1, keepdim=True)),
    ('{ w = ["in", "out"], s = ["out"] }', "sum((y[j] - w[j, k])**2, j) * s[k]",
     lambda o, y, p: ((y[:, :, None] - p["w"][None]) ** 2).sum(1) * p["s"]),
]


def reference_forward(spec, params, X, ops, state=None):
    """The network's output from the kinds' definitions (DESIGN.md 10.1), layer by layer."""
    values = {"x": X}
    for l, layer in enumerate(spec.layers, 1):
        ins = [values[name] for name in layer.inputs]
        kind = layer.kind
        p = {key[: -len(str(l))]: value for key, value in params.items() if _layer_of(key) == l}
        y = ins[0]
        if kind.kind == "dense":
            u = y @ p["W"] + (p["b"] if kind.bias else 0)
        elif kind.kind == "add":
            u = sum(ins[1:], ins[0])
        elif kind.kind in ("layer_norm", "batch_norm"):
            axis = 1 if kind.kind == "layer_norm" else 0
            if state is not None and kind.kind == "batch_norm":
                mu, var = state[f"mean{l}"], state[f"var{l}"]
            else:
                mu = ops.mean(y, axis)
                var = ops.mean((y - mu) ** 2, axis)
            u = (y - mu) / (var + kind.eps) ** 0.5
            if kind.affine:
                u = u * p["gamma"] + p["beta"]
        else:
            u = next(f for _, text, f in CUSTOM if text == kind.forward_text)(ops, y, p)
        act = layer.activation
        if act.is_softmax:
            m = u.max(1, keepdims=True) if ops is NumpyOps else u.max(1, keepdim=True).values
            e = ops.exp(u - m)
            out = e / e.sum(1, keepdims=True) if ops is NumpyOps else e / e.sum(1, keepdim=True)
        else:
            out = ACTIVATIONS[act.name][1](ops, u)
        values[layer.name] = out
    return values[spec.layers[-1].name]


def _layer_of(key):
    digits = "".join(c for c in reversed(key) if c.isdigit())[::-1]
    return int(digits) if digits else 0


def reference_loss(spec, Y, T, ops):
    name = spec.loss.name
    if name == "cross_entropy":
        E = -(T * ops.log(Y))
    elif name == "bce":
        E = -(T * ops.log(Y) + (1 - T) * ops.log(1 - Y))
    elif name == "mse":
        E = (Y - T) ** 2 / Y.shape[1]
    elif name == "half_sse":
        E = (Y - T) ** 2 / 2
    else:
        E = (Y - T) ** 2
    return E.sum() / (Y.shape[0] if spec.reduction == "mean" else 1)


# ---------------------------------------------------------------- specs

_FOLDER = tempfile.TemporaryDirectory(prefix="graph-codegen-tests-")


def build(text: str):
    spec = parse_spec(text, "test.toml")
    source = generate(spec)
    path = Path(_FOLDER.name) / f"g{hashlib.sha256(source.encode()).hexdigest()[:16]}.py"
    path.write_text(source, encoding="utf-8")
    return spec, source, load_module(path)


HEAD = 'name = "g"\ninputs = {inputs}\nloss = "{loss}"\nreduction = "{reduction}"\n'


def layer(kind="dense", **keys) -> str:
    lines = ["[[layer]]", f'kind = "{kind}"']
    for key, value in keys.items():
        lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


SPECS = {
    "residual_layer_norm": HEAD.format(inputs=4, loss="cross_entropy", reduction="mean")
    + layer(name='"h1"', units=3, activation='"relu"') + layer("layer_norm", name='"ln"')
    + layer(name='"h2"', units=3, activation='"tanh"') + layer("add", input='["h1", "h2"]')
    + layer(units=3, activation='"softmax"'),
    "batch_norm_relu_softmax": HEAD.format(inputs=3, loss="cross_entropy", reduction="mean")
    + layer(units=4, activation='"identity"') + layer("batch_norm", activation='"relu"')
    + layer(units=3, activation='"softmax"'),
    "custom_glu": HEAD.format(inputs=3, loss="half_sse", reduction="mean")
    + layer("custom", name='"glu"', units=3, params=CUSTOM[0][0], forward=f'"{CUSTOM[0][1]}"')
    + layer(units=2, activation='"identity"'),
    "sigmoid_bce": HEAD.format(inputs=3, loss="bce", reduction="mean")
    + layer(name='"a"', units=3, activation='"softplus"') + layer("layer_norm", affine="false", input='"a"')
    + layer(units=2, activation='"sigmoid"'),
    "mse": HEAD.format(inputs=2, loss="mse", reduction="mean")
    + layer(name='"a"', units=3, activation='"tanh"') + layer(name='"b"', units=3, activation='"sigmoid"')
    + layer("add", input='["a", "b"]', activation='"tanh"') + layer(units=2, activation='"identity"'),
    "sum_reduction": HEAD.format(inputs=3, loss="sse", reduction="sum")
    + layer("custom", units=2, params=CUSTOM[3][0], forward=f'"{CUSTOM[3][1]}"', activation='"tanh"')
    + layer("batch_norm", momentum=0.2) + layer(units=2, activation='"identity"', bias="false"),
}


def problem(spec, module, seed=0, samples=5):
    rng = np.random.default_rng(seed)
    params = {k: np.array(v) for k, v in module.init_params(seed).items()}
    for value in params.values():
        value += rng.normal(0, 0.3, size=value.shape)
    X = rng.standard_normal((samples, spec.inputs))
    n = spec.sizes[-1]
    T = rng.dirichlet(np.ones(n), size=samples) if n > 1 else rng.uniform(0.05, 0.95, (samples, 1))
    if spec.loss.name == "bce":
        T = rng.uniform(0.05, 0.95, (samples, n))
    return params, X, T


def torch_gradients(spec, params, X, T):
    tp = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    Y = reference_forward(spec, tp, torch.tensor(X), TorchOps)
    J = reference_loss(spec, Y, torch.tensor(T), TorchOps)
    J.backward()
    return float(J), {k: v.grad.numpy() for k, v in tp.items()}


def derived_gradients(spec, module, samples=3, seed=0):
    """The derivation's own formulas, evaluated numerically (derive's explicit instance at its random point),
    and the module's gradients at that same point."""
    graph = Graph(spec)
    sizes = {s: v for s, v in graph.sizes.items() if s != ix.BATCH}
    sizes[ix.BATCH] = samples
    instance = Instance(graph, sizes, random_point(graph, sizes, random.Random(seed)))
    derived = instance.gradients(backward(graph))

    def array(tensor):
        shape = [int(sp.sympify(s).xreplace(instance.sizes)) for s in tensor.shape]
        out = np.zeros(shape)
        for element, _ in instance.elements_at(tensor):
            out[tuple(int(i) - 1 for i in element.indices)] = float(instance.point[element])
        return out

    params = {p.name: array(p) for p in graph.params}
    X, T = array(graph.tensors["x"]), array(graph.tensors["t"])
    want = {}
    for p in graph.params:
        g = np.zeros(params[p.name].shape)
        for element, _ in instance.elements_at(p):
            g[tuple(int(i) - 1 for i in element.indices)] = float(derived[gradient_base(p.name)[element.indices]])
        want[p.name] = g
    return want, module.gradients(params, X, T)


def check_all(spec, module, *, torch_too=True, seed=0):
    report = check_module(module, seed=seed, samples=6, problem=problem(spec, module, seed, 6))
    assert report.passed(1e-5), report
    assert {r.name for r in report.params} == set(module.PARAM_KEYS)
    want, got = derived_gradients(spec, module, seed=seed)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-7, atol=1e-9, err_msg=key)
    params, X, T = problem(spec, module, seed)
    Y = module.forward(params, X)
    np.testing.assert_allclose(Y, reference_forward(spec, params, X, NumpyOps), rtol=1e-10, atol=1e-12)
    E = module.loss(params, X, T)
    np.testing.assert_allclose(E, reference_loss(spec, reference_forward(spec, params, X, NumpyOps), T, NumpyOps),
                               rtol=1e-10)
    if torch is not None and torch_too:
        J, grads = torch_gradients(spec, params, X, T)
        np.testing.assert_allclose(E, J, rtol=1e-10)
        got = module.gradients(params, X, T)
        for key, g in grads.items():
            np.testing.assert_allclose(got[key], g, rtol=1e-7, atol=1e-10, err_msg=key)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hand_written_specs(name):
    spec, _, module = build(SPECS[name])
    check_all(spec, module)


def test_batch_norm_inference_and_running_statistics():
    spec, _, m = build(SPECS["batch_norm_relu_softmax"])
    params, X, T = problem(spec, m, samples=16)
    state = m.init_state()
    assert set(state) == {"mean2", "var2"} and (state["var2"] == 1).all() and (state["mean2"] == 0).all()
    # with a state, the running statistics: the reference's inference path
    np.testing.assert_allclose(m.forward(params, X, state), reference_forward(spec, params, X, NumpyOps, state))
    # fit updates them as PyTorch does (momentum 0.1, unbiased batch variance)
    m.fit(params, X, T, epochs=1, batch_size=16, shuffle=False, state=state, optimizer=m.SGD(lr=0.0))
    U1 = X @ params["W1"] + params["b1"]
    np.testing.assert_allclose(state["mean2"], 0.1 * U1.mean(0))
    np.testing.assert_allclose(state["var2"], 0.9 + 0.1 * U1.var(0, ddof=1))
    if torch is not None:
        bn = torch.nn.BatchNorm1d(4, dtype=torch.float64)
        bn(torch.tensor(U1))
        np.testing.assert_allclose(state["mean2"], bn.running_mean.numpy())
        np.testing.assert_allclose(state["var2"], bn.running_var.numpy())
    # training mode (no state) differs from inference
    assert not np.allclose(m.forward(params, X), m.forward(params, X, state))
    assert m.predict(params, X[:1], state).shape == (1, 3)
    assert build(SPECS["custom_glu"])[2].init_state() == {}


def test_fit_trains_and_flat_buffers():
    spec, _, m = build(SPECS["residual_layer_norm"])
    params = m.init_params(1)
    base = params["W1"].base
    assert all(v.base is base for v in params.values()) and base.size == m._SIZE
    _, X, T = problem(spec, m, samples=64)
    T = np.eye(3)[np.argmax(X[:, :3], axis=1)]  # a learnable rule
    history = m.fit(params, X, T, epochs=30, batch_size=16, optimizer=m.Adam(lr=0.01))
    assert history[-1] < 0.5 * history[0]
    # an optimiser on plain dicts (not the flat buffers) does the same arithmetic
    a, b = m.init_params(2), {k: np.array(v) for k, v in m.init_params(2).items()}
    g = m.gradients(a, X, T)
    ga = {k: np.array(v) for k, v in g.items()}
    oa, ob = m.Adam(lr=0.01), m.Adam(lr=0.01)
    oa.step(a, g)
    ob.step(b, ga)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-12)


def test_float32_and_determinism():
    spec = parse_spec(SPECS["sigmoid_bce"], "test.toml")
    one, two = generate(spec), generate(spec)
    assert one == two
    text = SPECS["sigmoid_bce"].replace('reduction = "mean"\n', 'reduction = "mean"\ndtype = "float32"\n')
    spec, _, m = build(text)
    params, X, T = problem(spec, m)
    params = {k: v.astype(np.float32) for k, v in params.items()}
    assert m.forward(params, X).dtype == np.float32
    assert all(g.dtype == np.float32 for g in m.gradients(params, X, T).values())


def test_stable_at_extreme_inputs():
    spec, _, m = build(SPECS["sigmoid_bce"])
    params, X, T = problem(spec, m)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        for scale in (1e2, 1e4):
            E, g = m.loss_and_gradients({k: v * scale for k, v in params.items()}, X * scale, T)
            assert np.isfinite(E) and all(np.isfinite(v).all() for v in g.values())


def test_cli_dispatch_and_gradcheck(tmp_path, capsys):
    spec_path = tmp_path / "g.toml"
    spec_path.write_text(SPECS["residual_layer_norm"], encoding="utf-8")
    out = tmp_path / "g.py"
    assert main([str(spec_path), "-o", str(out)]) == 0
    assert "graph of 5 layers" in capsys.readouterr().out
    assert main(["--gradcheck", str(out)]) == 0
    report = capsys.readouterr().out
    for key in ("W1", "b1", "gamma2", "beta2", "W3", "b3", "W5", "b5"):
        assert f" {key} " in report
    assert "OK" in report


# ---------------------------------------------------------------- random graphs


@st.composite
def graphs(draw):
    depth = draw(st.integers(1, 5))
    width = draw(st.integers(2, 3))
    inputs = draw(st.integers(1, 3))
    loss, out_act = draw(st.sampled_from([("cross_entropy", "softmax"), ("bce", "sigmoid"), ("mse", "identity"),
                                          ("half_sse", "tanh"), ("sse", "swish")]))
    reduction = draw(st.sampled_from(["mean", "sum"]))
    text = HEAD.format(inputs=inputs, loss=loss, reduction=reduction)
    widths = {"x": inputs}
    previous = "x"
    for l in range(1, depth):
        name = f"l{l}"
        act = ACTIVATIONS[draw(st.sampled_from(HIDDEN))][0]
        same = [n for n, w in widths.items() if w == widths[previous] and n != previous]
        kinds = ["dense", "custom"] + (["layer_norm", "batch_norm"] if widths[previous] > 1 else []) \
            + (["add"] if same else [])
        kind = draw(st.sampled_from(kinds))
        if kind == "dense":
            text += layer(name=f'"{name}"', units=width, activation=act,
                          bias=draw(st.sampled_from(["true", "false"])))
            widths[name] = width
        elif kind == "custom":
            params, forward, _ = draw(st.sampled_from(CUSTOM))
            text += layer("custom", name=f'"{name}"', units=width, params=params, forward=f'"{forward}"',
                          activation=act)
            widths[name] = width
        elif kind == "add":
            skip = draw(st.sampled_from(same))
            text += layer("add", name=f'"{name}"', input=f'["{previous}", "{skip}"]', activation=act)
            widths[name] = widths[previous]
        else:
            text += layer(kind, name=f'"{name}"', activation=act,
                          affine=draw(st.sampled_from(["true", "false"])))
            widths[name] = widths[previous]
        previous = name
    units = draw(st.integers(2, 3)) if out_act == "softmax" else draw(st.integers(1, 3))
    text += layer(units=units, activation=f'"{out_act}"' if out_act != "swish" else ACTIVATIONS["swish"][0])
    return text


@EXPENSIVE
@given(graphs(), st.integers(0, 3))
def test_random_graphs(text, seed):
    spec, _, module = build(text)
    check_all(spec, module, seed=seed)
