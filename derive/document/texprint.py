"""LaTeX printers for the printed derivation: the notes' notation, and the notes' order of factors.

`DocumentLatexPrinter` extends the notation printer of `derive.network.notation` with what a lecture note
needs and SymPy's default order does not give: `y_j \\delta_k` and `\\delta_r w_{jr}` (outputs, then
deltas, then weights), `y_k - t_k` (positive terms first), `\\frac{d}{dx}` for a function of one
variable, and a derivative left as a separate factor after a fraction.
`InstanceLatexPrinter` names concrete neurons and weights for the worked example, one name per layer.
`MatrixLatexPrinter` prints the same formulas over a batch: Y_l, U_l, W_l, T and Hadamard products.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from derive.network.notation import GREEK_LATEX, Notation, NotationLatexPrinter, parse_base
from derive.spec.catalog import x as X
from derive.spec.catalog import y as Y

# order of factors in a product, as the notes write them: y_j delta_k, delta_r w_jr, y_q w_qk
_KIND_RANK = {"y": 0, "t": 0, "u": 0, "delta": 3, "w": 4, "b": 4}


def _rank(factor: sp.Expr) -> float:
    if factor.is_number:
        return -1  # constants first: 2 \sqrt{u}, \pi x (not \sqrt{u} \cdot 2, x \pi)
    core = factor.base if isinstance(factor, sp.Pow) else factor
    if isinstance(core, sp.Indexed):
        try:
            kind, _ = parse_base(core.base.label.name)
        except ValueError:
            return 2
        return _KIND_RANK.get(kind, 2)
    if isinstance(core, sp.Symbol):
        return 0
    if isinstance(core, sp.Sum):
        return 5
    if isinstance(core, sp.Derivative):
        return 6
    if core.is_Add:
        return 2
    return 2.5 if isinstance(core, sp.Function) else 1


def decimal(r: sp.Rational) -> str | None:
    """An exact decimal for a rational from a decimal literal (9973557/12500000 -> 0.79788456)."""
    q = int(r.q)
    if q < 100:
        return None
    twos = fives = 0
    while q % 2 == 0:
        q //= 2
        twos += 1
    while q % 5 == 0:
        q //= 5
        fives += 1
    if q != 1:
        return None
    places = max(twos, fives)
    scaled = abs(int(r.p)) * 10**places // int(r.q)
    digits = str(scaled).rjust(places + 1, "0")
    text = (digits[:-places] + "." + digits[-places:]).rstrip("0").rstrip(".")
    return ("-" if r < 0 else "") + text


class DocumentLatexPrinter(NotationLatexPrinter):
    """The notation printer, with the notes' order of terms and factors."""

    def __init__(self, notation: Notation, settings=None):
        super().__init__(notation, settings)

    def _print_Rational(self, expr):
        text = decimal(expr)
        return text if text is not None else super()._print_Rational(expr)

    # y_k - t_k rather than - t_k + y_k
    def _as_ordered_terms(self, expr, order=None):
        terms = super()._as_ordered_terms(expr, order=order)
        # the sum of a weighted sum first (Σ_q y_q w_qk + b_k), negative terms last (y_k - t_k)
        return sorted(terms, key=lambda term: (term.could_extract_minus_sign(), not isinstance(term, sp.Sum)))

    def _factor(self, term: sp.Expr, first: bool, last: bool) -> str:
        tex = self._print(term)
        if self._needs_mul_brackets(term, first=first, last=last):
            tex = r"\left(%s\right)" % tex
        return tex

    def _product(self, factors: list[sp.Expr]) -> str:
        factors = sorted(factors, key=_rank)
        if len(factors) == 1:
            return self._print(factors[0])
        parts = []
        for i, factor in enumerate(factors):
            tex = self._factor(factor, i == 0, i == len(factors) - 1)
            if parts and (factor.is_Number or parts[-1][-1:].isdigit() and tex[:1].isdigit()):
                parts.append(r"\cdot")
            parts.append(tex)
        return " ".join(parts)

    def _print_Mul(self, expr):
        if expr.could_extract_minus_sign():
            inner = -expr
            tex = self._print(inner)
            if inner.is_Add:
                tex = r"\left(%s\right)" % tex
            return "- " + tex
        coeff, rest = expr.as_coeff_Mul()
        args = list(sp.Mul.make_args(rest))
        derivatives = [a for a in args if isinstance(a, sp.Derivative)]
        others = [a for a in args if not isinstance(a, sp.Derivative)]
        numer, denom = [], []
        for a in others:
            if isinstance(a, sp.Pow) and a.exp.is_Rational and a.exp.is_negative:
                denom.append(a.base ** -a.exp)
            else:
                numer.append(a)
        parts = []
        if coeff.is_Rational and decimal(coeff) is not None:  # 0.79788456 x, not a fraction of huge numbers
            body = self._print_Mul(rest) if rest.is_Mul else self._print(rest)
            if rest.is_Add:
                body = r"\left(%s\right)" % body
            return "%s %s" % (decimal(coeff), body) if coeff != -1 else "- " + body
        if denom:
            p, q = (coeff.p, coeff.q) if coeff.is_Rational else (coeff, 1)
            top = self._product(([sp.Integer(p)] if p != 1 else []) + numer) if (p != 1 or numer) else "1"
            bottom = self._product(([sp.Integer(q)] if q != 1 else []) + denom)
            parts.append(r"\frac{%s}{%s}" % (top, bottom))
        elif coeff.is_Rational and coeff.q != 1 and numer and all(a.is_number for a in numer):
            # a constant over a number: \frac{\pi}{4}, \frac{3 \sqrt{2}}{2}, not \frac{1}{4} \pi
            top = self._product(([sp.Integer(coeff.p)] if coeff.p != 1 else []) + numer)
            parts.append(r"\frac{%s}{%d}" % (top, coeff.q))
        else:
            lead = ""
            if coeff.is_Rational and coeff.q != 1:
                lead = r"\frac{%d}{%d}" % (coeff.p, coeff.q)
            elif coeff != 1:
                lead = self._print(coeff)
            if numer:
                body = self._product(numer)
                lead = f"{lead} {body}".strip() if lead else body
            if lead:
                parts.append(lead)
        for dv in derivatives:
            parts.append(self._print(dv))
        return r" \cdot ".join(parts) if len(parts) > 1 and derivatives else " ".join(parts)

    def _print_Derivative(self, expr):
        (var, count), = expr.variable_count
        if isinstance(var, sp.Symbol) and var in (X, Y):
            inner = expr.expr
            body = self._print(inner)
            if not (inner.is_Symbol or inner.is_Function or isinstance(inner, sp.exp)):
                body = r"\left(%s\right)" % body
            order = "" if count == 1 else "^{%d}" % count
            return r"\frac{d%s}{d%s%s}%s" % (order, self._print(var), order, body)  # no break before its argument
        return super()._print_Derivative(expr)

    def _print_Piecewise(self, expr):
        rows = []
        for value, cond in expr.args:
            when = r"\text{otherwise}" if cond == sp.true else r"\text{if } " + self._print(cond)
            rows.append(r"%s & %s" % (self._print(value), when))
        return r"\begin{cases} %s \end{cases}" % r" \\ ".join(rows)

    def _print_Sum(self, expr):
        # Σ_{r=1}^{n} δ_r w_jr: the summand printed in the notes' order, no brackets around a product
        (i, a, b), = expr.limits
        if expr.function.could_extract_minus_sign():
            return "- " + self._print(sp.Sum(-expr.function, expr.limits))
        body = self._print(expr.function)
        if expr.function.is_Add:
            body = r"\left(%s\right)" % body
        return r"\sum_{%s=%s}^{%s} %s" % (self._print(i), self._print(a), self._print(b), body)


