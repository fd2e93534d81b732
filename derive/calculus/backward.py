"""The generic backward pass: one reverse-topological sweep over the graph, for every layer kind.

For a node z and a tensor x it reads, the gradient handed to x is the chain rule
    ∂J/∂x_a = Σ_idx ∂J/∂z_idx · ∂z_idx/∂x_a,
with ∂z/∂x from `sympy.diff` of z's index expression and its Kronecker deltas eliminated step by step
(`deltas`). A tensor read by several nodes (a skip connection, the input of a norm layer's mean, variance
and normalised value) gets one contribution per consumer, summed. No kind has a backward rule of its own.
The output layer's δ = ∂E/∂u comes from the loss and activation rules of the notes (`rules`), per sample;
J = (1/N) Σ_n E_n (or the sum) scales it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import sympy as sp

from derive.calculus import deltas
from derive.calculus.rules import ActivationRule, DeltaRule, LossRule, Rule, SoftmaxDeltaRule, SoftmaxRule, d
from derive.network import indices as ix
from derive.network.chain import E
from derive.network.graph import Graph, Tensor

LETTERS = "rsqpjiabcfghuvwz"  # for the sums left in a formula, after its own indices (r first, as in the notes)


def gradient_base(name: str) -> sp.IndexedBase:
    """∂J/∂(tensor `name`), as one array: d + its name (dW3, du2), the module's own names."""
    return sp.IndexedBase(f"d{name}")


@dataclass
class Contribution:
    """What node `source` hands to tensor `target`: ∂J/∂target_a += Σ ∂J/∂source · ∂source/∂target_a."""

    source: Tensor
    target: Tensor
    chain: sp.Expr  # the chain rule written out: Σ_idx dsource[idx] · ∂source[idx]/∂target[a] (unevaluated)
    local: sp.Expr  # ∂source[idx]/∂target[a] from sympy.diff, deltas and all
    steps: list[deltas.Step]
    result: sp.Expr  # in target's own indices and dsource
    activation: Rule | None = None  # the activation step, for y = f(u)


@dataclass
class Gradient:
    tensor: Tensor
    contributions: list[Contribution] = field(default_factory=list)

    @property
    def base(self) -> sp.IndexedBase:
        return gradient_base(self.tensor.name)

    @property
    def expr(self) -> sp.Expr:
        return sp.Add(*(c.result for c in self.contributions))

    @property
    def summed(self) -> bool:
        """Reaches its tensor along several edges (the document says the parts are added)."""
        return len(self.contributions) > 1


@dataclass
class Head:
    """The output layer: per sample δ_k = ∂E/∂u_k by the notes' rules, then ∂J/∂u_nk = scale · δ_nk."""

    steps: list[Rule]
    delta: sp.Expr  # per sample, in y[n, k], t[n, k], u[n, k]
    scale: sp.Expr  # 1/N (mean over the batch) or 1


@dataclass
class GraphDerivation:
    graph: Graph
    head: Head
    gradients: dict[str, Gradient]  # tensor name -> its gradient, in the order of the reverse sweep

    @cached_property
    def params(self) -> list[Gradient]:
        return [self.gradients[p.name] for p in self.graph.params]

    @property
    def input(self) -> Gradient:
        return self.gradients["x"]

    def formula(self, name: str) -> sp.Expr:
        """∂J/∂(tensor name) in its own indices, in terms of the gradients of its consumers."""
        return self.gradients[name].expr


def backward(graph: Graph) -> GraphDerivation:
    head = _head(graph)
    out = graph.layers[-1]
    gradients: dict[str, Gradient] = {}
    gradients[out.pre.name] = Gradient(out.pre)  # its value is the head's δ
    for node in reversed(graph.nodes):
        if node is out.output or node.constant:
            continue
        if node.name not in gradients:
            gradients[node.name] = Gradient(node)
        for name in node.reads():
            target = graph.tensors[name]
            if target.role in ("target", "mask") or target.constant:
                continue
            gradients.setdefault(name, Gradient(target)).contributions.append(vjp(graph, node, target))
    ordered = {name: gradients[name] for name in reversed(list(graph.tensors)) if name in gradients}
    return GraphDerivation(graph, head, ordered)


