"""How long a printable derivation takes: derive, (prove,) render LaTeX, compile the PDF.

    .venv/bin/python bench/bench_pdf.py [SPEC] [--lang en|ko] [--no-example] [--proof] [--reps N]

Defaults to examples/deep_swish.toml (4 layers) with the worked example, English. The proof is
timed only with --proof (it belongs to `derive`, not to the document); the target of issue 3 is the
document itself: under 20 s for a 4-layer spec with its example.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from derive.calculus.derivation import derive
from derive.document.builder import render_tex
from derive.document.pdf import compile_pdf
from derive.spec.loader import load_spec


def once(spec_path: Path, lang: str, example: bool, proof: bool) -> dict:
    times = {}
    start = time.perf_counter()
    derivation = derive(load_spec(spec_path))
    times["derive"] = time.perf_counter() - start
    report = None
    if proof:
        from derive.calculus.proof import prove

        t = time.perf_counter()
        report = prove(derivation)
        times["prove"] = time.perf_counter() - t
    t = time.perf_counter()
    tex = render_tex(derivation, report, lang=lang, example=example)
    times["render"] = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        compile_pdf(tex, Path(tmp) / "out.pdf")
        times["pdflatex"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - start
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", default=str(ROOT / "examples" / "deep_swish.toml"))
    parser.add_argument("--lang", default="en", choices=("en", "ko"))
    parser.add_argument("--no-example", action="store_true")
    parser.add_argument("--proof", action="store_true", help="also time derive.calculus.proof.prove")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    runs = []
    for i in range(args.reps):
        # each run in a fresh state would need a fresh process; SymPy caches make later runs faster,
        # so the first run is reported separately as the cold figure
        runs.append(once(Path(args.spec), args.lang, not args.no_example, args.proof))
        print(f"run {i + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in runs[-1].items()), flush=True)
    keys = runs[0].keys()
    print(f"{Path(args.spec).name} ({args.lang}, example={not args.no_example}): cold {runs[0]['total']:.2f} s; "
          + ", ".join(f"median {k} {statistics.median(r[k] for r in runs):.2f} s" for k in keys))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
