"""Central-difference check of a generated module's gradients.

The module's own `loss` is differentiated numerically, (E(p + eps) - E(p - eps)) / (2 eps), for a
sample of the entries of every parameter, on random inputs and targets (rows that sum to one, which
every loss accepts), and compared with its `gradients`. The check runs in float64 whatever the
module's DTYPE: it checks the formulas, not float32 rounding.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

REQUIRED = ("LAYER_SIZES", "ACTIVATIONS", "LOSS", "init_params", "forward", "loss", "gradients",
            "loss_and_gradients", "fit", "predict", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam")


class NotAModule(ValueError):
    """The file is not a generated training module (or cannot be imported)."""


def load_module(path: str | Path) -> ModuleType:
    """Import a generated module from its file, under a fresh name (it is not added to sys.modules)."""
    path = Path(path)
    if not path.is_file():
        raise NotAModule(f"{path}: file not found")
    name = f"_codegen_checked_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise NotAModule(f"{path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - any failure to import is reported as one line
        raise NotAModule(f"{path}: cannot import ({type(exc).__name__}: {exc})") from None
    missing = [name for name in REQUIRED if not hasattr(module, name)]
    if missing:
        raise NotAModule(f"{path}: not a generated training module (missing {', '.join(missing)})")
    return module


@dataclass(frozen=True)
class ParamCheck:
    name: str
    checked: int  # entries compared
    error: float  # max |analytic - numeric| / max(max |analytic|, max |numeric|)
    worst_index: tuple[int, ...]


@dataclass(frozen=True)
class Report:
    params: tuple[ParamCheck, ...]
    samples: int
    eps: float

    @property
    def finite(self) -> bool:
        return all(np.isfinite(p.error) for p in self.params)

    @property
    def worst(self) -> float:
        """The largest error; NaN when some gradient or central difference is not finite."""
        if not self.finite:
            return float("nan")
        return max((p.error for p in self.params), default=0.0)

    def passed(self, tol: float) -> bool:
        return self.finite and self.worst <= tol


@contextmanager
def _float64(module: ModuleType):
    """The module computes in float64 inside the block (checks compare with central differences), then in its own
    dtype again."""
    saved = getattr(module, "DTYPE", None)
    module.DTYPE = np.float64
    try:
        yield
    finally:
        if saved is not None:
            module.DTYPE = saved


def random_problem(module: ModuleType, seed: int, samples: int, dtype=np.float64):
    """Parameters from init_params(seed) with biases nudged off zero, inputs N(0, 1), targets on the simplex.

    A graph module names its parameters (PARAM_KEYS): every one of them is nudged, so that scales that start
    at one and shifts at zero (norm layers, a custom layer's) are checked away from those values too.
    """
    rng = np.random.default_rng(seed)
    sizes = module.LAYER_SIZES
    params = {key: np.array(value, dtype=dtype) for key, value in module.init_params(seed).items()}
    every = getattr(module, "PARAM_KEYS", None)
    if every is not None and set(every) != set(params):
        raise NotAModule(f"init_params() gives the keys {sorted(params)}, PARAM_KEYS names {sorted(every)}")
    for key, value in params.items():
        if key.startswith("b") if every is None else True:
            value += rng.normal(0.0, 0.1, size=value.shape)
    X = rng.standard_normal((samples, *getattr(module, "INPUT_SHAPE", (sizes[0],))))
    T = rng.dirichlet(np.ones(sizes[-1]), size=samples) if sizes[-1] > 1 else rng.uniform(0.05, 0.95, (samples, 1))
    return params, X.astype(dtype), T.astype(dtype)


def central_difference(module: ModuleType, params: dict, X, T, flat: np.ndarray, i: int, eps: float) -> float:
    """d loss / d flat[i] by central differences; `flat` is a view of one parameter, restored after."""
    keep = flat[i]
    flat[i] = keep + eps
    up = module.loss(params, X, T)
    flat[i] = keep - eps
    down = module.loss(params, X, T)
    flat[i] = keep
    return (up - down) / (2 * eps)


def check_module(module: ModuleType, *, seed: int = 0, samples: int = 8, eps: float = 1e-6,
                 per_param: int = 24, problem: tuple | None = None) -> Report:
    """Compare gradients() with central differences of loss() on `per_param` entries of each parameter.

    The point is `random_problem(module, seed, samples)`, or `problem` = (params, X, T) where given (e.g.
    inside the domain of a log or sqrt activation); `params` is copied, not changed. An entry whose
    gradient or central difference is not finite makes that parameter's error NaN (a failed check).
    """
    with _float64(module):
        rng = np.random.default_rng(seed + 1)
        if problem is None:
            params, X, T = random_problem(module, seed, samples)
        else:
            params, X, T = problem
            params = {key: np.array(value, dtype=np.float64) for key, value in params.items()}
            X, T = np.asarray(X, dtype=np.float64), np.asarray(T, dtype=np.float64)
        grads = module.gradients(params, X, T)
        # a graph module's parameter can have a gradient that is zero in exact arithmetic (the bias of a layer
        # followed by batch norm): below 1e-3 of the largest gradient, errors are measured against that scale
        largest = max((float(np.abs(g).max(initial=0.0)) for g in grads.values()), default=0.0)
        floor = 1e-3 * largest if hasattr(module, "PARAM_KEYS") else 0.0
        results = []
        for name, value in params.items():
            g = np.asarray(grads[name], dtype=np.float64)
            if g.shape != value.shape:
                raise NotAModule(f"gradients()[{name!r}] has shape {g.shape}, parameter has {value.shape}")
            flat = value.reshape(-1)
            picks = np.arange(flat.size) if flat.size <= per_param else rng.choice(flat.size, per_param, replace=False)
            numeric = np.array([central_difference(module, params, X, T, flat, i, eps) for i in picks])
            analytic = g.reshape(-1)[picks]
            diff = np.abs(analytic - numeric)
            finite = np.isfinite(analytic) & np.isfinite(numeric)
            if not finite.all():
                worst = int(np.argmin(finite))
                error = float("nan")
            else:
                scale = max(np.abs(analytic).max(initial=0.0), np.abs(numeric).max(initial=0.0), floor, 1e-12)
                worst = int(np.argmax(diff)) if diff.size else 0
                error = float(diff.max(initial=0.0) / scale)
            index = np.unravel_index(picks[worst], value.shape) if diff.size else ()
            results.append(ParamCheck(name, len(picks), error, tuple(int(i) for i in index)))
        return Report(tuple(results), len(X), eps)


def check_hvp(module: ModuleType, *, seed: int = 0, samples: int = 8, eps: float = 1e-5) -> float:
    """hvp(params, X, T, V) against central differences of gradients along a random direction V:
    max |analytic - numeric| / max |numeric| over every parameter (NaN when something is not finite)."""
    with _float64(module):
        params, X, T = random_problem(module, seed, samples)
        rng = np.random.default_rng(seed + 2)
        V = {key: rng.standard_normal(value.shape) for key, value in params.items()}
        got = module.hvp(params, X, T, V)
        step = lambda sign: module.gradients({k: params[k] + sign * eps * V[k] for k in params}, X, T)
        plus, minus = step(1), step(-1)
        numeric = np.concatenate([((plus[k] - minus[k]) / (2 * eps)).ravel() for k in params])
        analytic = np.concatenate([np.asarray(got[k], dtype=np.float64).ravel() for k in params])
        if not (np.isfinite(numeric).all() and np.isfinite(analytic).all()):
            return float("nan")
        return float(np.abs(analytic - numeric).max(initial=0.0) / max(np.abs(numeric).max(initial=0.0), 1e-12))


def check_jacobian(module: ModuleType, *, seed: int = 0, samples: int = 8, eps: float = 1e-6,
                   per_param: int = 40) -> float:
    """jacobian(params, X) against central differences of forward at up to `per_param` elements of each parameter
    (drawn with the seed): max |analytic - numeric| / max |numeric| (NaN when something is not finite)."""
    with _float64(module):
        params, X, _ = random_problem(module, seed, samples)
        got = module.jacobian(params, X)
        worst, scale = 0.0, 1e-12
        rng = np.random.default_rng(seed + 3)
        for key, value in params.items():
            every = list(np.ndindex(value.shape))
            picks = sorted(rng.choice(len(every), min(per_param, len(every)), replace=False))
            for index in (every[i] for i in picks):
                shifted = {k: v.copy() for k, v in params.items()}
                shifted[key][index] += eps
                plus = module.forward(shifted, X)
                shifted[key][index] -= 2 * eps
                numeric = (plus - module.forward(shifted, X)) / (2 * eps)
                analytic = np.asarray(got[key][(slice(None), slice(None), *index)], dtype=np.float64)
                if not (np.isfinite(numeric).all() and np.isfinite(analytic).all()):
                    return float("nan")
                worst = max(worst, float(np.abs(analytic - numeric).max(initial=0.0)))
                scale = max(scale, float(np.abs(numeric).max(initial=0.0)))
        return worst / scale


def main_gradcheck(path: str, tol: float, seed: int, out=None) -> int:
    out = out or sys.stdout
    module = load_module(path)
    report = check_module(module, seed=seed)
    sizes = "-".join(map(str, module.LAYER_SIZES))
    print(f"{path}: {sizes} {'/'.join(module.ACTIVATIONS)}, {module.LOSS}; central differences, "
          f"eps={report.eps:g}, {report.samples} samples, float64", file=out)
    for p in report.params:
        print(f"  {p.name:>4} {p.checked:4d} entries  max rel error {p.error:.2e}  at {p.worst_index}", file=out)
    if not report.finite:
        print("gradients or central differences are not finite at this random point (NaN or inf: a function "
              "outside its domain, such as log or sqrt of a negative number, or an overflow)", file=out)
    ok = report.passed(tol)
    worst = report.worst
    if hasattr(module, "hvp"):  # modules generated before the R-operator have none
        error = check_hvp(module, seed=seed)
        print(f"   H·V  {'all':>4} entries  max rel error {error:.2e}  (hvp against central differences of "
              "gradients along a random direction)", file=out)
        ok = ok and error <= tol
        worst = max(worst, error) if np.isfinite(error) else float("nan")
    if hasattr(module, "jacobian"):  # none where a layer couples the samples
        error = check_jacobian(module, seed=seed)
        print(f"      J  {40:>4} per key  max rel error {error:.2e}  (jacobian against central differences of "
              "forward)", file=out)
        ok = ok and error <= tol
        worst = max(worst, error) if np.isfinite(error) else float("nan")
    verdict = "OK" if ok else "FAILED"
    print(f"worst relative error {worst:.3e} (tolerance {tol:g}): {verdict}", file=out)
    return 0 if ok else 1
