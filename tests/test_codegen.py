"""Generated training modules, proven by hypothesis: gradients, loss, stability, optimisers, fit, dtype, CLI."""

from __future__ import annotations

import functools
import hashlib
import tempfile
import types
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from codegen.cli import main
from codegen.gradcheck import central_difference, load_module
from codegen.render import generate
from derive.budget import time_limit
from derive.network.chain import Instance
from derive.spec import catalog
from derive.spec.loader import parse_spec

# Each example builds a module (a derivation and its printing): fewer examples than the profile's default.
EXPENSIVE = settings(deadline=None, max_examples=max(8, settings().max_examples // 2),
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CHEAP = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

BUILTIN_HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus"]
# a small grammar of custom activations: g(x) + c x
CUSTOM_TERMS = ["x*sigmoid(x)", "tanh(x)", "x**3/3", "sin(x)", "softplus(x)"]
CUSTOM_SLOPES = ["", " + x/10", " + x"]
# and of custom losses: a sum of one or two penalties of the error (or y and t)
LOSS_TERMS = ["(y - t)**2", "log(cosh(y - t))", "sqrt(1 + (y - t)**2)", "(y - t)**4/4", "t*y**2", "exp(-(y - t)**2)"]


# ---------------------------------------------------------------- building modules


_FOLDER = tempfile.TemporaryDirectory(prefix="codegen-tests-")


def module_from_source(source: str) -> types.ModuleType:
    """Write the generated source to a file and import it, as a user would."""
    path = Path(_FOLDER.name) / f"m{hashlib.sha256(source.encode()).hexdigest()[:16]}.py"
    path.write_text(source, encoding="utf-8")
    return load_module(path)


_ACTIVATIONS: dict[str, catalog.Activation] = {}


def _shared_activations(spec):
    """Reuse Activation objects across specs, so that each custom one searches its output form once."""
    from dataclasses import replace

    layers = []
    for layer in spec.layers:
        key = (layer.activation.name, sp.srepr(layer.activation.expr))
        layers.append(replace(layer, activation=_ACTIVATIONS.setdefault(key, layer.activation)))
    return replace(spec, layers=tuple(layers))


@functools.lru_cache(maxsize=256)
def build(text: str, dtype: str | None = None):
    spec = _shared_activations(parse_spec(text, "test.toml"))
    return spec, module_from_source(generate(spec, dtype))


def spec_text(inputs, layers, loss, reduction="mean", bias=None):
    lines = ['name = "net"', f"inputs = {inputs}", f"loss = {loss}", f'reduction = "{reduction}"']
    for i, (units, act) in enumerate(layers):
        lines += ["[[layer]]", f"units = {units}", f"activation = {act}"]
        if bias is not None and not bias[i]:
            lines.append("bias = false")
    return "\n".join(lines) + "\n"


@st.composite
def activations(draw, output=False, units=1):
    kind = draw(st.sampled_from(["builtin", "builtin", "custom"]))
    if kind == "custom":
        term, slope = draw(st.sampled_from(CUSTOM_TERMS)), draw(st.sampled_from(CUSTOM_SLOPES))
        name = f"act{CUSTOM_TERMS.index(term)}{CUSTOM_SLOPES.index(slope)}"
        return f'{{ name = "{name}", expr = "{term}{slope}" }}'
    names = BUILTIN_HIDDEN + (["softmax"] if output and units >= 2 else [])
    name = draw(st.sampled_from(names))
    if name == "leaky_relu" and draw(st.booleans()):
        return '{ name = "leaky_relu", alpha = 0.2 }'
    return f'"{name}"'


@st.composite
def losses(draw, output_activation):
    probability = output_activation in ('"sigmoid"', '"softmax"')
    names = ["half_sse", "sse", "mse", "custom"] + (["cross_entropy", "bce"] if probability else [])
    name = draw(st.sampled_from(names))
    if name != "custom":
        return f'"{name}"'
    terms = draw(st.lists(st.sampled_from(LOSS_TERMS), min_size=1, max_size=2, unique=True))
    return f'{{ name = "custom_loss", expr = "{" + ".join(terms)}" }}'


@st.composite
def networks(draw):
    depth = draw(st.integers(1, 4))
    widths = draw(st.lists(st.integers(1, 5), min_size=depth + 1, max_size=depth + 1))
    layers = [(widths[l], draw(activations(output=l == depth, units=widths[l]))) for l in range(1, depth + 1)]
    loss = draw(losses(layers[-1][1]))
    reduction = draw(st.sampled_from(["mean", "sum"]))
    bias = draw(st.lists(st.booleans(), min_size=depth, max_size=depth))
    return spec_text(widths[0], layers, loss, reduction, bias)


# ---------------------------------------------------------------- numeric references


def targets(rng, n, width):
    """Rows on the simplex: valid for every loss (cross entropy's Σ t = 1, bce's 0 <= t <= 1)."""
    if width == 1:
        return rng.uniform(0.05, 0.95, (n, 1))
    return rng.dirichlet(np.ones(width), size=n)


def random_params(spec, rng):
    """W ~ N(0, 0.8²), b ~ N(0, 0.5²), drawn layer by layer from `rng`."""
    params = {}
    for l, layer in enumerate(spec.layers, 1):
        params[f"W{l}"] = rng.normal(0, 0.8, (spec.sizes[l - 1], spec.sizes[l]))
        if layer.bias:
            params[f"b{l}"] = rng.normal(0, 0.5, spec.sizes[l])
    return params


def random_problem(spec, seed, n=4):
    rng = np.random.default_rng(seed)
    params = random_params(spec, rng)
    X = rng.normal(0, 1, (n, spec.inputs))
    return params, X, targets(rng, n, spec.sizes[-1])


def pre_activations(spec, params, X):
    """u of every layer, by NumPy from the catalog's expressions (an independent forward pass)."""
    us, y = [], X
    for l, layer in enumerate(spec.layers, 1):
        u = y @ params[f"W{l}"] + params.get(f"b{l}", 0)
        us.append(u)
        act = layer.activation
        if act.is_softmax:
            e = np.exp(u - u.max(axis=1, keepdims=True))
            y = e / e.sum(axis=1, keepdims=True)
        else:
            f = sp.lambdify(catalog.x, act.expr, "numpy")
            y = np.broadcast_to(f(u), u.shape).astype(float)
    return us


def has_kink(act: catalog.Activation) -> bool:
    return not act.is_softmax and act.expr.has(sp.Piecewise, sp.Abs, sp.Max)


def numeric_gradients(module, params, X, T, eps=1e-6):
    grads = {}
    for key, value in params.items():
        g = np.zeros_like(value)
        flat, out = value.reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            out[i] = central_difference(module, params, X, T, flat, i, eps)
        grads[key] = g
    return grads


def sympy_loss(spec, params, X, T):
    """The batch objective from derive's explicit instance: E written out in scalars, lambdified.

    Where writing the instance out takes too long (nested custom functions of a deep, wide net), the same
    SymPy expressions (activations, loss) are lambdified one layer at a time instead.
    """
    try:
        with time_limit(4):
            inst = Instance(spec, spec.sizes)
            symbols = inst.symbols
            plain = [sp.Symbol(f"s{i}", real=True) for i in range(len(symbols))]
            # scalar code (Python's math, one sample at a time): Piecewise becomes `a if c else b`
            f = sp.lambdify(plain, inst.E.xreplace(dict(zip(symbols, plain, strict=True))), "math", cse=True)
    except TimeoutError:
        return layerwise_sympy_loss(spec, params, X, T)
    values = []
    for x, t in zip(X, T, strict=True):
        args = [*map(float, x), *map(float, t)]
        for p in inst.params:
            kind, l = p.base.label.name[0], int(p.base.label.name[1:])
            idx = tuple(int(i) - 1 for i in p.indices)
            args.append(float(params[f"{'W' if kind == 'w' else 'b'}{l}"][idx]))
        values.append(f(*args))
    per_sample = np.array(values, dtype=float)
    return per_sample.mean() if spec.reduction == "mean" else per_sample.sum()


def layerwise_sympy_loss(spec, params, X, T):
    y = X
    for l, layer in enumerate(spec.layers, 1):
        u = y @ params[f"W{l}"] + params.get(f"b{l}", 0)
        if layer.activation.is_softmax:
            e = np.exp(u)
            y = e / e.sum(axis=1, keepdims=True)
        else:
            y = np.broadcast_to(sp.lambdify(catalog.x, layer.activation.expr, "numpy")(u), u.shape)
    loss = sp.lambdify((catalog.y, catalog.t), spec.loss.expr, "numpy")
    per_sample = np.broadcast_to(loss(y, T), y.shape).sum(axis=1)
    if spec.loss.mean_over_outputs:
        per_sample = per_sample / spec.sizes[-1]
    return per_sample.mean() if spec.reduction == "mean" else per_sample.sum()


# ---------------------------------------------------------------- the properties


@EXPENSIVE
@given(text=networks(), seed=st.integers(0, 2**32 - 1))
def test_gradients_match_central_differences_and_loss_matches_sympy(text, seed):
    spec, module = build(text)
    params, X, T = random_problem(spec, seed)
    us = pre_activations(spec, params, X)
    for u, layer in zip(us, spec.layers, strict=True):
        if has_kink(layer.activation):
            assume(np.abs(u).min() > 1e-3)  # keep ReLU-like inputs off the kink
        assume(np.abs(u).max() < 30)
    E = module.loss(params, X, T)
    assert np.isfinite(E)
    expected = sympy_loss(spec, params, X, T)
    assert E == pytest.approx(expected, rel=1e-9, abs=1e-12)
    grads = module.gradients(params, X, T)
    numeric = numeric_gradients(module, params, X, T)
    scale = 1 + max(np.abs(g).max() for g in numeric.values())
    for key in params:
        assert grads[key].shape == params[key].shape
        np.testing.assert_allclose(grads[key], numeric[key], rtol=1e-5, atol=1e-6 * scale, err_msg=key)


EXTREME_PAIRS = [(act, loss) for act in (*BUILTIN_HIDDEN, "softmax") for loss in catalog.LOSSES
                 if (not catalog.LOSSES[loss].needs_probability or act in catalog.PROBABILITY_ACTIVATIONS)
                 and (act, loss) != ("softmax", "bce")]


@settings(deadline=None, max_examples=max(10, settings().max_examples // 3),
          suppress_health_check=[HealthCheck.too_slow])
@given(hidden=st.sampled_from(BUILTIN_HIDDEN), pair=st.sampled_from(EXTREME_PAIRS),
       magnitude=st.sampled_from([1e1, 1e2, 1e3]), seed=st.integers(0, 2**32 - 1))
def test_extreme_inputs_give_finite_loss_and_gradients(hidden, pair, magnitude, seed):
    output, loss = pair
    text = spec_text(3, [(4, f'"{hidden}"'), (3, f'"{output}"')], f'"{loss}"')
    _, module = build(text)
    rng = np.random.default_rng(seed)
    params = {k: v * 3 for k, v in module.init_params(seed % 1000).items()}
    X = rng.uniform(-magnitude, magnitude, (6, 3))
    T = rng.dirichlet(np.ones(3), size=6)
    T[0] = np.eye(3)[0]  # a one-hot row: log(0) must not appear
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        E, grads = module.loss_and_gradients(params, X, T)
    assert np.isfinite(E)
    for key, g in grads.items():
        assert np.all(np.isfinite(g)), key


@pytest.mark.parametrize("activation", ["sigmoid", "softplus", "tanh", "softmax"])
def test_saturated_units_are_exact_where_it_matters(activation):
    """Outputs pushed to 0/1 by |u| = 800: the fused losses stay finite and right, not log(0)."""
    loss = "bce" if activation == "sigmoid" else ("cross_entropy" if activation == "softmax" else "sse")
    _, module = build(spec_text(1, [(2, f'"{activation}"')], f'"{loss}"'))
    params = {"W1": np.array([[800.0, -800.0]]), "b1": np.zeros(2)}
    X, T = np.array([[1.0], [-1.0]]), np.array([[0.0, 1.0], [1.0, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        E, grads = module.loss_and_gradients(params, X, T)
    assert np.isfinite(E) and all(np.all(np.isfinite(g)) for g in grads.values())
    if activation in ("sigmoid", "softmax"):
        assert E == pytest.approx(1600, rel=1e-9)  # every wrong unit costs |u| = 800 (twice per sample)


# ---------------------------------------------------------------- optimisers and fit

OPT_SPEC = spec_text(2, [(3, '"tanh"'), (2, '"identity"')], '"half_sse"')


def textbook(name, p, grads, steps, **h):
    """The update rules as printed in the textbooks, one step at a time, on fresh state."""
    p = p.copy()
    v = np.zeros_like(p)
    m = np.zeros_like(p)
    for t, g in enumerate(grads[:steps], 1):
        if name == "SGD":
            p = p - h["lr"] * g
        elif name == "Momentum":
            v = h["momentum"] * v - h["lr"] * g
            p = p + v
        elif name == "Nesterov":  # CS231n form: p += -mu v_prev + (1 + mu) v
            v_prev = v
            v = h["momentum"] * v - h["lr"] * g
            p = p - h["momentum"] * v_prev + (1 + h["momentum"]) * v
        elif name == "AdaGrad":
            v = v + g * g
            p = p - h["lr"] * g / (np.sqrt(v) + h["eps"])
        elif name == "RMSProp":
            v = h["rho"] * v + (1 - h["rho"]) * g * g
            p = p - h["lr"] * g / (np.sqrt(v) + h["eps"])
        elif name == "Adam":
            m = h["beta1"] * m + (1 - h["beta1"]) * g
            v = h["beta2"] * v + (1 - h["beta2"]) * g * g
            m_hat, v_hat = m / (1 - h["beta1"] ** t), v / (1 - h["beta2"] ** t)
            p = p - h["lr"] * m_hat / (np.sqrt(v_hat) + h["eps"])
    return p


HYPER = {
    "SGD": {"lr": 0.1},
    "Momentum": {"lr": 0.05, "momentum": 0.8},
    "Nesterov": {"lr": 0.05, "momentum": 0.8},
    "AdaGrad": {"lr": 0.1, "eps": 1e-8},
    "RMSProp": {"lr": 0.01, "rho": 0.9, "eps": 1e-8},
    "Adam": {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
}


@pytest.mark.parametrize("name", list(HYPER))
def test_optimiser_step_matches_textbook(name):
    _, module = build(OPT_SPEC)
    rng = np.random.default_rng(7)
    start = rng.normal(size=(2, 3))
    grads = [rng.normal(size=(2, 3)) for _ in range(4)]
    opt = getattr(module, name)(**HYPER[name])
    params = {"W1": start.copy()}
    ident = id(params["W1"])
    for g in grads:
        g_copy = g.copy()
        opt.step(params, {"W1": g})
        assert np.array_equal(g, g_copy)  # the gradient is not touched
    assert id(params["W1"]) == ident  # updated in place
    np.testing.assert_allclose(params["W1"], textbook(name, start, grads, 4, **HYPER[name]), rtol=1e-12, atol=1e-14)


def test_optimiser_state_is_allocated_once():
    _, module = build(OPT_SPEC)
    params = module.init_params(0)
    opt = module.Adam(lr=0.01)
    grads = {k: np.ones_like(v) for k, v in params.items()}
    opt.step(params, grads)
    first = {k: tuple(id(a) for a in slots) for k, slots in opt.state.items()}
    opt.step(params, grads)
    assert first == {k: tuple(id(a) for a in slots) for k, slots in opt.state.items()}


@pytest.mark.parametrize("optimizer", ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam"])
def test_fit_lowers_the_loss_on_a_learnable_problem(optimizer):
    _, module = build(spec_text(3, [(8, '"tanh"'), (2, '"identity"')], '"mse"'))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    T = np.stack([np.sin(X[:, 0]) + X[:, 1] / 2, X[:, 2] * X[:, 0] / 3], axis=1)
    params = module.init_params(1)
    before = module.loss(params, X, T)
    lr = {"SGD": 0.1, "Momentum": 0.05, "Nesterov": 0.05, "AdaGrad": 0.1, "RMSProp": 0.005, "Adam": 0.01}[optimizer]
    history = module.fit(params, X, T, epochs=30, batch_size=16, optimizer=getattr(module, optimizer)(lr=lr))
    assert len(history) == 30
    after = module.loss(params, X, T)
    assert after < 0.5 * before
    assert history[-1] < history[0]


def test_fit_batches_callback_verbose_and_seed(capsys):
    _, module = build(OPT_SPEC)
    rng = np.random.default_rng(1)
    X, T = rng.normal(size=(10, 2)), rng.normal(size=(10, 2))  # 10 samples, batches of 4: the last has 2
    seen = []
    p1 = module.init_params(0)
    steps = []

    class Counting(module.SGD):
        def step(self, params, grads):
            steps.append(1)
            super().step(params, grads)

    h1 = module.fit(p1, X, T, epochs=3, batch_size=4, optimizer=Counting(lr=0.05), seed=5,
                    callback=lambda e, loss: seen.append((e, loss)), verbose=True)
    assert len(steps) == 9
    assert [e for e, _ in seen] == [1, 2, 3] and [loss for _, loss in seen] == h1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3")
    p2 = module.init_params(0)
    h2 = module.fit(p2, X, T, epochs=3, batch_size=4, optimizer=module.SGD(lr=0.05), seed=5)
    assert h1 == h2 and all(np.array_equal(p1[k], p2[k]) for k in p1)
    p3 = module.init_params(0)
    h3 = module.fit(p3, X, T, epochs=3, batch_size=4, optimizer=module.SGD(lr=0.05), seed=6)
    assert h3 != h1
    # the epoch loss of a full batch without shuffling is the loss before the step
    p4 = module.init_params(0)
    before = module.loss(p4, X, T)
    (h4,) = module.fit(p4, X, T, epochs=1, batch_size=10, optimizer=module.SGD(lr=0.05), shuffle=False)
    assert h4 == pytest.approx(before)


def test_init_params_scheme():
    _, module = build(spec_text(100, [(50, '"relu"'), (40, '"tanh"')], '"sse"'))
    p = module.init_params(0)
    assert p["W1"].std() == pytest.approx((2 / 100) ** 0.5, rel=0.05)  # He
    assert p["W2"].std() == pytest.approx((2 / 90) ** 0.5, rel=0.05)  # Glorot
    assert not p["b1"].any()
    assert not np.array_equal(module.init_params(1)["W1"], p["W1"])


# ---------------------------------------------------------------- float32


@pytest.mark.parametrize("text", [
    spec_text(4, [(5, '"relu"'), (3, '"softmax"')], '"cross_entropy"'),
    spec_text(4, [(5, '{ name = "swish", expr = "x*sigmoid(x)" }'), (3, '"sigmoid"')], '"bce"'),
    spec_text(4, [(5, '"softplus"'), (2, '{ name = "leaky_relu", alpha = 0.1 }')], '"mse"', "sum"),
])
def test_float32_module_stays_float32(text):
    _, module = build(text, "float32")
    assert module.DTYPE is np.float32
    params = module.init_params(0)
    assert all(v.dtype == np.float32 for v in params.values())
    rng = np.random.default_rng(0)
    X = rng.normal(size=(9, 4))  # float64 input is converted once
    T = rng.dirichlet(np.ones(module.LAYER_SIZES[-1]), size=9)
    assert module.forward(params, X).dtype == np.float32
    E, grads = module.loss_and_gradients(params, X, T)
    assert isinstance(E, float)
    assert all(g.dtype == np.float32 for g in grads.values())
    for name in ("SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam"):
        p = module.init_params(0)
        opt = getattr(module, name)()
        module.fit(p, X, T, epochs=2, batch_size=4, optimizer=opt)
        assert all(v.dtype == np.float32 for v in p.values()), name
        assert all(a.dtype == np.float32 for slots in opt.state.values() for a in slots), name
    # the float32 module computes what the float64 one does, to float32 precision
    _, m64 = build(text, "float64")
    p64 = {k: v.astype(np.float64) for k, v in params.items()}
    g64 = m64.gradients(p64, X.astype(np.float32).astype(np.float64), T.astype(np.float32).astype(np.float64))
    for key in grads:
        np.testing.assert_allclose(grads[key], g64[key], rtol=2e-3, atol=1e-5)


# ---------------------------------------------------------------- the command line


def test_cli_generates_and_gradchecks(tmp_path, capsys):
    spec = tmp_path / "net.toml"
    spec.write_text(spec_text(3, [(4, '"tanh"'), (2, '"sigmoid"')], '"bce"'))
    out = tmp_path / "net.py"
    assert main([str(spec), "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["--gradcheck", str(out)]) == 0
    text = capsys.readouterr().out
    assert "worst relative error" in text and text.strip().endswith("OK")
    first = out.read_bytes()
    assert main([str(spec), "-o", str(out)]) == 0
    assert out.read_bytes() == first
    assert main([str(spec), "-o", str(tmp_path / "n32.py"), "--dtype", "float32"]) == 0
    assert "DTYPE = np.float32" in (tmp_path / "n32.py").read_text()


def test_cli_gradcheck_fails_on_wrong_gradients(tmp_path, capsys):
    spec = tmp_path / "net.toml"
    spec.write_text(spec_text(3, [(4, '"tanh"'), (2, '"identity"')], '"half_sse"'))
    out = tmp_path / "net.py"
    assert main([str(spec), "-o", str(out)]) == 0
    source = out.read_text()
    assert "dU1 = dY1*" in source  # ∂J/∂u1 = ∂J/∂y1 ⊙ f'(u1): made 1% too large
    out.write_text(source.replace("dU1 = dY1*", "dU1 = 1.01*dY1*", 1))
    capsys.readouterr()
    assert main(["--gradcheck", str(out)]) == 1
    assert capsys.readouterr().out.strip().endswith("FAILED")


BAD_SPECS = {
    "unknown key": 'name = "x"\ninputs = 2\nloss = "sse"\ncolour = 1\n[[layer]]\nunits = 1\nactivation = "tanh"\n',
    "bad activation": 'name = "x"\ninputs = 2\nloss = "sse"\n[[layer]]\nunits = 1\nactivation = "nope"\n',
    "toml": "name = \n",
    "unsafe": 'name = "x"\ninputs = 2\nloss = "sse"\n[[layer]]\nunits = 1\n'
              'activation = { name = "evil", expr = "__import__(\'os\')" }\n',
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_cli_bad_spec_one_line_exit_2_no_file(case, tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text(BAD_SPECS[case])
    out = tmp_path / "out.py"
    out.write_text("# keep me\n")
    assert main([str(spec), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("codegen: error:")
    assert "Traceback" not in err
    assert out.read_text() == "# keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml", "out.py"]


@pytest.mark.parametrize("argv, words", [
    ([], "expected a spec"),
    (["examples/digits.toml"], "missing -o"),
    (["examples/digits.toml", "-o", "/no/such/folder/x.py"], "does not exist"),
    (["examples/digits.toml", "-o", "x.py", "--dtype", "float16"], "invalid choice"),
    (["missing.toml", "-o", "x.py"], "file not found"),
    (["--gradcheck", "no_such_module.py"], "file not found"),
    (["--gradcheck", "examples/digits.toml"], "not a Python module"),
    (["--gradcheck", "codegen/__init__.py"], "not a generated training module"),
    (["--gradcheck", "generated/digits.py", "--tol", "-1"], "--tol"),
    (["examples/digits.toml", "--gradcheck", "generated/digits.py"], "--gradcheck takes only"),
    (["--bogus"], "unrecognized"),
])
def test_cli_usage_errors(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err, err
