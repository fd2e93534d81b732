"""Time `derive check` on 2-layer specs, start-up included (the issue's budget: under 3 s).

    .venv/bin/python bench/bench_check.py [--repeat N]

Each run is a fresh process (`derive check` when the console script dispatches it, else
`python -m derive.checker.check`), so interpreter start-up, imports, the derivation and, for LaTeX, the
lazy import of latex2sympy2 are all counted. Wall time depends on the machine's load; the CPU time
of the child (user + system) is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASES = [
    ("examples/seed003_ijk.toml", "LaTeX, correct", r"\frac{\partial E}{\partial w_{jk}} = y_{j} \delta_{k}"),
    ("examples/seed003_ijk.toml", "plain, incorrect", "delta_k = y_k - t_k"),
    ("examples/seed003.toml", "node, LaTeX chain", r"\frac{d오차y_{out}}{dw_{31}} = (y_{o1} - y_{t1}) \cdot y_{o1}(1 - y_{o1}) \cdot y_{h1}"),
    ("examples/seed004.toml", "layer, seed 004's chain",
     r"\frac{\partial J}{\partial w^1_{nm}} = -\frac{1}{N}\sum_{(x, t)\in D}^N 2(t-y) \cdot 1 \cdot w^2_m \cdot \text{ReLU}'(z^1_m) \cdot x_n"),
]


def command() -> list[str]:
    exe = shutil.which("derive", path=str(Path(sys.executable).parent))
    if exe:
        probe = subprocess.run([exe, "check", str(ROOT / CASES[0][0]), "dE/dw_jk = y_j*delta_k"],
                               capture_output=True, text=True, check=False)
        if probe.returncode == 0 and probe.stdout.startswith("CORRECT"):
            return [exe, "check"]
    return [sys.executable, "-m", "derive.checker.check"]


def run_once(cmd: list[str], spec: str, equation: str) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([*cmd, str(ROOT / spec), equation], capture_output=True, text=True, cwd=ROOT, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cmd = command()
    print(f"command: {' '.join(Path(c).name if i == 0 else c for i, c in enumerate(cmd))}   "
          f"(cores: {os.cpu_count()}, load: {os.getloadavg()[0]:.2f})")
    print(f"{'case':28} {'exit':>4} {'wall min':>9} {'wall med':>9} {'cpu min':>8}")
    worst = 0.0
    for spec, label, equation in CASES:
        runs = [run_once(cmd, spec, equation) for _ in range(args.repeat)]
        walls = [r[0] for r in runs]
        cpus = [r[1] for r in runs]
        worst = max(worst, min(walls))
        print(f"{label:28} {runs[0][2]:>4} {min(walls):>8.2f}s {statistics.median(walls):>8.2f}s {min(cpus):>7.2f}s")
    print(f"slowest case, best of {args.repeat}: {worst:.2f} s wall ({'under' if worst < 3 else 'OVER'} the 3 s budget)")


if __name__ == "__main__":
    main()
