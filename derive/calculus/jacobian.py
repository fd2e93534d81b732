"""The Jacobian of the outputs and the Gauss-Newton curvature on the graph engine (DESIGN.md section 11).

Jacobian: each output unit o is backpropagated on its own (the notes' δ^(m)). The reverse sweep of
`derive.calculus.backward` is linear in the gradient it starts from, so its formulas, started from
∂y_no/∂u_nk (the activation's Jacobian, [o = k] f'(u_nk), or the softmax's y_no([o = k] - y_nk)) instead of
the loss's δ, give ∂y_no/∂x for every tensor x: each gradient array dz[n, ...] becomes Jz[n, o, ...]. For a
parameter the sweep sums over the samples; the Jacobian keeps the sample (∂y_no/∂w_jk = y_nj Ju_nok), which
is exact when no layer couples the samples (batch norm does: its outputs depend on the whole batch).

Curvature: the Gauss-Newton matrix Σ_n J_nᵀ H_n J_n with H the Hessian of the per-sample loss E_n, taken in
the pre-activations u of the output layer when it holds no target there (a matching loss: softmax with cross
entropy gives diag(y) - y yᵀ, sigmoid with binary cross entropy y(1 - y), identity with squared error a
constant), else in the outputs y (∂²E/∂y_k², tanh with squared error). Both are derived by sympy.diff from
the head's δ and the loss rule, through the activation's Jacobian, deltas eliminated.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import mpmath
import sympy as sp

from derive.calculus import deltas
from derive.calculus.backward import GraphDerivation, gradient_base, per_sample
from derive.calculus.graph_proof import (
    DIGITS,
    TOLERANCE,
    GraphProof,
    Instance,
    WrittenLoss,
    elements_at,
    instance_sizes,
    random_point,
    reverse_mode,
)
from derive.calculus.rules import SoftmaxRule, d
from derive.network import indices as ix
from derive.network.graph import Graph, LayerGraph, Tensor


class JacobianError(ValueError):
    """The per-sample Jacobian does not exist as one formula per sample (a layer couples the samples)."""


def jacobian_base(name: str) -> sp.IndexedBase:
    """∂y/∂(tensor `name`) as one array: J + its name (Ju3, JW1)."""
    return sp.IndexedBase(f"J{name}")


@dataclass(frozen=True)
class JStep:
    """J{of}[n, o, ...] = formula: the sensitivity of output unit o of sample n to tensor `of`."""

    of: str
    tensor: Tensor  # J{of}: indices (n, o, *the tensor's other indices)
    formula: sp.Expr


@dataclass
class OutputJacobian:
    derivation: GraphDerivation
    seed: sp.Expr  # ∂y_no/∂u_nk of the output layer (in y where the activation has an output form)
    steps: list[JStep]  # the sweep's order, the output layer's pre-activation first (its formula: the seed)

    @property
    def graph(self) -> Graph:
        return self.derivation.graph

    def of(self, name: str) -> JStep:
        return next(s for s in self.steps if s.of == name)


def coupling_layer(graph: Graph) -> LayerGraph | None:
    return next((lg for lg in graph.layers if lg.kind.couples_samples), None)


def activation_jacobian(layer: LayerGraph, a: sp.Symbol, b: sp.Symbol) -> sp.Expr:
    """∂y_na/∂u_nb of a layer: [a = b] f'(u_nb) in the output form, or the notes' softmax Jacobian."""
    n = ix.n
    y, u = layer.output.base, layer.pre.base
    if not layer.activation.is_softmax:
        return sp.KroneckerDelta(a, b) * layer.activation.dydu(u[n, b], y[n, b])
    return per_sample(SoftmaxRule(layer.l, d(y[a], u[b]), y, a, b).rhs)


def output_jacobian(derivation: GraphDerivation) -> OutputJacobian:
    graph = derivation.graph
    layer = coupling_layer(graph)
    if layer is not None:
        raise JacobianError(f"layer {layer.l} {layer.name} ({layer.kind.kind}) couples the samples: each output "
                            "depends on the whole batch, so there is no per-sample Jacobian")
    out = graph.layers[-1]
    sizes = {ix.n: ix.BATCH, ix.o: out.output.shape[-1]}
    tensors = {name: _jacobian_tensor(g.tensor, sizes) for name, g in derivation.gradients.items()}
    moving = {gradient_base(name): jacobian_base(name) for name in tensors}

    def per_output(e: sp.Indexed) -> sp.Expr:
        return jacobian_base(e.base.label.name[1:])[(e.indices[0], ix.o, *e.indices[1:])]

    seed = activation_jacobian(out, ix.o, ix.k)
    steps = [JStep(out.pre.name, tensors[out.pre.name], seed)]
    for name, gradient in derivation.gradients.items():
        if name == out.pre.name:
            continue
        formula = gradient.expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base in moving, per_output)
        if gradient.tensor.role == "param":
            formula = _keep_sample(formula)
        steps.append(JStep(name, tensors[name], formula))
    return OutputJacobian(derivation, seed, steps)


def pre_activation_jacobian(jacobian: OutputJacobian) -> OutputJacobian:
    """The same sweep started from [o = k]: ∂u_no/∂x of the output layer's pre-activations (where the
    Gauss-Newton matrix takes a matching loss's curvature)."""
    first, seed = jacobian.steps[0], sp.KroneckerDelta(ix.o, ix.k)
    return OutputJacobian(jacobian.derivation, seed, [JStep(first.of, first.tensor, seed), *jacobian.steps[1:]])


