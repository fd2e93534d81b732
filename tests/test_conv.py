"""Images and signals (conv1d/conv2d, average pooling, flatten): shapes checked at load time, the derivation
(the flipped-kernel correlation, the dilated map of a stride), the proof, and generated modules against
central differences, the derivation evaluated numerically, a reference written here from the definitions
and PyTorch (its own conv layers, weights in its layout) where installed."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given
from hypothesis import strategies as st
from test_graph_codegen import ACTIVATIONS, EXPENSIVE, HEAD, NumpyOps, TorchOps, build, layer, reference_loss

from codegen.gradcheck import check_module, load_module
from codegen.render import generate
from derive.calculus.backward import backward, gradient_base
from derive.calculus.graph_proof import Instance, prove_graph
from derive.errors import SpecError
from derive.network import indices as ix
from derive.network.graph import Graph
from derive.spec.loader import parse_spec

try:
    import torch
except ImportError:  # pragma: no cover - the PyTorch comparison is skipped without it
    torch = None

# ---------------------------------------------------------------- the reference, from the definitions


def _windows_ref(x, size, stride, pads):
    """(output positions, the window of each as x[:, :, window]) of a window sliding over x's positions."""
    x = np.pad(x, [(0, 0), (0, 0), *pads])
    counts = [(n - k) // s + 1 for n, k, s in zip(x.shape[2:], size, stride)]
    for position in itertools.product(*map(range, counts)):
        cut = tuple(slice(p * s, p * s + k) for p, s, k in zip(position, stride, size))
        yield position, x[(slice(None), slice(None), *cut)]


def reference_forward(spec, params, X, rng=None, masks=None):
    """Each kind from its definition (DESIGN.md 10.1): a loop over output positions, nothing of the module.
    Dropout: with rng, masks drawn layer by layer as rng.random(shape) >= p, scaled by 1/(1 - p) (appended to
    `masks`); without, the identity."""
    values = {"x": X}
    for l, lay in enumerate(spec.layers, 1):
        kind, ins = lay.kind, [values[name] for name in lay.inputs]
        y = ins[0]
        if kind.kind in ("conv1d", "conv2d"):
            W = params[f"W{l}"]
            u = np.zeros((y.shape[0], *lay.shape))
            for position, window in _windows_ref(y, kind.size, kind.stride, kind.padding):
                u[(slice(None), slice(None), *position)] = np.tensordot(window, W, axes=(range(1, W.ndim),) * 2)
            if kind.bias:
                u += params[f"b{l}"].reshape(-1, *(1,) * (len(lay.shape) - 1))
        elif "pool" in kind.kind:
            u = np.zeros((y.shape[0], *lay.shape))
            for position, window in _windows_ref(y, kind.size, kind.stride, kind.padding):
                axes = tuple(range(2, window.ndim))
                u[(slice(None), slice(None), *position)] = window.mean(axes) if "avg" in kind.kind else window.max(axes)
        elif kind.kind == "flatten":
            u = y.reshape(y.shape[0], -1)
        elif kind.kind == "add":
            u = sum(ins[1:], ins[0])
        elif kind.kind == "batch_norm":
            axes = (0, *range(2, y.ndim))
            mu, var = y.mean(axis=axes, keepdims=True), y.var(axis=axes, keepdims=True)
            shape = (1, -1, *(1,) * (y.ndim - 2))
            u = (y - mu) / np.sqrt(var + kind.eps)
            if kind.affine:
                u = u * params[f"gamma{l}"].reshape(shape) + params[f"beta{l}"].reshape(shape)
        elif kind.kind == "dropout":
            mask = np.ones(y.shape) if rng is None else (rng.random(y.shape) >= kind.p) / (1 - kind.p)
            if masks is not None:
                masks.append(mask)
            u = y * mask
        else:
            u = y @ params[f"W{l}"] + (params[f"b{l}"] if kind.bias else 0)
        if lay.activation.is_softmax:
            e = np.exp(u - u.max(1, keepdims=True))
            values[lay.name] = e / e.sum(1, keepdims=True)
        else:
            values[lay.name] = ACTIVATIONS[lay.activation.name][1](NumpyOps, u)
    return values[spec.layers[-1].name]


def torch_forward(spec, params, X, masks=()):
    """The same network in PyTorch's own layers (conv1d/conv2d, pooling, flatten), the module's weights as they are;
    dropout with the given masks."""
    F = torch.nn.functional
    values = {"x": X}
    masks = list(masks)
    for l, lay in enumerate(spec.layers, 1):
        kind, ins = lay.kind, [values[name] for name in lay.inputs]
        y = ins[0]
        if kind.kind in ("conv1d", "conv2d"):
            conv = F.conv1d if kind.kind == "conv1d" else F.conv2d
            lefts = [left for left, _ in kind.padding]
            rights = [right for _, right in kind.padding]
            if lefts != rights:
                y = F.pad(y, [v for pair in reversed(kind.padding) for v in pair])
                lefts = [0] * len(lefts)
            u = conv(y, params[f"W{l}"], params.get(f"b{l}"), stride=kind.stride, padding=lefts)
        elif "pool" in kind.kind:
            pool = {"avgpool1d": F.avg_pool1d, "avgpool2d": F.avg_pool2d, "maxpool1d": F.max_pool1d,
                    "maxpool2d": F.max_pool2d}[kind.kind]
            u = pool(y, kind.size, kind.stride)
        elif kind.kind == "flatten":
            u = torch.flatten(y, 1)
        elif kind.kind == "dropout":
            u = y * torch.tensor(masks.pop(0)) if masks else y
        elif kind.kind == "batch_norm":
            u = F.batch_norm(y, None, None, params.get(f"gamma{l}"), params.get(f"beta{l}"), training=True,
                             eps=kind.eps)
        elif kind.kind == "add":
            u = sum(ins[1:], ins[0])
        else:
            u = y @ params[f"W{l}"] + (params[f"b{l}"] if kind.bias else 0)
        values[lay.name] = torch.softmax(u, 1) if lay.activation.is_softmax else \
            ACTIVATIONS[lay.activation.name][1](TorchOps, u)
    return values[spec.layers[-1].name]


def problem(spec, module, seed=0, samples=4):
    rng = np.random.default_rng(seed)
    params = {k: np.array(v) for k, v in module.init_params(seed).items()}
    for value in params.values():
        value += rng.normal(0, 0.3, size=value.shape)
    X = rng.standard_normal((samples, *spec.input_shape))
    n = spec.sizes[-1]
    T = rng.dirichlet(np.ones(n), size=samples) if spec.loss.name == "cross_entropy" else rng.uniform(0, 1, (samples, n))
    return params, X, T


def dropout_central_differences(module, params, X, T, seed, eps=1e-6):
    """The gradients with dropout active (a fixed generator: the same masks at every evaluation) against central
    differences of the loss with those masks, every parameter element."""
    got = module.gradients(params, X, T, rng=np.random.default_rng(seed))
    for key, value in params.items():
        for index in np.ndindex(value.shape):
            saved = value[index]
            value[index] = saved + eps
            up = module.loss(params, X, T, rng=np.random.default_rng(seed))
            value[index] = saved - eps
            down = module.loss(params, X, T, rng=np.random.default_rng(seed))
            value[index] = saved
            np.testing.assert_allclose(got[key][index], (up - down) / (2 * eps), rtol=1e-5, atol=1e-8, err_msg=key)


def check_module_against_references(spec, module, seed=0):
    report = check_module(module, seed=seed, samples=4, problem=problem(spec, module, seed))
    assert report.passed(1e-5), report
    assert {r.name for r in report.params} == set(module.PARAM_KEYS)
    params, X, T = problem(spec, module, seed)
    dropout = any(lay.kind.kind == "dropout" for lay in spec.layers)
    masks = []
    Y = module.forward(params, X, rng=np.random.default_rng(seed)) if dropout else module.forward(params, X)
    want = reference_forward(spec, params, X, np.random.default_rng(seed) if dropout else None, masks)
    np.testing.assert_allclose(Y, want, rtol=1e-10, atol=1e-12)
    extra = {"rng": np.random.default_rng(seed)} if dropout else {}
    np.testing.assert_allclose(module.loss(params, X, T, **extra), reference_loss(spec, Y, T, NumpyOps), rtol=1e-10)
    if dropout:
        dropout_central_differences(module, params, X, T, seed)
        np.testing.assert_allclose(module.predict(params, X), reference_forward(spec, params, X), rtol=1e-10)
    if torch is None:
        return
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    Yt = torch_forward(spec, tp, torch.tensor(X), masks)
    np.testing.assert_allclose(Y, Yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    reference_loss(spec, Yt, torch.tensor(T), TorchOps).backward()
    got = module.gradients(params, X, T, **{"rng": np.random.default_rng(seed)} if dropout else {})
    for key, value in tp.items():
        np.testing.assert_allclose(got[key], value.grad.numpy(), rtol=1e-7, atol=1e-10, err_msg=key)


# ---------------------------------------------------------------- specs

CNN = HEAD.format(inputs="[1, 4, 4]", loss="cross_entropy", reduction="mean") \
    + layer("conv2d", channels=2, kernel=3, padding=1, activation='"relu"') \
    + layer("avgpool2d", size=2) + layer("flatten") + layer(units=3, activation='"softmax"')
SIGNAL = HEAD.format(inputs="[2, 7]", loss="mse", reduction="mean") \
    + layer("conv1d", name='"c1"', channels=3, kernel=3, stride=2, padding=1, activation='"tanh"') \
    + layer("conv1d", name='"c2"', channels=3, kernel=2, padding='"same"') \
    + layer("add", input='["c1", "c2"]') + layer("avgpool1d", size=2) + layer("flatten") \
    + layer(units=2, activation='"identity"')
STRIDED = HEAD.format(inputs="[2, 5, 5]", loss="mse", reduction="sum") \
    + layer("conv2d", channels=2, kernel=[3, 1], stride=2, activation='"sigmoid"', bias="false") \
    + layer("flatten") + layer(units=2, activation='"identity"')
MAXPOOL = HEAD.format(inputs="[2, 4, 4]", loss="cross_entropy", reduction="mean") \
    + layer("conv2d", channels=2, kernel=3, padding=1, activation='"tanh"') \
    + layer("maxpool2d", size=2) + layer("conv2d", channels=2, kernel=1, activation='"relu"') \
    + layer("maxpool2d", size=2, stride=1) + layer("flatten") + layer(units=2, activation='"softmax"')
DROPOUT = HEAD.format(inputs="[1, 4, 4]", loss="cross_entropy", reduction="mean") \
    + layer("conv2d", channels=2, kernel=3, activation='"relu"') + layer("dropout", p=0.25) + layer("flatten") \
    + layer(units=3, activation='"tanh"') + layer("dropout", p=0.5) + layer(units=2, activation='"softmax"')
BATCH_NORM = HEAD.format(inputs="[1, 4, 4]", loss="cross_entropy", reduction="mean") \
    + layer("conv2d", channels=2, kernel=3, padding=1, bias="false") + layer("batch_norm", activation='"relu"') \
    + layer("maxpool2d", size=2) + layer("flatten") + layer(units=2, activation='"softmax"')
BATCH_NORM_1D = HEAD.format(inputs="[2, 5]", loss="mse", reduction="sum") \
    + layer("conv1d", channels=3, kernel=2, activation='"tanh"') + layer("batch_norm", affine="false") \
    + layer("flatten") + layer(units=2, activation='"identity"')
SPECS = {"cnn": CNN, "signal": SIGNAL, "strided": STRIDED, "maxpool": MAXPOOL, "dropout": DROPOUT,
         "batch_norm2d": BATCH_NORM, "batch_norm1d": BATCH_NORM_1D}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hand_written_specs_are_proven_and_generated_right(name):
    spec = parse_spec(SPECS[name], "test.toml")
    proof = prove_graph(backward(Graph(spec)))
    assert proof.ok, proof.summary()
    _, source, module = build(SPECS[name])
    assert "for " not in source.split("def _forward")[1].split("def forward")[0]  # no loop in the forward pass
    check_module_against_references(spec, module)


def test_input_gradient_is_the_full_correlation_with_the_flipped_kernel():
    """∂J/∂x_{n,k,p,q} = Σ_r Σ_a Σ_b w_{r,k,a,b} ∂J/∂u_{n,r,p-a+1+pad,q-b+1+pad}, zero where that falls outside."""
    formula = backward(Graph(parse_spec(CNN, "test.toml"))).formula("x")
    (weight,) = {e for e in formula.atoms(sp.Indexed) if e.base == sp.IndexedBase("W1")}
    (read,) = {e for e in formula.atoms(sp.Indexed) if e.base == gradient_base("u1")}
    r, k, a, b = weight.indices
    assert k == ix.k and read.indices == (ix.n, r, ix.p - a + 2, ix.q - b + 2)
    assert {limit[0] for s in formula.atoms(sp.Sum) for limit in s.limits} == {r, a, b}
    assert formula.has(sp.Piecewise)  # the guard: ∂J/∂u zero-padded


def test_strided_map_reads_the_dilated_gradient():
    """Stride 2: the input position h = 2(p-1) + a - pad is solved for p = (h - a + pad)/2 + 1, where 2 divides."""
    derivation = backward(Graph(parse_spec(STRIDED, "test.toml")))
    assert any(s.rule == "strided" for c in derivation.gradients["x"].contributions for s in c.steps)
    formula = derivation.formula("x")
    halves = [i for e in formula.atoms(sp.Indexed) if e.base == gradient_base("u1") for i in e.indices
              if sp.fraction(sp.together(i))[1] == 2]
    assert halves and formula.has(sp.Mod)


def test_a_wrong_backward_is_caught():
    """The kernel not flipped (w_{r,k,A+1-a,...} for w_{r,k,a,...}): the proof fails."""
    graph = Graph(parse_spec(CNN, "test.toml"))
    derivation = backward(graph)
    gradient = derivation.gradients["x"]
    (contribution,) = gradient.contributions
    W = sp.IndexedBase("W1")
    wrong = contribution.result.replace(
        lambda e: isinstance(e, sp.Indexed) and e.base == W,
        lambda e: W[e.indices[0], e.indices[1], 4 - e.indices[2], e.indices[3]])
    derivation.gradients["x"] = replace(gradient, contributions=[replace(contribution, result=wrong)])
    assert not prove_graph(derivation).ok


def test_max_pooling_routes_the_gradient_to_the_first_arg_max():
    """A tie inside a window: the whole gradient goes to the first of the tied elements (row-major), as PyTorch."""
    text = HEAD.format(inputs="[1, 2, 2]", loss="sse", reduction="sum") + layer("maxpool2d", size=2) \
        + layer("flatten") + layer(units=1, activation='"identity"', bias="false")
    graph = Graph(parse_spec(text, "t.toml"))
    derivation = backward(graph)
    assert "m1" not in derivation.gradients  # the selection gets no gradient
    X = [[0.5, 2.0], [2.0, -1.0]]
    x, W, t = (sp.IndexedBase(name) for name in ("x", "W3", "t"))
    point = {x[1, 1, i + 1, j + 1]: sp.Float(X[i][j]) for i in range(2) for j in range(2)}
    point.update({W[1, 1]: sp.Float(1), t[1, 1]: sp.Float(0)})
    sizes = {**{s: v for s, v in graph.sizes.items() if s != ix.BATCH}, ix.BATCH: 1}
    got = Instance(graph, sizes, point).gradients(derivation)
    dx = [[float(got[gradient_base("x")[1, 1, i + 1, j + 1]]) for j in range(2)] for i in range(2)]
    assert dx == [[0, 4.0], [0, 0]]  # ∂J/∂y = 2 (y - 0) = 4, to the first 2.0 only
    if torch is not None:
        xt = torch.tensor([[X]], dtype=torch.float64, requires_grad=True)
        (torch.nn.functional.max_pool2d(xt, 2).sum() ** 2).backward()
        assert xt.grad.numpy()[0, 0].tolist() == dx


def test_dropout_masks_come_from_the_generator():
    """The same seed, the same masks; without a generator (and in predict) no dropout; fit trains with it."""
    _, _, module = build(DROPOUT)
    params, X, T = problem(parse_spec(DROPOUT, "t.toml"), module)
    a = module.forward(params, X, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, module.forward(params, X, rng=np.random.default_rng(1)))
    assert not np.allclose(a, module.forward(params, X, rng=np.random.default_rng(2)))
    np.testing.assert_array_equal(module.predict(params, X), module.forward(params, X))
    history = module.fit(params, X, T, epochs=30, batch_size=2, optimizer=module.Adam(lr=0.05))
    assert history[-1] < history[0]


def test_batch_norm_of_an_image_keeps_pytorchs_running_statistics():
    """BatchNorm2d: per channel over the batch and the positions; the running variance unbiased over N·H·W."""
    spec, _, module = build(BATCH_NORM)
    params, X, T = problem(spec, module)
    state = module.init_state()
    module.fit(params, X, T, epochs=1, batch_size=len(X), optimizer=module.SGD(lr=0.0), state=state, shuffle=False)
    if torch is not None:
        bn = torch.nn.BatchNorm2d(2, momentum=0.1, dtype=torch.float64)
        conv = torch.nn.functional.conv2d(torch.tensor(X), torch.tensor(params["W1"]), padding=1)
        bn.train()(conv)
        np.testing.assert_allclose(state["mean2"], bn.running_mean.numpy(), rtol=1e-10)
        np.testing.assert_allclose(state["var2"], bn.running_var.numpy(), rtol=1e-10)
        bn.eval()
        want = torch.nn.functional.max_pool2d(torch.relu(bn(conv) * torch.tensor(params["gamma2"]).reshape(1, -1, 1, 1)
                                                         + torch.tensor(params["beta2"]).reshape(1, -1, 1, 1)), 2)
        logits = torch.flatten(want, 1) @ torch.tensor(params["W5"]) + torch.tensor(params["b5"])
        np.testing.assert_allclose(module.predict(params, X, state), torch.softmax(logits, 1).detach().numpy(),
                                   rtol=1e-9)


def test_weights_in_pytorch_layout():
    _, _, module = build(CNN)
    params = module.init_params(0)
    assert params["W1"].shape == (2, 1, 3, 3) and params["b1"].shape == (2,) and params["W4"].shape == (8, 3)
    X = np.random.default_rng(0).standard_normal((3, 1, 4, 4))
    np.testing.assert_allclose(module.forward(params, X.reshape(3, 16)), module.forward(params, X))  # rows reshaped
    with pytest.raises(ValueError, match=r"expected shape \(N, 1, 4, 4\)"):
        module.forward(params, X[:, :, :3])


BAD = {
    "dense after a conv": (layer("conv2d", channels=2, kernel=3) + layer(units=2, activation='"identity"'),
                           "layer[2].input", "add a flatten layer"),
    "kernel too large": (layer("conv2d", channels=2, kernel=5) + layer("flatten") + layer(units=2, activation='"identity"'),
                         "layer[1].kernel", "larger than its input 4"),
    "stride does not fit": (layer("conv2d", channels=2, kernel=2, stride=3) + layer("flatten")
                            + layer(units=2, activation='"identity"'), "layer[1].stride", "does not fit"),
    "same with a stride": (layer("conv2d", channels=2, kernel=3, stride=2, padding='"same"') + layer("flatten")
                           + layer(units=2, activation='"identity"'), "layer[1].padding", "stride 1"),
    "conv on features": (layer("flatten") + layer("conv1d", channels=2, kernel=2) + layer(units=2, activation='"identity"'),
                         "layer[2].input", "needs a signal"),
    "image output": (layer("conv2d", channels=2, kernel=3), "layer[1]", "add a flatten"),
    "kernel list": (layer("conv2d", channels=2, kernel="[3]") + layer("flatten") + layer(units=2, activation='"identity"'),
                    "layer[1].kernel", "a list of 2"),
    "inputs": ("", "inputs", "[channels, length]"),
    "dropout of one": (layer("dropout", p=1) + layer("flatten") + layer(units=2, activation='"identity"'),
                       "layer[1].p", "probability"),
    "add of two shapes": (layer("conv2d", name='"a"', channels=2, kernel=3, input='"x"')
                          + layer("conv2d", name='"b"', channels=2, kernel=1, input='"x"')
                          + layer("add", input='["a", "b"]') + layer("flatten") + layer(units=2, activation='"identity"'),
                          "layer[3].input", "one shape"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_image_specs_name_the_field(name):
    body, field, message = BAD[name]
    inputs = "[1, 2, 3, 4, 5]" if name == "inputs" else "[1, 4, 4]"
    text = HEAD.format(inputs=inputs, loss="mse", reduction="mean") + (body or layer(units=2, activation='"identity"'))
    with pytest.raises(SpecError) as caught:
        parse_spec(text, "net.toml")
    assert str(caught.value).startswith(f"net.toml: {field}: ") and message in str(caught.value), str(caught.value)


# ---------------------------------------------------------------- random image and signal networks


@st.composite
def image_nets(draw):
    rank = draw(st.sampled_from([1, 2]))
    channels = draw(st.integers(1, 3))
    side = draw(st.integers(3, 6))
    shape = [channels, *([side] * rank)]
    kind = "conv1d" if rank == 1 else "conv2d"
    pool = draw(st.sampled_from(["avgpool", "maxpool"])) + f"{rank}d"
    text = HEAD.format(inputs=str(shape), loss=draw(st.sampled_from(["mse", "cross_entropy"])), reduction="mean")
    loss_softmax = "cross_entropy" in text
    previous, length = "x", side
    for l in range(1, draw(st.integers(1, 3)) + 1):
        name = f"l{l}"
        choice = draw(st.sampled_from(["conv", "conv", "pool", "skip", "dropout", "batch_norm"] if length >= 2
                                      else ["conv"]))
        if choice == "batch_norm":
            text += layer("batch_norm", name=f'"{name}"', affine=draw(st.sampled_from(["true", "false"])))
        elif choice == "dropout":
            text += layer("dropout", name=f'"{name}"', p=draw(st.sampled_from([0.2, 0.5])))
        elif choice == "pool":
            size = 2
            stride = draw(st.sampled_from([1, 2] if length % 2 == 0 else [1]))
            text += layer(pool, name=f'"{name}"', size=size, stride=stride)
            length = (length - size) // stride + 1
        elif choice == "skip":
            text += layer(kind, name=f'"{name}"', channels=channels, kernel=draw(st.integers(1, 3)),
                          padding='"same"', activation=ACTIVATIONS[draw(st.sampled_from(["tanh", "relu"]))][0])
            text += layer("add", name=f'"{name}s"', input=f'["{previous}", "{name}"]')
            name = f"{name}s"
        else:
            stride = draw(st.integers(1, 2))
            pad = draw(st.integers(0, 1))
            kernels = [k for k in (1, 2, 3) if k <= length + 2 * pad and (length + 2 * pad - k) % stride == 0]
            k = draw(st.sampled_from(kernels))
            channels = draw(st.integers(1, 3))
            text += layer(kind, name=f'"{name}"', channels=channels, kernel=k, stride=stride, padding=pad,
                          activation=ACTIVATIONS[draw(st.sampled_from(sorted(ACTIVATIONS)))][0],
                          bias=draw(st.sampled_from(["true", "false"])))
            length = (length + 2 * pad - k) // stride + 1
        previous = name
    text += layer("flatten") + layer(units=draw(st.integers(2, 3)), activation='"softmax"' if loss_softmax
                                     else '"identity"')
    return text


@EXPENSIVE
@given(image_nets(), st.integers(0, 3))
def test_random_image_nets(text, seed):
    try:
        spec = parse_spec(text, "test.toml")
    except SpecError:
        assume(False)
    proof = prove_graph(backward(Graph(spec)), seed=seed)
    assert proof.ok, proof.summary()
    _, _, module = build(text)
    check_module_against_references(spec, module, seed)


# ---------------------------------------------------------------- the document

def test_closed_form_is_proven_for_every_convolution():
    for name in ("cnn", "signal", "strided"):
        spec = parse_spec(SPECS[name], "test.toml")
        proof = prove_graph(backward(Graph(spec)))
        convs = [l for l, lay in enumerate(spec.layers, 1) if lay.kind.kind.startswith("conv")]
        assert proof.closed_form_layers == convs, (name, proof.summary())


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_document_of_an_image_net(lang):
    """A section per kind with its index map, the flipped-kernel closed form, the dilated map, a worked example on
    a small image; the PDF compiles (in CI always, elsewhere where TeX is installed)."""
    from test_graph_document import HAVE_TEX, pdf_text

    from derive.document.graph import render_graph_tex

    text = HEAD.format(inputs="[1, 5, 5]", loss="mse", reduction="mean") \
        + layer("conv2d", channels=2, kernel=[3, 1], stride=2, padding=1, activation='"tanh"') \
        + layer("flatten") + layer(units=2, activation='"identity"')
    spec = parse_spec(text, "test.toml")
    derivation = backward(Graph(spec))
    source = render_graph_tex(derivation, prove_graph(derivation), lang=lang, example=True)
    assert "cell, dashed" in source and "fill=blue!8" in source  # the index map, its padding drawn dashed
    assert "A_{1} + 1 - a'" in source  # the flipped kernel
    assert r"\mid" in source  # the stride's divisibility: the dilated map
    assert r"x_{1,1,1,1}" in source  # the worked example's elements
    if HAVE_TEX:
        text = pdf_text(source)
        assert ("flipped kernel" if lang == "en" else "뒤집은 커널") in text


@pytest.mark.parametrize("name", ["maxpool", "dropout", "signal"])
def test_float32_stays_float32(name, tmp_path):
    spec = parse_spec(SPECS[name], "t.toml")
    path = tmp_path / "conv32.py"
    path.write_text(generate(spec, "float32"), encoding="utf-8")
    module = load_module(path)
    params, X, T = problem(spec, module)
    params = {k: v.astype(np.float32) for k, v in params.items()}
    rng = {"rng": np.random.default_rng(0)} if name == "dropout" else {}
    _, grads = module.loss_and_gradients(params, X.astype(np.float32), T.astype(np.float32), **rng)
    assert module.forward(params, X, **rng).dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())
