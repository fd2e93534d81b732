"""Second order on the graph engine (DESIGN.md section 11): the Hessian-vector product by Pearlmutter's
R-operator.

R{·} = d/dε (·)(θ + εV) at ε = 0 is the directional derivative along a direction V of the parameters. Applied
to every node of the forward pass and to every formula of the reverse sweep it gives, for each parameter p,
R{∂J/∂p} = (H V)_p, at about the cost of two gradients. Nothing is written by hand: each R{z} is `sympy.diff`
in ε of z's own index expression with every element it reads shifted, A[i] → A[i] + ε R{A}[i], where
R{p} = V_p for a parameter, 0 for the input and the targets, and R{z}, R{dz} the results of the earlier steps.
The forward pass is taken in topological order, the sweep in its own (reverse) order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import sympy as sp

from derive.calculus import deltas
from derive.calculus.backward import GraphDerivation, gradient_base, head_gradient
from derive.calculus.graph_proof import (
    DIGITS,
    GraphProof,
    Instance,
    WrittenLoss,
    elements_at,
    instance_sizes,
    random_point,
)
from derive.calculus.jacobian import activation_jacobian
from derive.network import indices as ix
from derive.network.graph import Graph, Tensor
from derive.spec import catalog

EPSILON = sp.Dummy("epsilon", real=True)


def r_base(name: str) -> sp.IndexedBase:
    """R{tensor `name`} as one array: R + its name (Ru3, Rdy2), and for a parameter its direction: V + name."""
    return sp.IndexedBase(f"R{name}")


def direction_base(name: str) -> sp.IndexedBase:
    return sp.IndexedBase(f"V{name}")


@dataclass(frozen=True)
class RStep:
    """R{quantity} = formula: `of` is a node's or a gradient's base name (u3, dy2)."""

    of: str
    base: sp.IndexedBase  # where the result lives (Ru3, RdW1)
    tensor: Tensor  # whose indices and shape the result has
    definition: sp.Expr  # the expression R is applied to
    formula: sp.Expr  # R{definition}: in the forward values, the gradients, V and the earlier R's


@dataclass
class ROperator:
    """The R-operator applied to one graph derivation: the forward steps, then the sweep's."""

    derivation: GraphDerivation
    forward: list[RStep]
    backward: list[RStep]  # the head (∂J/∂u of the output layer) first

    @property
    def graph(self) -> Graph:
        return self.derivation.graph

    def hvp(self, name: str) -> RStep:
        """(H V) for parameter `name`: R{∂J/∂name}."""
        return next(s for s in self.backward if s.of == gradient_base(name).label.name)


def r_of(expr: sp.Expr, moving: dict[sp.IndexedBase, sp.IndexedBase]) -> sp.Expr:
    """R{expr}: every element A[i] of a base in `moving` shifted by ε·R{A}[i], differentiated in ε at 0.

    The elements are taken real while differentiating (SymPy differentiates |a| and sign(a) only for real a);
    sign'(a) = 2δ(a) is zero away from the kink, as ReLU's second derivative is: the Hessian almost everywhere.
    """
    if not expr.has(*moving):
        return sp.Integer(0)
    real: dict[sp.IndexedBase, sp.IndexedBase] = {}

    def real_base(base: sp.IndexedBase) -> sp.IndexedBase:
        return real.setdefault(base, sp.IndexedBase(base.label.name, real=True))

    def shift(e: sp.Indexed) -> sp.Expr:
        element = real_base(e.base)[e.indices]
        return element + EPSILON * real_base(moving[e.base])[e.indices] if e.base in moving else element

    shifted = expr.replace(lambda e: isinstance(e, sp.Indexed), shift)
    result = sp.diff(shifted, EPSILON).subs(EPSILON, 0).replace(lambda e: isinstance(e, sp.DiracDelta),
                                                                 lambda e: sp.Integer(0))
    return result.xreplace({r: plain for plain, r in real.items()})


def r_operator(derivation: GraphDerivation, in_u: frozenset[int] = frozenset()) -> ROperator:
    """R{·} of every node and every formula of the sweep. For the layers in `in_u` the activation's derivative
    is taken in u (f'(u)) rather than in the outputs (erf's output form needs erfinv, which NumPy lacks)."""
    graph = derivation.graph
    moving: dict[sp.IndexedBase, sp.IndexedBase] = {p.base: direction_base(p.name) for p in graph.params}
    forward = []
    for node in graph.nodes:
        if node.constant:  # a selection: R{m} = 0, so it stays out of `moving`
            continue
        formula = _activation(graph, node, moving, in_u)
        if formula is None:
            formula = r_of(node.expr, moving)
        forward.append(RStep(node.name, r_base(node.name), node, node.expr, formula))
        moving[node.base] = r_base(node.name)
    out = graph.layers[-1].pre
    head = _slope_in_u(graph, out, head_gradient(derivation), in_u)
    backward = [RStep(f"d{out.name}", r_base(f"d{out.name}"), out, head, r_of(head, moving))]
    moving[gradient_base(out.name)] = r_base(f"d{out.name}")
    for name, gradient in derivation.gradients.items():
        if name == out.name:
            continue
        base = gradient_base(name)
        formula = r_of(_slope_in_u(graph, gradient.tensor, gradient.expr, in_u), moving)
        backward.append(RStep(base.label.name, r_base(base.label.name), gradient.tensor, gradient.expr, formula))
        moving[base] = r_base(base.label.name)
    return ROperator(derivation, forward, backward)


