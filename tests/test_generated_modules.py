"""generated/*.py: one module per examples/*.toml, byte-identical to what `codegen` makes now, and sound."""

from __future__ import annotations

import ast
import functools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from codegen.gradcheck import check_module, load_module
from codegen.render import generate
from derive.spec.loader import load_spec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))
GENERATED = ROOT / "generated"


@functools.cache
def _fresh(spec_path: Path) -> str:
    spec = load_spec(spec_path)
    return generate(spec)


def _ids(paths):
    return [p.stem for p in paths]


@pytest.mark.parametrize("spec_path", EXAMPLES, ids=_ids(EXAMPLES))
def test_generated_module_is_up_to_date(spec_path):
    target = GENERATED / f"{spec_path.stem}.py"
    assert target.is_file(), f"{target} is missing: run `codegen {spec_path.relative_to(ROOT)} -o {target.relative_to(ROOT)}`"
    fresh = _fresh(spec_path)
    assert target.read_text(encoding="utf-8") == fresh, (
        f"{target.relative_to(ROOT)} differs from what codegen generates now; regenerate it"
    )


def test_no_stray_generated_modules():
    stems = {p.stem for p in EXAMPLES}
    stray = [p.name for p in GENERATED.glob("*.py") if p.stem not in stems]
    assert not stray, f"generated modules without a spec in examples/: {stray}"


@pytest.mark.parametrize("name", ["bce_classifier", "digits"])
def test_generation_is_deterministic_across_processes(name, tmp_path):
    """Another process with another hash seed writes the same bytes."""
    out = tmp_path / f"{name}.py"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run([sys.executable, "-m", "codegen.cli", f"examples/{name}.toml", "-o", str(out)],
                            check=False, cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == (GENERATED / f"{name}.py").read_bytes()


@pytest.mark.parametrize("spec_path", EXAMPLES, ids=_ids(EXAMPLES))
def test_generated_module_imports_numpy_only(spec_path):
    tree = ast.parse((GENERATED / f"{spec_path.stem}.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert imported == {"numpy"}


def test_generated_modules_pass_ruff():
    files = [str(GENERATED / f"{p.stem}.py") for p in EXAMPLES]
    try:
        result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *files],
                                check=False, capture_output=True, text=True, cwd=ROOT)
    except FileNotFoundError:  # pragma: no cover
        pytest.skip("ruff is not installed")
    if "No module named ruff" in result.stderr:  # pragma: no cover
        pytest.skip("ruff is not installed")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("spec_path", EXAMPLES, ids=_ids(EXAMPLES))
def test_generated_module_gradients(spec_path):
    module = load_module(GENERATED / f"{spec_path.stem}.py")
    report = check_module(module, seed=3)
    assert report.worst < 1e-5, report


@pytest.mark.parametrize("spec_path", EXAMPLES, ids=_ids(EXAMPLES))
def test_generated_module_contract(spec_path):
    spec = load_spec(spec_path)
    if not spec.is_chain:
        pytest.skip("the dense chain's contract (W{l}, b{l}); graph modules: tests/test_graph_codegen.py")
    module = load_module(GENERATED / f"{spec_path.stem}.py")
    assert module.LAYER_SIZES == spec.sizes
    assert module.ACTIVATIONS == tuple(layer.activation.name for layer in spec.layers)
    assert module.LOSS == spec.loss.name
    params = module.init_params(seed=1)
    expected = []
    for l, layer in enumerate(spec.layers, 1):
        expected.append((f"W{l}", (spec.sizes[l - 1], spec.sizes[l])))
        if layer.bias:
            expected.append((f"b{l}", (spec.sizes[l],)))
    assert [(k, v.shape) for k, v in params.items()] == expected
    again = module.init_params(seed=1)
    assert all(np.array_equal(params[k], again[k]) for k in params)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((7, spec.inputs))
    T = rng.dirichlet(np.ones(spec.sizes[-1]), size=7) if spec.sizes[-1] > 1 else rng.uniform(size=(7, 1))
    Y = module.forward(params, X)
    assert Y.shape == (7, spec.sizes[-1])
    assert np.array_equal(module.predict(params, X), Y)
    E, grads = module.loss_and_gradients(params, X, T)
    assert E == pytest.approx(module.loss(params, X, T), rel=1e-12)
    plain = module.gradients(params, X, T)
    assert list(grads) == list(params) == list(plain)
    for key in params:
        assert grads[key].shape == params[key].shape
        np.testing.assert_allclose(grads[key], plain[key], rtol=1e-12, atol=1e-15)
