"""The Python API, for notebooks: a spec in, an object that derives, proves, prints and generates.

    >>> import derive
    >>> net = derive.load("examples/residual_ln.toml")      # a path, a TOML string or a dict
    >>> net                                                 # Jupyter shows _repr_html_ / _repr_latex_
    >>> net.proof.ok, net.tex(lang="ko"), net.pdf("out/residual_ln.pdf", example=True)
    >>> m = net.load_module(); params = m.init_params(0); m.fit(params, X, T, epochs=5)

The same commands stand behind it (`derive`, `codegen`): the dense chain of the notes gets its own derivation,
proof, document and module, any other network of layer kinds the graph engine's. A wrong spec raises
SpecError with the one-line message the commands print; files are written through derive.io's policy.
Everything is made lazily, once: the derivation when first asked for, the proof likewise.
"""

from __future__ import annotations

import html
import linecache
import types
from functools import cached_property
from pathlib import Path
from typing import Any

from derive.errors import SpecError
from derive.spec.loader import DTYPES, Spec, load_spec, parse_spec, parse_table

LANGS = ("en", "ko")


def load(source: Any, *, name: str = "<spec>") -> Network:
    """A Network from a spec: a dict (the TOML's structure), a TOML string, a path (str or Path) or a Spec.

    A string holding a newline or an '=' is TOML text, any other string a path. `name` is what error messages
    call a spec given as text or dict (a file is called by its path).
    """
    if isinstance(source, Spec):
        return Network(source)
    if isinstance(source, dict):
        return Network(parse_table(source, name))
    if isinstance(source, Path):
        return Network(load_spec(source))
    if isinstance(source, str):
        if "\n" in source or "=" in source:
            return Network(parse_spec(source, name))
        return Network(load_spec(source))
    raise SpecError(f"{name}: expected a TOML string, a dict, a path or a Spec, got {type(source).__name__}")


