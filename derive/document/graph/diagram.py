"""The graph of layers as the TikZ template draws it: boxes in a column from x up to J, and its edges.

Only positions and labels are computed here; `templates/graph.tex.j2` lays them out. An edge between
neighbours in the column is straight; an edge that jumps over layers (a skip connection, or a layer
that reads x again) is curved on the right, the further it jumps the wider.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from derive.document.builder import act_word, escape
from derive.network.graph import Graph

HEIGHT = 21.0  # cm the column may take
STEP = 1.3  # cm between two boxes, at most


@dataclass(frozen=True)
class Box:
    id: str
    y: str  # cm, formatted
    label: str  # LaTeX
    style: str  # "layer", "end" (x and J)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    skip: bool
    looseness: str = "1"


@dataclass
class Diagram:
    boxes: list[Box] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    top: str = "0"  # y of J
    has_skips: bool = False


def diagram(graph: Graph, lang: str) -> Diagram:
    depth = graph.depth
    step = min(STEP, HEIGHT / (depth + 1))
    at = lambda row: "%.2f" % (row * step)
    out = Diagram()
    out.boxes.append(Box("x", at(0), r"$x$ \small(%d)" % graph.spec.inputs, "end"))
    rows = {"x": 0}
    for lg in graph.layers:
        act = "" if lg.activation.name == "identity" else ", " + act_word(lg.activation)
        label = r"\textbf{%s}: %s, %d%s" % (escape(lg.name), lg.kind.title.get(lang, lg.kind.kind), lg.width, act)
        out.boxes.append(Box(f"L{lg.l}", at(lg.l), label, "layer"))
        rows[f"y{lg.l}"] = lg.l
        for name in lg.inputs:
            source = "x" if name == "x" else f"L{graph.tensors[name].layer}"
            span = lg.l - rows[name]
            skip = span > 1
            out.edges.append(Edge(source, f"L{lg.l}", skip, "%.2f" % (0.5 + 0.25 * span) if skip else "1"))
            out.has_skips = out.has_skips or skip
    out.boxes.append(Box("J", at(depth + 1), r"$J$ (%s)" % escape(graph.spec.loss.name), "end"))
    out.edges.append(Edge(f"L{depth}", "J", False))
    out.top = at(depth + 1)
    return out
