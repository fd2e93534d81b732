"""Second order, part two: the Jacobian of the outputs (each output unit backpropagated on its own), the
Gauss-Newton curvature, the Hessian, and Levenberg-Marquardt.

References: reverse mode over the written-out outputs (in `prove_jacobian`), `sympy.diff` of the per-sample
loss written here, central differences of the module's forward and gradients, and PyTorch's `torch.func`
through the reference forward pass of test_graph_codegen (written from the definitions) where installed.
"""

import io
import itertools
from dataclasses import replace

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from test_graph_codegen import (
    EXPENSIVE,
    SPECS,
    TorchOps,
    build,
    graphs,
    problem,
    reference_forward,
    reference_loss,
    torch,
)

from codegen.gradcheck import load_module, main_gradcheck
from codegen.render import generate
from derive.calculus.backward import backward
from derive.calculus.jacobian import JacobianError, curvature, output_jacobian, prove_gauss_newton, prove_jacobian
from derive.network import indices as ix
from derive.network.graph import Graph
from derive.spec.catalog import ACTIVATIONS
from derive.spec.loader import SpecError, load_spec, parse_spec
from tests.conftest import EXAMPLES, ROOT

PER_SAMPLE = [p for p in EXAMPLES if not any(layer.kind.couples_samples for layer in load_spec(p).layers)]
UNCOUPLED = {name: text for name, text in SPECS.items() if "batch_norm" not in text}


def derivation_of(text: str):
    return backward(Graph(parse_spec(text, "net.toml")))


# ---------------------------------------------------------------- the derivation, proven

@pytest.mark.parametrize("path", PER_SAMPLE, ids=[p.stem for p in PER_SAMPLE])
def test_examples_have_proven_jacobians(path):
    proof = prove_jacobian(output_jacobian(backward(Graph(load_spec(path)))))
    assert proof.ok, proof.summary()
    assert proof.checked > 0


@pytest.mark.parametrize("name", sorted(UNCOUPLED))
def test_hand_written_graphs_have_proven_jacobians(name):
    proof = prove_jacobian(output_jacobian(derivation_of(SPECS[name])))
    assert proof.ok, proof.summary()


def test_batch_norm_has_no_per_sample_jacobian():
    with pytest.raises(JacobianError, match="couples the samples"):
        output_jacobian(derivation_of(SPECS["batch_norm_relu_softmax"]))


@pytest.mark.parametrize("which", ["seed", "W1", "y1"])
def test_a_wrong_jacobian_formula_is_caught(which):
    jac = output_jacobian(derivation_of(SPECS["residual_layer_norm"]))
    if which == "seed":
        jac.seed = jac.steps[0].formula
        jac.steps[0] = type(jac.steps[0])(jac.steps[0].of, jac.steps[0].tensor, 1.01 * jac.steps[0].formula)
    else:
        i = next(i for i, s in enumerate(jac.steps) if s.of == which)
        step = jac.steps[i]
        jac.steps[i] = type(step)(step.of, step.tensor, step.formula + sp.Rational(1, 100))
    assert not prove_jacobian(jac).ok


@EXPENSIVE
@given(graphs())
def test_random_graphs_have_proven_jacobians(text):
    derivation = derivation_of(text)
    if any(lg.kind.couples_samples for lg in derivation.graph.layers):
        with pytest.raises(JacobianError):
            output_jacobian(derivation)
        return
    proof = prove_jacobian(output_jacobian(derivation), points=1)
    assert proof.ok, proof.summary()


# ---------------------------------------------------------------- the curvature, against sympy.diff

OUT = """name = "c"
inputs = 2
loss = "{loss}"

[[layer]]
units = 3
activation = "{act}"
"""
PAIRS = [("cross_entropy", "softmax", "u"), ("bce", "sigmoid", "u"), ("mse", "identity", "u"),
         ("half_sse", "identity", "u"), ("half_sse", "tanh", "y"), ("mse", "sigmoid", "y"), ("sse", "softplus", "y")]