def _jacobian_tensor(tensor: Tensor, sizes: dict) -> Tensor:
    if tensor.role == "param":
        indices, shape = (ix.n, ix.o, *tensor.indices), (sizes[ix.n], sizes[ix.o], *tensor.shape)
    else:  # a node or the input: [n, ...]
        indices, shape = (ix.n, ix.o, *tensor.indices[1:]), (sizes[ix.n], sizes[ix.o], *tensor.shape[1:])
    return Tensor(f"J{tensor.name}", "node", indices, shape, tensor.layer, what="Jacobian")


def _keep_sample(formula: sp.Expr) -> sp.Expr:
    """A parameter's gradient sums its per-sample parts over n; the Jacobian keeps each sample's part."""
    def drop(e: sp.Sum) -> sp.Expr:
        limits = [limit for limit in e.limits if limit[0] != ix.n]
        return sp.Sum(e.function, *limits) if limits else e.function

    return formula.replace(lambda e: isinstance(e, sp.Sum) and any(v == ix.n for v in e.variables), drop)


# ------------------------------------------------------------------ curvature

@dataclass(frozen=True)
class Curvature:
    """H[n, k, r] = ∂²E_n/∂a_nk∂a_nr of the per-sample loss, a = u (`at` "u") or y (`at` "y") of the output
    layer; `diagonal` when it is [k = r] times a function of k (then `diag` is that function)."""

    at: str
    hessian: sp.Expr
    diagonal: bool
    diag: sp.Expr | None
    reads_targets: bool


def curvature(derivation: GraphDerivation) -> Curvature:
    out = derivation.graph.layers[-1]
    n, k, r = ix.n, ix.k, ix.r
    q = sp.Dummy("q", integer=True, positive=True)
    size = out.output.shape[-1]
    ranges = {n: (sp.Integer(1), ix.BATCH), k: (sp.Integer(1), size), r: (sp.Integer(1), size)}
    y, u, t = out.output.base, out.pre.base, sp.IndexedBase("t")
    delta = derivation.head.delta  # ∂E_n/∂u_nk
    in_u = sp.Sum(sp.diff(delta, y[n, q]) * activation_jacobian(out, q, r), (q, 1, size)) + sp.diff(delta, u[n, r])
    hessian, _ = deltas.eliminate(in_u, ranges)
    at = "u"
    if hessian.has(t):  # not a matching loss: the curvature of E in y, the activation's part dropped
        dEdy = per_sample(derivation.head.steps[0].rhs)  # the loss rule's ∂E/∂y_k
        hessian, _ = deltas.eliminate(sp.diff(dEdy, y[n, r]), ranges)
        at = "y"
    diag = _diagonal(hessian, k, r)
    return Curvature(at, hessian, diag is not None, diag, hessian.has(t))


def _diagonal(hessian: sp.Expr, k: sp.Symbol, r: sp.Symbol) -> sp.Expr | None:
    """f(k) when hessian = [k = r] f(k), else None."""
    terms = sp.Add.make_args(sp.expand(hessian))
    if all(sp.KroneckerDelta(k, r) in sp.Mul.make_args(term) for term in terms):
        return sp.Add(*(term.xreplace({sp.KroneckerDelta(k, r): 1}) for term in terms)).xreplace({r: k})
    return None


# ------------------------------------------------------------------ proof

class JacobianProof(GraphProof):
    claim = ("elements of the Jacobian (every output unit, every parameter) agree with direct differentiation of "
             "the written-out outputs on the instance {instance}, at two points")


def evaluate(jacobian: OutputJacobian, instance: Instance) -> dict[sp.Indexed, sp.Float]:
    """Every J-step evaluated at the instance's point, in order."""
    env = dict(instance.values)
    for step in jacobian.steps:
        base = step.tensor.base
        for element, index in instance.elements_at(step.tensor):
            env[base[element.indices]] = instance.number(step.formula, index, env)
    return env


def prove_jacobian(jacobian: OutputJacobian, points: int = 2, seed: int = 0) -> JacobianProof:
    """∂y_no/∂p for every output element and parameter element, against reverse mode over the written-out
    outputs (nothing of the derivation used)."""
    graph = jacobian.graph
    sizes = instance_sizes(graph)
    proof = JacobianProof({s: sizes[s] for s in sorted(sizes, key=str)}, 0, 0.0)
    rng = random.Random(seed)
    written = WrittenLoss(graph, sizes).written
    params = [e for p in graph.params for e, _ in elements_at(p, sizes)]
    for _ in range(points):
        point = random_point(graph, sizes, rng)
        env = evaluate(jacobian, Instance(graph, sizes, point))
        for output, _ in elements_at(graph.output, sizes):
            n, o = output.indices
            direct = reverse_mode(written[output], point, params)
            for element, want in direct.items():
                got = env[jacobian_base(element.base.label.name)[(n, o, *element.indices)]]
                proof.record(got, want, TOLERANCE, f"∂{output}/∂{element}")
    proof.checked //= points
    return proof


