"""Plain text of a graph derivation: the terminal's and --json's formulas (Unicode, one line each)."""

from __future__ import annotations

import sympy as sp
from sympy.printing.str import StrPrinter

from derive.calculus.backward import GraphDerivation


def _is_size(symbol: sp.Symbol) -> bool:
    """A size (d_3, H_1, N), not an index letter (p, a)."""
    name = symbol.name.rstrip("'")
    return not (len(name) == 1 and name.islower())


def guard_parts(condition: sp.Basic) -> list[tuple]:
    """A range guard as the textbook reads it: ("range", low, e, high) for low <= e <= high (SymPy keeps
    relations in its own canonical order, a - p <= 1, which reads as nothing), ("divides", s, e) for s | e,
    ("other", part) else. Each relation is taken as 1 <= e or e <= S, S a size."""
    ranges: dict[sp.Expr, list] = {}
    found: list[tuple] = []
    for part in condition.args if isinstance(condition, sp.And) else (condition,):
        if isinstance(part, sp.Eq) and isinstance(part.lhs, sp.Mod) and part.rhs == 0:
            found.append(("divides", part.lhs.args[1], part.lhs.args[0]))
            continue
        if not isinstance(part, (sp.LessThan, sp.GreaterThan)):
            found.append(("other", part))
            continue
        gap = sp.expand(part.gts - part.lts)  # >= 0
        sizes = [s for s in gap.free_symbols if _is_size(s) and gap.coeff(s).is_positive]
        if sizes:
            high = sp.Add(*(gap.coeff(s) * s for s in sizes))
            key = sp.expand(high - gap)
            low, top = None, high
        else:
            key = sp.expand(gap + 1)
            low, top = sp.Integer(1), None
        if key.could_extract_minus_sign():  # -(...) <= ...: keep the letters counting up
            found.append(("other", part))
            continue
        entry = ranges.setdefault(key, [None, None])
        if low is not None:
            entry[0] = low
        else:
            entry[1] = top
    return [("range", low, e, high) for e, (low, high) in ranges.items()] + found


class GraphTextPrinter(StrPrinter):
    """x_nk for x[n, k] (x[n, j, p + a - 2] where an index is not one letter; dW1_jk is ∂J/∂W1_jk),
    Σ_{j=1..d_0} (…) for sums, [c] for an indicator, 1 ≤ e ≤ H for a range guard, 2 | e for a stride's."""

    printmethod = "_graph_text"  # not Indexed's own _sympystr

    def _print_Indexed(self, expr):
        parts = [self._print(i) for i in expr.indices]
        if all(len(p) == 1 for p in parts):
            return f"{expr.base.label.name}_{''.join(parts)}"
        return f"{expr.base.label.name}[{', '.join(parts)}]"

    def _print_And(self, expr):
        shown = []
        for part in guard_parts(expr):
            if part[0] == "range":
                _, low, e, high = part
                shown.append(" ≤ ".join(self._print(x) for x in (low, e, high) if x is not None))
            elif part[0] == "divides":
                shown.append(f"{self._print(part[1])} | {self._print(part[2])}")
            else:
                shown.append(self._print(part[1]))
        return " and ".join(shown)

    _print_LessThan = _print_GreaterThan = _print_Equality = _print_And

    def _print_Sum(self, expr):
        body = self._print(expr.function)
        limits = ", ".join(f"{self._print(i)}=1..{self._print(hi)}" for i, _, hi in expr.limits)
        return f"Σ_{{{limits}}} ({body})"

    def _print_KroneckerDelta(self, expr):
        return f"[{self._print(expr.args[0])} = {self._print(expr.args[1])}]"

    def _print_Piecewise(self, expr):
        if len(expr.args) == 2 and expr.args[1].expr == 0 and expr.args[1].cond == sp.true:
            (value, condition), _ = expr.args
            bracket = f"[{self._print(condition)}]"
            return bracket if value == 1 else f"{bracket}·{self.parenthesize(value, 50)}"
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
