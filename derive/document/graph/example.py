"""The worked example of a graph document: one forward and backward pass with numbers.

The numbers come from the proof's explicit instance (`graph_proof.Instance`), built at the spec's own widths
on the spec's `[example]` values where they fit (the first sample's x and t, a dense layer's W and b) and
values from a fixed seed elsewhere (two decimals): every node element from its index expression, then every
gradient element from the reverse sweep's formulas, in that order. A batch norm layer needs two samples
(one sample has no variance), every other graph one.
"""

from __future__ import annotations

import random

import sympy as sp

from derive.calculus.backward import gradient_base
from derive.calculus.graph_proof import DIGITS, Instance, elements_at
from derive.document.builder import Equation, Para, Section, Table, escape, limit, number
from derive.document.example import SEED, fmt
from derive.network import indices as ix
from derive.network.graph import Graph, Tensor


def _example_sizes(graph: Graph) -> dict:
    """The spec's sizes; a signal or image shrunk to the fewest positions from 4 up that every window fits (a
    1x4x4 image for the digits CNN), its channels and widths as they are."""
    shape = graph.spec.input_shape
    if len(shape) > 1:
        for side in range(4, max(shape[1:]) + 1):
            found = graph.sizes_at((shape[0], *(min(v, side) for v in shape[1:])), 10**9)
            if found is not None:
                return found
    return {s: v for s, v in graph.sizes.items() if s != ix.BATCH}


def _decimal(v: float) -> sp.Float:
    return sp.Float(repr(float(v)), DIGITS)


class GraphExample:
    def __init__(self, graph: Graph, derivation):
        self.graph = graph
        spec = graph.spec
        self.N = 2 if any(lg.kind.couples_samples for lg in graph.layers) else 1
        self.sizes = {**_example_sizes(graph), ix.BATCH: self.N}
        rng = random.Random(SEED)
        given = spec.example
        self.given: list[str] = []
        shape = lambda t: [int(sp.sympify(s).xreplace(self.sizes)) for s in t.shape]
        draw = lambda lo, hi: _decimal(round(rng.uniform(lo, hi), 2))
        values: dict[str, list] = {}
        x = graph.tensors["x"]
        n_x, *per_sample = shape(x)
        d_x = int(sp.prod(per_sample))
        first = list(given.x) if given is not None and given.x is not None and len(given.x) == d_x else None
        if first is not None:
            self.given.append("x")
        rows = [[_decimal(v) for v in first] if first and s == 0 else [draw(0, 1) for _ in range(d_x)]
                for s in range(n_x)]
        values["x"] = [v for row in rows for v in row]
        for p in graph.params:
            count = 1
            for n in shape(p):
                count *= n
            values[p.name] = self._given_param(p, given, shape(p)) or [
                draw(0.5, 1.5) if p.param.init == "ones" else draw(-0.5, 0.5) for _ in range(count)]
        out = graph.output
        n_t, d_t = shape(out)
        target = list(given.t) if given is not None and given.t is not None else None
        if target is not None:
            self.given.append("t")
        targets = []
        for s in range(n_t):
            if target is not None and s == 0:
                targets += [_decimal(v) for v in target]
            elif graph.layers[-1].activation.is_softmax:
                hot = rng.randrange(d_t)
                targets += [_decimal(1.0 if k == hot else 0.0) for k in range(d_t)]
            else:
                targets += [draw(0.01, 0.99) if graph.layers[-1].activation.name == "sigmoid" else draw(-1, 1)
                            for _ in range(d_t)]
        point = {}
        for t in graph.tensors.values():
            if t.role in ("input", "param"):
                point.update(zip((e for e, _ in elements_at(t, self.sizes)), values[t.name]))
            elif t.role == "mask":  # dropout in training: each element dropped (0) or kept, scaled by 1/(1 - p)
                p = graph.layers[t.layer - 1].kind.p
                point.update((e, 0 * _decimal(1) if rng.random() < p else 1 / (1 - _decimal(p)))
                             for e, _ in elements_at(t, self.sizes))
        point.update(zip((e for e, _ in elements_at(graph.tensors["t"], self.sizes)), targets))
        self.instance = Instance(graph, self.sizes, point)
        self.gradients = self.instance.gradients(derivation)
        self.J = self.instance.objective()
        train = spec.train
        self.lr = train.optimizer.lr if train else 0.1  # None for a full-batch optimiser
        self.optimizer = train.optimizer.name if train else "sgd"
        self.full_batch = bool(train and train.optimizer.full_batch)

    def _given_param(self, p: Tensor, given, shape: list) -> list | None:
        """A dense layer's W and b from [example], where they have this layer's shape."""
        if given is None or p.param.name not in ("W", "b"):
            return None
        source = given.weights if p.param.name == "W" else given.biases
        value = source[p.layer - 1] if p.layer - 1 < len(source) else None
        if value is None:
            return None
        flat = [v for row in value for v in row] if p.param.name == "W" else list(value)
        rows = len(value) if p.param.name == "W" else None
        if len(flat) != (shape[0] * shape[1] if len(shape) == 2 else shape[0]) or (rows is not None and rows != shape[0]):
            return None
        self.given.append(p.name)
        return [_decimal(v) for v in flat]


