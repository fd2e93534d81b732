"""Second order: the Hessian-vector product by the R-operator on the graph engine, proven on explicit instances.

The references: the directional derivative of the directly differentiated gradient (in `prove_hvp`), and here
the Hessian of a tiny instance from `sympy.diff` twice of the written-out loss.
"""

import random
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

from codegen.gradcheck import load_module
from derive.calculus.backward import backward
from derive.calculus.graph_proof import Instance, WrittenLoss, elements_at, instance_sizes, leaves, random_point
from derive.calculus.second_order import direction, direction_base, evaluate, prove_hvp, r_base, r_operator
from derive.network.graph import Graph
from derive.spec.loader import load_spec, parse_spec
from tests.conftest import EXAMPLES, ROOT


def rop_of(text: str):
    return r_operator(backward(Graph(parse_spec(text, "net.toml"))))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hand_written_graphs_have_proven_hvp(name):
    proof = prove_hvp(rop_of(SPECS[name]))
    assert proof.ok, proof.summary()
    assert proof.checked > 0


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_have_proven_hvp(path):
    proof = prove_hvp(r_operator(backward(Graph(load_spec(path)))))
    assert proof.ok, proof.summary()


TINY = """name = "tiny"
inputs = 2
loss = "half_sse"

[[layer]]
units = 2
activation = "tanh"

[[layer]]
units = 1
activation = "sigmoid"
"""


def test_hvp_equals_the_hessian_from_sympy_diff_twice():
    """On a 2-2-1 instance: R{∂J/∂p} = Σ_q ∂²J/∂p∂q V_q, the Hessian by sympy.diff twice of the written-out
    loss (exact symbolic second derivatives, evaluated at the point)."""
    rop = rop_of(TINY)
    graph = rop.graph
    sizes = instance_sizes(graph)
    rng = random.Random(5)
    point, v = random_point(graph, sizes, rng), direction(graph, sizes, rng)
    instance = Instance(graph, sizes, point)
    env = evaluate(rop, instance, instance.gradients(rop.derivation), v)
    J = WrittenLoss(graph, sizes).J
    params = [e for e in leaves(graph, sizes) if e.base.label.name != "x"]
    assert len(params) == 9
    for p in params:
        first = sp.diff(J, p)
        hv = sum(sp.diff(first, q).xreplace(point) * v[direction_base(q.base.label.name)[q.indices]] for q in params)
        got = env[r_base(f"d{p.base.label.name}")[p.indices]]
        assert abs(sp.N(hv, 40) - got) < sp.Float("1e-30") * (1 + abs(got)), p


@pytest.mark.parametrize("which", ["dW1", "dy1", "Ru1"])
def test_a_wrong_r_formula_is_caught(which):
    rop = rop_of(SPECS["residual_layer_norm"])
    steps = rop.forward if which.startswith("R") else rop.backward
    of = which.removeprefix("R")
    at = next(i for i, s in enumerate(steps) if s.of == of)
    steps[at] = replace(steps[at], formula=steps[at].formula * sp.Rational(101, 100))
    proof = prove_hvp(rop)
    assert not proof.ok and "FAILED" in proof.summary()


def test_hvp_directions_cover_every_parameter_element():
    rop = rop_of(SPECS["residual_layer_norm"])
    graph = rop.graph
    sizes = instance_sizes(graph)
    v = direction(graph, sizes, random.Random(0))
    assert len(v) == sum(1 for p in graph.params for _ in elements_at(p, sizes))
    assert {s.of for s in rop.backward} >= {f"d{p.name}" for p in graph.params}


@EXPENSIVE
@given(graphs())
def test_random_graphs_have_proven_hvp(text):
    proof = prove_hvp(rop_of(text), points=1)
    assert proof.ok, proof.summary()


# ---------------------------------------------------------------- the generated module's hvp

