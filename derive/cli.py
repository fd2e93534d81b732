"""`derive SPEC [...]` and `derive check SPEC 'EQUATION' [...]` (DESIGN.md section 5)."""

from __future__ import annotations

import json
import sys
import time
from itertools import product

from derive.budget import check_example_size
from derive.calculus.proof import MODES, prove
from derive.console import Parser, UsageError, add_budget, run_command
from derive.io import check_outputs, write_files


def _parser() -> Parser:
    p = Parser(
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
    p.add_argument("--proof", choices=MODES, default="auto",
                   help="full: every parameter end to end; fast: layer by layer; auto (default): full up to "
                        "8 layers, fast beyond; off: no proof")
    add_budget(p)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "check":
        from derive.checker.check import main as check_main  # imported only here: `check` must start fast

        return check_main(argv[1:])
    return run_command("derive", _parser(), argv, _run)


def _run(args) -> int:
    from derive.calculus.derivation import derive
    from derive.spec.loader import load_spec

    requested = {f"--{option}": getattr(args, option) for option in ("tex", "pdf") if getattr(args, option)}
    outputs = check_outputs(requested, inputs=(args.spec,))
    spec = load_spec(args.spec)
    if not spec.is_chain:
        return _run_graph(args, spec, outputs)
    if args.example:
        check_example_size(spec)
    derivation = derive(spec, args.notation)
    report = prove(derivation, mode=args.proof, progress=_progress_line())
    if args.json:
        print(json.dumps(summary(derivation, report), indent=2, ensure_ascii=False))
    else:
        print(terminal_text(derivation, report))
    if outputs:  # everything is made first; only then is anything written
        from derive.document.builder import render_tex

        _write_document(outputs, render_tex(derivation, report, lang=args.lang, example=args.example))
    return 0 if report is None or report.ok else 1


def _write_document(outputs: dict, tex: str) -> None:
    """The .tex and the compiled .pdf asked for, written together once both are made."""
    files = {}
    if "--tex" in outputs:
        files[outputs["--tex"]] = tex
    if "--pdf" in outputs:
        from derive.document.pdf import PdfError, build

        try:
            files[outputs["--pdf"]] = build(tex)[0]
        except PdfError as exc:
            raise UsageError(f"--pdf: {exc}" + (" (nothing written)" if len(files) else "")) from None
    write_files(files)
    for path in files:
        print(f"wrote {path}", file=sys.stderr)


def _run_graph(args, spec, outputs) -> int:
    """A network of layer kinds: the generic reverse sweep, its proof on an explicit instance, its document."""
    from derive.calculus.backward import backward
    from derive.calculus.graph_proof import prove_graph
    from derive.document import graph_text
    from derive.network.graph import Graph

    if args.notation:
        raise UsageError("--notation: a network with layer kinds other than the dense chain is written in the "
                         "graph's own index notation (x_nk, u^(l)_nk, w^(l)_jk)")
    if args.example:
        check_example_size(spec)
    derivation = backward(Graph(spec))
    report = None if args.proof == "off" else prove_graph(derivation)
    rows = graph_text.rows(derivation)
    if args.json:
        print(json.dumps({"name": spec.name, "title": spec.title, "layers": _layer_rows(spec),
                          "loss": spec.loss.name, "reduction": spec.reduction, "formulas": rows,
                          "proof": None if report is None else {"ok": report.ok, "summary": report.summary()}},
                         indent=2, ensure_ascii=False))
    else:
        lines = [f"{spec.name}: {spec.title}",
                 f"loss {spec.loss.name} per sample, {spec.reduction} over the batch (J); dT is ∂J/∂T", ""]
        for layer in _layer_rows(spec):
            lines.append(f"layer {layer['layer']} {layer['name']}: {layer['kind']} of {', '.join(layer['input'])}, "
                         f"{_size_text(layer['shape'])}, activation {layer['activation']}")
        lines.append("")
        for row in rows:
            note = f"   ({row['parts']} paths, added)" if row["parts"] > 1 else ""
            lines.append(f"  {row['text']}{note}")
        lines += ["", "not proved (--proof off)" if report is None else report.summary()]
        print("\n".join(lines))
    if outputs:  # everything is made first; only then is anything written
        from derive.document.graph import render_graph_tex

        _write_document(outputs, render_graph_tex(derivation, report, lang=args.lang, example=args.example))
    return 0 if report is None or report.ok else 1


def _layer_rows(spec) -> list[dict]:
    return [{"layer": l, "name": layer.name, "kind": layer.kind.kind, "input": list(layer.inputs),
             "width": layer.units, "shape": list(layer.shape), "activation": layer.activation.name} for l, layer in enumerate(spec.layers, 1)]


def _progress_line():
    """Progress of a long proof on a terminal's stderr (nothing when stderr is a file or a pipe)."""
    if not sys.stderr.isatty():
        return None
    started = time.monotonic()

    def show(done: int, total: int) -> None:
        if time.monotonic() - started > 1:
            end = "\n" if done == total else ""
            print(f"\rproving: {done}/{total} checks", end=end, file=sys.stderr, flush=True)

    return show


# -- what is printed -----------------------------------------------------------------------------

def formulas(derivation) -> list[dict]:
    """Every layer's results, as {layer, quantity, lhs, sympy, latex, text} (node notation: per neuron)."""
    from derive.calculus.rules import d
    from derive.network.chain import E as loss
    from derive.network.notation import latex, text

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
        "proof": report.as_dict() if report is not None else None,
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
    if report is None:
        lines.append("not proved (--proof off)")
    else:
        lines.append(report.summary())
        lines += [f"  {line}" for line in report.lines()]
    return "\n".join(lines)


def _size_text(shape) -> str:
    """width 16 for features; shape [8, 8, 8] (channels, positions) for a signal or an image."""
    return f"width {shape[0]}" if len(shape) == 1 else f"shape [{', '.join(map(str, shape))}]"


if __name__ == "__main__":
    sys.exit(main())
