"""How `derive` scales with depth: derivation + proof time for 4, 8 and 16 layers (not a test).

Each net mixes the catalog's activations (sigmoid, tanh, relu, softplus, a custom swish) with a
softmax / cross-entropy head, 8 units a layer. Run: .venv/bin/python bench/bench_derive.py
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


def main(depths=(4, 8, 16), repeats=3):
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for depth in depths:
            path = Path(tmp) / f"deep{depth}.toml"
            path.write_text(spec(depth))
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                result = subprocess.run([sys.executable, "-m", "derive.cli", str(path)], capture_output=True, text=True,
                                        check=False)
                times.append(time.perf_counter() - start)
                assert result.returncode == 0, result.stderr
            proof = next(line for line in result.stdout.splitlines() if line.startswith("proved"))
            rows.append((depth, min(times), statistics.median(times), proof))
            print(f"{depth:3d} layers: best {min(times):6.2f} s, median {statistics.median(times):6.2f} s  ({proof})",
                  flush=True)
    base_depth, base_time = rows[0][0], rows[0][1]
    for depth, best, _, _ in rows[1:]:
        print(f"{depth} vs {base_depth} layers: {best / base_time:.2f}x the time for {depth / base_depth:.0f}x the depth")


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or (4, 8, 16))
