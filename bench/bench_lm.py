"""Levenberg-Marquardt against Adam on seed 004's kind of problem (a benchmark, not a test).

A 1-10-1 tanh network (examples/sine_lm.toml) fits a noisy sine, 200 points, float64, full batch for LM.
LM runs `--epochs` epochs (one solved step each), and so do the other full-batch optimisers; Adam runs 20 times as many epochs at each learning rate of a
grid and each batch size (the tuning), and the best final training MSE is reported. Wall times are of whole
runs in this process. Then the time of one Jacobian (all 200 samples) and one H·V of the generated module
against PyTorch's `torch.func.jacrev` and forward-over-reverse `jvp(grad)` on the same network, when installed
(medians of interleaved repetitions).

    python bench/bench_lm.py [--epochs 50] [--reps 21]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codegen.gradcheck import load_module
from codegen.render import generate
from derive.spec.loader import load_spec

LEARNING_RATES = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
BATCHES = (200, 32)


def data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-np.pi, np.pi, (n, 1))
    return X, np.sin(X) + 0.1 * rng.standard_normal((n, 1))


def mse(module, params, X, T) -> float:
    return float(np.mean((module.forward(params, X) - T) ** 2))


def timed(run):
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def torch_reference(module, params, X, T, reps):
    try:
        import torch
        from torch.func import grad, jacrev, jvp
    except ImportError:
        return None
    torch.set_num_threads(1)
    tp = {k: torch.tensor(v) for k, v in params.items()}
    Xt, Tt = torch.tensor(X), torch.tensor(T)

    def forward(p):
        return torch.tanh(Xt @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]

    def objective(p):
        return ((forward(p) - Tt) ** 2).sum() / 2 / Xt.shape[0]

    V = {k: torch.ones_like(v) for k, v in tp.items()}
    jac = lambda: jacrev(forward)(tp)
    hvp = lambda: jvp(grad(objective), (tp,), (V,))[1]
    theirs = jac()
    ours = module.jacobian(params, X)
    agree = max(float(np.abs(ours[k] - theirs[k].numpy()).max()) for k in params)
    times = {"torch jacrev": [], "torch hvp": []}
    for _ in range(reps):
        times["torch jacrev"].append(timed(jac))
        times["torch hvp"].append(timed(hvp))
    return {k: statistics.median(v) for k, v in times.items()}, agree


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--reps", type=int, default=21)
    args = parser.parse_args(argv)
    spec = load_spec(ROOT / "examples" / "sine_lm.toml")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sine_lm.py"
        path.write_text(generate(spec, "float64"))
        module = load_module(path)
    X, T = data()

    params = module.init_params(0)
    seconds = timed(lambda: module.fit(params, X, T, epochs=args.epochs))
    lm = mse(module, params, X, T)
    print("1-10-1 tanh, noisy sine (noise variance 0.01), 200 points, float64")
    print(f"  LM                {args.epochs:6d} epochs  {seconds:7.3f} s  training MSE {lm:.6f}")
    for name in ("Newton", "HessianFree", "LBFGS", "ConjugateGradient"):
        p = module.init_params(0)
        seconds = timed(lambda p=p, name=name: module.fit(p, X, T, epochs=args.epochs, optimizer=getattr(module, name)()))
        print(f"  {name:17s} {args.epochs:6d} epochs  {seconds:7.3f} s  training MSE {mse(module, p, X, T):.6f}")
    best = None
    for lr in LEARNING_RATES:
        for batch in BATCHES:
            p = module.init_params(0)
            epochs = 20 * args.epochs
            seconds = timed(lambda p=p, epochs=epochs, batch=batch, lr=lr: module.fit(
                p, X, T, epochs=epochs, batch_size=batch, optimizer=module.Adam(lr=lr)))
            found = (mse(module, p, X, T), lr, batch, seconds)
            best = min(best, found) if best else found
            print(f"  Adam              {epochs:6d} epochs  {seconds:7.3f} s  training MSE {found[0]:.6f}  (lr {lr:g}, batch {batch})")
    print(f"  best Adam: MSE {best[0]:.6f} (lr {best[1]:g}, batch {best[2]}); LM {lm:.6f}: "
          f"{'LM lower' if lm < best[0] else 'Adam lower'}, Adam / LM = {best[0] / lm:.3f}")

    trained = module.init_params(0)
    V = {k: np.ones_like(v) for k, v in trained.items()}
    ours = {"generated jacobian": [], "generated hvp": []}
    for _ in range(args.reps):
        ours["generated jacobian"].append(timed(lambda: module.jacobian(trained, X)))
        ours["generated hvp"].append(timed(lambda: module.hvp(trained, X, T, V)))
    medians = {k: statistics.median(v) for k, v in ours.items()}
    reference = torch_reference(module, trained, X, T, args.reps)
    for name, value in medians.items():
        print(f"  {name:20s} {value * 1e3:8.3f} ms")
    if reference is not None:
        times, agree = reference
        for name, value in times.items():
            print(f"  {name:20s} {value * 1e3:8.3f} ms")
        print(f"  generated / torch: jacobian {medians['generated jacobian'] / times['torch jacrev']:.2f}, "
              f"hvp {medians['generated hvp'] / times['torch hvp']:.2f} (Jacobians agree to {agree:.1e})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
