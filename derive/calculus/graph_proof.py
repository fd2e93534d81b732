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

DIGITS = 40
TOLERANCE = sp.Float(10, DIGITS) ** -25


@dataclass
class GraphProof:
    sizes: dict  # size symbol -> number, N included
    checked: int  # elements compared
    worst: float  # largest relative difference
    closed_forms: list[str] = field(default_factory=list)  # layers whose closed form was confirmed
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        shown = ", ".join(f"{s}={v}" for s, v in self.sizes.items())
        if not self.ok:
            return f"FAILED on the instance {shown}: {self.failures[0]}"
        text = (f"proven: {self.checked} partial derivatives (every parameter and the input) agree with direct "
                f"differentiation of the written-out loss on the instance {shown}, at two points")
        if self.closed_forms:
            text += f"; the textbook closed form of the input gradient holds for {', '.join(self.closed_forms)}"
        return text


def instance_sizes(graph: Graph) -> dict:
    cap = 3 if graph.depth <= 2 else 2
    sizes = {s: min(v, cap) for s, v in graph.sizes.items() if s != ix.BATCH}
    sizes[ix.BATCH] = 2
    return sizes


def prove_graph(derivation: GraphDerivation, points: int = 2, seed: int = 0) -> GraphProof:
    graph = derivation.graph
    sizes = instance_sizes(graph)
    proof = GraphProof({s: sizes[s] for s in sorted(sizes, key=str)}, 0, 0.0)
    rng = random.Random(seed)
    for _ in range(points):
        instance = Instance(graph, sizes, rng)
        direct = instance.direct()
        derived = instance.derived(derivation)
        for element, want in direct.items():
            got = derived[element]
            difference = abs(got - want) / (1 + abs(want))
            proof.checked += 1
            proof.worst = max(proof.worst, float(difference))
            if not difference < TOLERANCE:
                proof.failures.append(f"∂J/∂{element}: derived {sp.N(got, 12)}, direct {sp.N(want, 12)}")
        for lg in graph.layers:
            check = getattr(lg.kind, "textbook_input_gradient", None)
            if check is not None:
                if instance.closed_form_holds(derivation, lg):
                    if f"layer {lg.l}" not in proof.closed_forms:
                        proof.closed_forms.append(f"layer {lg.l}")
                else:
                    proof.failures.append(f"layer {lg.l}: the graph-derived input gradient differs from the "
                                          "textbook closed form")
    proof.checked //= points
    return proof


def expand_sums(expr: sp.Expr) -> sp.Expr:
    """Every Sum with numeric limits written out as its terms."""
    if isinstance(expr, sp.Sum):
        body = expr.function
        for index, low, high in reversed(expr.limits):
            body = sp.Add(*(body.xreplace({index: sp.Integer(v)}) for v in range(int(low), int(high) + 1)))
        return expand_sums(body)
    if not expr.args or isinstance(expr, sp.Indexed):
        return expr
    return expr.func(*(expand_sums(a) for a in expr.args))


