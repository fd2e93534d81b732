"""The derivation: for every layer, the chain-rule steps of DESIGN.md section 3, as rule objects.

`derive(spec)` walks from the output layer down. Each `LayerDerivation` holds its steps in order and
the results the other parts of the product use: ∂E/∂y, δ (general and concrete), ∂E/∂w, ∂E/∂b and
the gradient handed down.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from derive.calculus.rules import (
    ActivationRule,
    BackpropRule,
    ChainRule,
    DeltaRule,
    LinearRule,
    LossRule,
    ProductRule,
    Rule,
    SoftmaxDeltaRule,
    SoftmaxRule,
    UpdateRule,
    d,
)
from derive.network.chain import E, IndexNetwork, LayerSymbols
from derive.network.notation import Notation, notation_for
from derive.spec.loader import Spec


@dataclass
class LayerDerivation:
    symbols: LayerSymbols
    below: LayerSymbols
    is_output: bool
    steps: list[Rule]
    dEdy: sp.Expr  # ∂E/∂y_a: from the loss (output) or Σ_r δ_r w_ar (hidden)
    dydu: sp.Expr | None  # ∂y_a/∂u_a (None for softmax)
    delta: sp.Expr  # δ_a, concrete
    dEdw: sp.Expr  # y_b δ_a
    dEdb: sp.Expr | None  # δ_a, or None without bias
    handed_down: sp.Expr | None  # ∂E/∂y_b = Σ_r δ_r w_br (None for the first layer)

    @property
    def l(self) -> int:
        return self.symbols.l

    def step(self, kind: type) -> Rule | None:
        return next((s for s in self.steps if isinstance(s, kind)), None)


@dataclass
class Derivation:
    spec: Spec
    notation: Notation
    net: IndexNetwork
    layers: list[LayerDerivation]  # output layer first

    @property
    def loss(self) -> sp.Expr:
        return self.net.loss()

    def layer(self, l: int) -> LayerDerivation:
        return self.layers[self.net.depth - l]

    @cached_property
    def delta_values(self) -> dict:
        """δ of every layer in its own index letter, for substitution."""
        return {ld.l: ld.delta for ld in self.layers}

    def expand_deltas(self, expr: sp.Expr) -> sp.Expr:
        """Replace every δ by its formula, layer above first, down to the loss and outputs alone."""
        for _ in range(self.net.depth):
            expr = expr.replace(
                lambda e: isinstance(e, sp.Indexed) and e.base.label.name.startswith("delta"),
                lambda e: self._delta_at(e),
            )
            if not expr.has(*[ls.delta for ls in self.net.layers[1:]]):
                break
        return expr

    def _delta_at(self, element: sp.Indexed) -> sp.Expr:
        l = int(element.base.label.name[len("delta"):])
        ld = self.layer(l)
        return ld.delta.xreplace({ld.symbols.index: element.indices[0]})


def derive(spec: Spec, notation: str | None = None) -> Derivation:
    note = notation_for(spec, notation)
    net = IndexNetwork(spec, note)
    layers: list[LayerDerivation] = []
    upstream = None
    for l in range(net.depth, 0, -1):
        ld = _layer(net, l, upstream)
        layers.append(ld)
        upstream = ld
    return Derivation(spec, note, net, layers)


def _layer(net: IndexNetwork, l: int, above: LayerDerivation | None) -> LayerDerivation:
    this, below = net.layers[l], net.layers[l - 1]
    a, b = this.index, below.index
    y, u, w = this.y[a], this.u[a], this.w[b, a]
    steps: list[Rule] = []

    # (1), (2): the weight gradient by the chain rule, and the weighted sum differentiated
    steps.append(ChainRule(l, d(E, w), (d(E, u), d(u, w)), role="1"))
    steps.append(LinearRule(l, d(u, w), net.weighted_sum(l), w, role="2"))

    # ∂E/∂y_a: from the loss, or handed down from the layer above
    if above is None:
        loss_step = LossRule(l, d(E, y), net.spec.loss, net.loss(), y, net.t[a], this.size)
        steps.append(loss_step)
        dEdy = loss_step.rhs
    else:
        dEdy = above.handed_down.xreplace({above.below.index: a})

    # (3): δ = ∂E/∂u, through the activation
    act = this.activation
    if act.is_softmax:
        r = this.dummy
        jac = SoftmaxRule(l, d(this.y[r], u), this.y, r, a)
        steps.append(ChainRule(l, this.delta[a], (d(E, this.y[r]), d(this.y[r], u)), over=(r, 1, this.size),
                               role="3"))
        steps.append(jac)
        dEdy_r = dEdy.xreplace({a: r})
        delta_step = SoftmaxDeltaRule(l, this.delta[a], dEdy_r, jac.rhs, (r, 1, this.size), net.t)
        dydu = None
    else:
        steps.append(ChainRule(l, this.delta[a], (d(E, y), d(y, u)), role="3" if above is None else "7"))
        act_step = ActivationRule(l, d(y, u), act, u, y)
        steps.append(act_step)
        dydu = act_step.rhs
        delta_step = DeltaRule(l, this.delta[a], dEdy, dydu)
    steps.append(delta_step)
    delta = delta_step.rhs

    # (4), (5): the gradients as products; (6): the gradient handed to the layer below
    dEdw = ProductRule(l, d(E, w), (below.y[b], this.delta[a]), role="4" if above is None else "8")
    steps.append(dEdw)
    dEdb = None
    if this.bias:
        steps.append(LinearRule(l, d(u, this.b[a]), net.weighted_sum(l), this.b[a]))
        dEdb = ProductRule(l, d(E, this.b[a]), (this.delta[a],), role="5" if above is None else "8")
        steps.append(dEdb)
    handed_down = None
    if l > 1:
        r = this.dummy
        back = BackpropRule(l, d(E, below.y[b]), net.weighted_sum(l, r), below.y[b], this.delta[r], (r, 1, this.size),
                            role="6")
        steps.append(back)
        handed_down = back.rhs.doit() if this.size == 1 else back.rhs
    steps.append(UpdateRule(l, w, w, d(E, w), role="9"))
    return LayerDerivation(this, below, above is None, steps, dEdy, dydu, delta, dEdw.rhs,
                           dEdb.rhs if dEdb else None, handed_down)
