"""How `derive` scales with depth: derivation + proof time for 4, 8 and 16 layers (not a test).

Each net mixes the catalog's activations (sigmoid, tanh, relu, softplus, a custom swish) with a
softmax / cross-entropy head, 8 units a layer, proved end to end (`--proof full`). Then issue 9's
8-layer spec of eight different activations and a log-cosh loss, with `--proof full` and `fast`. Then
issue 10's 12-layer residual net with layer norm (four blocks of layer_norm -> dense relu -> add skip),
derived by the graph engine and proved on its explicit instance (budget: 30 s).
Run: .venv/bin/python bench/bench_derive.py [DEPTH ...]
"""

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ACTIVATIONS = ['"sigmoid"', '"tanh"', '"relu"', '"softplus"', '{ name = "swish", expr = "x*sigmoid(x)" }']


def spec(depth: int) -> str:
    hidden = "".join(f"[[layer]]\nunits = 8\nactivation = {ACTIVATIONS[i % len(ACTIVATIONS)]}\n"
                     for i in range(depth - 1))
    return (f'name = "deep{depth}"\ninputs = 8\nloss = "cross_entropy"\n{hidden}'
            '[[layer]]\nunits = 4\nactivation = "softmax"\n')


MIXED8 = ['"relu"', '"tanh"', '"sigmoid"', '{ name = "leaky_relu", alpha = 0.2 }', '"softplus"',
          '{ name = "swish", expr = "x * sigmoid(x)" }', '{ name = "gelu", expr = "x * (1 + erf(x / sqrt(2))) / 2" }',
          '"identity"']


def mixed8() -> str:
    layers = "".join(f"[[layer]]\nunits = 3\nactivation = {a}\n" + ("bias = false\n" if i == 4 else "")
                     for i, a in enumerate(MIXED8))
    return 'name = "mixed8"\ninputs = 4\nloss = { name = "logcosh", expr = "log(cosh(y - t))" }\n' + layers


def residual(blocks: int = 4, width: int = 16) -> str:
    """A dense stem, `blocks` blocks of layer_norm -> dense relu -> add (skip), a softmax head: 3 blocks + 2 layers."""
    text = f'name = "residual{blocks}"\ninputs = {width}\nloss = "cross_entropy"\n'
    text += f'[[layer]]\nname = "h0"\nunits = {width}\nactivation = "relu"\n'
    previous = "h0"
    for b in range(1, blocks + 1):
        text += (f'[[layer]]\nkind = "layer_norm"\nname = "n{b}"\ninput = "{previous}"\n'
                 f'[[layer]]\nname = "f{b}"\nunits = {width}\nactivation = "relu"\n'
                 f'[[layer]]\nkind = "add"\nname = "r{b}"\ninput = ["f{b}", "{previous}"]\n')
        previous = f"r{b}"
    return text + '[[layer]]\nunits = 4\nactivation = "softmax"\n'


def timed(path: Path, *args: str, repeats: int) -> tuple[float, float, str]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "derive.cli", str(path), *args], capture_output=True,
                                text=True, check=False)
        times.append(time.perf_counter() - start)
        assert result.returncode == 0, result.stderr
    proof = next(line for line in result.stdout.splitlines() if line.startswith(("proved", "proven")))
    return min(times), statistics.median(times), proof


def main(depths=(4, 8, 16), repeats=3):
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for depth in depths:
            path = Path(tmp) / f"deep{depth}.toml"
            path.write_text(spec(depth))
            best, median, proof = timed(path, repeats=repeats)
            rows.append((depth, best, median, proof))
            print(f"{depth:3d} layers: best {best:6.2f} s, median {median:6.2f} s  ({proof})", flush=True)
        path = Path(tmp) / "mixed8.toml"
        path.write_text(mixed8())
        for mode in ("full", "fast"):
            best, median, proof = timed(path, "--proof", mode, repeats=repeats)
            print(f"mixed8 --proof {mode}: best {best:6.2f} s, median {median:6.2f} s  ({proof})", flush=True)
        path = Path(tmp) / "residual.toml"
        path.write_text(residual())
        best, median, proof = timed(path, repeats=repeats)
        layers = 3 * 4 + 2
        print(f"residual/layer-norm, {layers} layers of 16: best {best:6.2f} s, median {median:6.2f} s  "
              f"({proof[:60]}...)", flush=True)
    base_depth, base_time = rows[0][0], rows[0][1]
    for depth, best, _, _ in rows[1:]:
        print(f"{depth} vs {base_depth} layers: {best / base_time:.2f}x the time for {depth / base_depth:.0f}x the depth")


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or (4, 8, 16))