# ------------------------------------------------------------------ the Gauss-Newton matrix at a point

def gauss_newton_matrix(jacobian: OutputJacobian, instance: Instance,
                        curv: Curvature | None = None) -> tuple[list, mpmath.matrix]:
    """(the parameter elements, G = Σ_n J_nᵀ H_n J_n of the per-sample sum) at the instance, in DIGITS-digit
    arithmetic, every number from the derived formulas: the Jacobian's steps (from [o = k] where the curvature is
    taken in u) and the curvature H."""
    graph = jacobian.graph
    curv = curv or curvature(jacobian.derivation)
    env = evaluate(jacobian if curv.at == "y" else pre_activation_jacobian(jacobian), instance)
    rows = [e for e, _ in elements_at(graph.output, instance.sizes)]  # (n, o) in order
    params = [e for p in graph.params for e, _ in elements_at(p, instance.sizes)]
    with mpmath.workdps(DIGITS):
        J = mpmath.matrix([[_mpf(env[jacobian_base(e.base.label.name)[(*row.indices, *e.indices)]]) for e in params]
                           for row in rows])
        H = mpmath.zeros(len(rows), len(rows))
        for i, row in enumerate(rows):
            for j, col in enumerate(rows):
                if row.indices[0] == col.indices[0]:
                    index = {ix.n: row.indices[0], ix.k: row.indices[1], ix.r: col.indices[1]}
                    H[i, j] = _mpf(instance.number(curv.hessian, index, instance.values))
        return params, J.T * H * J


def _mpf(value) -> mpmath.mpf:
    return mpmath.mpf(str(value))


class GaussNewtonProof(GraphProof):
    claim = ("elements of the Gauss-Newton matrix (the sum over samples of J transposed, H, J) agree with the "
             "Jacobian and the loss's Hessian differentiated directly on the instance {instance}, at two points")


def prove_gauss_newton(jacobian: OutputJacobian, points: int = 2, seed: int = 0,
                       curv: Curvature | None = None) -> GaussNewtonProof:
    """G on the instance against direct differentiation: J of the written-out outputs (or pre-activations) by
    reverse mode, H_n by sympy.diff twice of the sample's loss written in them (nothing of the derivation used)."""
    graph = jacobian.graph
    curv = curv or curvature(jacobian.derivation)
    out = graph.layers[-1]
    sizes = instance_sizes(graph)
    proof = GaussNewtonProof({s: sizes[s] for s in sorted(sizes, key=str)}, 0, 0.0)
    rng = random.Random(seed)
    written = WrittenLoss(graph, sizes).written
    params = [e for p in graph.params for e, _ in elements_at(p, sizes)]
    width = int(sp.sympify(out.output.shape[-1]).xreplace(sizes))
    a = [sp.Symbol(f"a{k}", real=True) for k in range(width)]
    spec = graph.spec
    if curv.at == "u":
        outputs = [sp.exp(v) / sp.Add(*map(sp.exp, a)) for v in a] if out.activation.is_softmax else \
            [out.activation.of(v) for v in a]
    else:
        outputs = a
    for _ in range(points):
        point = random_point(graph, sizes, rng)
        params_at, derived = gauss_newton_matrix(jacobian, Instance(graph, sizes, point), curv)
        with mpmath.workdps(DIGITS):
            direct = mpmath.zeros(len(params), len(params))
            base = (out.pre if curv.at == "u" else out.output).base
            for n in range(1, sizes[ix.BATCH] + 1):
                rows = [reverse_mode(written[base[n, k]], point, params) for k in range(1, width + 1)]
                J = mpmath.matrix([[_mpf(row[e]) for e in params] for row in rows])
                at = dict(zip(a, (_number_at(written[base[n, k]], point) for k in range(1, width + 1))))
                targets = [point[sp.IndexedBase("t")[n, k]] for k in range(1, width + 1)]
                E = sp.Add(*(spec.loss.of(y, t) for y, t in zip(outputs, targets)))
                if spec.loss.mean_over_outputs:
                    E = E / width
                H = mpmath.matrix([[_mpf(sp.N(sp.diff(E, p, q).xreplace(at), DIGITS)) for q in a] for p in a])
                direct += J.T * H * J
            for i in range(len(params)):
                for j in range(len(params)):
                    proof.record(derived[i, j], direct[i, j], mpmath.mpf(TOLERANCE),
                                 f"G[{params_at[i]}, {params_at[j]}]")
    proof.checked //= points
    return proof


def _number_at(expr: sp.Expr, point: dict) -> sp.Float:
    return sp.N(expr.xreplace(point), DIGITS)


__all__ = [
    "Curvature",
    "JacobianError",
    "OutputJacobian",
    "curvature",
    "gauss_newton_matrix",
    "jacobian_base",
    "output_jacobian",
    "pre_activation_jacobian",
    "prove_gauss_newton",
    "prove_jacobian",
]
