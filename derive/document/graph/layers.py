"""One layer's section: its forward definition, the backward pass through its nodes, the closed form of a norm
layer, its parameter gradients and the gradient it hands down.

What differs between kinds is only the introduction (`INTRODUCTIONS`, one entry per kind) and whether the kind
states a textbook closed form (the norm layers' `textbook_input_gradient`); everything else is read off the
graph and the derivation, so a new kind gets its section without code here.
"""

from __future__ import annotations

import sympy as sp

from derive.calculus.backward import Gradient, gradient_base
from derive.document.builder import Equation, IndexMap, Para, Section, escape, number
from derive.document.graph.printer import gradient_of
from derive.network.graph import LayerGraph


def _dense(doc, lg: LayerGraph) -> str:
    return doc.t("kind_dense" if getattr(lg.kind, "bias", True) else "kind_dense_nobias")


def _add(doc, lg: LayerGraph) -> str:
    inputs = ", ".join("$%s$" % doc.tex(doc.graph.tensors[name].element) for name in lg.inputs)
    return doc.t("kind_add", inputs=inputs)


def _batch_norm(doc, lg: LayerGraph) -> str:
    return doc.t("kind_batch_norm", momentum=number(lg.kind.momentum))


def _custom(doc, lg: LayerGraph) -> str:
    params = ", ".join("$%s$" % doc.tex(p.element) for p in lg.params)
    return doc.t("kind_custom", formula=escape(lg.kind.forward_text), params=params)


def _windowed(doc, lg: LayerGraph) -> str:
    kind = lg.kind
    sizes = "\\times".join(map(str, kind.size))
    pads = ", ".join(f"{a}+{b}" if a != b else str(a) for a, b in kind.padding)
    key = "kind_conv" if kind.kind.startswith("conv") else "kind_maxpool" if "max" in kind.kind else "kind_avgpool"
    return doc.t(key, size=f"${sizes}$", stride=", ".join(map(str, kind.stride)), pad=pads,
                 channels=getattr(kind, "channels", ""))


def index_map(graph, lg: LayerGraph, most: int = 24) -> IndexMap | None:
    """The picture of a window's index map along the first position: which inputs (padding dashed) each output
    reads; None where the padded input is longer than `most` cells."""
    kind = lg.kind
    (left, right), size, stride = kind.padding[0], kind.size[0], kind.stride[0]
    length = int(sp.sympify(graph.tensors[lg.inputs[0]].shape[2]).xreplace(graph.sizes))
    padded = left + length + right
    if padded > most:
        return None
    inputs = [(i, "" if not left <= i < left + length else str(i - left + 1), not left <= i < left + length)
              for i in range(padded)]
    count = (padded - size) // stride + 1
    outputs = [(stride * p + (size - 1) / 2, str(p + 1)) for p in range(count)]
    links = [(p, stride * p + a) for p in range(count) for a in range(size)]
    return IndexMap(inputs, outputs, links)


INTRODUCTIONS = {
    "dense": _dense,
    "add": _add,
    "layer_norm": lambda doc, lg: doc.t("kind_layer_norm"),
    "batch_norm": _batch_norm,
    "custom": _custom,
    **{name: _windowed for name in ("conv1d", "conv2d", "avgpool1d", "avgpool2d", "maxpool1d", "maxpool2d")},
    "flatten": lambda doc, lg: doc.t("kind_flatten"),
    "dropout": lambda doc, lg: doc.t("kind_dropout", p=number(lg.kind.p)),
}


