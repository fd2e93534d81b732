"""The printed derivation of a network of layer kinds: sections built in Python, laid out by the template.

`render_graph_tex(derivation, proof, lang=..., example=...)` makes the flow of every section (paragraphs,
equations, tables: the dense-chain document's own items) and hands it to `templates/graph.tex.j2`, which
draws the graph and includes the dense-chain template for the preamble and the layout. The sections: the
graph and its notation, the forward pass and objective, one section per layer from the output down
(`layers.LayerSection`: forward definition, the chain through its nodes with every delta elimination, the
closed form of the norm layers, the parameter gradients, the gradient handed down), the proof and,
with `example`, a worked example. Same derivation, same text: nothing depends on time or hash order.
"""

from __future__ import annotations

import sympy as sp

from derive.calculus.backward import GraphDerivation
from derive.document.builder import (
    _LOSS_WORD,
    _LOSS_WORD_KO,
    Equation,
    Para,
    Section,
    Table,
    _environment,
    act_tex,
    act_word,
    escape,
    needs_kotex,
    wrap_equation,
)
from derive.document.graph import second_order
from derive.document.graph.diagram import diagram
from derive.document.graph.layers import LayerSection
from derive.document.graph.printer import GraphLatexPrinter
from derive.document.graph.steps import StepPrinter
from derive.document.phrases import GRAPH_LANGUAGES, LANGUAGES
from derive.network import indices as ix


