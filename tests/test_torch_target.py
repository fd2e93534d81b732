"""The PyTorch target (`codegen --target torch`): a torch.autograd.Function per layer with the derived backward.

Checked with torch.autograd.gradcheck (float64: every layer's backward, the input's gradient included, through
the whole network), against PyTorch's own autograd of the same network written from the definitions in the
test (`torch_gradients` of test_graph_codegen), and against the NumPy module of the same spec.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import import_source
from hypothesis import given
from hypothesis import strategies as st
from test_graph_codegen import EXPENSIVE, SPECS, graphs, problem, torch_gradients

from codegen.cli import main as codegen_main
from codegen.render import generate, generate_torch
from derive.spec.loader import load_spec, parse_spec

torch = pytest.importorskip("torch")
pytest.importorskip("array_api_compat")

ROOT = Path(__file__).resolve().parent.parent
DENSE_EXAMPLES = ["bce_classifier", "bn_digits", "deep_swish", "digits", "glu", "residual_ln", "seed003", "seed004",
                  "sine_lm"]


def modules(spec, dtype=None):
    """(the PyTorch module, the NumPy module) of one spec."""
    return import_source(generate_torch(spec, dtype)), import_source(generate(spec, dtype))


def check_against_numpy(spec, tm, nm, seed=0, samples=5):
    params, X, T = problem(spec, nm, seed, samples)
    want_loss, want = nm.loss_and_gradients(params, X, T)
    net = tm.Network.from_numpy(params, dtype=torch.float64)
    J = net.loss(torch.tensor(X), torch.tensor(T))
    J.backward()
    assert J.item() == pytest.approx(want_loss, rel=1e-12)
    for key in want:
        np.testing.assert_allclose(getattr(net, key).grad.numpy(), want[key], rtol=1e-10, atol=1e-12, err_msg=key)
    np.testing.assert_allclose(net(torch.tensor(X)).detach().numpy(), nm.forward(params, X), rtol=1e-12, atol=1e-13)
    return net, params, X, T


def check_gradcheck(tm, net, X, T):
    """gradcheck of forward(X) and loss(X, T) as functions of X and every parameter (each layer's Function, the
    output activation's and the loss's backward)."""
    keys = list(tm.PARAM_KEYS)
    values = [getattr(net, key).detach().clone().requires_grad_() for key in keys]
    x = torch.tensor(X, requires_grad=True)
    t = torch.tensor(T)

    def output(x, *ps):
        return torch.func.functional_call(net, dict(zip(keys, ps)), (x,))

    def objective(x, *ps):  # net.loss with the parameters ps in place of net's own
        saved = dict(net._parameters)
        try:
            net._parameters.update(zip(keys, ps))
            return net.loss(x, t)
        finally:
            net._parameters.update(saved)

    assert torch.autograd.gradcheck(output, (x, *values), eps=1e-6, atol=1e-5)
    assert torch.autograd.gradcheck(objective, (x, *values), eps=1e-6, atol=1e-5)


def check_against_autograd(spec, net, params, X, T):
    J, grads = torch_gradients(spec, params, X, T)
    net.zero_grad()
    got = net.loss(torch.tensor(X), torch.tensor(T))
    got.backward()
    assert got.item() == pytest.approx(J, rel=1e-10)
    for key, g in grads.items():
        np.testing.assert_allclose(getattr(net, key).grad.numpy(), g, rtol=1e-7, atol=1e-10, err_msg=key)


@pytest.mark.parametrize("name", DENSE_EXAMPLES)
def test_examples(name):
    spec = load_spec(ROOT / "examples" / f"{name}.toml")
    tm, nm = modules(spec, "float64")
    net, _, X, T = check_against_numpy(spec, tm, nm)
    check_gradcheck(tm, net, X[:3], T[:3])


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hand_written_specs(name):
    spec = parse_spec(SPECS[name], "test.toml")
    tm, nm = modules(spec)
    net, params, X, T = check_against_numpy(spec, tm, nm)
    check_gradcheck(tm, net, X, T)
    check_against_autograd(spec, net, params, X, T)


@EXPENSIVE
@given(graphs(), st.integers(0, 3))
def test_random_graphs(text, seed):
    spec = parse_spec(text, "test.toml")
    tm, nm = modules(spec)
    net, params, X, T = check_against_numpy(spec, tm, nm, seed)
    check_against_autograd(spec, net, params, X, T)
    check_gradcheck(tm, net, X[:3], T[:3])


def test_batch_norm_buffers_train_and_eval():
    spec = parse_spec(SPECS["batch_norm_relu_softmax"], "test.toml")
    tm, nm = modules(spec)
    params, X, T = problem(spec, nm, samples=16)
    net = tm.Network.from_numpy(params, dtype=torch.float64)
    assert {name for name, _ in net.named_buffers()} == set(tm.STATE_KEYS) == {"mean2", "var2"}
    net.loss(torch.tensor(X), torch.tensor(T))  # training mode: the batch's statistics, the buffers updated
    state = nm.init_state()
    nm.fit(params, X, T, epochs=1, batch_size=16, optimizer=nm.SGD(lr=0.0), state=state)
    for key in state:
        np.testing.assert_allclose(getattr(net, key).numpy(), state[key], rtol=1e-12)
    net.eval()
    with torch.no_grad():
        np.testing.assert_allclose(net(torch.tensor(X)).numpy(), nm.forward(params, X, state), rtol=1e-12)


def test_trains_with_a_torch_optimizer_in_float32():
    spec = load_spec(ROOT / "examples" / "residual_ln.toml")
    tm = import_source(generate_torch(spec))
    net = tm.Network(seed=0, dtype=torch.float32)
    assert all(p.dtype == torch.float32 for p in net.parameters())
    nm = import_source(generate(spec))
    for key, value in nm.init_params(0).items():
        np.testing.assert_allclose(getattr(net, key).detach().numpy(), value, rtol=1e-6)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(64, tm.LAYER_SIZES[0], generator=g)
    T = torch.nn.functional.one_hot(torch.randint(0, tm.LAYER_SIZES[-1], (64,), generator=g)).float()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    first = None
    for _ in range(30):
        optimizer.zero_grad()
        J = net.loss(X, T)
        J.backward()
        optimizer.step()
        first = J.item() if first is None else first
        assert J.dtype == torch.float32
    assert J.item() < 0.5 * first


def test_cli(tmp_path, capsys):
    out = tmp_path / "net.py"
    assert codegen_main([str(ROOT / "examples/glu.toml"), "-o", str(out), "--target", "torch"]) == 0
    assert "torch" in capsys.readouterr().out and "torch.autograd.Function" in out.read_text()
    for args in (["examples/cnn_digits.toml", "--target", "torch"],
                 ["examples/glu.toml", "--target", "torch", "--backend", "array-api"]):
        refused = tmp_path / "refused.py"
        assert codegen_main([str(ROOT / args[0]), "-o", str(refused), *args[1:]]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and not refused.exists(), err


def test_deterministic():
    spec = load_spec(ROOT / "examples" / "residual_ln.toml")
    assert generate_torch(spec) == generate_torch(spec)