class Network:
    """One spec, derived and proved on first use; renders itself in Jupyter."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self._modules: dict[str, str] = {}

    def __repr__(self) -> str:
        kind = "dense chain " + "-".join(map(str, self.spec.sizes)) if self.is_chain else \
            f"graph of {self.spec.depth} layers"
        return f"<Network {self.spec.name}: {kind}, loss {self.spec.loss.name}>"

    @property
    def is_chain(self) -> bool:
        return self.spec.is_chain

    # -- derivation and proof --------------------------------------------------------------------
    @cached_property
    def derivation(self):
        """The dense chain's Derivation, or a graph's GraphDerivation (the generic reverse sweep)."""
        if self.is_chain:
            from derive.calculus.derivation import derive

            return derive(self.spec)
        from derive.calculus.backward import backward
        from derive.network.graph import Graph

        return backward(Graph(self.spec))

    @cached_property
    def proof(self):
        """The proof report (`.ok`, `.summary()`): the derived rules against direct differentiation."""
        if self.is_chain:
            from derive.calculus.proof import prove

            return prove(self.derivation)
        from derive.calculus.graph_proof import prove_graph

        return prove_graph(self.derivation)

    @cached_property
    def formulas(self) -> list[dict]:
        """Every derived gradient: {layer, lhs (LaTeX), rhs (LaTeX), text (one line, as `derive` prints it)}."""
        if self.is_chain:
            from derive.cli import formulas

            rows = []
            for row in formulas(self.derivation):
                lhs, rhs = row["latex"].split(" = ", 1)
                rows.append({"layer": row["layer"], "lhs": lhs, "rhs": rhs, "text": row["text"]})
            return rows
        from derive.document import graph_text
        from derive.document.graph.printer import GraphLatexPrinter, gradient_of

        d = self.derivation
        printer = GraphLatexPrinter(d.graph)
        out = d.graph.layers[-1].pre
        rows = [{"layer": out.layer, "lhs": gradient_of(printer, out),
                 "rhs": printer.doprint(d.head.scale * d.head.delta)}]
        for gradient in d.gradients.values():
            if gradient.contributions:
                rows.append({"layer": gradient.tensor.layer, "lhs": gradient_of(printer, gradient.tensor),
                             "rhs": printer.doprint(gradient.expr)})
        for row, text in zip(rows, graph_text.rows(d), strict=True):
            row["text"] = text["text"]
        return rows

    # -- Jupyter ---------------------------------------------------------------------------------
    def _repr_latex_(self) -> str:
        body = " \\\\\n".join(f"{row['lhs']} &= {row['rhs']}" for row in self.formulas)
        return "\\begin{align*}\n" + body + "\n\\end{align*}"

    def _repr_html_(self) -> str:
        e = html.escape
        spec = self.spec
        head = "<tr><th>layer</th><th>name</th><th>kind</th><th>input</th><th>width</th><th>activation</th></tr>"
        layers = "".join(
            f"<tr><td>{l}</td><td>{e(layer.name)}</td><td>{e(layer.kind.kind)}</td>"
            f"<td>{e(', '.join(layer.inputs))}</td><td>{layer.units}</td><td>{e(layer.activation.name)}</td></tr>"
            for l, layer in enumerate(spec.layers, 1))
        formulas = "".join(f"<tr><td>{row['layer']}</td><td><code>{e(row['text'])}</code></td></tr>"
                           for row in self.formulas)
        return (f"<div><p><b>{e(spec.name)}</b>: {e(spec.title)} &mdash; {spec.inputs} inputs, loss "
                f"{e(spec.loss.name)} ({e(spec.reduction)})</p>"
                f"<table>{head}{layers}</table>"
                f"<table><tr><th>layer</th><th>formula</th></tr>{formulas}</table>"
                f"<p>{e(self.proof.summary())}</p></div>")

    # -- documents -------------------------------------------------------------------------------
    def tex(self, lang: str = "en", example: bool = False) -> str:
        """The LaTeX document, as `derive SPEC --tex OUT [--lang ko] [--example]` writes it."""
        if lang not in LANGS:
            raise ValueError(f"lang: expected one of {', '.join(LANGS)}, got {lang!r}")
        if example:
            from derive.budget import check_example_size

            check_example_size(self.spec)
        if self.is_chain:
            from derive.document.builder import render_tex

            return render_tex(self.derivation, self.proof, lang=lang, example=example)
        from derive.document.graph import render_graph_tex

        return render_graph_tex(self.derivation, self.proof, lang=lang, example=example)

    def pdf(self, path: str | Path, lang: str = "en", example: bool = False) -> Path:
        """Compile the document to `path` (TeX Live); nothing is written unless it compiled. The path written."""
        from derive.document.pdf import build
        from derive.io import check_outputs, write_files

        inputs = (self.spec.source,) if Path(self.spec.source).is_file() else ()
        out = check_outputs({"pdf": path}, inputs=inputs)["pdf"]
        data = build(self.tex(lang=lang, example=example))[0]
        write_files({out: data})
        return out

    # -- the training module ---------------------------------------------------------------------
    def module(self, dtype: str | None = None) -> str:
        """The generated NumPy training module's source, as `codegen SPEC -o OUT.py [--dtype D]` writes it."""
        if dtype is not None and dtype not in DTYPES:
            raise ValueError(f"dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")
        key = dtype or self.spec.dtype
        if key not in self._modules:
            from codegen.forms import CodegenError
            from codegen.printer import UnprintableError
            from codegen.render import generate

            try:
                source = generate(self.spec, dtype)
            except (UnprintableError, CodegenError) as exc:
                raise SpecError(f"{self.spec.source}: cannot generate code: {exc}") from None
            self._modules[key] = source
        return self._modules[key]

    def load_module(self, dtype: str | None = None) -> types.ModuleType:
        """The generated module imported into a fresh module object (not added to sys.modules); its source
        is registered with linecache, so tracebacks and `inspect.getsource` show it."""
        source = self.module(dtype)
        filename = f"<generated {self.spec.name}.py>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        module = types.ModuleType(f"generated_{self.spec.name}", f"The generated module of {self.spec.name}.")
        module.__file__ = filename
        exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 - our own generated code
        return module


__all__ = ["Network", "load"]