class GraphDocument:
    def __init__(self, derivation: GraphDerivation, proof, lang: str, example: bool):
        if lang not in GRAPH_LANGUAGES:
            raise ValueError(f"--lang: expected one of {', '.join(GRAPH_LANGUAGES)}, got {lang!r}")
        self.d = derivation
        self.graph = derivation.graph
        self.spec = self.graph.spec
        self.lang = lang
        self.T = GRAPH_LANGUAGES[lang]
        self.base = LANGUAGES[lang]
        self.proof = proof
        self.with_example = example
        self.p = GraphLatexPrinter(self.graph)
        self.steps = StepPrinter(self.p, self.T)

    def t(self, key: str, **fields) -> str:
        text = self.T[key]
        return text % fields if fields else text

    def tex(self, expr) -> str:
        return self.p.doprint(expr)

    def kind_title(self, lg) -> str:
        return lg.kind.title.get(self.lang, lg.kind.kind)

    # -- the document ----------------------------------------------------------------------------
    def context(self) -> dict:
        sections = [self.network_section(), self.forward_section()]
        sections += [LayerSection(self, lg).section() for lg in reversed(self.graph.layers)]
        sections.append(self.proof_section())
        if self.with_example:
            from derive.document.graph.example import example_section

            sections.append(example_section(self))
        if second_order.wanted(self.spec):
            from derive.document.graph.example import GraphExample

            point = GraphExample(self.graph, self.d).instance if self.with_example else None
            sections.append(second_order.second_order_section(self, self.d, point))
        for section in sections:
            for part in [section, *section.subsections]:
                for item in part.flow + part.after:
                    if isinstance(item, Equation):
                        wrap_equation(item)
        return {
            "lang": self.lang,
            "kotex": needs_kotex(self.lang, self.spec.title, *(lg.name for lg in self.graph.layers)),
            "title": escape(self.spec.title),
            "doc_title": self.base["doc_title"],
            "name": escape(self.spec.name),
            "sections": sections,
            "graph": diagram(self.graph, self.lang),
        }

    # 1. the graph ---------------------------------------------------------------------------------
    def network_section(self) -> Section:
        s = Section(self.t("network"), "sec:network")
        picture = diagram(self.graph, self.lang)
        s.flow.append(Para(self.t("network_intro", depth=self.graph.depth,
                                  skips=self.t("skips") if picture.has_skips else "")))
        s.flow.append(Para(self.t("figure_caption"), kind="diagram"))
        rows = []
        for lg in self.graph.layers:
            inputs = ", ".join(r"\texttt{%s}" % escape(name) for name in self.spec.layers[lg.l - 1].inputs)
            rows.append([str(lg.l), r"\texttt{%s}" % escape(lg.name), self.kind_title(lg), inputs,
                         "$%s = %d$" % (self.tex(lg.output.shape[-1]), lg.width), "$%s$" % act_tex(lg.activation)])
        s.flow.append(Table([self.t(c) for c in ("col_layer", "col_name", "col_kind", "col_input", "col_width",
                                                  "col_activation")], rows, "rlllll", caption=self.t("table_caption")))
        widths = ", ".join("$%s = %d$" % (self.tex(size), value) for size, value in
                           sorted(self.graph.sizes.items(), key=lambda kv: str(kv[0])) if size != ix.BATCH)
        s.flow.append(Para(self.t("indices", widths=widths)))
        return s

    # 2. forward pass and objective ----------------------------------------------------------------
    def node_line(self, node) -> tuple[str, str, str]:
        lg = self.graph.layer_of(node)
        if lg is not None and node is lg.output and not lg.activation.is_softmax:
            u = lg.pre.element
            rhs = self.tex(u) if lg.activation.name == "identity" else r"%s\left(%s\right)" % (
                act_tex(lg.activation), self.tex(u))
            return self.tex(node.element), rhs, ""
        return self.tex(node.element), self.tex(node.expr), ""

    def forward_lines(self, lg) -> list:
        return [self.node_line(node) for node in lg.nodes]

    def forward_section(self) -> Section:
        s = Section(self.t("forward"), "sec:forward")
        s.flow.append(Para(self.t("forward_intro")))
        for lg in self.graph.layers:
            s.flow.append(Para(self.t("forward_layer", l=lg.l, kind=self.kind_title(lg), name=escape(lg.name))))
            s.flow.append(Equation(self.forward_lines(lg), f"eq:fw{lg.l}"))
        loss = self.spec.loss
        words = (_LOSS_WORD if self.lang == "en" else _LOSS_WORD_KO).get(loss.name, r"\texttt{%s}" % escape(loss.name))
        how = self.t("how_mean" if self.spec.reduction == "mean" else "how_sum")
        s.flow.append(Para(self.t("loss_intro", loss=words, how=how)))
        out, t = self.graph.output, self.graph.tensors["t"]
        n, r = ix.n, ix.r
        size = out.shape[-1]
        per_sample = sp.Sum(loss.of(out.base[n, r], t.base[n, r]), (r, 1, size))
        if loss.mean_over_outputs:
            per_sample = per_sample / size
        E = sp.IndexedBase("E")
        scale = sp.Integer(1) / ix.BATCH if self.spec.reduction == "mean" else sp.Integer(1)
        s.flow.append(Equation([(self.tex(E[n]), self.tex(per_sample), ""),
                                ("J", self.tex(scale * sp.Sum(E[n], (n, 1, ix.BATCH))), "")], "eq:loss"))
        s.flow.append(Para(self.t("sweep")))
        return s

    # 3. proof --------------------------------------------------------------------------------------
    def proof_section(self) -> Section:
        s = Section(self.t("proof"), "sec:proof")
        if self.proof is None:
            s.flow.append(Para(self.t("proof_none")))
            return s
        s.flow.append(Para(self.t("proof_intro")))
        s.flow.append(Para(r"\textbf{%s}" % escape(self.proof.summary())))
        if self.proof.failures:
            item = Para("", kind="list")
            item.items = [escape(line) for line in self.proof.failures]
            s.flow.append(item)
        return s


def render_graph_tex(derivation: GraphDerivation, proof, *, lang: str = "en", example: bool = False) -> str:
    """The whole LaTeX document of a graph derivation (and its proof) in `lang` ("en" or "ko")."""
    context = GraphDocument(derivation, proof, lang, example).context()
    return _environment().get_template("graph.tex.j2").render(**context)


__all__ = ["GraphDocument", "act_word", "render_graph_tex"]
