"""generated/*.tex is what the tool prints now: every example's document, English (NAME.tex) and
Korean (NAME.ko.tex), with the worked example, exactly as `derive SPEC --tex OUT --example [--lang ko]`
writes it. Regenerate with:

    for s in examples/*.toml; do n=$(basename $s .toml)
        derive $s --tex generated/$n.tex --example
        derive $s --tex generated/$n.ko.tex --example --lang ko; done
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from derive.calculus.derivation import derive
from derive.document.builder import render_tex
from derive.spec.loader import load_spec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.toml"))


@pytest.mark.parametrize("name", EXAMPLES)
def test_generated_tex_is_current(name):
    from derive.calculus.proof import prove

    spec = load_spec(ROOT / "examples" / f"{name}.toml")
    if spec.is_chain:
        derivation = derive(spec)
        report, render = prove(derivation), render_tex
    else:  # a network of layer kinds: the graph engine's derivation, proof and document
        from derive.calculus.backward import backward
        from derive.calculus.graph_proof import prove_graph
        from derive.document.graph import render_graph_tex
        from derive.network.graph import Graph

        derivation = backward(Graph(spec))
        report, render = prove_graph(derivation), render_graph_tex
    for lang, suffix in (("en", ""), ("ko", ".ko")):
        path = ROOT / "generated" / f"{name}{suffix}.tex"
        assert path.exists(), f"{path} is missing: regenerate generated/ (see this file's docstring)"
        now = render(derivation, report, lang=lang, example=True)
        kept = path.read_text(encoding="utf-8")
        if now != kept:
            diff = "".join(list(difflib.unified_diff(kept.splitlines(True), now.splitlines(True), str(path),
                                                     "now", n=1))[:40])
            pytest.fail(f"{path.name} differs from what the tool generates now:\n{diff}")
