"""`derive SPEC [...]` and `derive check SPEC 'EQUATION' [...]` (DESIGN.md section 5)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from itertools import product
from pathlib import Path

from .errors import SpecError
from .io import check_writable, write_atomic


class UsageError(Exception):
    """A bad option or output path: one line, exit 2."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="derive",
        description="Derive exact backpropagation formulas for a network spec, prove them, print them "
                    "(terminal, LaTeX, PDF). 'derive check SPEC EQUATION' checks a hand derivation.",
    )
    p.add_argument("spec", help="network spec (TOML)")
    p.add_argument("--tex", metavar="OUT.tex", help="write the derivation as LaTeX")
    p.add_argument("--pdf", metavar="OUT.pdf", help="compile the derivation to PDF (TeX Live)")
    p.add_argument("--lang", choices=("en", "ko"), default="en", help="language of the document")
    p.add_argument("--notation", choices=("ijk", "layer", "node"), help="override the spec's notation")
    p.add_argument("--example", action="store_true", help="add a worked numeric example to the document")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary instead")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "check":
        from .check import main as check_main  # imported only here: `check` must start fast

        return check_main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except (SpecError, UsageError) as exc:
        print(f"derive: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("derive: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `derive SPEC | head`: the reader left; nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


def _run(args) -> int:
    from .derivation import derive
    from .proof import prove
    from .spec import load_spec

    outputs = {}
    for option in ("tex", "pdf"):
        path = getattr(args, option)
        if path:
            try:
                outputs[option] = check_writable(path, f"--{option}")
            except ValueError as exc:
                raise UsageError(str(exc)) from None
    spec = load_spec(args.spec)
    derivation = derive(spec, args.notation)
    report = prove(derivation)
    if args.json:
        print(json.dumps(summary(derivation, report), indent=2, ensure_ascii=False))
    else:
        print(terminal_text(derivation, report))
    if outputs:
        from .document import render_tex

        tex = render_tex(derivation, report, lang=args.lang, example=args.example)
        if "tex" in outputs:
            write_atomic(outputs["tex"], tex)
            print(f"wrote {outputs['tex']}", file=sys.stderr)
        if "pdf" in outputs:
            from .pdf import PdfError, compile_pdf

            try:
                compile_pdf(tex, Path(outputs["pdf"]))
            except PdfError as exc:
                raise UsageError(f"--pdf: {exc}") from None
            print(f"wrote {outputs['pdf']}", file=sys.stderr)
    return 0 if report.ok else 1


# -- what is printed -----------------------------------------------------------------------------

def formulas(derivation) -> list[dict]:
    """Every layer's results, as {layer, quantity, lhs, sympy, latex, text} (node notation: per neuron)."""
    from .network import E as loss
    from .notation import latex, text
    from .rules import d

    note = derivation.notation
    rows = []
    for ld in derivation.layers:
        this, below = ld.symbols, ld.below
        a, b = this.index, below.index
        entries = [("dE/dy", d(loss, this.y[a]), ld.dEdy)] if ld.is_output else []  # else: handed down above
        entries += [
            ("delta", this.delta[a], ld.delta),
            ("dE/dw", d(loss, this.w[b, a]), ld.dEdw),
        ]
        if ld.dEdb is not None:
            entries.append(("dE/db", d(loss, this.b[a]), ld.dEdb))
        if ld.handed_down is not None:
            entries.append(("dE/dy_below", d(loss, below.y[b]), ld.handed_down))
        if note.name == "node":
            entries = _concrete(derivation, ld, entries)
        for quantity, lhs, rhs in entries:
            rows.append({
                "layer": ld.l,
                "quantity": quantity,
                "lhs": text(lhs, note),
                "sympy": str(rhs),
                "latex": f"{latex(lhs, note)} = {latex(rhs, note)}",
                "text": f"{text(lhs, note)} = {text(rhs, note)}",
            })
    return rows


def _concrete(derivation, ld, entries):
    """Node notation names single neurons (w_31, y_h1): write every formula out for each one."""
    sizes = {ls.size: n for ls, n in zip(derivation.net.layers, derivation.spec.sizes)}
    a, b = ld.symbols.index, ld.below.index
    out = []
    for quantity, lhs, rhs in entries:
        letters = [s for s in (a, b) if lhs.has(s)]
        ranges = [range(1, sizes[ld.symbols.size] + 1) if s == a else range(1, sizes[ld.below.size] + 1)
                  for s in letters]
        for values in product(*ranges):
            point = dict(zip(letters, values))
            out.append((quantity, lhs.xreplace(point), rhs.xreplace({**sizes, **point}).doit()))
    return out


def summary(derivation, report) -> dict:
    spec = derivation.spec
    return {
        "name": spec.name,
        "title": spec.title,
        "sizes": list(spec.sizes),
        "activations": [layer.activation.name for layer in spec.layers],
        "loss": spec.loss.name,
        "reduction": spec.reduction,
        "notation": derivation.notation.name,
        "formulas": formulas(derivation),
        "proof": report.as_dict(),
    }


def terminal_text(derivation, report) -> str:
    spec = derivation.spec
    note = derivation.notation
    reduction = "mean" if spec.reduction == "mean" else "sum"
    lines = [
        f"{spec.name}: {spec.title}",
        (f"network {'-'.join(map(str, spec.sizes))}, activations {', '.join(l.activation.name for l in spec.layers)}; "
         f"loss {spec.loss.name} per sample, {reduction} over the batch; notation {note.name}"),
    ]
    rows = formulas(derivation)
    for ld in derivation.layers:
        role = "output" if ld.is_output else "hidden"
        lines.append("")
        lines.append(f"layer {ld.l} ({role}, {ld.symbols.activation.name}):")
        lines += [f"  {row['text']}" for row in rows if row["layer"] == ld.l]
    lines.append("")
    lines.append(report.summary())
    lines += [f"  {line}" for line in report.lines()]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
