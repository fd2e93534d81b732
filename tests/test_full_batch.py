"""The line-search optimisers of the generated module (L-BFGS, nonlinear CG), against SciPy's `minimize` on
the same loss and gradient, and on the problems where the textbook says they work."""

import itertools

import numpy as np
import pytest
import scipy.optimize
import sympy as sp
from test_graph_codegen import SPECS, build, problem

from derive.spec.loader import SpecError, parse_spec

LOGISTIC = """name = "logistic"
inputs = 3
loss = "bce"

[[layer]]
units = 1
activation = "sigmoid"

[train]
optimizer = "{optimizer}"
epochs = 300
"""


@pytest.fixture(scope="module")
def logistic():
    _, source, module = build(LOGISTIC.format(optimizer="lbfgs"))
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 3))
    T = (rng.uniform(size=(100, 1)) < 1 / (1 + np.exp(-X @ [[1.0], [-2.0], [0.5]]))).astype(float)
    return source, module, X, T


@pytest.mark.parametrize("name, method", [("LBFGS", "L-BFGS-B"), ("ConjugateGradient", "CG")])
def test_agrees_with_scipy_on_a_convex_loss(logistic, name, method):
    """Logistic regression has one minimum: both reach SciPy's, in loss and in the weights."""
    _, module, X, T = logistic
    params = module.init_params(0)
    theta0 = module._flat(params)
    history = module.fit(params, X, T, optimizer=getattr(module, name)())
    assert all(b <= a for a, b in itertools.pairwise(history))

    def objective(theta):
        E, g = module.loss_and_gradients(module._views(theta.copy()), X, T)
        return E, module._flat(g)

    reference = scipy.optimize.minimize(objective, theta0, jac=True, method=method,
                                        options={"maxiter": 500, "gtol": 1e-10})
    assert module.loss(params, X, T) == pytest.approx(reference.fun, abs=1e-9)
    np.testing.assert_allclose(module._flat(params), reference.x, atol=1e-4)


def test_the_spec_names_the_default(logistic):
    source, module, X, T = logistic
    assert "optimizer = LBFGS(history=10, tol=1e-09)" in source
    params = module.init_params(0)
    assert len(module.fit(params, X, T)) < 300  # stops at the minimum


def test_a_wolfe_step_meets_both_conditions():
    _, _, module = build(LOGISTIC.format(optimizer="cg"))
    A = np.diag([1.0, 10.0, 100.0])
    evaluate = lambda theta: (0.5 * theta @ A @ theta, A @ theta)
    theta = np.array([1.0, 1.0, 1.0])
    E0, g0 = evaluate(theta)
    for c2 in (0.9, 0.1):
        t, E, g = module._wolfe_step(evaluate, theta, E0, g0, -g0, 1.0, 1e-4, c2)
        assert E <= E0 + 1e-4 * t * (g0 @ -g0)
        assert abs(g @ -g0) <= c2 * abs(g0 @ -g0)
    assert module._wolfe_step(evaluate, theta, E0, g0, g0, 1.0, 1e-4, 0.9) is None  # not a descent direction


@pytest.mark.parametrize("name", ["LBFGS", "ConjugateGradient"])
def test_line_search_optimisers_train_a_graph_with_batch_norm(name):
    """Full batch in training mode; a given state is updated after each step."""
    spec, _, module = build(SPECS["batch_norm_relu_softmax"])
    params, X, T = problem(spec, module, 0, 20)
    state = module.init_state()
    start = module.loss(params, X, T)
    history = module.fit(params, X, T, epochs=15, optimizer=getattr(module, name)(), state=state)
    assert module.loss(params, X, T) < start and all(b <= a for a, b in itertools.pairwise(history))
    assert not np.allclose(state["mean2"], 0)