def _slope_in_u(graph: Graph, tensor: Tensor, expr: sp.Expr, in_u) -> sp.Expr:
    """∂J/∂u = (∂J/∂y) f'(·) of a layer in `in_u` (the output layer's δ too) with f' in u: the output form
    divided out (SymPy cancels the common factors of the product) and the derivative put in."""
    layer = next((lg for lg in graph.layers if lg.pre is tensor), None)
    if layer is None or layer.l not in in_u or layer.activation.is_softmax:
        return expr
    act, u, y = layer.activation, layer.pre.element, layer.output.element
    form = act.dydu(u, y)
    result = expr / form * act.derivative.xreplace({catalog.x: u})
    only_in_form = {f.func for f in form.atoms(sp.Function)} - {f.func for f in act.derivative.atoms(sp.Function)}
    if any(f.func in only_in_form for f in result.atoms(sp.Function)) or result.has(sp.zoo, sp.nan, sp.oo):
        return expr  # not a factor of the product after all (or a branch of it is zero): kept as derived
    return result


def _activation(graph: Graph, node: Tensor, moving: dict, in_u=frozenset()) -> sp.Expr | None:
    """R{y} of a layer's output through its activation's derivative in the outputs, as the sweep uses it:
    f'(u) R{u} with σ' = y(1 - y) for an elementwise f; for softmax Σ_r ∂y_k/∂u_r R{u_r} with the notes'
    Jacobian y_k([k = r] - y_r), its delta eliminated (no exp(u) that could overflow). None for other nodes."""
    layer = graph.layer_of(node)
    if layer is None or node is not layer.output:
        return None
    pre = layer.pre
    ru = moving[pre.base]
    act = layer.activation
    if not act.is_softmax:
        slope = act.derivative.xreplace({catalog.x: pre.element}) if layer.l in in_u else \
            act.dydu(pre.element, node.element)
        return slope * ru[pre.indices]
    n, k = node.indices
    r = sp.Dummy("r", integer=True, positive=True)
    jacobian = activation_jacobian(layer, k, r)  # ∂y_nk/∂u_nr
    size = node.shape[-1]
    chain = sp.Sum(jacobian * ru[n, r], (r, 1, size))
    result, _ = deltas.eliminate(chain, {n: (sp.Integer(1), node.shape[0]), k: (sp.Integer(1), size)})
    summed = {v for e in sp.preorder_traversal(result) if isinstance(e, sp.Sum) for v in e.variables}
    return result.xreplace({v: ix.r for v in summed if isinstance(v, sp.Dummy)})


# ------------------------------------------------------------------ proof

H_STEP = sp.Float(10, DIGITS) ** -14  # central differences of the direct gradient, in DIGITS-digit arithmetic
HVP_TOLERANCE = sp.Float(10, DIGITS) ** -18  # truncation ~h² ≈ 1e-28, rounding ~10^-DIGITS / h ≈ 1e-26


class HvpProof(GraphProof):
    """The proof of H·V: the same record as the gradient's proof, its own verdict line."""

    claim = ("elements of H·V (every parameter) agree with the directional derivative of the directly "
             "differentiated gradient on the instance {instance}, at two points and directions")


def direction(graph: Graph, sizes: dict, rng: random.Random) -> dict[sp.Indexed, sp.Float]:
    """A random direction V: one number in (-1, 1) per parameter element (keyed by V's own elements)."""
    return {direction_base(p.name)[e.indices]: sp.Float(rng.uniform(-1, 1), DIGITS)
            for p in graph.params for e, _ in elements_at(p, sizes)}


def evaluate(rop: ROperator, instance: Instance, derivation_values: dict, v: dict) -> dict[sp.Indexed, sp.Float]:
    """Every R-step evaluated at the instance's point and direction v, in order."""
    env = {**instance.values, **derivation_values, **v}
    for step in (*rop.forward, *rop.backward):
        for element, index in instance.elements_at(step.tensor):
            env[step.base[element.indices]] = instance.number(step.formula, index, env)
    return env


def prove_hvp(rop: ROperator, points: int = 2, seed: int = 0) -> HvpProof:
    """(H V)_p = R{∂J/∂p} against the directional derivative of the gradient that reverse mode over the
    written-out loss gives (nothing of the derivation used): (∇J(θ + hV) - ∇J(θ - hV)) / 2h in 40 digits."""
    graph = rop.graph
    sizes = instance_sizes(graph)
    proof = HvpProof({s: sizes[s] for s in sorted(sizes, key=str)}, 0, 0.0)
    rng = random.Random(seed)
    loss = WrittenLoss(graph, sizes)
    for _ in range(points):
        point = random_point(graph, sizes, rng)
        v = direction(graph, sizes, rng)
        instance = Instance(graph, sizes, point)
        env = evaluate(rop, instance, instance.gradients(rop.derivation), v)
        shift = {e: v[direction_base(e.base.label.name)[e.indices]] for e in point
                 if direction_base(e.base.label.name)[e.indices] in v}
        plus = loss.gradient({e: x + H_STEP * shift.get(e, 0) for e, x in point.items()})
        minus = loss.gradient({e: x - H_STEP * shift.get(e, 0) for e, x in point.items()})
        for p in graph.params:
            base = r_base(f"d{p.name}")
            for element, _ in elements_at(p, sizes):
                want = (plus[element] - minus[element]) / (2 * H_STEP)
                got = env[base[element.indices]]
                proof.record(got, want, HVP_TOLERANCE, f"(H·V) at {element}")
    proof.checked //= points
    return proof
