"""layer_norm: each sample normalised over its features, then scaled and shifted.

μ = 1/n Σ_j x_j, σ² = 1/n Σ_j (x_j - μ)², x̂_k = (x_k - μ)/√(σ² + ε), u_k = γ_k x̂_k + β_k.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import sympy as sp

from derive.network.kinds import Kind, Param, register


@register("layer_norm")
@dataclass(frozen=True)
class LayerNorm(Kind):
    eps: float = 1e-5
    affine: bool = True

    closed_in = "xhat"
    title: ClassVar[dict[str, str]] = {"en": "Layer normalisation", "ko": "층 정규화"}

    def params(self):
        return (Param("gamma", ("out",), init="ones"), Param("beta", ("out",), init="zeros")) if self.affine else ()

    def forward(self, b):
        x, n, j, k, d = b.inputs[0], b.n, b.j, b.k, b.width_in
        eps = b.constant("epsilon", self.eps)
        mu = b.node("mu", (n,), sp.Sum(x[n, j], (j, 1, d)) / d, "mean")
        var = b.node("var", (n,), sp.Sum((x[n, j] - mu[n]) ** 2, (j, 1, d)) / d, "variance")
        xhat = b.node("xhat", (n, k), (x[n, k] - mu[n]) / sp.sqrt(var[n] + eps), "normalised")
        return b.param("gamma")[k] * xhat[n, k] + b.param("beta")[k] if self.affine else xhat[n, k]

    def textbook_input_gradient(self, b, g):
        """The closed form the proof compares with: dx_k = (g_k - mean(g) - x̂_k mean(g x̂)) / √(σ² + ε),
        g = ∂E/∂x̂ (γ ⊙ ∂E/∂u with the affine step)."""
        n, k, r, d = b.n, b.k, b.r, b.width_in
        xhat, var, eps = b.tensor("xhat").base, b.tensor("var").base, b.constant("epsilon", self.eps)
        mean = lambda e: sp.Sum(e, (r, 1, d)) / d
        return (g[n, k] - mean(g[n, r]) - xhat[n, k] * mean(g[n, r] * xhat[n, r])) / sp.sqrt(var[n] + eps)