def example_section(doc) -> Section:
    ex = GraphExample(doc.graph, doc.d)
    p = doc.p
    s = Section(doc.t("example"), "sec:example")
    plural = "s" if ex.N > 1 and doc.lang == "en" else ""
    s.flow.append(Para(doc.t("example_intro", N=ex.N, plural=plural, digits=DIGITS)))
    shape = doc.graph.tensors["x"].shape[1:]
    if len(shape) > 1:
        shown = r"\times".join(str(int(sp.sympify(n).xreplace(ex.sizes))) for n in shape)
        s.flow.append(Para(doc.t("example_image", shape=f"${shown}$")))
    if ex.given:
        names = ", ".join(r"\texttt{%s}" % n for n in ex.given)
        s.flow.append(Para(doc.t("example_given", names=names, seed=SEED)))
    else:
        s.flow.append(Para(doc.t("example_drawn", seed=SEED)))
    inst = ex.instance

    def rows_of(tensor: Tensor, update: bool) -> list:
        rows = []
        grad = gradient_base(tensor.name)
        for element, _ in inst.elements_at(tensor):
            value = inst.values.get(element)
            g = ex.gradients.get(grad[element.indices])
            row = ["$%s$" % p.doprint(element), "$%s$" % fmt(value) if value is not None else "",
                   "$%s$" % fmt(g) if g is not None else "---"]
            if update:
                row.append("$%s$" % fmt(value - sp.Float(ex.lr, DIGITS) * g) if g is not None else "")
            rows.append(row)
        return limit(rows, doc)

    header = [doc.t("col_element"), doc.t("col_value"), doc.t("col_gradient")]
    sub = Section(doc.t("ex_inputs"), "sec:ex:in")
    masks = [row for t in doc.graph.tensors.values() if t.role == "mask" for row in rows_of(t, False)]
    sub.flow.append(Table(header, rows_of(doc.graph.tensors["x"], False) + rows_of(doc.graph.tensors["t"], False)
                          + masks, "lrr"))
    s.subsections.append(sub)
    sub = Section(doc.t("ex_forward") + " / " + doc.t("ex_backward"), "sec:ex:pass")
    for lg in doc.graph.layers:
        sub.flow.append(Para(doc.t("forward_layer", l=lg.l, kind=doc.kind_title(lg), name=escape(lg.name))))
        rows = [row for node in lg.nodes for row in rows_of(node, False)]
        sub.flow.append(Table(header, limit(rows, doc), "lrr"))
    sub.flow.append(Para(doc.t("ex_objective")))
    sub.flow.append(Equation([("J", fmt(ex.J), "")]))
    s.subsections.append(sub)
    if doc.graph.params:
        sub = Section(doc.t("ex_update"), "sec:ex:update")
        update = not ex.full_batch
        intro = doc.t("ex_update_intro", lr=number(ex.lr)) if update else \
            doc.t("ex_update_full_batch", optimizer=doc.t(f"word_{ex.optimizer}"))
        sub.flow.append(Para(intro))
        for lg in doc.graph.layers:
            if lg.params and update:
                sub.flow.append(Para(doc.t("forward_layer", l=lg.l, kind=doc.kind_title(lg), name=escape(lg.name))))
                rows = [row for param in lg.params for row in rows_of(param, True)]
                sub.flow.append(Table(header + [doc.t("col_updated")], limit(rows, doc), "lrrr"))
        s.subsections.append(sub)
    return s
