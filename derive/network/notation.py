"""Notations of the source notes and of the textbooks, as data, and the printers that speak them.

Internally every layer l has its own IndexedBase symbols (`y{l}`, `u{l}`, `w{l}`, `b{l}`, `delta{l}`,
and `t` for targets); a weight is always `w{l}[from, to]` and `delta{l}` is always +∂E/∂u{l}.
A `Style` (DESIGN.md section 12) says how a book writes them: the weight order ("from_to": w_jk joins j
below to k; "to_from": Nielsen's and Bishop's w_jk joins k below to j), the names of the output, the
weighted sum, the target, the loss and the input, the sign of δ (RHW: δ = -∂E/∂net), how a layer is
marked (^l, ^{(l)}, ^{[l]}), which number the input layer has (Nielsen's input is layer 1), and how
index letters find their layer ("letter": ijk's k, j, i name the layers; "mark": a superscript names
it; "unit": letters are units of any layer, tied only by the weights between them, as in Bishop and
RHW; "node": neurons numbered through the net). `PRESETS` holds the notes' three notations (ijk,
layer, node) and six textbooks'. A `Notation` is a style applied to one net's widths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pretty import pretty
from sympy.printing.str import StrPrinter

KINDS = ("y", "u", "w", "b", "delta", "t")
_BASE = re.compile(r"(y|u|w|b|delta|ndelta)(\d+)\Z")  # ndelta: a book's δ = -∂E/∂u, for display only

IJK_LETTERS = "kjihg"  # output layer first: k, then j, i, h, g below it
IJK_DUMMIES = "rqpsv"  # summation letters of the same layers: sum_r delta_r w_jr (seed 002)
IJK_SIZES = "nml"  # widths of the k, j, i layers (seed 002's table)
LAYER_LETTERS = "nmkjih"  # input layer first: n, m as in seed 004's w^1_nm
LAYER_DUMMIES = "pqrsvo"

WEIGHT_ORDERS = ("from_to", "to_from")
DELTA_SIGNS = ("plus", "minus")
LAYER_MARKS = ("^l", "^{(l)}", "^{[l]}")
FAMILIES = ("letter", "mark", "unit", "node")
NAME_KEYS = ("output", "weighted_sum", "target", "loss", "input")


@dataclass(frozen=True)
class Style:
    """How one book writes the quantities of a dense net (see the module docstring)."""

    preset: str
    family: str = "letter"
    weights: str = "from_to"
    output: str = "y"  # a unit's output (activation), in every layer
    weighted_sum: str = "u"
    target: str = "t"
    loss: str = "E"  # printed; `losses` are all the names read as the loss of one sample
    input: str = "x"
    net_output: str | None = None  # the last layer's output, where a book names it apart (seed 004's y)
    delta_sign: str = "plus"
    layer_mark: str = "^l"
    input_layer: int = 0  # the number the book gives the input layer
    losses: tuple[str, ...] = ("E",)
    loss_subscripts: tuple[str, ...] = ()  # E_n, E_p, C_x, E_{total}: still the loss of one sample
    sample: tuple[str, ...] = ()  # sample index letters written first in a subscript (RHW's δ_pj)
    aliases: tuple[tuple[str, str], ...] = ()  # more names read as a role: (name, role)
    functions: tuple[str, ...] = ("f",)  # names of the activation function (σ is always sigmoid)
    general: tuple[str, ...] = ()  # a general layer in a mark: Nielsen's l
    last: tuple[str, ...] = ()  # the last layer in a mark: Nielsen's L
    letters: str = IJK_LETTERS  # index letters of the layers, for printing
    letters_from: str = "output"  # whether `letters` starts at the output or at the input layer
    dummies: str = IJK_DUMMIES
    drop_single_output: bool = False  # seed 004: a single output unit is written without its index
    description: str = ""

    def role_names(self) -> dict[str, str]:
        """Every written name (y, a, z, net, out, ...) -> its role (output, weighted_sum, weight, ...)."""
        roles = {"w": "weight", "b": "bias", "delta": "delta", self.output: "output",
                 self.weighted_sum: "weighted_sum", self.target: "target", self.input: "input"}
        if self.net_output:
            roles[self.net_output] = "net_output"
        roles.update(dict(self.aliases))
        return roles

    def mark(self, number: int | str) -> str:
        """The superscript that marks layer `number` (already in the book's numbering): 2, (2), [2]."""
        return {"^l": "%s", "^{(l)}": "(%s)", "^{[l]}": "[%s]"}[self.layer_mark] % number


def _preset(**kw) -> Style:
    return Style(**kw)


PRESETS: dict[str, Style] = {
    "ijk": _preset(preset="ijk", aliases=(("a", "output"), ("z", "weighted_sum"), ("h", "output")),
                   description="seeds 000/002: w_jk from j to k, y output, u weighted sum, t target, E loss; "
                               "the letters k, j, i name the output layer and the layers below it"),
    "layer": _preset(preset="layer", family="mark", output="a", weighted_sum="z", target="t", loss="J",
                     net_output="y", losses=("J", "E"), aliases=(("h", "output"),), letters=LAYER_LETTERS,
                     letters_from="input", dummies=LAYER_DUMMIES, drop_single_output=True,
                     description="seed 004: w^l_nm from neuron n of layer l-1 to neuron m of layer l, a^l "
                                 "output, z^l weighted sum, x input, y network output, t target, J loss"),
    "node": _preset(preset="node", family="node",
                    description="seed 003: neurons numbered through the net (hidden 1, 2, output 3, 4), "
                                "w_ab into node a from node b, y_h1 hidden, y_o1 output, y_t1 target"),
    "nielsen": _preset(preset="nielsen", family="mark", weights="to_from", output="a", weighted_sum="z",
                       target="y", loss="C", losses=("C",), loss_subscripts=("x",), input_layer=1,
                       functions=("f",), general=("l",), last=("L",), letters="jkmnpq", dummies="rqsvcd",
                       description="Nielsen, Neural Networks and Deep Learning, ch. 2: w^l_jk from neuron k "
                                   "of layer l-1 to neuron j of layer l, a^l output, z^l weighted sum, y "
                                   "target, C cost, input = layer 1 (a^1 = x)"),
    "bishop": _preset(preset="bishop", family="unit", weights="to_from", output="z", weighted_sum="a",
                      target="t", net_output="y", losses=("E",), loss_subscripts=("n",), layer_mark="^{(l)}",
                      functions=("h", "f"), letters="kjihg", dummies="rqsvcd",
                      description="Bishop, Pattern Recognition and Machine Learning, 5.3: w_ji from unit i "
                                  "to unit j, z output, a weighted sum, y network output, t target, E_n "
                                  "error of sample n; letters are units of any layer"),
    "goodfellow": _preset(preset="goodfellow", family="mark", weights="to_from", output="h",
                          weighted_sum="a", target="y", loss="J", losses=("J", "L"), layer_mark="^{(l)}",
                          general=("k",), last=("l",), letters="ijmnpq", dummies="rqsvcd",
                          aliases=(("W", "weight"),),
                          description="Goodfellow, Bengio, Courville, Deep Learning, 6.5: W^(k)_ij from unit j "
                                      "of layer k-1 to unit i of layer k, h^(k) output (h^(0) = x), a^(k) "
                                      "weighted sum, y target, J cost"),
    "rhw": _preset(preset="rhw", family="unit", weights="to_from", output="o", weighted_sum="net", target="t",
                   losses=("E",), loss_subscripts=("p",), sample=("p",), delta_sign="minus",
                   letters="kjihg", dummies="rqsvcd",
                   description="Rumelhart, Hinton, Williams 1986 (PDP ch. 8): w_ji from unit i to unit j, "
                               "o output, net weighted sum, t target, E_p error of pattern p, "
                               "δ_pj = -∂E_p/∂net_pj"),
    "mazur": _preset(preset="mazur", family="node", output="out", weighted_sum="net", target="target",
                     loss="E_total", losses=("E",), loss_subscripts=("total",), input="i",
                     description="Mazur, A Step by Step Backpropagation Example: i1, i2 inputs, h1, h2 "
                                 "hidden, o1, o2 outputs, out_ output, net_ weighted sum, target_, weights "
                                 "w1..w8 numbered through the net, E_total"),
    "cs231n": _preset(preset="cs231n", family="mark", output="h", weighted_sum="s", target="y", loss="L",
                      losses=("L",), input="x", letters=LAYER_LETTERS, letters_from="input",
                      dummies=LAYER_DUMMIES, aliases=(("W", "weight"),),
                      description="CS231n (Karpathy): W of shape (in, out), h hidden output, s scores, "
                                  "y target, L loss"),
}
TEXTBOOKS = ("nielsen", "bishop", "goodfellow", "rhw", "mazur", "cs231n")
NOTES = ("ijk", "layer", "node")


def style(name_or_style: str | Style | None) -> Style:
    """The style of a preset name (or the style itself)."""
    if isinstance(name_or_style, Style):
        return name_or_style
    if name_or_style not in PRESETS:
        raise ValueError(f"unknown notation {name_or_style!r} (expected one of {', '.join(PRESETS)})")
    return PRESETS[name_or_style]


def custom_style(table: dict) -> Style:
    """A style from a spec's [notation] table {preset, weights, names, delta_sign, layer_mark, input_layer};
    the table is validated by the spec loader, which reports its own errors."""
    base_style = PRESETS[table.get("preset", "ijk")]
    changes = {}
    if "weights" in table:
        changes["weights"] = table["weights"]
    if "delta_sign" in table:
        changes["delta_sign"] = table["delta_sign"]
    if "layer_mark" in table:
        changes["layer_mark"] = table["layer_mark"]
    if "input_layer" in table:
        changes["input_layer"] = table["input_layer"]
    names = dict(table.get("names", {}))
    for key in ("output", "weighted_sum", "target", "input"):
        if key in names:
            changes[key] = names[key]
    if "loss" in names:
        changes["loss"] = names["loss"]
        changes["losses"] = (names["loss"],)
    if changes:
        changes["description"] = base_style.description + "; changed: " + ", ".join(
            f"{k} = {v}" for k, v in sorted(changes.items()))
    return replace(base_style, **changes)


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
    name: str  # a preset: "ijk", "layer", "node", or a textbook's (PRESETS)
    sizes: tuple[int, ...]  # n_0 .. n_L, for node numbers and single-output shorthand
    style: Style | None = field(default=None, compare=True)  # None: the preset's own

    def __post_init__(self):
        if self.style is None:
            object.__setattr__(self, "style", style(self.name))

    @property
    def depth(self) -> int:
        return len(self.sizes) - 1

    @property
    def family(self) -> str:
        return self.style.family

    @property
    def loss_name(self) -> str:
        return self.style.loss

    def layer_number(self, l: int) -> int:
        """Layer l (0 = input) in the book's numbering (Nielsen: l + 1)."""
        return l + self.style.input_layer

    # -- index letters ---------------------------------------------------------------------
    def letter(self, l: int) -> str:
        """The free index letter of layer l (0 = input)."""
        letters, L = self.style.letters, self.depth
        if L + 1 > len(letters):
            return f"i_{l}"
        return letters[l] if self.style.letters_from == "input" else letters[L - l]

    def letters_suffice(self) -> bool:
        """Whether every layer has a letter of its own (else the letters are i_0, i_1, ...)."""
        return self.depth + 1 <= len(self.style.letters)

    def layer_hint(self) -> str:
        """What to write when an index letter names no layer of this net ('' when the letters suffice)."""
        L = self.depth
        example = r"\frac{\partial J}{\partial b^{%d}_{k}} = \delta^{%d}_{k}" % (L, L)
        if self.family == "mark":
            if self.letters_suffice():
                return ""
            return f"; in a net of {L} layers give the layer as a superscript, e.g. {example}"
        if self.family == "letter" and not self.letters_suffice():
            return (f"; the ijk notation names layers by letter ({', '.join(IJK_LETTERS)}) only in nets of up to "
                    f"{len(IJK_LETTERS) - 1} layers and this one has {L}: use --notation layer, where a superscript "
                    f"names the layer, e.g. {example}")
        return ""

    def dummy(self, l: int) -> str:
        """The summation letter that runs over layer l."""
        dummies, L = self.style.dummies, self.depth
        if L + 1 > len(dummies):
            return f"r_{l}"
        return dummies[l] if self.style.letters_from == "input" else dummies[L - l]

    def size_name(self, l: int) -> str:
        L = self.depth
        if self.family in ("letter", "node") and L - l < len(IJK_SIZES) and L + 1 <= len(IJK_LETTERS):
            return IJK_SIZES[L - l]
        return f"n_{l}"

    def node(self, l: int, i: int) -> int:
        """Global number of neuron i (1-based) of layer l >= 1, counting from the first hidden layer."""
        return sum(self.sizes[1:l]) + i

    # -- names of indexed symbols ----------------------------------------------------------
    def parts(self, kind: str, l: int | None, indices: tuple, index_text) -> tuple[str, str, str]:
        """(name, superscript, subscript) of one indexed symbol; `index_text` prints one index."""
        L, st = self.depth, self.style
        idx = [index_text(i) for i in indices]
        concrete = all(isinstance(i, (int, sp.Integer)) for i in indices)
        if self.family == "node" and concrete:
            return self._node_parts(kind, l, [int(i) for i in indices])
        if kind == "ndelta":
            kind = "delta"
        sup = ""
        own = st.family in ("mark", "unit") or st.preset == "mazur"  # the notes' ijk and node: kind names
        if kind == "y" and l == 0 and own:
            name = st.input
        elif kind == "y" and l == L and st.net_output:
            name = st.net_output
        elif own:
            name = {"y": st.output, "u": st.weighted_sum, "w": "w", "b": "b", "delta": "delta",
                    "t": st.target}[kind]
            if st.family == "mark" and kind != "t":
                sup = st.mark(self.layer_number(l))
        else:
            name = kind
        if kind == "w" and st.weights == "to_from":
            idx = idx[::-1]
        if st.drop_single_output and self.sizes[L] == 1:
            if (kind in ("y", "u", "b", "delta") and l == L) or kind == "t":
                idx = []
            if kind == "w" and l == L:
                idx = idx[:1]
        return name, sup, _join(idx)

    def _node_parts(self, kind: str, l: int | None, idx: list[int]) -> tuple[str, str, str]:
        L, st = self.depth, self.style
        if st.preset == "mazur":
            return self._mazur_parts(kind, l, idx)
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
        return {"ndelta": "delta"}.get(kind, kind), "", str(self.node(l, idx[0]))

    def unit_label(self, l: int, i: int) -> str:
        """Mazur's name of neuron i of layer l: i1 (input), h1 (hidden), o1 (output)."""
        return ("i" if l == 0 else "o" if l == self.depth else "h") + str(i)

    def weight_number(self, l: int, j: int, k: int) -> int:
        """Mazur's w1..w8: numbered through the net, layer by layer, per target unit, per source unit."""
        before = sum(self.sizes[m - 1] * self.sizes[m] for m in range(1, l))
        return before + (k - 1) * self.sizes[l - 1] + j

    def _mazur_parts(self, kind, l, idx):
        st = self.style
        if kind == "t":
            return st.target, "", f"o{idx[0]}"
        if kind == "y":
            return (st.input, "", str(idx[0])) if l == 0 else (st.output, "", self.unit_label(l, idx[0]))
        if kind == "u":
            return st.weighted_sum, "", self.unit_label(l, idx[0])
        if kind == "w":
            return "w", "", str(self.weight_number(l, idx[0], idx[1]))
        if kind in ("delta", "ndelta"):
            return "delta", "", self.unit_label(l, idx[0])
        return "b", "", self.unit_label(l, idx[0])


def _join(parts: list[str]) -> str:
    """w_{jk} and w_{31}, but w_{3,11} and w_{i_1,i_2} where run together they would be ambiguous."""
    return "".join(parts) if all(len(p) == 1 for p in parts) else ",".join(parts)


def notation_for(spec, name: str | Style | None = None) -> Notation:
    """The notation of a spec: `name` (a preset name or a style) overrides the spec's own."""
    chosen = style(name if name is not None else spec.notation)
    return Notation(chosen.preset, spec.sizes, chosen)


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
            name, _, sub = self.notation.loss_name.partition("_")
            return name + ("_{%s}" % sub if sub else "")
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

    def _print_Partial(self, expr):  # the checker's ∂A/∂B through the network
        a, b = expr.args
        return f"∂{self._print(a)}/∂{self._print(b)}"

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


def book_signs(expr, notation: Notation):
    """The tool's δ (+∂E/∂u) written in a book whose δ is -∂E/∂net (RHW): δ_tool = -δ_book."""
    if notation.style.delta_sign != "minus" or not isinstance(expr, sp.Basic):
        return expr
    swap = {}
    for a in expr.atoms(sp.Indexed):
        kind, l = parse_base(a.base.label.name) if _BASE.match(a.base.label.name) else (None, None)
        if kind == "delta":
            swap[a] = -base("ndelta", l)[a.indices]
    return expr.xreplace(swap) if swap else expr


def latex(expr, notation: Notation) -> str:
    return NotationLatexPrinter(notation).doprint(book_signs(expr, notation))


def text(expr, notation: Notation) -> str:
    return NotationTextPrinter(notation).doprint(book_signs(expr, notation))