@pytest.mark.parametrize("loss, act, at", PAIRS)
def test_curvature_is_the_hessian_of_the_per_sample_loss(loss, act, at):
    """H in u (the loss of the activation, differentiated twice here) or in y, at a random point."""
    derivation = derivation_of(OUT.format(loss=loss, act=act))
    curv = curvature(derivation)
    assert curv.at == at
    out = derivation.graph.layers[-1]
    spec = derivation.graph.spec
    rng = np.random.default_rng(0)
    u = sp.symbols("u1:4", real=True)
    t_values = rng.dirichlet(np.ones(3)) if act == "softmax" else rng.uniform(0.1, 0.9, 3)
    if at == "u":
        y = [sp.exp(a) / sum(sp.exp(b) for b in u) for a in u] if act == "softmax" else \
            [ACTIVATIONS[act].of(a) for a in u]
        variables = u
    else:
        y = list(sp.symbols("y1:4", real=True))
        variables = y
    E = sum(spec.loss.of(a, sp.Float(b)) for a, b in zip(y, t_values))
    if spec.loss.mean_over_outputs:
        E = E / 3
    point = dict(zip(variables, rng.uniform(-1, 1, 3) if at == "u" else rng.uniform(0.1, 0.9, 3)))
    want = np.array([[float(sp.diff(E, a, b).subs(point)) for b in variables] for a in variables])
    sizes = {s: sp.Integer(v) for s, v in derivation.graph.sizes.items()}
    values = {out.pre.base[ix.n, k + 1]: point[u[k]] for k in range(3)} if at == "u" else {}
    y_at = [float(v.subs(point)) for v in y] if at == "u" else [float(point[v]) for v in y]
    values.update({out.output.base[ix.n, k + 1]: y_at[k] for k in range(3)})
    values.update({sp.IndexedBase("t")[ix.n, k + 1]: t_values[k] for k in range(3)})
    got = np.array([[float(curv.hessian.xreplace({ix.k: a + 1, ix.r: b + 1}).doit().xreplace(values).xreplace(sizes))
                     for b in range(3)] for a in range(3)])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- the generated module

def central_jacobian(module, params, X, h=1e-6):
    found = {}
    for key, value in params.items():
        J = np.empty((X.shape[0], module.LAYER_SIZES[-1], *value.shape))
        for index in np.ndindex(value.shape):
            shifted = {k: v.copy() for k, v in params.items()}
            shifted[key][index] += h
            plus = module.forward(shifted, X)
            shifted[key][index] -= 2 * h
            J[(slice(None), slice(None), *index)] = (plus - module.forward(shifted, X)) / (2 * h)
        found[key] = J
    return found


MATCHING = {("softmax", "cross_entropy"), ("sigmoid", "bce"), ("identity", "mse"), ("identity", "half_sse"),
            ("identity", "sse")}


def torch_gauss_newton_vector(spec, params, X, T, V):
    """Jᵀ H J V through the reference forward pass: J of z = the output layer's u where the loss matches its
    activation (recovered from y: log y for softmax, up to a shift H ignores; logit y for sigmoid), else of y;
    H the Hessian of the reference objective in z. Forward mode for J V, then H, then reverse mode."""
    from torch.func import grad, jvp, vjp

    act = spec.layers[-1].activation.name
    at_u = (act, spec.loss.name) in MATCHING
    tp = {k: torch.tensor(v, dtype=torch.float64) for k, v in params.items()}
    tv = {k: torch.tensor(V[k], dtype=torch.float64) for k in params}
    Xt, Tt = torch.tensor(X), torch.tensor(T)

    def z_of(p):
        y = reference_forward(spec, p, Xt, TorchOps)
        if at_u and act == "softmax":
            return torch.log(y)
        if at_u and act == "sigmoid":
            return torch.log(y) - torch.log1p(-y)
        return y

    def objective(z):
        y = torch.softmax(z, 1) if at_u and act == "softmax" else torch.sigmoid(z) if at_u and act == "sigmoid" else z
        return reference_loss(spec, y, Tt, TorchOps)

    z, jv = jvp(z_of, (tp,), (tv,))
    _, hjv = jvp(grad(objective), (z,), (jv,))
    _, pullback = vjp(z_of, tp)
    (g,) = pullback(hjv)
    return {k: g[k].numpy() for k in params}, at_u


