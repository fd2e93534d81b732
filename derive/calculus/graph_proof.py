"""The proof of a graph derivation on an explicit instance (DESIGN.md sections 3 and 10).

The instance has the spec's depth and kinds with small sizes (widths up to 3, two samples, so batch norm
couples them). Its loss is written out element by element from the same index expressions; then
- directly: every parameter's and every input's partial derivative of that loss, by the chain rule over the
  written-out expression graph with each node's partials from `sympy.diff` (nothing of the derivation is used);
- derived: the reverse sweep's formulas evaluated one after the other at the same point;
and the two must agree to 25 digits at every element, at two random points. For the norm layers the graph-
derived gradient handed to the input is also compared with the textbook's closed form.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

import sympy as sp
from sympy.functions.elementary.piecewise import ExprCondPair
from sympy.logic.boolalg import Boolean

from derive.calculus.backward import GraphDerivation, gradient_base, head_gradient
from derive.network import indices as ix
from derive.network.graph import Graph, Tensor
from derive.spec import catalog

DIGITS = 40
TOLERANCE = sp.Float(10, DIGITS) ** -25


@dataclass
class GraphProof:
    claim = ""  # a subclass's verdict after "proven: {checked} ", with {instance}; the gradients' otherwise

    sizes: dict  # size symbol -> number, N included
    checked: int  # elements compared
    worst: float  # largest relative difference
    closed_form_layers: list[int] = field(default_factory=list)  # layers whose closed form was confirmed
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def record(self, got, want, tolerance, what: str) -> None:
        """One element compared: |got - want| / (1 + |want|) below `tolerance`, else a failure naming `what`."""
        difference = abs(got - want) / (1 + abs(want))
        self.checked += 1
        self.worst = max(self.worst, float(difference))
        if not difference < tolerance:
            self.failures.append(f"{what}: derived {sp.N(got, 12)}, direct {sp.N(want, 12)}")

    def summary(self) -> str:
        shown = ", ".join(f"{s}={v}" for s, v in self.sizes.items())
        if not self.ok:
            return f"FAILED on the instance {shown}: {self.failures[0]}"
        if self.claim:
            return f"proven: {self.checked} " + self.claim.format(instance=shown)
        text = (f"proven: {self.checked} partial derivatives (every parameter and the input) agree with direct "
                f"differentiation of the written-out loss on the instance {shown}, at two points")
        if self.closed_form_layers:
            layers = ", ".join(map(str, self.closed_form_layers))
            text += f"; the textbook closed form of the input gradient holds for layer {layers}"
        return text


def instance_sizes(graph: Graph) -> dict:
    """Widths up to 3 (2 beyond two layers), two samples; a signal or image with 2 channels and the fewest
    positions from 3 up that every window fits."""
    cap = 3 if graph.depth <= 2 else 2
    shape = graph.spec.input_shape
    if len(shape) == 1:
        sizes = {s: min(v, cap) for s, v in graph.sizes.items() if s != ix.BATCH}
    else:
        cap = 2
        sizes = next((found for side in range(3, max(shape[1:]) + 1)
                      if (found := graph.sizes_at((min(shape[0], 2), *(min(v, side) for v in shape[1:])), cap))),
                     None) or {s: v for s, v in graph.sizes.items() if s != ix.BATCH}
    sizes[ix.BATCH] = 2
    return sizes


def prove_graph(derivation: GraphDerivation, points: int = 2, seed: int = 0) -> GraphProof:
    graph = derivation.graph
    sizes = instance_sizes(graph)
    proof = GraphProof({s: sizes[s] for s in sorted(sizes, key=str)}, 0, 0.0)
    rng = random.Random(seed)
    loss = WrittenLoss(graph, sizes)  # written out once, differentiated at each point
    for _ in range(points):
        instance = Instance(graph, sizes, random_point(graph, sizes, rng))
        direct = loss.gradient(instance.point)
        derived = instance.gradients(derivation)
        for element, want in direct.items():
            got = derived[gradient_base(element.base.label.name)[element.indices]]
            proof.record(got, want, TOLERANCE, f"∂J/∂{element}")
        for lg in graph.layers:
            if getattr(lg.kind, "textbook_input_gradient", None) is None:
                continue
            if not instance.closed_form_holds(derivation, lg):
                proof.failures.append(f"layer {lg.l}: the graph-derived input gradient differs from the "
                                      "textbook closed form")
            elif lg.l not in proof.closed_form_layers:
                proof.closed_form_layers.append(lg.l)
    proof.checked //= points
    return proof


def _instantiate(expr: sp.Expr, mapping: dict) -> sp.Expr:
    """expr with index values and sizes substituted and every Sum written out as its terms, built without
    evaluation (SymPy's constructors would query assumptions of the whole net at each level)."""
    if expr in mapping:
        return sp.sympify(mapping[expr])
    if isinstance(expr, sp.Sum):
        (index, low, high), *rest = expr.limits
        body = sp.Sum(expr.function, *rest) if rest else expr.function
        low, high = int(_instantiate(low, mapping)), int(_instantiate(high, mapping))
        terms = [_instantiate(body, {**mapping, index: sp.Integer(v)}) for v in range(low, high + 1)]
        return sp.Add(*terms, evaluate=False) if len(terms) > 1 else terms[0]
    if not expr.args:
        return expr
    if hasattr(expr, "written"):  # a selection (max pooling's): its comparisons written out
        return expr.func(*expr.args[:2], *(_instantiate(a, mapping) for a in expr.args[2:])).written(
            lambda e, at: _instantiate(e, {**mapping, **at}))
    if isinstance(expr, sp.Piecewise) and not any(c.has(sp.Indexed) for _, c in expr.args):
        for value, condition in expr.args:  # a range guard: decided here, its element outside never written
            decided = condition.xreplace({s: sp.sympify(mapping[s]) for s in condition.free_symbols if s in mapping})
            if decided == sp.true:
                return _instantiate(value, mapping)
            if decided != sp.false:
                break
    if isinstance(expr, sp.Indexed):  # an index is evaluated: p + a - 1 at p = 2, a = 1 is the element [2]
        return expr.base[tuple(i if i.is_number else i.xreplace({s: sp.sympify(mapping[s]) for s in i.free_symbols
                                                                 if s in mapping}) for i in expr.indices)]
    args = [_instantiate(a, mapping) for a in expr.args]
    if isinstance(expr, sp.KroneckerDelta):
        return expr.func(*args)
    if isinstance(expr, (sp.Add, sp.Mul, sp.Pow, sp.Function)) and not isinstance(expr, sp.Piecewise):
        return expr.func(*args, evaluate=False)
    return sp.Basic.__new__(type(expr), *args)


def elements_at(tensor: Tensor, sizes: dict):
    """(element, {index: value}) for every element of a tensor at numeric sizes."""
    shape = [int(sp.sympify(size).xreplace(sizes)) for size in tensor.shape]
    for values in itertools.product(*(range(1, size + 1) for size in shape)):
        index = dict(zip(tensor.indices, map(sp.Integer, values)))
        yield tensor.base[tuple(index[i] for i in tensor.indices)], index


def leaves(graph: Graph, sizes: dict) -> list[sp.Indexed]:
    """The elements of the input and of every parameter: what J is differentiated for."""
    return [e for t in graph.tensors.values() if t.role in ("input", "param") for e, _ in elements_at(t, sizes)]


def random_point(graph: Graph, sizes: dict, rng: random.Random) -> dict[sp.Indexed, sp.Float]:
    """Inputs and parameters in (-1, 1) (scales γ in (0.5, 1.5)); targets a probability vector per sample
    after softmax (the δ = y - t of softmax + cross entropy assumes it), else in (0.05, 0.95)."""
    point = {}
    for t in graph.tensors.values():
        if t.role in ("input", "param"):
            low, high = (0.5, 1.5) if t.param is not None and t.param.init == "ones" else (-1, 1)
            for element, _ in elements_at(t, sizes):
                point[element] = sp.Float(rng.uniform(low, high), DIGITS)
    for t in graph.tensors.values():  # a dropout mask: 0 or 2 (kept, scaled by 1/(1 - p) at p = 1/2)
        if t.role == "mask":
            for element, _ in elements_at(t, sizes):
                point[element] = sp.Float(rng.choice((0, 2)), DIGITS)
    target = graph.tensors["t"]
    rows: dict = {}
    for element, index in elements_at(target, sizes):
        rows.setdefault(index[ix.n], []).append(element)
    for row in rows.values():
        if graph.layers[-1].activation.is_softmax:
            weights = [sp.Float(rng.uniform(0.1, 1), DIGITS) for _ in row]
            point.update({element: w / sum(weights) for element, w in zip(row, weights)})
        else:
            point.update({element: sp.Float(rng.uniform(0.05, 0.95), DIGITS) for element in row})
    return point


class Instance:
    """The graph at numeric sizes and a point (every input, parameter and target element a number):
    the value of every node element, and the derivation's formulas evaluated there."""

    def __init__(self, graph: Graph, sizes: dict, point: dict[sp.Indexed, sp.Float]):
        self.graph = graph
        self.sizes = {**sizes, **graph.constants}
        self.point = point
        self.values: dict[sp.Indexed, sp.Float] = dict(point)
        for node in graph.nodes:
            for element, index in self.elements_at(node):
                self.values[element] = self.number(node.expr, index, self.values)

    def elements_at(self, tensor: Tensor):
        return elements_at(tensor, self.sizes)

    def at(self, expr: sp.Expr, index: dict) -> sp.Expr:
        """expr at these index values: sizes and constants put in, sums written out, nothing evaluated."""
        return _instantiate(expr, {**self.sizes, **index})

    def number(self, expr: sp.Expr, index: dict, env: dict) -> sp.Float:
        return _number(self.at(expr, index).xreplace(env))

    def objective(self) -> sp.Float:
        y, t, spec = self.graph.output, self.graph.tensors["t"], self.graph.spec
        total = sum(spec.loss.of(self.values[e], self.values[t.base[e.indices]]) for e, _ in self.elements_at(y))
        return _number(_scaled(total, self.graph, self.sizes))

    def gradients(self, derivation: GraphDerivation) -> dict[sp.Indexed, sp.Float]:
        """Every gradient element of the reverse sweep (dW1[1, 2], du3[2, 1], ...), evaluated in order."""
        env = dict(self.values)
        out = self.graph.layers[-1].pre
        for element, index in self.elements_at(out):
            env[gradient_base(out.name)[element.indices]] = self.number(head_gradient(derivation), index, env)
        for name, gradient in derivation.gradients.items():
            if name != out.name:
                self.evaluate_gradient(gradient.tensor, gradient.expr, env)
        return {e: v for e, v in env.items() if e.base.label.name.startswith("d") and e not in self.values}

    def evaluate_gradient(self, tensor: Tensor, formula: sp.Expr, env: dict):
        base = gradient_base(tensor.name)
        for element, index in self.elements_at(tensor):
            env[base[element.indices]] = self.number(formula, index, env)

    def closed_form_holds(self, derivation: GraphDerivation, lg) -> bool:
        """The input gradient a layer's nodes hand down (a norm layer's mean, variance and normalised value
        together) equals the kind's textbook closed form in g = ∂J/∂(its node `closed_in`), at the point."""
        env = dict(self.values)
        node = self.graph.tensors[f"{lg.kind.closed_in}{lg.l}"]
        g = gradient_base(node.name)
        for element in (e for e, _ in self.elements_at(node)):  # any upstream gradient will do: the identity is in g
            env[g[element.indices]] = sp.Float(random.Random(str(element)).uniform(-1, 1), DIGITS)
        between = lg.nodes[: lg.nodes.index(node)]  # the nodes g reaches the input through (σ², μ)
        for name in (t.name for t in reversed(between) if t.name in derivation.gradients):
            self.evaluate_gradient(self.graph.tensors[name], derivation.gradients[name].expr, env)
        target = self.graph.tensors[lg.inputs[0]]
        ours = sp.Add(*(c.result for c in derivation.gradients[target.name].contributions if c.source.layer == lg.l))
        textbook = lg.kind.textbook_input_gradient(self.graph.builder(lg), g)
        for _, index in self.elements_at(target):
            a, b = self.number(ours, index, env), self.number(textbook, index, env)
            if not abs(a - b) / (1 + abs(b)) < TOLERANCE:
                return False
        return True


class WrittenLoss:
    """J of the instance written out element by element in the leaves, from the same index expressions,
    and differentiated directly (nothing of the derivation is used)."""

    def __init__(self, graph: Graph, sizes: dict):
        self.graph = graph
        self.sizes = {**sizes, **graph.constants}
        self.leaves = leaves(graph, sizes)
        self.written: dict[sp.Indexed, sp.Expr] = {}  # every node element in the leaves
        written = self.written
        for node in graph.nodes:
            for element, index in elements_at(node, self.sizes):
                written[element] = _instantiate(_instantiate(node.expr, {**self.sizes, **index}), written)
        y, t, spec = graph.output, graph.tensors["t"], graph.spec
        terms = [_instantiate(spec.loss.expr, {catalog.y: written[e], catalog.t: t.base[e.indices]})
                 for e, _ in elements_at(y, self.sizes)]  # unevaluated: no assumption queries through the net
        self.J = _scaled(sp.Add(*terms, evaluate=False), graph, self.sizes)

    def gradient(self, point: dict) -> dict[sp.Indexed, sp.Float]:
        return reverse_mode(self.J, point, self.leaves)


def _scaled(total: sp.Expr, graph: Graph, sizes: dict) -> sp.Expr:
    """Σ_n Σ_k loss → J: the mean over outputs (mse) and over the batch, as the spec says."""
    spec = graph.spec
    if spec.loss.mean_over_outputs:
        total = sp.Mul(total, sp.Rational(1, int(graph.output.shape[-1].xreplace(sizes))), evaluate=False)
    return sp.Mul(total, sp.Rational(1, sizes[ix.BATCH]), evaluate=False) if spec.reduction == "mean" else total


def _number(expr: sp.Expr) -> sp.Float:
    value = sp.N(expr, DIGITS)
    if not value.is_number:
        raise ValueError(f"not a number at the point: {expr}")
    return value


def reverse_mode(root: sp.Expr, point: dict, leaves: list) -> dict:
    """∂root/∂leaf at `point` for every leaf: values forward, then adjoints backward over the expression
    graph; each node's partial derivatives by sympy.diff of that node alone."""
    order: list[sp.Basic] = []
    seen: set = set()
    stack = [(root, False)]
    while stack:
        e, expanded = stack.pop()
        if expanded:
            order.append(e)
            continue
        if e in seen:
            continue
        seen.add(e)
        stack.append((e, True))
        if e not in point and not isinstance(e, sp.Indexed):
            for a in e.args:
                stack.append((a, False))
    value: dict = {}
    moving: dict = {}
    leafset = set(leaves)
    for e in order:
        if e in point:
            value[e], moving[e] = point[e], e in leafset
        elif not e.args or isinstance(e, sp.Indexed):
            value[e], moving[e] = e, False
        elif isinstance(e, ExprCondPair):
            value[e], moving[e] = None, False
        elif isinstance(e, Boolean):
            value[e], moving[e] = e.func(*(value[a] for a in e.args)), False
        elif isinstance(e, sp.Piecewise):
            branch = next(a for a in e.args if a.cond == sp.true or value[a.cond] == sp.true)
            value[e], moving[e] = value[branch.expr], moving[branch.expr]
        else:
            value[e], moving[e] = _number(e.func(*(value[a] for a in e.args))), any(moving[a] for a in e.args)
    adjoint: dict = {root: sp.Float(1, DIGITS)}
    for e in reversed(order):
        a_e = adjoint.get(e)
        if a_e is None or not moving.get(e) or e in point or not e.args:
            continue
        if isinstance(e, sp.Piecewise):
            branch = next(a for a in e.args if a.cond == sp.true or value[a.cond] == sp.true)
            adjoint[branch.expr] = adjoint.get(branch.expr, 0) + a_e
            continue
        names = [sp.Dummy(real=True) for _ in e.args]
        form = e.func(*names)
        at = {n: value[a] for n, a in zip(names, e.args)}
        for n, a in zip(names, e.args):
            if moving.get(a):
                adjoint[a] = adjoint.get(a, 0) + a_e * _number(sp.diff(form, n).xreplace(at))
    return {leaf: adjoint.get(leaf, sp.Float(0, DIGITS)) for leaf in leaves}
