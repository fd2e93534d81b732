"""batch_norm: each feature normalised over the N samples of the batch (biased variance, as PyTorch).

μ_k = 1/N Σ_m x_mk, σ²_k = 1/N Σ_m (x_mk - μ_k)², x̂_nk = (x_nk - μ_k)/√(σ²_k + ε), u_nk = γ_k x̂_nk + β_k.
It couples the samples: the gradient of one sample's input depends on the whole batch. The module keeps
running statistics (momentum, unbiased running variance) for inference. On a signal or an image each channel k is
normalised over the batch and its positions (PyTorch's BatchNorm1d/2d): the means run over m, p, q.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import sympy as sp

from derive.network import indices as ix
from derive.network.kinds import Kind, Param, register


@register("batch_norm")
@dataclass(frozen=True)
class BatchNorm(Kind):
    eps: float = 1e-5
    momentum: float = 0.1
    affine: bool = True

    couples_samples = True
    closed_in = "xhat"
    rank = None  # features, or the channels of a signal or image
    title: ClassVar[dict[str, str]] = {"en": "Batch normalisation", "ko": "배치 정규화"}

    def params(self):
        return (Param("gamma", ("out",), init="ones"), Param("beta", ("out",), init="zeros")) if self.affine else ()

    def state(self):
        return ("mean", "var")

    def check_shapes(self, shapes):
        return None

    def shape(self, shapes, units):
        return shapes[0]

    @staticmethod
    def _over(b):
        """The letters a statistic runs over besides the sample (the positions) and their sizes."""
        return ix.POSITIONS[: len(b.in_dims) - 1], b.in_dims[1:]

    def _mean(self, b, e):
        positions, sizes = self._over(b)
        return sp.Sum(e, (b.m, 1, b.batch), *zip(positions, [1] * len(sizes), sizes)) / (b.batch * sp.Mul(*sizes))

    def forward(self, b):
        x, n, m, k = b.inputs[0], b.n, b.m, b.k
        positions, _ = self._over(b)
        eps = b.constant("epsilon", self.eps)
        mu = b.node("mu", (k,), self._mean(b, x[(m, k, *positions)]), "mean")
        var = b.node("var", (k,), self._mean(b, (x[(m, k, *positions)] - mu[k]) ** 2), "variance")
        own = (n, k, *positions)
        xhat = b.node("xhat", own, (x[own] - mu[k]) / sp.sqrt(var[k] + eps), "normalised", b.in_dims)
        return b.param("gamma")[k] * xhat[own] + b.param("beta")[k] if self.affine else xhat[own]

    def textbook_input_gradient(self, b, g):
        """The closed form the proof compares with: dx_nk = (g_nk - mean_m(g_mk) - x̂_nk mean_m(g_mk x̂_mk))
        / √(σ²_k + ε), g = ∂E/∂x̂ (the means also over the positions of a signal or image)."""
        n, m, k = b.n, b.m, b.k
        positions, _ = self._over(b)
        xhat, var, eps = b.tensor("xhat").base, b.tensor("var").base, b.constant("epsilon", self.eps)
        own, other = (n, k, *positions), (m, k, *positions)
        return (g[own] - self._mean(b, g[other]) - xhat[own] * self._mean(b, g[other] * xhat[other])) / \
            sp.sqrt(var[k] + eps)