class InstanceLatexPrinter(DocumentLatexPrinter):
    """Concrete neurons and weights (the worked example), named so that no two layers share a name.

    In the ijk notation y_1 is the first input and the first hidden output alike, and w_11 a weight of
    every layer; with the index letter of its layer (seed 002's table: input i, hidden j, output k) each
    is its own: y_{i=1}, y_{j=1}, w_{j=1,k=2}. The other notations name the layers already (x_1,
    a^{1}_{1}, w^{2}_{11}; y_{h1}, w_{31}) and print as they are.
    """

    def _print_Indexed(self, expr):
        concrete = all(i.is_Integer for i in expr.indices)
        if self.notation.name != "ijk" or not concrete:
            return super()._print_Indexed(expr)
        kind, l = parse_base(expr.base.label.name)
        layers = (self.notation.depth,) if kind == "t" else (l - 1, l) if kind == "w" else (l,)
        name, _, _ = self.notation.parts(kind, l, expr.indices, self._index)
        sub = r",\,".join("%s=%s" % (self.notation.letter(m), self._print(i)) for m, i in zip(layers, expr.indices))
        return "%s_{%s}" % (GREEK_LATEX.get(name, name), sub)


class MatrixLatexPrinter(DocumentLatexPrinter):
    """Batch form: y{l}[a] -> Y_l (N x n_l), t -> T, products of matrices are Hadamard products."""

    def __init__(self, notation: Notation, depth: int, settings=None):
        super().__init__(notation, settings)
        self.depth = depth

    def _name(self, kind: str, l: int | None) -> str:
        if kind == "t":
            return r"\mathbf{T}"
        letter = {"y": "Y", "u": "U", "w": "W", "b": "b", "delta": r"\Delta"}[kind]
        if kind == "y" and l == 0:
            return r"\mathbf{X}"
        if kind == "delta":
            return r"\Delta_{%d}" % l
        return r"\mathbf{%s}_{%d}" % (letter, l)

    def _print_Indexed(self, expr):
        kind, l = parse_base(expr.base.label.name)
        return self._name(kind, l)

    def _has_superscript(self, expr) -> bool:
        return False  # Y_l, W_l: the layer is a subscript here

    def _is_matrix(self, e: sp.Expr) -> bool:
        return bool(e.atoms(sp.Indexed)) or isinstance(e, sp.Sum)

    def _product(self, factors):
        factors = sorted(factors, key=_rank)
        parts, last_matrix = [], False
        for i, factor in enumerate(factors):
            tex = self._factor(factor, i == 0, i == len(factors) - 1)
            matrix = self._is_matrix(factor)
            if parts:
                parts.append(r"\odot" if (matrix and last_matrix) else "")
            parts.append(tex)
            last_matrix = last_matrix or matrix
        return " ".join(p for p in parts if p)

    def _print_Pow(self, expr):
        if self._is_matrix(expr.base) and expr.exp.is_Integer and expr.exp > 0:
            base = self.parenthesize(expr.base, PRECEDENCE["Pow"])
            return r"%s^{\odot %d}" % (base, expr.exp)
        if self._is_matrix(expr.base) and expr.exp == -1:
            return r"1 \oslash %s" % self.parenthesize(expr.base, PRECEDENCE["Mul"])
        return super()._print_Pow(expr)

    def _print_Sum(self, expr):
        # Σ_r δ_r w_jr over the layer above: the row of Δ_{l+1} W_{l+1}^T
        deltas = [a for a in expr.function.atoms(sp.Indexed) if a.base.label.name.startswith("delta")]
        weights = [a for a in expr.function.atoms(sp.Indexed) if a.base.label.name.startswith("w")]
        if len(deltas) == 1 and len(weights) == 1:
            _, l = parse_base(deltas[0].base.label.name)
            return r"\left(\Delta_{%d} \mathbf{W}_{%d}^{\top}\right)" % (l, l)
        return super()._print_Sum(expr)

    def _print_Piecewise(self, expr):
        # [Y > 0] elementwise, for ReLU and its kin
        if len(expr.args) == 2 and expr.args[1].cond == sp.true:
            (hi, cond), (lo, _) = expr.args
            if hi.is_Number and lo.is_Number:
                ind = r"\mathbb{1}[%s]" % self._print(cond)
                if lo == 0:
                    return ind if hi == 1 else r"%s\, %s" % (self._print(hi), ind)
                return r"\left(%s + %s\, %s\right)" % (self._print(lo), self._print(hi - lo), ind)
        return super()._print_Piecewise(expr)