def check_module(spec, module, seed=0, torch_too=True):
    params, X, T = problem(spec, module, seed, 5)
    got = module.jacobian(params, X)
    assert list(got) == list(module.PARAM_KEYS)
    want = central_jacobian(module, params, X)
    for k in params:
        assert got[k].shape == (X.shape[0], spec.sizes[-1], *params[k].shape)
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6, atol=1e-8, err_msg=k)
    if torch is None or not torch_too:
        return
    tp = {k: torch.tensor(v, dtype=torch.float64) for k, v in params.items()}
    reference = torch.func.jacrev(lambda p: reference_forward(spec, p, torch.tensor(X), TorchOps))(tp)
    for k in params:
        np.testing.assert_allclose(got[k], reference[k].numpy(), rtol=1e-9, atol=1e-12, err_msg=k)
    rng = np.random.default_rng(seed + 7)
    V = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    gv, at_u = torch_gauss_newton_vector(spec, params, X, T, V)
    assert module.GAUSS_NEWTON_AT == ("u" if at_u else "y")
    mine = module.gauss_newton_vector(params, X, V, T)
    for k in params:
        np.testing.assert_allclose(mine[k], gv[k], rtol=1e-9, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("name", sorted(UNCOUPLED))
def test_module_jacobian_and_gauss_newton_match_differences_and_torch(name):
    spec, _, module = build(SPECS[name])
    check_module(spec, module)


@pytest.mark.parametrize("path", PER_SAMPLE, ids=[p.stem for p in PER_SAMPLE])
def test_generated_example_jacobian(path):
    spec = load_spec(path)
    module = load_module(ROOT / "generated" / f"{path.stem}.py")
    if np.prod(module.LAYER_SIZES) > 10**5:  # the digits nets: check a small random problem's columns only
        pytest.skip("central differences of every weight of a large net")
    check_module(spec, module, torch_too=False)


@EXPENSIVE
@given(graphs(), st.integers(0, 3))
def test_random_graph_modules_jacobian(text, seed):
    spec, _, module = build(text)
    if any(layer.kind.couples_samples for layer in spec.layers):
        assert not hasattr(module, "jacobian") and not hasattr(module, "LevenbergMarquardt")
        return
    check_module(spec, module, seed)


def test_hessian_is_symmetric_and_matches_differences_of_gradients():
    spec, _, module = build(SPECS["residual_layer_norm"])
    params, X, T = problem(spec, module, 0, 4)
    H = module.hessian(params, X, T)
    assert H.shape == (module._SIZE, module._SIZE)
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    flat = np.concatenate([params[k].ravel() for k in module.PARAM_KEYS])
    h = 1e-5
    for i in range(0, module._SIZE, 7):
        step = h * np.eye(module._SIZE)[i]
        plus, minus = module.gradients(module._views(flat + step), X, T), module.gradients(module._views(flat - step), X, T)
        column = np.concatenate([(plus[k] - minus[k]).ravel() / (2 * h) for k in module.PARAM_KEYS])
        np.testing.assert_allclose(H[:, i], column, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------- Levenberg-Marquardt

SINE = """name = "sine"
inputs = 1
loss = "half_sse"

[[layer]]
units = 10
activation = "tanh"

[[layer]]
units = 1
activation = "identity"

[train]
optimizer = "lm"
epochs = 60
"""


def sine(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-np.pi, np.pi, (n, 1))
    return X, np.sin(X) + 0.1 * rng.standard_normal((n, 1))


@pytest.fixture(scope="module")
def sine_module():
    return build(SINE)


def test_lm_fits_a_noisy_sine_where_gradient_descent_has_not(sine_module):
    """The textbook case: a small regression net, full batch; LM reaches the noise level (σ²/2 = 0.005) in
    tens of epochs, plain gradient descent is far from it after as many."""
    _, source, module = sine_module
    assert "optimizer = LevenbergMarquardt(mu=0.001, mu_dec=0.1, mu_inc=10.0, mu_max=10000000000.0)" in source
    X, T = sine()
    params = module.init_params(0)
    history = module.fit(params, X, T)  # the spec's lm, 60 epochs
    assert all(b <= a for a, b in itertools.pairwise(history))  # a step is taken only where it lowers the loss
    assert module.loss(params, X, T) < 0.006
    slow = module.init_params(0)
    module.fit(slow, X, T, epochs=60, batch_size=200, optimizer=module.SGD(lr=0.1))
    assert module.loss(slow, X, T) > 2 * module.loss(params, X, T)


def test_lm_solves_the_small_system_when_rows_are_fewer(sine_module):
    """(AᵀA + μI)⁻¹ g by the R×R system equals the P×P one (and a direct solve)."""
    _, _, module = sine_module
    rng = np.random.default_rng(1)
    opt = module.LevenbergMarquardt(mu=0.3)
    for rows, size in ((5, 31), (40, 31)):
        A, g = rng.standard_normal((rows, size)), rng.standard_normal(size)
        want = -np.linalg.solve(A.T @ A + 0.3 * np.eye(size), g)
        np.testing.assert_allclose(opt._solve(A, g), want, rtol=1e-10, atol=1e-12)


def test_lm_raises_mu_on_a_non_finite_system_and_keeps_the_weights(sine_module):
    _, _, module = sine_module
    opt = module.LevenbergMarquardt()
    A = np.full((3, 4), np.nan)
    assert opt._solve(A, np.ones(4)) is None
    X, T = sine(20)
    params = module.init_params(0)
    before = {k: v.copy() for k, v in params.items()}
    T = T.copy()
    T[0] = np.inf  # every trial loss is inf: μ climbs to mu_max, nothing moves
    history = module.fit(params, X, T, optimizer=module.LevenbergMarquardt(mu_max=1e3), epochs=5)
    assert len(history) == 1
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])