class LayerSection:
    def __init__(self, doc, lg: LayerGraph):
        self.doc = doc
        self.lg = lg
        self.d = doc.d
        self.graph = doc.graph
        self.p = doc.p
        self.steps = doc.steps

    @property
    def is_output(self) -> bool:
        return self.lg is self.graph.layers[-1]

    def section(self) -> Section:
        doc, lg = self.doc, self.lg
        s = Section(doc.t("layer_title", l=lg.l, kind=doc.kind_title(lg), name=escape(lg.name)), f"sec:layer{lg.l}")
        intro = INTRODUCTIONS.get(lg.kind.kind, lambda doc, lg: doc.t("kind_other", kind=escape(lg.kind.kind)))
        s.flow.append(Para(intro(doc, lg)))
        forward = Section(doc.t("sub_forward"), "")
        forward.flow.append(Equation(doc.forward_lines(lg)))
        picture = index_map(self.graph, lg) if hasattr(lg.kind, "padding") else None
        if picture is not None:
            forward.flow += [Para(doc.t("index_map")), picture]
        s.subsections.append(forward)
        s.subsections.append(self.backward())
        if lg.params:
            s.subsections.append(self.parameters())
        s.subsections.append(self.handed_down())
        closed = self.closed_form()
        if closed is not None:
            s.subsections.append(closed)
        return s

    # -- backward through the layer's own nodes ----------------------------------------------------
    def backward(self) -> Section:
        doc, lg = self.doc, self.lg
        s = Section(doc.t("sub_backward"), f"sec:layer{lg.l}:bw")
        if self.is_output:
            s.flow.append(Para(doc.t("start_output")))
            for rule in self.d.head.steps:
                s.flow += self.steps.doprint(rule)
            key = "head_scale_mean" if doc.spec.reduction == "mean" else "head_scale_sum"
            s.flow.append(Para(doc.t(key)))
            u = lg.pre
            delta = sp.IndexedBase(f"delta{lg.l}")[u.indices]
            s.flow.append(Equation([(gradient_of(self.p, u), self.p.doprint(self.d.head.scale * delta), ""),
                                    ("", self.p.doprint(self.d.head.scale * self.d.head.delta), "")],
                                   f"eq:g:{u.name}", boxed=False))
        else:
            s.flow.append(Para(doc.t("start_hidden")))
            s.flow += self.total(self.d.gradients[lg.output.name], label=f"eq:g:{lg.output.name}")
        for node in reversed(lg.nodes):
            gradient = self.d.gradients.get(node.name)
            if gradient is None or not gradient.contributions or node is lg.output:
                continue
            s.flow += self.parts(gradient, [c for c in gradient.contributions])
            if gradient.summed:
                s.flow += self.total(gradient, label=f"eq:g:{node.name}")
        return s

    def parts(self, gradient: Gradient, contributions: list) -> list:
        flow = []
        for c in contributions:
            flow.append(Para(self.doc.t("edge", source=self.p.doprint(c.source.element),
                                        what=self.doc.T["what"].get(c.source.what, escape(c.source.what)),
                                        target=self.p.doprint(c.target.element))))
            flow += self.steps.doprint(c, part=gradient.summed)
        return flow

    def total(self, gradient: Gradient, label: str | None = None) -> list:
        where = ["$%s$" % self.p.doprint(c.source.base) if c.source.layer == self.lg.l else
                 self.doc.t("through_layer", l=c.source.layer, node=self.p.doprint(c.source.base),
                            sec=f"sec:layer{c.source.layer}") for c in gradient.contributions]
        flow = self.steps.doprint(gradient, where=where)
        flow[-1].label = label
        return flow

    # -- the closed form (a norm layer's, a convolution's flipped-kernel correlation) ------------------
    def closed_form(self) -> Section | None:
        lg, doc = self.lg, self.doc
        textbook = getattr(lg.kind, "textbook_input_gradient", None)
        if textbook is None:
            return None
        target = self.graph.tensors[lg.inputs[0]]
        g = sp.IndexedBase("g")
        formula = textbook(self.graph.builder(lg), g)
        node = self.graph.tensors[f"{lg.kind.closed_in}{lg.l}"]
        s = Section(doc.t("sub_closed"), f"sec:layer{lg.l}:closed")
        mine = sp.Add(*(c.result for c in self.d.gradients[target.name].contributions if c.source.layer == lg.l))
        lhs = gradient_of(self.p, target)
        if len([c for c in self.d.gradients[target.name].contributions if c.source.layer == lg.l]) > 1:
            lhs = r"\left.%s\right|_{(%d)}" % (lhs, lg.l)
        idx = "".join(self.p.doprint(i) for i in node.indices)
        s.flow.append(Para(doc.t(f"closed_intro_{lg.kind.closed_in}", idx=idx, node=self.p.doprint(node.element))))
        s.flow.append(Equation([(lhs, self.p.doprint(mine), ""), ("", self.p.doprint(formula), "")],
                               f"eq:closed{lg.l}"))
        s.flow.append(Para(doc.t("closed_g")))
        gradient = gradient_base(node.name)[node.indices]
        s.flow.append(Equation([(self.p.doprint(g[node.indices]), self.p.doprint(gradient), "")] +
                               ([("", self.p.doprint(self.d.gradients[node.name].expr), "")]
                                if node.name in self.d.gradients and node is not lg.pre else [])))
        proof = doc.proof
        if proof is None:
            s.flow.append(Para(doc.t("closed_unchecked")))
        elif lg.l in proof.closed_form_layers:
            s.flow.append(Para(doc.t("closed_proved")))
        else:
            s.flow.append(Para(doc.t("closed_failed")))
        return s

    # -- parameters and the gradient handed down ---------------------------------------------------
    def parameters(self) -> Section:
        s = Section(self.doc.t("sub_params"), f"sec:layer{self.lg.l}:params")
        s.flow.append(Para(self.doc.t("params_intro")))
        for param in self.lg.params:
            gradient = self.d.gradients[param.name]
            s.flow += self.parts(gradient, gradient.contributions)
            if gradient.summed:
                s.flow += self.total(gradient)
            s.flow.append(Equation([(gradient_of(self.p, param), self.p.doprint(gradient.expr), "")],
                                   f"eq:g:{param.name}", boxed=True))
        return s

    def handed_down(self) -> Section:
        lg = self.lg
        s = Section(self.doc.t("sub_input"), f"sec:layer{lg.l}:input")
        for name in lg.inputs:
            tensor = self.graph.tensors[name]
            gradient = self.d.gradients[name]
            mine = [c for c in gradient.contributions if c.source.layer == lg.l]
            s.flow.append(Para(self.doc.t("input_intro", x=self.p.doprint(tensor.element))))
            s.flow += self.parts(gradient, mine)
            lhs = gradient_of(self.p, tensor)
            if gradient.summed:
                lhs = r"\left.%s\right|_{(%d)}" % (lhs, lg.l)
            if len(mine) > 1 or tensor.role == "input":
                s.flow.append(Equation([(lhs, self.p.doprint(sp.Add(*(c.result for c in mine))), "")],
                                       f"eq:in{lg.l}:{name}", boxed=not gradient.summed))
            if len(mine) < len(gradient.contributions):
                s.flow.append(Para(self.doc.t("input_more")))
        return s
