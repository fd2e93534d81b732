"""Plain text of a graph derivation: the terminal's and --json's formulas (Unicode, one line each)."""

from __future__ import annotations

import sympy as sp
from sympy.printing.str import StrPrinter

from derive.calculus.backward import GraphDerivation


class GraphTextPrinter(StrPrinter):
    """x_nk for x[n, k] (dW1_jk is ∂J/∂W1_jk), Σ_{j=1..d_0} (…) for sums, [c] for an indicator."""

    printmethod = "_graph_text"  # not Indexed's own _sympystr

    def _print_Indexed(self, expr):
        letters = "".join(self._print(i) for i in expr.indices)
        return f"{expr.base.label.name}_{letters}"

    def _print_Sum(self, expr):
        body = self._print(expr.function)
        limits = ", ".join(f"{self._print(i)}=1..{self._print(hi)}" for i, _, hi in expr.limits)
        return f"Σ_{{{limits}}} ({body})"

    def _print_KroneckerDelta(self, expr):
        return f"[{self._print(expr.args[0])} = {self._print(expr.args[1])}]"

    def _print_Piecewise(self, expr):
        if len(expr.args) == 2 and expr.args[0].expr == 1 and expr.args[1].expr == 0:
            return f"[{self._print(expr.args[0].cond)}]"
        return "(" + "; ".join(f"{self._print(e)} if {self._print(c)}" if c != sp.true else f"{self._print(e)} otherwise"
                               for e, c in expr.args) + ")"


def text(expr: sp.Expr) -> str:
    return GraphTextPrinter().doprint(expr)


def rows(derivation: GraphDerivation) -> list[dict]:
    """Each gradient of the reverse sweep: {layer, tensor, parts, text, sympy}."""
    found = []
    out = derivation.graph.layers[-1]
    delta = derivation.head.scale * derivation.head.delta
    found.append({"layer": out.l, "tensor": out.pre.name, "parts": 1,
                  "text": f"d{out.pre.name}_nk = {text(delta)}", "sympy": str(delta)})
    for name, gradient in derivation.gradients.items():
        if not gradient.contributions:
            continue
        tensor = gradient.tensor
        letters = "".join(str(i) for i in tensor.indices)
        found.append({"layer": tensor.layer, "tensor": name, "parts": len(gradient.contributions),
                      "text": f"d{name}_{letters} = {text(gradient.expr)}", "sympy": str(gradient.expr)})
    return found