def test_lm_for_a_softmax_classifier_lowers_the_loss():
    """The generalized Gauss-Newton (H = diag(y) - y yᵀ, at u) in LM on a classifier."""
    spec, _, module = build(SPECS["residual_layer_norm"])
    params, X, T = problem(spec, module, 0, 30)
    floor = -np.sum(T * np.log(T)) / len(T)  # soft targets: the cross entropy is at least their entropy
    start = module.loss(params, X, T) - floor
    history = module.fit(params, X, T, epochs=10, optimizer=module.LevenbergMarquardt())
    assert module.loss(params, X, T) - floor < 0.5 * start and len(history) >= 2


# ---------------------------------------------------------------- spec and gradcheck

@pytest.mark.parametrize("train, message", [
    ('optimizer = "lm"\nlearning_rate = 0.1', "lm takes no learning rate"),
    ('optimizer = { name = "lm", lr = 0.1 }', "unknown key"),
    ('optimizer = { name = "lm", mu_dec = 2 }', "mu_dec: expected a number in (0, 1)"),
    ('optimizer = { name = "lm", mu_inc = 0.5 }', "mu_inc: expected a number above 1"),
    ('optimizer = { name = "lm", mu = 1e11 }', "mu: expected a number below mu_max"),
])
def test_bad_lm_specs_are_refused(train, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_spec(SINE.replace('optimizer = "lm"', train), "net.toml")


def test_lm_with_batch_norm_is_refused():
    text = SPECS["batch_norm_relu_softmax"] + '\n[train]\noptimizer = "lm"\n'
    with pytest.raises(SpecError, match=r"train.optimizer: lm needs the Jacobian .* layer\[2\] \(batch_norm\)"):
        parse_spec(text, "net.toml")


def test_lm_spec_reads_its_parameters():
    spec = parse_spec(SINE.replace('optimizer = "lm"', 'optimizer = { name = "lm", mu = 0.01, mu_inc = 5 }'), "n.toml")
    assert spec.train.optimizer.lr is None and dict(spec.train.optimizer.params)["mu_inc"] == 5


def test_gradcheck_checks_the_jacobian_and_catches_a_wrong_one(tmp_path):
    source = generate(parse_spec(SINE, "sine.toml"))
    good, bad = tmp_path / "good.py", tmp_path / "bad.py"
    good.write_text(source)
    assert 'return {"W1": JW1,' in source
    bad.write_text(source.replace('return {"W1": JW1,', 'return {"W1": 1.01 * JW1,'))
    out = io.StringIO()
    assert main_gradcheck(str(good), 1e-5, 0, out=out) == 0 and "jacobian" in out.getvalue()
    out = io.StringIO()
    assert main_gradcheck(str(bad), 1e-5, 0, out=out) == 1 and out.getvalue().strip().endswith("FAILED")


# ---------------------------------------------------------------- the Gauss-Newton matrix, proven

@pytest.mark.parametrize("name", ["residual_layer_norm", "custom_glu"])
def test_gauss_newton_matrix_is_proven(name):
    proof = prove_gauss_newton(output_jacobian(derivation_of(SPECS[name])), points=1)
    assert proof.ok, proof.summary()
    assert proof.checked > 0 and "Gauss-Newton" in proof.summary()


@pytest.mark.parametrize("loss, act, at", PAIRS[:5])
def test_gauss_newton_of_each_curvature_is_proven(loss, act, at):
    text = OUT.format(loss=loss, act=act).replace('units = 3\nactivation = "%s"' % act,
                                                  'units = 2\nactivation = "tanh"\n\n[[layer]]\nunits = 3\n'
                                                  'activation = "%s"' % act)
    derivation = derivation_of(text)
    assert curvature(derivation).at == at
    assert prove_gauss_newton(output_jacobian(derivation), points=1).ok


def test_a_wrong_curvature_is_caught():
    derivation = derivation_of(SPECS["residual_layer_norm"])
    right = curvature(derivation)
    wrong = replace(right, hessian=right.hessian * sp.Rational(101, 100))
    assert not prove_gauss_newton(output_jacobian(derivation), points=1, curv=wrong).ok