@pytest.mark.parametrize("train, message", [
    ('optimizer = "lbfgs"\nlearning_rate = 0.1', "lbfgs takes no learning rate"),
    ('optimizer = { name = "lbfgs", history = 2.5 }', "history: expected a whole number"),
    ('optimizer = { name = "cg", lr = 1 }', "unknown key"),
])
def test_bad_line_search_specs_are_refused(train, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(LOGISTIC.replace('optimizer = "{optimizer}"', train), "net.toml")


SINE = """name = "sine"
inputs = 1
loss = "half_sse"

[[layer]]
units = 3
activation = "tanh"

[[layer]]
units = 1
activation = "identity"

[train]
optimizer = "{optimizer}"
"""


@pytest.mark.parametrize("optimizer, en, ko", [
    ("lbfgs", "strong Wolfe conditions", "강한 울프 조건"),
    ("cg", "Polak--Ribi", "폴락-리비에르"),
    ("lm", r"J^{\top} H J", "가우스-뉴턴 행렬"),
    ("newton", "damped Newton", "감쇠 뉴턴법"),
    ("hf", "Martens 2010", "헤세 행렬 없는 최적화"),
])
def test_documents_state_the_full_batch_rule_and_show_no_single_sample_update(optimizer, en, ko):
    import derive

    net = derive.load(SINE.format(optimizer=optimizer))
    english, korean = net.tex(example=True), net.tex(lang="ko", example=True)
    assert en in english and ko in korean
    assert "no update from this sample alone is shown" in english
    assert r"\eta = " not in english.split("sec:optimizer")[1].split("\\section")[0]


# ---------------------------------------------------------------- Newton and Hessian-free

NOISY_SINE = SINE.replace("units = 3", "units = 8")


@pytest.fixture(scope="module")
def sine_problem():
    _, _, module = build(NOISY_SINE.format(optimizer="newton"))
    rng = np.random.default_rng(0)
    X = rng.uniform(-np.pi, np.pi, (100, 1))
    return module, X, np.sin(X) + 0.1 * rng.standard_normal((100, 1))


@pytest.mark.parametrize("make", [lambda m: m.Newton(), lambda m: m.Newton(max_size=1), lambda m: m.HessianFree()],
                         ids=["newton", "newton-hessian-free", "hf"])
def test_second_order_optimisers_fit_the_sine(sine_problem, make):
    module, X, T = sine_problem
    params = module.init_params(0)
    start = module.loss(params, X, T)
    history = module.fit(params, X, T, epochs=60, optimizer=make(module))
    assert all(b <= a for a, b in itertools.pairwise(history))
    assert module.loss(params, X, T) < 0.02 * start


def test_hessian_free_newton_step_equals_the_formed_one(sine_problem):
    """Truncated CG on hvp products with enough iterations solves the same damped system as Cholesky."""
    module, X, T = sine_problem
    params = module.init_params(0)
    g = module._flat(module.gradients(params, X, T))
    H = module.hessian(params, X, T)
    hv = lambda v: module._flat(module._hvp(params, X, T, module._views(v)))
    formed = module.Newton(damping=10.0)._solve(H, hv, g)
    free = module.Newton(damping=10.0, cg_iterations=200)._solve(None, hv, g)
    np.testing.assert_allclose(free, formed, rtol=1e-7, atol=1e-10)


def test_truncated_cg_solves_a_positive_definite_system(sine_problem):
    module = sine_problem[0]
    rng = np.random.default_rng(3)
    B = rng.standard_normal((12, 12))
    A = B @ B.T + np.eye(12)
    b = rng.standard_normal(12)
    np.testing.assert_allclose(module._truncated_cg(lambda v: A @ v, b, 50), np.linalg.solve(A, b), rtol=1e-8)


def test_hf_with_batch_norm_is_refused_and_newton_is_not():
    text = SPECS["batch_norm_relu_softmax"] + '\n[train]\noptimizer = "{}"\n'
    with pytest.raises(SpecError, match=r"hf needs the Jacobian"):
        parse_spec(text.format("hf"), "net.toml")
    assert parse_spec(text.format("newton"), "net.toml").train.optimizer.name == "newton"


# ---------------------------------------------------------------- the chapter "second order"

def test_the_chapter_comes_with_a_full_batch_optimiser_in_both_documents_and_languages():
    import derive

    for text in (SINE, SPECS["residual_layer_norm"] + '\n[train]\noptimizer = "{optimizer}"\n'):
        for lang, title in (("en", "Second order: Newton"), ("ko", "2차 방법")):
            assert title in derive.load(text.format(optimizer="lm")).tex(lang=lang)
            assert title not in derive.load(text.format(optimizer="adam")).tex(lang=lang)


@pytest.mark.parametrize("text", [SINE, SPECS["residual_layer_norm"] + '\n[train]\noptimizer = "{optimizer}"\n'],
                         ids=["chain", "graph"])
def test_the_lm_step_in_numbers_equals_the_modules(text):
    """The document's step, from the derived formulas at 40 digits, against the generated module's Jacobian,
    curvature and gradient at the same point, solved by NumPy."""
    from derive.calculus.backward import backward
    from derive.calculus.jacobian import output_jacobian
    from derive.document.graph.example import GraphExample
    from derive.document.graph.second_order import lm_step
    from derive.network.graph import Graph

    spec, _, module = build(text.format(optimizer="lm"))
    derivation = backward(Graph(spec))
    instance = GraphExample(derivation.graph, derivation).instance
    step = lm_step(output_jacobian(derivation), instance, 1e-3)
    values = dict(zip(step.params, (float(v) for v in step.value)))
    params = module.init_params(0)
    for key in module.PARAM_KEYS:
        for index in np.ndindex(params[key].shape):
            params[key][index] = values[sp.IndexedBase(key)[tuple(i + 1 for i in index)]]
    X = np.array([[float(instance.point[e]) for e, _ in row] for row in rows_of(derivation.graph, "x", instance)])
    T = np.array([[float(instance.point[e]) for e, _ in row] for row in rows_of(derivation.graph, "t", instance)])
    J, H = module._gauss_newton_parts(params, X, T)
    A = module._gauss_newton_factor(J, H)
    g = module._flat(module.gradients(params, X, T)) * (len(X) if spec.reduction == "mean" else 1)
    delta = np.linalg.solve(A.T @ A + 1e-3 * np.eye(A.shape[1]), -g)
    np.testing.assert_allclose([float(d) for d in step.delta], delta, rtol=1e-8, atol=1e-10)
    module._assign(params, module._flat(params) + delta)
    assert float(step.after) == pytest.approx(module.loss(params, X, T), rel=1e-9)
    assert step.after < step.before


def rows_of(graph, name, instance):
    from derive.calculus.graph_proof import elements_at

    found: dict = {}
    for element, index in elements_at(graph.tensors[name], instance.sizes):
        found.setdefault(element.indices[0], []).append((element, index))
    return [found[n] for n in sorted(found)]


def test_a_batch_norm_net_with_a_line_search_gets_the_chapter_without_a_jacobian(tmp_path):
    """Batch norm couples the samples: the chapter says so (in LaTeX that compiles) and keeps the R-operator."""
    import derive

    net = derive.load(SPECS["batch_norm_relu_softmax"] + '\n[train]\noptimizer = "lbfgs"\n')
    tex = net.tex()
    assert r"batch\_norm" in tex and "couples the samples" in tex and r"\mathcal{R}" in tex
    net.pdf(tmp_path / "bn.pdf")
    assert (tmp_path / "bn.pdf").stat().st_size > 0