def central_hvp(module, params, X, T, V, h=1e-5):
    """(∇J(θ + hV) - ∇J(θ - hV)) / 2h from the module's gradients."""
    shifted = lambda sign: {k: params[k] + sign * h * V[k] for k in params}
    plus, minus = module.gradients(shifted(1), X, T), module.gradients(shifted(-1), X, T)
    return {k: (plus[k] - minus[k]) / (2 * h) for k in params}


def torch_hvp(spec, params, X, T, V):
    """H·V by PyTorch's double backward through the reference forward pass written from the definitions."""
    tp = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    J = reference_loss(spec, reference_forward(spec, tp, torch.tensor(X), TorchOps), torch.tensor(T), TorchOps)
    keys = list(tp)
    grads = torch.autograd.grad(J, [tp[k] for k in keys], create_graph=True)
    dot = sum((g * torch.tensor(V[k])).sum() for g, k in zip(grads, keys))
    return dict(zip(keys, (g.numpy() for g in torch.autograd.grad(dot, [tp[k] for k in keys], allow_unused=True,
                                                                  materialize_grads=True))))


def check_hvp(spec, module, seed=0, torch_too=True):
    params, X, T = problem(spec, module, seed, 6)
    rng = np.random.default_rng(seed + 100)
    V = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    got = module.hvp(params, X, T, V)
    assert list(got) == list(module.PARAM_KEYS)
    want = central_hvp(module, params, X, T, V)
    for k in params:
        assert got[k].shape == params[k].shape and got[k].dtype == params[k].dtype
        np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-6, err_msg=k)
    if torch is not None and torch_too:
        reference = torch_hvp(spec, params, X, T, V)
        for k in params:
            np.testing.assert_allclose(got[k], reference[k], rtol=1e-8, atol=1e-10, err_msg=k)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_module_hvp_matches_differences_and_torch(name):
    spec, _, module = build(SPECS[name])
    check_hvp(spec, module)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_generated_example_hvp(path):
    spec = load_spec(path)
    module = load_module(ROOT / "generated" / f"{path.stem}.py")
    check_hvp(spec, module, torch_too=False)


@EXPENSIVE
@given(graphs(), st.integers(0, 3))
def test_random_graph_modules_hvp(text, seed):
    spec, _, module = build(text)
    check_hvp(spec, module, seed)


def test_hvp_with_slopes_in_u_is_proven_too():
    """The module takes f' in u where the output form has no NumPy form (erf: erfinv); that R-operator is the
    same Hessian."""
    text = TINY.replace('activation = "tanh"', 'activation = { name = "e", expr = "erf(x)" }')
    derivation = backward(Graph(parse_spec(text, "net.toml")))
    rop = r_operator(derivation, frozenset({1, 2}))
    assert not any(s.formula.has(sp.erfinv) for s in rop.forward + rop.backward)
    assert prove_hvp(rop).ok


def test_gradcheck_checks_hvp_and_catches_a_wrong_one(tmp_path):
    import io

    from codegen.gradcheck import main_gradcheck
    from codegen.render import generate

    source = generate(parse_spec(TINY, "tiny.toml"))
    good, bad = tmp_path / "good.py", tmp_path / "bad.py"
    good.write_text(source)
    assert 'return {"W1": RdW1,' in source
    bad.write_text(source.replace('return {"W1": RdW1,', 'return {"W1": 1.01 * RdW1,'))
    out = io.StringIO()
    assert main_gradcheck(str(good), 1e-5, 0, out=out) == 0 and "H·V" in out.getvalue()
    out = io.StringIO()
    assert main_gradcheck(str(bad), 1e-5, 0, out=out) == 1 and out.getvalue().strip().endswith("FAILED")


def test_module_hvp_of_a_scaled_kink():
    """relu(pi x): its slope in the outputs has a zero branch, so it is not divided out (once a 1/0 in codegen)."""
    text = TINY.replace('activation = "tanh"', 'activation = { name = "f", expr = "relu(pi * x)" }')
    spec, _, module = build(text)
    check_hvp(spec, module, torch_too=False)  # the reference forward pass knows the catalog's names only
