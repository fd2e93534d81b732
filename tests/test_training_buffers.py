"""The flat buffers of a generated module: parameters, gradients and optimiser state as views of one array.

An optimiser updates such views with a few whole-buffer calls and any other dict array by array; both
must give the same numbers, share one state, and never be fooled by a dict that only looks flat.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
import pytest

from codegen.gradcheck import load_module
from codegen.render import generate
from derive.spec.loader import parse_spec

OPTIMIZERS = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam"]
LR = {"SGD": 0.1, "Momentum": 0.05, "Nesterov": 0.05, "AdaGrad": 0.1, "RMSProp": 0.01, "Adam": 0.01}
# layers 1 and 2 have weights of the same shape (4, 4), layer 2 has no bias
SPEC = """
name = "net"
inputs = 4
loss = "cross_entropy"
[[layer]]
units = 4
activation = "tanh"
[[layer]]
units = 4
activation = "relu"
bias = false
[[layer]]
units = 3
activation = "softmax"
"""
_FOLDER = tempfile.TemporaryDirectory(prefix="codegen-buffers-")


@functools.cache
def module(dtype: str = "float64"):
    path = Path(_FOLDER.name) / f"net_{dtype}.py"
    path.write_text(generate(parse_spec(SPEC, "net.toml"), dtype), encoding="utf-8")
    return load_module(path)


def problem(m, seed=0, n=12):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    T = np.eye(3)[rng.integers(0, 3, n)]
    return X, T


def plain(arrays):
    """The same numbers in separate arrays (no common buffer)."""
    return {key: np.array(value, copy=True) for key, value in arrays.items()}


def test_init_params_and_gradients_are_views_of_one_buffer():
    m = module()
    params = m.init_params(0)
    assert list(params) == ["W1", "b1", "W2", "W3", "b3"]
    flat = params["W1"].base
    assert flat.shape == (m._SIZE,) and all(v.base is flat for v in params.values())
    assert m._flat_buffer(params) is flat and m._flat_buffer(plain(params)) is None
    X, T = problem(m)
    grads = m.gradients(params, X, T)
    assert m._flat_buffer(grads) is not None and m._flat_buffer(grads) is not flat
    # the same numbers as separate arrays give the same gradients
    for key, g in m.gradients(plain(params), X, T).items():
        np.testing.assert_array_equal(g, grads[key])


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimisers_give_the_same_result_on_flat_views_and_on_a_plain_dict(name):
    m = module()
    X, T = problem(m)
    flat_params, plain_params = m.init_params(1), plain(m.init_params(1))
    flat_opt, plain_opt = getattr(m, name)(lr=LR[name]), getattr(m, name)(lr=LR[name])
    for step in range(5):
        rows = slice(2 * step, 2 * step + 6)
        grads = m.gradients(flat_params, X[rows], T[rows])
        assert flat_opt._buffers(flat_params, grads) is not None  # the whole-buffer path
        flat_opt.step(flat_params, grads)
        plain_grads = plain(m.gradients(plain_params, X[rows], T[rows]))
        assert plain_opt._buffers(plain_params, plain_grads) is None  # array by array
        plain_opt.step(plain_params, plain_grads)
        for key in plain_params:
            np.testing.assert_array_equal(flat_params[key], plain_params[key])
    assert flat_params["W1"].base is not None  # still the views, updated in place
    for key, slots in flat_opt.state.items():
        for a, b in zip(slots, plain_opt.state[key], strict=True):
            np.testing.assert_array_equal(a, b)


def test_one_state_whichever_way_a_step_goes():
    """Flat steps, plain steps and a parameter replaced by the user in between: the same as all plain."""
    m = module()
    X, T = problem(m)
    params, reference = m.init_params(2), plain(m.init_params(2))
    opt, ref_opt = m.Adam(lr=0.02), m.Adam(lr=0.02)
    for step in range(6):
        grads = m.gradients(params, X, T)
        ref_opt.step(reference, plain(m.gradients(reference, X, T)))
        if step == 2:
            opt.step(params, plain(grads))  # a copy of the gradients: array by array, the same state
        else:
            opt.step(params, grads)
        if step == 3:
            params["W2"] = params["W2"].copy()  # no longer a view: the next steps go array by array
        for key in params:
            np.testing.assert_array_equal(params[key], reference[key])
    state_flat = opt._flat_state[0]
    assert all(slots[0].base is state_flat for slots in opt.state.values())


def test_a_dict_of_the_right_views_in_the_wrong_places_is_not_taken_as_flat():
    m = module()
    X, T = problem(m)
    params = m.init_params(3)
    swapped = dict(params)
    swapped["W1"], swapped["W2"] = params["W2"], params["W1"]  # same shape (4, 4), other offsets
    assert m._flat_buffer(swapped) is None
    assert m._flat_buffer({key: params[key] for key in ["W1", "b1", "W2", "W3"]}) is None  # a key missing
    assert m._flat_buffer({**params, "extra": np.zeros(2)}) is None
    reference = plain(swapped)
    opt, ref_opt = m.SGD(lr=0.1), m.SGD(lr=0.1)
    grads = m.gradients(swapped, X, T)
    opt.step(swapped, grads)
    ref_opt.step(reference, plain(grads))
    for key in reference:
        np.testing.assert_array_equal(swapped[key], reference[key])


def test_gradients_returned_earlier_are_not_overwritten():
    m = module()
    params = m.init_params(4)
    X1, T1 = problem(m, seed=1)
    X2, T2 = problem(m, seed=2)
    g1 = m.gradients(params, X1, T1)
    kept = plain(g1)
    _, g2 = m.loss_and_gradients(params, X2, T2)
    m.gradients(params, X2, T2)
    m.fit(params, X2, T2, epochs=2, batch_size=4, optimizer=m.Adam(lr=0.01))
    for key in kept:
        np.testing.assert_array_equal(g1[key], kept[key])
        assert not np.array_equal(g2[key], kept[key])


def test_fit_on_flat_views_and_on_a_plain_dict_gives_the_same_training():
    m = module()
    X, T = problem(m, n=30)
    flat_params, plain_params = m.init_params(5), plain(m.init_params(5))
    h1 = m.fit(flat_params, X, T, epochs=3, batch_size=8, optimizer=m.Adam(lr=0.01), seed=1)
    h2 = m.fit(plain_params, X, T, epochs=3, batch_size=8, optimizer=m.Adam(lr=0.01), seed=1)
    assert h1 == h2
    for key in plain_params:
        np.testing.assert_array_equal(flat_params[key], plain_params[key])


def test_float32_flat_buffers_stay_float32():
    m = module("float32")
    X, T = problem(m)
    params = m.init_params(0)
    assert params["W1"].base.dtype == np.float32
    opt = m.Adam()
    m.fit(params, X, T, epochs=2, batch_size=4, optimizer=opt)
    assert m._flat_buffer(params) is not None
    assert all(a.dtype == np.float32 for a in opt._flat_state)
    assert m._flat_buffer(m.gradients(params, X, T)).dtype == np.float32