def vjp(graph: Graph, source: Tensor, target: Tensor) -> Contribution:
    """The contribution of node `source` to ∂J/∂target, derived by sympy.diff and delta elimination."""
    marks = tuple(sp.Dummy(a.name, integer=True, positive=True) for a in target.indices)
    wrt = target.base[marks]
    activation = _elementwise_activation(graph, source)
    definition = source.expr
    if activation is not None:  # y = f(u): differentiate f as a function, then write f' in the output
        f = sp.Function(f"f_{source.layer}")
        definition = f(target.element.xreplace(dict(zip(target.indices, source.indices))))
    local = _zero_branches(sp.diff(definition, wrt))
    upstream = gradient_base(source.name)[source.indices]
    ranges = {mark: (sp.Integer(1), size) for mark, size in zip(marks, target.shape)}
    result, steps = deltas.eliminate(upstream * local, ranges, tuple(
        (index, sp.Integer(1), size) for index, size in zip(source.indices, source.shape)))
    rule = None
    if activation is not None:
        u, y = target.base[marks], source.base[marks]
        rule = ActivationRule(source.layer, d(y, u), activation, u, y)
        result = result.replace(lambda e: isinstance(e, sp.Derivative), lambda e: rule.rhs)
    result = _rename(result, dict(zip(marks, target.indices)))
    shown = sp.Sum(upstream * sp.Derivative(source.element, wrt), *[
        (index, 1, size) for index, size in zip(source.indices, source.shape)])
    return Contribution(source, target, shown, local, steps, result, rule)


def _zero_branches(expr: sp.Expr) -> sp.Expr:
    """A guard's other branch written 0 where differentiation left a sum of zeros there (Σ_a 0)."""
    def clean(e: sp.Piecewise):
        return sp.Piecewise(*((0 if deltas.is_zero(v) else v, c) for v, c in e.args))

    return expr.replace(lambda e: isinstance(e, sp.Piecewise) and any(deltas.is_zero(v) and v != 0 for v, _ in e.args),
                        clean)


def _elementwise_activation(graph: Graph, node: Tensor):
    layer = graph.layer_of(node)
    if layer is None or node is not layer.output or layer.activation.is_softmax:
        return None
    return layer.activation


def _rename(expr: sp.Expr, marks: dict) -> sp.Expr:
    """The target's marks to its own index letters; the sums left to letters not used by those."""
    expr = expr.xreplace(marks)
    taken = {s.name for s in expr.atoms(sp.Symbol) if not isinstance(s, sp.Dummy)}
    mapping = {}
    for dummy in sorted({s for e in sp.preorder_traversal(expr) if isinstance(e, sp.Sum)
                         for s in e.variables if isinstance(s, sp.Dummy)}, key=lambda s: s.name):
        name = dummy.name if dummy.name not in taken else next(c for c in LETTERS if c not in taken)
        taken.add(name)
        mapping[dummy] = ix.index(name)
    expr = expr.xreplace(mapping)
    free = set(marks.values())

    def apart(e: sp.Sum) -> sp.Sum:  # an inner sum over a letter that is free outside it gets another
        for v in e.variables:
            if v in free:
                name = next(c for c in LETTERS if c not in taken)
                taken.add(name)
                e = e.xreplace({v: ix.index(name)})
        return e

    return expr.replace(lambda e: isinstance(e, sp.Sum) and any(v in free for v in e.variables), apart)


def _head(graph: Graph) -> Head:
    """δ of the output layer per sample, by LossRule and ActivationRule/SoftmaxRule of the notes."""
    out = graph.layers[-1]
    spec = graph.spec
    k, r = ix.k, ix.r
    y, u, t = (sp.IndexedBase(name) for name in (out.output.name, out.pre.name, "t"))
    size = out.output.shape[-1]
    total = sp.Sum(spec.loss.of(y[r], t[r]), (r, 1, size))
    steps: list[Rule] = [LossRule(out.l, d(E, y[k]), spec.loss, total, y[k], t[k], size)]
    dEdy = steps[0].rhs
    if out.activation.is_softmax:
        jacobian = SoftmaxRule(out.l, d(y[r], u[k]), y, r, k)
        delta = SoftmaxDeltaRule(out.l, sp.IndexedBase(f"delta{out.l}")[k], dEdy.xreplace({k: r}), jacobian.rhs,
                                 (r, 1, size), t)
        steps += [jacobian, delta]
    else:
        act = ActivationRule(out.l, d(y[k], u[k]), out.activation, u[k], y[k])
        delta = DeltaRule(out.l, sp.IndexedBase(f"delta{out.l}")[k], dEdy, act.rhs)
        steps += [act, delta]
    scale = 1 / ix.BATCH if spec.reduction == "mean" else sp.Integer(1)
    return Head(steps, per_sample(delta.rhs), scale)


def per_sample(rule: sp.Expr) -> sp.Expr:
    """A rule of the notes written per sample (y_k, t_k) in the graph's elements, which carry the sample (y_nk)."""
    return rule.replace(lambda e: isinstance(e, sp.Indexed) and len(e.indices) == 1,
                        lambda e: e.base[ix.n, e.indices[0]])


def head_gradient(derivation: GraphDerivation) -> sp.Expr:
    """∂J/∂u of the output layer, [n, k]."""
    return derivation.head.scale * derivation.head.delta