class Instance:
    """The graph with numeric sizes and a random point: written-out values of every element."""

    def __init__(self, graph: Graph, sizes: dict, rng: random.Random):
        self.graph = graph
        self.sizes = {**sizes, **graph.constants}
        self.point: dict[sp.Indexed, sp.Float] = {}
        self.written: dict[sp.Indexed, sp.Expr] = {}  # node element -> expression in the leaves
        self.values: dict[sp.Indexed, sp.Float] = {}  # every element -> its number at the point
        for tensor in graph.tensors.values():
            if tensor.role in ("input", "param"):
                for element in self.elements(tensor):
                    self.point[element] = self._draw(tensor, rng)
        self._targets(rng)
        self.values.update(self.point)
        for node in graph.nodes:
            for element, index in self.elements_at(node):
                form = self.at(node.expr, index)
                self.written[element] = form.xreplace(self.written)
                self.values[element] = _number(form.xreplace(self.values))

    def elements_at(self, tensor: Tensor):
        shape = [int(sp.sympify(s).xreplace(self.sizes)) for s in tensor.shape]
        for values in itertools.product(*(range(1, s + 1) for s in shape)):
            index = dict(zip(tensor.indices, map(sp.Integer, values)))
            yield tensor.base[tuple(index[i] for i in tensor.indices)], index

    def elements(self, tensor: Tensor) -> list[sp.Indexed]:
        return [e for e, _ in self.elements_at(tensor)]

    def at(self, expr: sp.Expr, index: dict) -> sp.Expr:
        return expand_sums(expr.xreplace(index).xreplace(self.sizes))

    @staticmethod
    def _draw(tensor: Tensor, rng: random.Random) -> sp.Float:
        if tensor.param is not None and tensor.param.init == "ones":
            return sp.Float(rng.uniform(0.5, 1.5), DIGITS)
        return sp.Float(rng.uniform(-1, 1), DIGITS)

    def _targets(self, rng: random.Random):
        t = self.graph.tensors["t"]
        act = self.graph.layers[-1].activation
        rows: dict = {}
        for element, index in self.elements_at(t):
            rows.setdefault(index[ix.n], []).append(element)
        for row in rows.values():
            if act.is_softmax:  # a probability vector: the δ = y - t of softmax + cross entropy assumes it
                weights = [sp.Float(rng.uniform(0.1, 1), DIGITS) for _ in row]
                for element, w in zip(row, weights):
                    self.point[element] = w / sum(weights)
            else:
                for element in row:
                    self.point[element] = sp.Float(rng.uniform(0.05, 0.95), DIGITS)

    def objective(self) -> sp.Expr:
        """J = scale Σ_n E_n, written out."""
        graph, spec = self.graph, self.graph.spec
        y, t = graph.output, graph.tensors["t"]
        total = sp.Integer(0)
        for element, index in self.elements_at(y):
            total += spec.loss.of(self.written[element], t.base[tuple(index[i] for i in t.indices)])
        if spec.loss.mean_over_outputs:
            total = total / int(y.shape[-1].xreplace(self.sizes))
        return total / self.sizes[ix.BATCH] if spec.reduction == "mean" else total

    def direct(self) -> dict[sp.Indexed, sp.Float]:
        leaves = [e for e, tensor_name in self._leaves()]
        return reverse_mode(self.objective(), self.point, leaves)

    def _leaves(self):
        for tensor in self.graph.tensors.values():
            if tensor.role in ("input", "param"):
                for element in self.elements(tensor):
                    yield element, tensor.name

    def derived(self, derivation: GraphDerivation) -> dict[sp.Indexed, sp.Float]:
        """The reverse sweep's formulas, evaluated in order; returns ∂J/∂ of every leaf element."""
        env = dict(self.values)
        out = self.graph.layers[-1].pre
        grad = gradient_base(out.name)
        for element, index in self.elements_at(out):
            env[grad[element.indices]] = _number(self.at(head_gradient(derivation), index).xreplace(env))
        for name, gradient in derivation.gradients.items():
            if name == out.name:
                continue
            self.evaluate_gradient(gradient.tensor, gradient.expr, env)
        found = {}
        for element, _ in self._leaves():
            found[element] = env[gradient_base(element.base.label.name)[element.indices]]
        return found

    def evaluate_gradient(self, tensor: Tensor, formula: sp.Expr, env: dict):
        base = gradient_base(tensor.name)
        for element, index in self.elements_at(tensor):
            env[base[element.indices]] = _number(self.at(formula, index).xreplace(env))

    def closed_form_holds(self, derivation: GraphDerivation, lg) -> bool:
        """The input gradient a norm layer's nodes hand down (mean, variance and normalised value together)
        equals the textbook closed form in g = ∂J/∂x̂, at the point."""
        env = dict(self.values)
        xhat = self.graph.tensors[f"xhat{lg.l}"]
        g = gradient_base(xhat.name)
        for element in self.elements(xhat):  # any upstream gradient will do: the identity is in g
            env[g[element.indices]] = sp.Float(random.Random(str(element)).uniform(-1, 1), DIGITS)
        for name in (f"var{lg.l}", f"mu{lg.l}"):
            self.evaluate_gradient(self.graph.tensors[name], derivation.gradients[name].expr, env)
        target = self.graph.tensors[lg.inputs[0]]
        ours = sp.Add(*(c.result for c in derivation.gradients[target.name].contributions
                        if c.source.layer == lg.l))
        from derive.network.graph import LayerBuilder

        builder = LayerBuilder(self.graph, lg, target.shape[-1], target.shape[-1])
        textbook = lg.kind.textbook_input_gradient(builder, g)
        for element, index in self.elements_at(target):
            a = _number(self.at(ours, index).xreplace(env))
            b = _number(self.at(textbook, index).xreplace(env))
            if not abs(a - b) / (1 + abs(b)) < TOLERANCE:
                return False
        return True


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
