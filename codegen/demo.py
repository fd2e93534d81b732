"""The main job end to end: generate the digits classifier from its spec, train it, test it, plot it.

    python -m codegen.demo [--spec examples/digits.toml] [--module build/digits.py] [--plot out/digits_loss.png]
                           [--epochs N] [--seed S]

Generates the training module with `codegen` (into a build folder), trains it with its own `fit` on
scikit-learn's bundled 8x8 digits (no download) with a seeded, stratified train/test split, prints the
test accuracy and writes the loss curve as a PNG (matplotlib, Agg backend). Any spec of 64 inputs and
10 softmax outputs will do, a network of layer kinds too (examples/bn_digits.toml): a module with
batch norm is trained with its state (running statistics) and tested in inference mode.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from derive.errors import SpecError
from derive.io import write_atomic
from derive.spec.loader import load_spec

from .gradcheck import check_module, load_module
from .render import generate


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m codegen.demo", description=__doc__.splitlines()[0])
    p.add_argument("--spec", default="examples/digits.toml", help="the classifier's spec (default: %(default)s)")
    p.add_argument("--module", default="build/digits.py", help="where the generated module goes (default: %(default)s)")
    p.add_argument("--plot", default="out/digits_loss.png", help="loss-curve PNG (default: %(default)s)")
    p.add_argument("--epochs", type=int, help="epochs (default: the spec's [train] epochs)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the initial weights and the shuffling")
    return p


def load_digits_data(seed: int, n_out: int):
    """Digits scaled to [0, 1], one-hot targets, 25% held out (stratified, seeded)."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = digits.data / 16.0
    y = digits.target
    T = np.eye(n_out)[y]
    return train_test_split(X, T, y, test_size=0.25, random_state=seed, stratify=y)


def plot_losses(train, test, path: Path, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    epochs = range(1, len(train) + 1)
    ax.plot(epochs, train, label="training loss (epoch mean)")
    ax.plot(epochs, test, label="test loss")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross entropy")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, metadata={"Software": None})
    plt.close(fig)
    tmp.replace(path)


def run(args) -> int:
    import numpy as np

    spec = load_spec(args.spec)
    module_path, plot_path = Path(args.module), Path(args.plot)
    module_path.parent.mkdir(parents=True, exist_ok=True)
    plot_path.parent.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    write_atomic(module_path, generate(spec))
    shape = "-".join(map(str, spec.sizes)) if spec.is_chain else \
        f"graph of {spec.depth} layers ({', '.join(dict.fromkeys(layer.kind.kind for layer in spec.layers))})"
    print(f"generated {module_path} from {args.spec} in {time.perf_counter() - start:.1f} s "
          f"({shape}, {'/'.join(a.activation.name for a in spec.layers)}, {spec.loss.name})")
    module = load_module(module_path)
    report = check_module(module, seed=args.seed)
    print(f"gradient check: worst relative error {report.worst:.1e} against central differences")

    n_out = spec.sizes[-1]
    X_train, X_test, T_train, T_test, _, y_test = load_digits_data(args.seed, n_out)
    print(f"digits: {len(X_train)} training and {len(X_test)} test images of {X_train.shape[1]} pixels")
    params = module.init_params(args.seed)
    # batch norm's running statistics: trained by fit, used for testing (a module without any: None)
    state = (module.init_state() or None) if hasattr(module, "init_state") else None
    epochs = args.epochs or spec.train.epochs
    test_losses = []

    def predict(X):
        return module.predict(params, X) if state is None else module.predict(params, X, state)

    def test_loss():
        if state is None:
            return module.loss(params, X_test, T_test)
        return float(-np.mean(np.sum(T_test * np.log(np.maximum(predict(X_test), 1e-300)), axis=1)))

    def watch(epoch, loss):
        test_losses.append(test_loss())
        if epoch == 1 or epoch % 10 == 0 or epoch == epochs:
            accuracy = np.mean(predict(X_test).argmax(axis=1) == y_test)
            print(f"  epoch {epoch:3d}/{epochs}  training loss {loss:.4f}  test loss {test_losses[-1]:.4f}  "
                  f"test accuracy {accuracy:.2%}")

    start = time.perf_counter()
    extra = {} if state is None else {"state": state}
    history = module.fit(params, X_train, T_train, epochs=epochs, batch_size=spec.train.batch_size,
                         seed=args.seed, callback=watch, **extra)
    seconds = time.perf_counter() - start
    accuracy = float(np.mean(predict(X_test).argmax(axis=1) == y_test))
    opt = spec.train.optimizer
    how = f"{opt.name}, full batch" if opt.full_batch else f"{opt.name}, lr {opt.lr:g}, batch {spec.train.batch_size}"
    print(f"trained {len(history)} epochs in {seconds:.2f} s ({how})")
    print(f"test accuracy: {accuracy:.2%} ({round(accuracy * len(y_test))}/{len(y_test)})")
    plot_losses(history, test_losses, plot_path, f"{spec.name} ({shape}): test accuracy {accuracy:.1%}")
    print(f"loss curve: {plot_path}")
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except SpecError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"demo: error: {exc.name or exc} is needed (pip install -e '.[demo]')", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
