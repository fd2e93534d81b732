"""Notations of the source notes, and the printers that speak them.

Internally every layer l has its own IndexedBase symbols (`y{l}`, `u{l}`, `w{l}`, `b{l}`, `delta{l}`,
and `t` for targets). A `Notation` decides the index letters and how each of those prints:
"ijk" (seeds 000/002: w_jk, y_j, delta_k), "layer" (seed 004: w^l_nm, z^l_m, a^l_m, x_n, J) and
"node" (seed 003: neurons numbered through the net, w_31, y_h1, y_o1, y_t1, x_1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pretty import pretty
from sympy.printing.str import StrPrinter

KINDS = ("y", "u", "w", "b", "delta", "t")
_BASE = re.compile(r"(y|u|w|b|delta)(\d+)\Z")

IJK_LETTERS = "kjihg"  # output layer first: k, then j, i, h, g below it
IJK_DUMMIES = "rqpsv"  # summation letters of the same layers: sum_r delta_r w_jr (seed 002)
IJK_SIZES = "nml"  # widths of the k, j, i layers (seed 002's table)
LAYER_LETTERS = "nmkjih"  # input layer first: n, m as in seed 004's w^1_nm
LAYER_DUMMIES = "pqrsvo"


def base(kind: str, l: int | None = None) -> sp.IndexedBase:
    """The symbol of one kind of quantity of layer l. Real: then SymPy decides at once that
    cosh(u) or log(1 + exp(u)) of a real u is real, instead of searching for an imaginary part."""
    return sp.IndexedBase("t" if kind == "t" else f"{kind}{l}", real=True)


def parse_base(name: str) -> tuple[str, int | None]:
    """'w2' -> ('w', 2); 't' -> ('t', None)."""
    if name == "t":
        return "t", None
    m = _BASE.match(name)
    if not m:
        raise ValueError(name)
    return m.group(1), int(m.group(2))


@dataclass(frozen=True)
class Notation:
    name: str  # "ijk", "layer" or "node"
    sizes: tuple[int, ...]  # n_0 .. n_L, for node numbers and single-output shorthand

    @property
    def depth(self) -> int:
        return len(self.sizes) - 1

    @property
    def loss_name(self) -> str:
        return "J" if self.name == "layer" else "E"

    # -- index letters ---------------------------------------------------------------------
    def letter(self, l: int) -> str:
        """The free index letter of layer l (0 = input)."""
        L = self.depth
        if self.name == "layer":
            return LAYER_LETTERS[l] if L + 1 <= len(LAYER_LETTERS) else f"i_{l}"
        return IJK_LETTERS[L - l] if L + 1 <= len(IJK_LETTERS) else f"i_{l}"

    def letters_suffice(self) -> bool:
        """Whether every layer has a letter of its own (else the letters are i_0, i_1, ...)."""
        return self.depth + 1 <= len(LAYER_LETTERS if self.name == "layer" else IJK_LETTERS)

    def layer_hint(self) -> str:
        """What to write when an index letter names no layer of this net ('' when the letters suffice)."""
        L = self.depth
        example = r"\frac{\partial J}{\partial b^{%d}_{k}} = \delta^{%d}_{k}" % (L, L)
        if self.name == "layer":
            if self.letters_suffice():
                return ""
            return f"; in a net of {L} layers give the layer as a superscript, e.g. {example}"
        if self.name == "ijk" and not self.letters_suffice():
            return (f"; the ijk notation names layers by letter ({', '.join(IJK_LETTERS)}) only in nets of up to "
                    f"{len(IJK_LETTERS) - 1} layers and this one has {L}: use --notation layer, where a superscript "
                    f"names the layer, e.g. {example}")
        return ""

    def dummy(self, l: int) -> str:
        """The summation letter that runs over layer l."""
        L = self.depth
        if self.name == "layer":
            return LAYER_DUMMIES[l] if L + 1 <= len(LAYER_DUMMIES) else f"r_{l}"
        return IJK_DUMMIES[L - l] if L + 1 <= len(IJK_DUMMIES) else f"r_{l}"

    def size_name(self, l: int) -> str:
        L = self.depth
        if self.name != "layer" and L - l < len(IJK_SIZES) and L + 1 <= len(IJK_LETTERS):
            return IJK_SIZES[L - l]
        return f"n_{l}"

    def node(self, l: int, i: int) -> int:
        """Global number of neuron i (1-based) of layer l >= 1, counting from the first hidden layer."""
        return sum(self.sizes[1:l]) + i

    # -- names of indexed symbols ----------------------------------------------------------
    def parts(self, kind: str, l: int | None, indices: tuple, index_text) -> tuple[str, str, str]:
        """(name, superscript, subscript) of one indexed symbol; `index_text` prints one index."""
        L = self.depth
        idx = [index_text(i) for i in indices]
        concrete = all(isinstance(i, (int, sp.Integer)) for i in indices)
        if self.name == "node" and concrete:
            return self._node_parts(kind, l, [int(i) for i in indices])
        sup = ""
        if self.name == "layer":
            names = {"y": "a", "u": "z", "w": "w", "b": "b", "delta": "delta", "t": "t"}
            name = names[kind]
            if kind == "y" and l == 0:
                name = "x"
            elif kind == "y" and l == L:
                name = "y"
            elif kind != "t":
                sup = str(l)
            single_out = self.sizes[L] == 1
            if single_out and ((kind in ("y", "u", "b", "delta") and l == L) or kind == "t"):
                idx = []
            if single_out and kind == "w" and l == L:
                idx = idx[:1]
        else:
            name = kind
        return name, sup, _join(idx)

    def _node_parts(self, kind: str, l: int | None, idx: list[int]) -> tuple[str, str, str]:
        L = self.depth
        if kind == "t":
            return "y", "", f"t{idx[0]}"
        if kind == "y":
            if l == 0:
                return "x", "", str(idx[0])
            if l == L:
                return "y", "", f"o{idx[0]}"
            return "y", "", f"h{self.node(l, idx[0])}"
        if kind == "w":
            source = idx[0] if l == 1 else self.node(l - 1, idx[0])
            return "w", "", _join([str(self.node(l, idx[1])), str(source)])
        return kind, "", str(self.node(l, idx[0]))


def _join(parts: list[str]) -> str:
    """w_{jk} and w_{31}, but w_{3,11} and w_{i_1,i_2} where run together they would be ambiguous."""
    return "".join(parts) if all(len(p) == 1 for p in parts) else ",".join(parts)


def notation_for(spec, name: str | None = None) -> Notation:
    return Notation(name or spec.notation, spec.sizes)


GREEK_LATEX = {"delta": r"\delta"}


def _binds_as_power(level: int, strict: bool) -> bool:
    """Whether a context of precedence `level` needs a power (or a superscripted symbol) in brackets."""
    return level > PRECEDENCE["Pow"] or (not strict and level == PRECEDENCE["Pow"])


class _SuperscriptMixin:
    """An indexed symbol printed with a superscript (the layer notation's a^{1}_{m}) is a power already:
    raised to a power it is bracketed, (a^{1}_{m})^{2}, never a^{1}_{m}^{2} (a TeX error)."""

    notation: Notation

    def _has_superscript(self, expr) -> bool:
        if not isinstance(expr, sp.Indexed):
            return False
        try:
            kind, l = parse_base(expr.base.label.name)
        except ValueError:
            return False
        return bool(self.notation.parts(kind, l, expr.indices, str)[1])


class NotationLatexPrinter(_SuperscriptMixin, LatexPrinter):
    """LaTeX in the notes' notation: \\frac{\\partial E}{\\partial w_{jk}} = y_{j} \\delta_{k}."""

    printmethod = "_notation_latex"  # not "_latex": Indexed would print itself

    def __init__(self, notation: Notation, settings=None):
        super().__init__({"mul_symbol": None, "fold_short_frac": False, **(settings or {})})
        self.notation = notation

    def _print_Indexed(self, expr):
        kind, l = parse_base(expr.base.label.name)
        name, sup, sub = self.notation.parts(kind, l, expr.indices, self._index)
        text = GREEK_LATEX.get(name, name)
        if sup:
            text += "^{" + sup + "}"
        if sub:
            text += "_{" + sub + "}"
        return text

    def _index(self, i) -> str:
        return self._print(i)

    def parenthesize(self, item, level, is_neg=False, strict=False):
        if self._has_superscript(item) and _binds_as_power(level, strict):
            return r"\left(%s\right)" % self._print(item)
        return super().parenthesize(item, level, is_neg=is_neg, strict=strict)

    def _print_Atom(self, expr):
        """SymPy's constants (pi, e, EulerGamma, oo, ...) print themselves with `_latex`, which the printmethod
        above bypasses: call it for every atom that has no `_print_` method of its own."""
        own = getattr(type(expr), "_latex", None)
        return own(expr, self) if own is not None else self._print_Basic(expr)

    def _as_ordered_terms(self, expr, order=None):
        """y_{k} - t_{k} rather than - t_{k} + y_{k}: negative terms last."""
        terms = super()._as_ordered_terms(expr, order=order)
        return sorted(terms, key=lambda term: term.could_extract_minus_sign())

    def _print_Symbol(self, expr, style="plain"):
        if expr.name in ("E", "J"):
            return self.notation.loss_name
        return super()._print_Symbol(expr, style=style)

    def _print_Derivative(self, expr):
        (var, _count), = expr.variable_count
        num, den = self._print(expr.expr), self._print(var)
        return r"\frac{\partial %s}{\partial %s}" % (num, den)

    def _print_KroneckerDelta(self, expr, exp=None):
        i, j = (self._print(a) for a in expr.args)
        return r"[%s = %s]" % (i, j)

    def _print_Heaviside(self, expr, exp=None):
        return r"[%s > 0]" % self._print(expr.args[0])


class NotationTextPrinter(_SuperscriptMixin, StrPrinter):
    """Plain Unicode for a terminal: ∂E/∂w_jk = y_j·δ_k, Σ_{r=1..n}."""

    printmethod = "_notation_str"  # not "_sympystr": Indexed would print itself

    def __init__(self, notation: Notation, settings=None):
        super().__init__(settings)
        self.notation = notation

    def _print_Indexed(self, expr):
        kind, l = parse_base(expr.base.label.name)
        name, sup, sub = self.notation.parts(kind, l, expr.indices, self._print)
        name = {"delta": "δ"}.get(name, name)
        text = name + (f"^{sup}" if sup else "")
        return text + (f"_{sub}" if sub else "")

    def _print_Symbol(self, expr):
        if expr.name in ("E", "J"):
            return self.notation.loss_name
        return super()._print_Symbol(expr)

    def _print_NumberSymbol(self, expr):
        """Every constant as it is written (π, γ, φ), not StrPrinter's names (pi; E, which is the loss here)."""
        return "e" if expr is sp.E else pretty(expr, use_unicode=True)

    # StrPrinter names these one by one; every other NumberSymbol reaches _print_NumberSymbol by itself
    _print_Pi = _print_Exp1 = _print_EulerGamma = _print_GoldenRatio = _print_NumberSymbol
    _print_Catalan = _print_TribonacciConstant = _print_NumberSymbol

    def _print_Infinity(self, expr):
        return "∞"

    def _print_NegativeInfinity(self, expr):
        return "-∞"

    def parenthesize(self, item, level, strict=False):
        if self._has_superscript(item) and _binds_as_power(level, strict):
            return "(%s)" % self._print(item)
        return super().parenthesize(item, level, strict=strict)

    def _as_ordered_terms(self, expr, order=None):
        """y_k - t_k rather than -t_k + y_k: negative terms last."""
        terms = super()._as_ordered_terms(expr, order=order)
        return sorted(terms, key=lambda term: term.could_extract_minus_sign())

    def _print_Derivative(self, expr):
        (var, _count), = expr.variable_count
        return f"∂{self._print(expr.expr)}/∂{self._print(var)}"

    def _print_Sum(self, expr):
        (i, a, b), = expr.limits
        return f"Σ_{{{self._print(i)}={self._print(a)}..{self._print(b)}}} ({self._print(expr.function)})"

    def _print_KroneckerDelta(self, expr):
        i, j = (self._print(a) for a in expr.args)
        return f"[{i}={j}]"

    def _print_Heaviside(self, expr):
        return f"[{self._print(expr.args[0])} > 0]"

    def _print_Piecewise(self, expr):
        parts = [f"{self._print(e)} if {self._print(c)}" for e, c in expr.args[:-1]]
        return "(" + "; ".join(parts) + f"; else {self._print(expr.args[-1].expr)})"


def latex(expr, notation: Notation) -> str:
    return NotationLatexPrinter(notation).doprint(expr)


def text(expr, notation: Notation) -> str:
    return NotationTextPrinter(notation).doprint(expr)
