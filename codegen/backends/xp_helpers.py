"""Helpers of an array-API module, written against the standard only (their namespace `xp` is an argument):
copied into a generated module by their source, as `codegen.printer`'s NumPy helpers are."""

from __future__ import annotations

import inspect
import re


def _sigmoid(xp, u):
    """1 / (1 + exp(-u)) without overflow: exp of -|u| only."""
    e = xp.exp(-xp.abs(u))
    s = 1 / (1 + e)
    return xp.where(u >= 0, s, e * s)


def _softmax(xp, u):
    """Row-wise softmax with the row maximum subtracted, and log(sum(exp(u))) of each row (kept as a column)."""
    m = xp.max(u, axis=1, keepdims=True)
    e = xp.exp(u - m)
    s = xp.sum(e, axis=1, keepdims=True)
    return e / s, m + xp.log(s)


HELPERS = {f.__name__: f for f in (_sigmoid, _softmax)}


def helper_sources(code: str) -> list[str]:
    """The sources of the helpers `code` calls, in a fixed order."""
    return [inspect.getsource(f).rstrip() + "\n" for name, f in HELPERS.items() if re.search(rf"\b{name}\(", code)]
