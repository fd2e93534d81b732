"""batch_norm: each feature normalised over the N samples of the batch (biased variance, as PyTorch).

μ_k = 1/N Σ_m x_mk, σ²_k = 1/N Σ_m (x_mk - μ_k)², x̂_nk = (x_nk - μ_k)/√(σ²_k + ε), u_nk = γ_k x̂_nk + β_k.
It couples the samples: the gradient of one sample's input depends on the whole batch. The module keeps
running statistics (momentum, unbiased running variance) for inference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import sympy as sp

from derive.network.kinds import Kind, Param, register


@register("batch_norm")
@dataclass(frozen=True)
class BatchNorm(Kind):
    eps: float = 1e-5
    momentum: float = 0.1
    affine: bool = True

    couples_samples = True
    closed_in = "xhat"
    title: ClassVar[dict[str, str]] = {"en": "Batch normalisation", "ko": "배치 정규화"}

    def params(self):
        return (Param("gamma", ("out",), init="ones"), Param("beta", ("out",), init="zeros")) if self.affine else ()

    def state(self):
        return ("mean", "var")

    def forward(self, b):
        x, n, m, k, N = b.inputs[0], b.n, b.m, b.k, b.batch
        eps = b.constant("epsilon", self.eps)
        mu = b.node("mu", (k,), sp.Sum(x[m, k], (m, 1, N)) / N, "mean")
        var = b.node("var", (k,), sp.Sum((x[m, k] - mu[k]) ** 2, (m, 1, N)) / N, "variance")
        xhat = b.node("xhat", (n, k), (x[n, k] - mu[k]) / sp.sqrt(var[k] + eps), "normalised")
        return b.param("gamma")[k] * xhat[n, k] + b.param("beta")[k] if self.affine else xhat[n, k]

    def textbook_input_gradient(self, b, g):
        """The closed form the proof compares with: dx_nk = (g_nk - mean_m(g_mk) - x̂_nk mean_m(g_mk x̂_mk))
        / √(σ²_k + ε), g = ∂E/∂x̂."""
        n, m, k, N = b.n, b.m, b.k, b.batch
        xhat, var, eps = b.tensor("xhat").base, b.tensor("var").base, b.constant("epsilon", self.eps)
        mean = lambda e: sp.Sum(e, (m, 1, N)) / N
        return (g[n, k] - mean(g[m, k]) - xhat[n, k] * mean(g[m, k] * xhat[m, k])) / sp.sqrt(var[k] + eps)
