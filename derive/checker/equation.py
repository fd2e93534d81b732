"""Reading a hand-written equation in the notations of the notes: LaTeX or plain text.

Two stages. *Reading* turns each side of `LHS = RHS (= ...)` into a SymPy expression whose
notation-specific parts (w_{jk}, w^{1}_{nm}, y_{o1}, \\delta_k, f'(u_k), ∂E/∂w_jk, ...) are
placeholder symbols, each standing for a small record (`Atom`, `Deriv`, `Grad`, `Act`, `Group`).
LaTeX is preprocessed into placeholders and then read by latex2sympy2-extended (which would
otherwise read w^{2}_{m} as a power and lowercase names); plain text goes through the safe `ast`
whitelist of `derive.spec.expr`. Nothing is eval'ed or sympified.

*Resolving* decides which layer every index letter runs over (ijk: the letter names the layer,
a dummy takes the layer its partner implies; layer: the superscript; node: global node numbers)
and replaces the placeholders by the network's own symbols: y{l}[i], u{l}[i], w{l}[j, k], b{l}[k],
delta{l}[k], t[k], the loss E, `Partial(A, B)` for a derivative and the activations' formulas.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import ClassVar

import sympy as sp

from derive.errors import ExpressionError
from derive.network.chain import E, index_symbol
from derive.network.notation import NOTES, Notation, Style, base, style
from derive.spec.catalog import ACTIVATIONS, leaky_relu
from derive.spec.catalog import x as X_VAR
from derive.spec.expr import parse_expression

MAX_EQUATION = 2000
MAX_PLACEHOLDERS = 400


class EquationError(ValueError):
    """The equation could not be read; the message says what, in one line."""


class Refusal(EquationError):
    """The reading depends on a convention the notation does not fix: refused, never guessed
    (DESIGN.md section 12). The message names the reason and the key to set."""


class LayerRange(EquationError):
    """A reading puts a quantity in a layer that does not exist (δ of the input, a layer above the
    output): when the layers were enumerated (a general l, a letter of any layer) that reading is skipped."""


class Unresolved(EquationError):
    """An index letter (or a general layer l) that the notation ties to no layer: the checker tries every
    layer it can stand for."""

    def __init__(self, letter: str, message: str, general: bool = False):
        super().__init__(message)
        self.letter = letter
        self.general = general


class Partial(sp.Function):
    """∂A/∂B through the network (A: the loss, a node value or an expression; B: what it is taken by)."""

    nargs = 2

    @classmethod
    def eval(cls, a, b):
        return None


# ---------------------------------------------------------------------------------------------
# records that placeholders stand for


@dataclass(frozen=True)
class Atom:
    name: str  # y u w b t delta x a z loss err
    sup: str | None
    subs: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Deriv:
    num: sp.Expr
    den: sp.Expr
    text: str


@dataclass(frozen=True)
class Grad:
    of: sp.Expr
    text: str


@dataclass(frozen=True)
class Act:
    fname: str  # f, sigmoid, relu, identity, tanh, softplus, leaky_relu
    prime: bool
    arg: sp.Expr
    text: str


@dataclass(frozen=True)
class Group:
    expr: sp.Expr
    text: str


@dataclass(frozen=True)
class Range:
    """The upper limit of a sum written without limits (\\sum_k): the width of k's layer."""

    letter: str
    text: str


_CODE = "cdfgijklmnopqrsv"


@dataclass
class Table:
    items: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def add(self, obj) -> sp.Symbol:
        if len(self.items) >= MAX_PLACEHOLDERS:
            raise EquationError("the equation is too long")
        n, code = len(self.items), ""
        while True:
            code = _CODE[n % 16] + code
            n //= 16
            if not n:
                break
        sym = sp.Symbol("qq" + code)
        self.items[sym] = obj
        return sym


def _tex(sym: sp.Symbol) -> str:
    return r"{\mathit{%s}}" % sym.name


# ---------------------------------------------------------------------------------------------
# splitting and top-level reading


def split_sides(text: str) -> list[str]:
    """`A = B = C` -> [A, B, C], splitting only at '=' outside braces and parentheses."""
    if not isinstance(text, str):
        raise EquationError("expected a string")
    if len(text) > MAX_EQUATION:
        raise EquationError(f"the equation is longer than {MAX_EQUATION} characters")
    if "\x00" in text:
        raise EquationError("the equation contains a NUL character")
    text = text.strip().strip("$").strip()
    if "\\begin" not in text:
        text = text.replace("&", " ").replace("\\\\", " ")
    sides, depth, start = [], 0, 0
    i = 0
    while i < len(text):
        c = text[i]
        if c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
        elif c == "=" and depth <= 0:
            j = i
            while j + 1 < len(text) and text[j + 1] == "=":
                j += 1
            sides.append(text[start:i])
            start, i = j + 1, j
        i += 1
    sides.append(text[start:])
    sides = [s.strip() for s in sides]
    if len(sides) < 2:
        raise EquationError("expected an equation 'LHS = RHS' (no '=' found)")
    for n, s in enumerate(sides):
        if not s:
            raise EquationError("empty " + ("left" if n == 0 else "right") + " side")
    return sides


def is_latex(text: str) -> bool:
    return any(c in text for c in "\\{}$")


def read_side(text: str, table: Table, notation, latex: bool) -> sp.Expr:
    """One side of the equation as a SymPy expression with placeholders; `notation` is a preset name,
    a Style or a Notation."""
    notation = notation.style if isinstance(notation, Notation) else style(notation)
    if latex:
        return _latex(_normalise_latex(text, table), table, notation)
    return _plain(text, table, notation)


# ---------------------------------------------------------------------------------------------
# LaTeX

FUNC_WORDS = {
    "relu": "relu", "identity": "identity", "sigmoid": "sigmoid", "tanh": "tanh", "softplus": "softplus",
    "leakyrelu": "leaky_relu", "lrelu": "leaky_relu", "id": "identity",
}
ALLOWED_COMMANDS = {"frac", "cdot", "times", "sum", "exp", "ln", "tanh", "sinh", "cosh", "sqrt", "mathit",
                    "FN", "sigma", "partial", "delta", "begin", "end", "prime", "cases", "Bmatrix",
                    "sin", "cos", "tan", "arctan", "arcsinh", "pi"}
# SymPy prints these as \operatorname{...}; latex2sympy reads the first two under their usual names
OPERATOR_NAMES = {"atan": r"\arctan", "arctan": r"\arctan", "asinh": r"\arcsinh", "arcsinh": r"\arcsinh",
                  "arsinh": r"\arcsinh", "erf": r"\FN{erf}", "sign": r"\FN{sign}"}
_APPLIED = re.compile(r"\\(?:sin|cos|tan|sinh|cosh|tanh|arctan|arcsinh|exp|ln)\b\s*(?:\^\s*\{[^{}]*\}\s*)?(?=\{)")
ELEMENTARY = {"erf": sp.erf, "sign": sp.sign, "abs": sp.Abs}  # read as \FN{...}(arg), not by latex2sympy


def _normalise_latex(s: str, table: Table) -> str:
    s = s.strip().strip("$").strip()
    for a, b in (("∂", r"\partial "), ("δ", r"\delta "), ("σ", r"\sigma "), ("·", r"\cdot "), ("×", r"\times "),
                 ("−", "-"), ("’", "'"), ("≤", r"\leq "), ("≥", r"\geq "), ("⋯", r"\cdots "), ("…", r"\dots ")):
        s = s.replace(a, b)
    if "qq" in s:
        raise EquationError("unrecognised name containing 'qq'")
    if re.search(r"\\(?:c|l)?dots\b|\\ldots|\.\.\.|\\cdot\s*\\cdot\s*\\cdot|\\vdots", s):
        raise EquationError("an ellipsis (\\dots) cannot be checked: write the sum with \\sum_{q=1}^{m}")
    # seed 004's squared norm ||t - y||^2_2 (one output: a square); J(y) is J
    norm = r"(?:\\left\s*)?\\\|(.*?)(?:\\right\s*)?\\\|\s*(?:\^\s*\{?\s*2\s*\}?\s*_\s*\{?\s*2\s*\}?|_\s*\{?\s*2\s*\}?\s*\^\s*\{?\s*2\s*\}?|\^\s*\{?\s*2\s*\}?)"
    s = re.sub(norm, r"(\1)^{2}", s)
    s = re.sub(r"(?<![A-Za-z\\])([EJ])\s*\(\s*y\s*\)", r"\1", s)
    s = _absolute_values(s)
    s = re.sub(r"\\left\s*(\\\{|\(|\[|\.|\|)", lambda m: {"\\{": "(", "(": "(", "[": "(", ".": "", "|": "|"}[m.group(1)], s)
    s = re.sub(r"\\right\s*(\\\}|\)|\]|\.|\|)", lambda m: {"\\}": ")", ")": ")", "]": ")", ".": "", "|": "|"}[m.group(1)], s)
    s = re.sub(r"\\[dt]frac\b", r"\\frac", s)
    s = re.sub(r"\\displaystyle\b", " ", s)
    s = re.sub(r"\\(?:q?quad)\b|(?<!\\)\\[,;:! ]|~", " ", s)
    s = re.sub(r"\\log\b", r"\\ln", s)
    s = re.sub(r"\^\s*\{\s*\\prime\s*\}|\^\s*\\prime\b", "'", s)
    s = re.sub(r"\\mathrm\s*\{\s*d\s*\}", "d", s)
    # per sample: the batch mean 1/N sum over (x, t) in D of seed 004 is the sample itself
    batch = r"(?:-\s*)?\\frac\s*\{?\s*1\s*\}?\s*\{?\s*N\s*\}?\s*\\sum_\{\s*\(\s*x\s*,\s*t\s*\)\s*\\in\s*D\s*\}(?:\^\s*(?:\{\s*N\s*\}|N))?"
    if re.search(batch, s):
        s = re.sub(batch, lambda m: "-" if m.group(0).lstrip().startswith("-") else "", s)
        table.notes.append("the batch mean 1/N Σ over (x, t) in D is read per sample (N = 1)")
    # Korean names of seed 003: 오차y_out is the error E, 오차y_o1 one output's term, 가중합_3 a weighted sum
    s = re.sub(r"오차\s*[dD]?\s*[yY]?\s*_\s*\{?\s*out\s*\}?", " E ", s)
    s = re.sub(r"가중합\s*_\s*\{?\s*(\d+)\s*\}?", r"u_{\1}", s)
    # seed 000 writes \partial_{uk} for \partial u_{k}; seed 000 also writes y{2} for y_{2}
    s = re.sub(r"\\partial\s*_\s*\{\s*([yuwbz])\s*([a-z0-9]+)\s*\}", r"\\partial \1_{\2}", s)
    s = re.sub(r"(?<![A-Za-z\\])([yuwbt])\{", r"\1_{", s)

    def word(m):
        w = m.group(1)
        key = w.lower().replace(" ", "")
        if key in FUNC_WORDS:
            return r"\FN{%s}" % FUNC_WORDS[key]
        if key in OPERATOR_NAMES:
            return OPERATOR_NAMES[key] + " "
        if key in ("if", "otherwise", "else", "for"):
            return " "
        if key in ("total", "out", "net", "target"):  # Mazur's names, often set upright
            return key
        if len(w) == 1:
            return w
        raise EquationError(f"cannot read \\text{{{w}}}")

    s = re.sub(r"\\(?:mathrm|text|operatorname|textrm|mathit|mathbf|textit|rm)\s*\{\s*([A-Za-z ]*)\s*\}", word, s)
    s = re.sub(r"\\(ReLU|relu|Identity|sigmoid)\b", lambda m: r"\FN{%s}" % FUNC_WORDS[m.group(1).lower()], s)
    s = re.sub(r"오차\s*[yY]\s*_\s*\{?\s*o\s*(\d+)\s*\}?", lambda m: _tex(table.add(Atom("err", None, (m.group(1),), m.group(0)))), s)
    s = re.sub(r"오차", " E ", s)
    return _unbrace_arguments(s)


def _unbrace_arguments(s: str) -> str:
    """SymPy's \\sin{\\left(x\\right)} y as \\sin(x) y: latex2sympy reads a braced argument as applying
    to the whole product that follows (sin(x y))."""
    pos = 0
    while m := _APPLIED.search(s, pos):
        inner, end = _group(s, m.end())
        body = inner.strip()
        if body.startswith("(") and _paren(body, 0)[1] == len(body):
            s = s[:m.end()] + body + s[end:]
        pos = m.end()
    return s


_LEFT_RIGHT = re.compile(r"\\(left|right)\s*(\\\{|\\\}|\(|\)|\[|\]|\.|\|)")


def _absolute_values(s: str) -> str:
    """SymPy's \\left|{a}\\right| read as abs(a): bare bars would pair across terms (|a| + 1 ... |b|)."""
    while (start := s.find(r"\left|")) >= 0:
        depth = 0
        for m in _LEFT_RIGHT.finditer(s, start):
            depth += 1 if m.group(1) == "left" else -1
            if depth == 0:
                if m.group(2) != "|":
                    raise EquationError(r"unbalanced \left| ... \right|")
                inner = s[start + len(r"\left|"):m.start()].strip()
                if inner.startswith("{") and _group(inner, 0)[1] == len(inner):  # SymPy's |{a}|
                    inner = _group(inner, 0)[0]
                s = s[:start] + r"\FN{abs}(" + inner + ")" + s[m.end():]
                break
        else:
            raise EquationError(r"unbalanced \left| ... \right|")
    return s


def _group(s: str, i: int) -> tuple[str, int]:
    """The brace group (or single character) at s[i:], and the index after it."""
    while i < len(s) and s[i] == " ":
        i += 1
    if i >= len(s):
        raise EquationError("a \\frac or subscript is missing its argument")
    if s[i] != "{":
        if s[i] == "\\":
            m = re.match(r"\\[A-Za-z]+", s[i:])
            if m:
                return m.group(0), i + len(m.group(0))
        return s[i], i + 1
    return _matched(s, i, "{", "}", "braces")


def _paren(s: str, i: int) -> tuple[str, int]:
    """The parenthesised group starting at s[i] == '(' and the index after it."""
    return _matched(s, i, "(", ")", "parentheses")


def _matched(s: str, i: int, opening: str, closing: str, what: str) -> tuple[str, int]:
    """The inside of the group opened at s[i] and the index after its matching close."""
    depth = 0
    for j in range(i, len(s)):
        if s[j] == opening:
            depth += 1
        elif s[j] == closing:
            depth -= 1
            if depth == 0:
                return s[i + 1:j], j + 1
    raise EquationError(f"unbalanced {what}")


_DIFF = re.compile(r"\s*(\\partial(?![A-Za-z])|d(?![a-z]{2}))")


def _strip_diff(text: str) -> str | None:
    m = _DIFF.match(text)
    if not m:
        return None
    return text[m.end():].strip()


def _latex(s: str, table: Table, notation: str, depth: int = 0) -> sp.Expr:
    if depth > 12:
        raise EquationError("nested too deeply")
    if not s.strip():
        raise EquationError("empty expression")
    s = _cases(s, table, notation, depth)
    s = _open_sums(s, table)
    s = _fracs(s, table, notation, depth)
    s = _slash_derivs(s, table, notation, depth)
    s = _calls(s, table, notation, depth)
    s = _shorthand(s, table, notation)
    s = _atoms(s, table, notation)
    for cmd in re.findall(r"\\([A-Za-z]+)", s):
        if cmd not in ALLOWED_COMMANDS:
            raise EquationError(f"cannot read \\{cmd}")
    if re.search(r"\\(?:sigma|FN|partial|delta)\b", s):
        m = re.search(r"\\(?:sigma|FN\{\w+\}|partial|delta)", s)
        raise EquationError(f"cannot read '{m.group(0)}' here (expected e.g. \\sigma(u_k), \\delta_k, "
                            "\\frac{\\partial E}{\\partial w_{jk}})")
    return _l2s(s)


def _l2s(s: str) -> sp.Expr:
    lone = re.fullmatch(r"\s*\{\\mathit\{(qq[a-z]+)\}\}\s*", s)
    if lone:  # a single placeholder (E, w_{jk} inside \frac{\partial E}{\partial w_{jk}}): nothing to parse
        return sp.Symbol(lone.group(1))
    if re.fullmatch(r"\s*\d{1,6}\s*", s):
        return sp.Integer(int(s))
    try:
        return _check_tree(_Simple(s).parse())
    except _NotSimple:
        pass
    from latex2sympy2_extended import latex2sympy  # lazy: only LaTeX input pays for it

    try:
        expr = latex2sympy(s)
    except RecursionError:
        raise EquationError("nested too deeply") from None
    except Exception as exc:  # noqa: BLE001  latex2sympy raises bare Exceptions for syntax errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EquationError(f"cannot read the LaTeX ({first})") from None
    if isinstance(expr, sp.FiniteSet) and len(expr) == 1:
        expr = next(iter(expr))
    if not isinstance(expr, sp.Basic) or isinstance(expr, (sp.Eq, sp.Ne)) or not isinstance(expr, (sp.Expr, sp.logic.boolalg.Boolean, sp.core.relational.Relational)):
        raise EquationError("cannot read the LaTeX as an expression")
    return _check_tree(expr)


class _NotSimple(Exception):
    pass


class _Simple:
    """The arithmetic most notes use (placeholders, numbers, + - \\cdot, juxtaposition, parentheses,
    ^, \\frac, \\sum), read directly: latex2sympy's parser takes ~0.5 s to warm up, which the
    3-second budget of a check cannot afford. Anything else raises _NotSimple and goes to latex2sympy
    (the tests check that both readers agree on the corpus)."""

    TOKEN = re.compile(r"\s*(?:(\{\\mathit\{qq[a-z]+\}\})|(\d+(?:\.\d+)?)|(\\frac|\\sum|\\cdot|\\times)|([a-df-hj-z])|([-+*/^_(){}=]))")

    def __init__(self, s: str):
        self.tokens = []
        pos = 0
        s = s.rstrip()
        while pos < len(s):
            m = self.TOKEN.match(s, pos)
            if not m or m.end() == pos:
                raise _NotSimple
            kind = m.lastindex
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else (None, None)

    def take(self, value=None):
        tok = self.peek()
        if tok[0] is None or (value is not None and tok[1] != value):
            raise _NotSimple
        self.i += 1
        return tok

    def parse(self):
        e = self.expr()
        if self.i != len(self.tokens):
            raise _NotSimple
        return e

    def expr(self):
        sign = 1
        while self.peek()[1] in ("+", "-"):
            sign *= -1 if self.take()[1] == "-" else 1
        total = sign * self.term()
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            total = total + self.term() if op == "+" else total - self.term()
        return total

    def term(self):
        value = self.factor()
        while True:
            kind, tok = self.peek()
            if tok in ("\\cdot", "\\times", "*"):
                self.take()
                value = value * self.factor()
            elif kind in (1, 2, 4) or tok in ("(", "\\frac", "\\sum"):
                value = value * self.factor()
            else:
                return value

    def factor(self):
        base_ = self.primary()
        if self.peek()[1] == "^":
            self.take()
            exponent = self.group()
            if not exponent.is_Integer or abs(exponent) > 64:
                raise _NotSimple
            return base_ ** exponent
        return base_

    def group(self):
        kind, tok = self.peek()
        if tok == "{":
            self.take()
            e = self.expr()
            self.take("}")
            return e
        if kind == 2 and tok.isdigit() and len(tok) == 1:
            self.take()
            return sp.Integer(tok)
        raise _NotSimple

    def primary(self):
        kind, tok = self.peek()
        if kind == 1:
            self.take()
            return sp.Symbol(tok[len("{\\mathit{"):-2])
        if kind == 2:
            self.take()
            return sp.Rational(tok)
        if kind == 4:
            self.take()
            return sp.Symbol(tok)
        if tok == "(":
            self.take()
            e = self.expr()
            self.take(")")
            return e
        if tok == "\\frac":
            self.take()
            num, den = self.group(), self.group()
            if den == 0:
                raise _NotSimple
            return num / den
        if tok == "\\sum":
            self.take()
            self.take("_")
            self.take("{")
            var = self.take()
            if var[0] != 4:
                raise _NotSimple
            self.take("=")
            lo = self.expr()
            self.take("}")
            self.take("^")
            hi = self.group() if self.peek()[1] == "{" else self.primary()
            return sp.Sum(self.term(), (sp.Symbol(var[1]), lo, hi))
        raise _NotSimple


_OK_FUNCS = (sp.exp, sp.log, sp.tanh, sp.sinh, sp.cosh, sp.Abs, sp.sin, sp.cos, sp.tan, sp.atan, sp.asinh, sp.erf, sp.sign)


def _check_tree(expr: sp.Basic) -> sp.Basic:
    floats = {}
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.Float):
            floats[node] = sp.Rational(str(node))
        elif isinstance(node, (sp.Symbol, sp.Integer, sp.Rational, sp.Add, sp.Mul, sp.Sum, sp.Tuple,
                               sp.Piecewise, sp.core.relational.Relational, sp.functions.elementary.piecewise.ExprCondPair,
                               sp.logic.boolalg.BooleanAtom, sp.core.numbers.Exp1, sp.core.numbers.Pi, *_OK_FUNCS)):
            continue
        elif isinstance(node, sp.Pow):
            if not node.exp.is_number and node.base is not sp.E:
                raise EquationError("cannot check a power with a variable exponent (write e^{...} for exp)")
            if node.exp.is_number and abs(node.exp) > 64:
                raise EquationError(f"exponent {node.exp} is larger than 64")
        elif isinstance(node, sp.core.function.AppliedUndef):
            raise EquationError(f"unknown function '{node.func}'")
        else:
            raise EquationError(f"cannot check '{type(node).__name__}' ({str(node)[:40]})")
    return expr.xreplace(floats) if floats else expr


_OPEN_SUM = re.compile(r"\\sum\s*(?:\\limits\s*)?_\s*(?:\{\s*([A-Za-z])\s*\}|([A-Za-z]))(?!\s*\^)")


def _open_sums(s: str, table: Table) -> str:
    """\\sum_k (no limits; also \\sum\\limits_k): k runs over its whole layer, as the books mean it."""
    s = re.sub(r"\\sum\s*\\limits", r"\\sum", s)

    def repl(m):
        letter = m.group(1) or m.group(2)
        top = _tex(table.add(Range(letter, m.group(0))))
        if not any("sums without limits" in n for n in table.notes):
            table.notes.append("sums without limits run over the whole layer of their index")
        return r"\sum_{%s=1}^{%s}" % (letter, top)

    return _OPEN_SUM.sub(repl, s)


def _cases(s: str, table: Table, notation: str, depth: int) -> str:
    pattern = re.compile(r"\\begin\s*\{\s*(cases|Bmatrix|matrix)\s*\}(.*?)\\end\s*\{\s*\1\s*\}", re.DOTALL)
    while True:
        m = pattern.search(s)
        if not m:
            return s
        if m.group(1) == "matrix":
            raise EquationError("cannot check a matrix")
        pieces = []
        for row in re.split(r"\\\\", m.group(2)):
            if not row.strip():
                continue
            cells = row.split("&")
            if len(cells) != 2:
                raise EquationError("each case needs 'value & condition'")
            value = _latex(cells[0], table, notation, depth + 1)
            pieces.append((value, _condition(cells[1], table, notation, depth)))
        if not pieces:
            raise EquationError("empty cases")
        if pieces[-1][1] is not sp.true:
            pieces.append((sp.nan, True))
        try:
            expr = sp.Piecewise(*pieces)
        except (TypeError, ValueError) as exc:
            raise EquationError(f"cannot read the cases ({exc})") from None
        s = s[:m.start()] + _tex(table.add(Group(expr, m.group(0)))) + s[m.end():]


def _condition(text: str, table: Table, notation: str, depth: int):
    t = text.strip()
    while t.startswith("(") and t.endswith(")"):
        t = t[1:-1].strip()
    if not t or t in ("otherwise", "else"):
        return sp.true
    ops = [(r"\\geqslant|\\geq|\\ge\b|>=", sp.Ge), (r"\\leqslant|\\leq|\\le\b|<=", sp.Le), (r">", sp.Gt), (r"<", sp.Lt)]
    for op, rel in ops:
        parts = re.split(op, t)
        if len(parts) == 2:
            return rel(_latex(parts[0], table, notation, depth + 1), _latex(parts[1], table, notation, depth + 1))
    raise EquationError(f"cannot read the condition '{t}'")


def _fracs(s: str, table: Table, notation: str, depth: int) -> str:
    pos = 0
    while True:
        p = s.find(r"\frac", pos)
        if p < 0:
            return s
        num, i = _group(s, p + 5)
        den, j = _group(s, i)
        num_body, den_body = _strip_diff(num), _strip_diff(den)
        if num_body is None or den_body is None or not den_body:
            pos = p + 5
            continue
        den_expr = _latex(den_body, table, notation, depth + 1)
        if not num_body:  # operator form d/dx (...): it acts on the rest of the side
            rest = s[j:].strip()
            if not rest:
                raise EquationError(f"'{s[p:j]}' has nothing to act on")
            sym = table.add(Deriv(_latex(rest, table, notation, depth + 1), den_expr, s[p:]))
            return s[:p] + _tex(sym)
        sym = table.add(Deriv(_latex(num_body, table, notation, depth + 1), den_expr, s[p:j]))
        s = s[:p] + _tex(sym) + s[j:]
        pos = p


_PLAIN_ATOM = r"(?:\\delta|[yuwbtxazhEJ])(?:\s*\^\s*(?:\{[^{}]*\}|\w))?(?:\s*_\s*(?:\{[^{}]*\}|\w))?|\{\\mathit\{qq\w+\}\}"


def _slash_derivs(s: str, table: Table, notation: str, depth: int) -> str:
    """Seed 002 writes ∂E / ∂u_k inline."""
    pattern = re.compile(r"\\partial\s*(%s)\s*/\s*\\partial\s*(%s)" % (_PLAIN_ATOM, _PLAIN_ATOM))

    def repl(m):
        return _tex(table.add(Deriv(_latex(m.group(1), table, notation, depth + 1),
                                    _latex(m.group(2), table, notation, depth + 1), m.group(0))))

    return pattern.sub(repl, s)


def _calls(s: str, table: Table, notation: str, depth: int) -> str:
    names = "|".join(sorted({"f", *notation.functions}, key=len, reverse=True))
    head = re.compile(r"(\\sigma|\\FN\{(\w+)\}|(?<![A-Za-z\\])(?:%s)(?![A-Za-z]))\s*('*)\s*(?:_\s*(?:\{\s*[a-z]\s*\}|[a-z])\s*('*))?\s*(\{\s*)?(\()?" % names)
    pos = 0
    while True:
        m = head.search(s, pos)
        if not m:
            return s
        if m.group(6) is None:
            if m.group(1) == "f":
                raise EquationError("'f' must be applied: f(u_k) or f'(u_k)")
            raise EquationError(f"'{m.group(1)}' must be applied to an argument in parentheses")
        inner, end = _paren(s, m.end() - 1)
        if m.group(5) is not None:  # SymPy's \operatorname{erf}{\left(x\right)}: the argument braced
            closing = re.match(r"\s*\}", s[end:])
            if closing is None:
                raise EquationError(f"unbalanced braces after '{m.group(1)}'")
            end += closing.end()
        fname = "sigmoid" if m.group(1) == r"\sigma" else (m.group(2) or "f")
        arg = _latex(inner, table, notation, depth + 1)
        sym = table.add(Act(fname, bool(m.group(3) or m.group(4)), arg, s[m.start():end]))
        s = s[:m.start()] + _tex(sym) + s[end:]
        pos = m.start()


def _shorthand(s: str, table: Table, notation: str) -> str:
    # node notation (seed 003): \delta y_{o1} is the delta of output node o1
    if notation.preset == "node":
        s = re.sub(r"\\delta\s*y\s*_\s*\{?\s*([oh])\s*(\d+)\s*\}?",
                   lambda m: _tex(table.add(Atom("delta", None, (m.group(1) + m.group(2),), m.group(0)))), s)
    # seed 002: \delta k for \delta_k
    s = re.sub(r"\\delta\s+([a-z])(?![A-Za-z_^{])", r"\\delta_{\1}", s)
    # \partial w_{jk}, \delta y_j (seeds 000/002): short for the gradient dE/dw_jk, dE/dy_j
    pattern = re.compile(r"(\\partial|\\delta(?=\s*[yuwbxaz]\s*[_^]))\s*((?:[yuwbxaz])(?:\s*\^\s*(?:\{[^{}]*\}|\w))?(?:\s*_\s*(?:\{[^{}]*\}|\w))?)")

    def repl(m):
        inner = _atoms(m.group(2), table, notation)
        sym_name = re.fullmatch(r"\{\\mathit\{(qq\w+)\}\}", inner.strip())
        if not sym_name:
            raise EquationError(f"cannot read '{m.group(0)}'")
        return _tex(table.add(Grad(sp.Symbol(sym_name.group(1)), m.group(0))))

    return pattern.sub(repl, s)


_LAYERED_ROLES = ("weight", "bias", "output", "weighted_sum", "delta")
_SUP = r"\s*\^\s*(?:\{(?:[^{}]|\{[^{}]*\})*\}|\w)"
_SUB = r"\s*_\s*(?:\{[^{}]*\}|\w)"


def _names(notation: Style) -> list[str]:
    """The names an atom may have in this notation, longest first: the notes' letters and the book's own."""
    names = set("yuwbtxazhEJ") | set(notation.role_names()) | set(notation.losses)
    return sorted(names - {"delta"}, key=lambda n: (-len(n), n))


def _mark(sup: str, notation: Style, text: str) -> str | None:
    """The layer a superscript names, without its delimiters ('l+1', '2', 'L'), or None for a power.
    A mark in another style than the notation's is refused: it would be a guess."""
    marks = {"(": "^{(l)}", "[": "^{[l]}"}
    opened = sup[:1]
    want = notation.layer_mark
    if opened in marks:
        if marks[opened] != want:
            raise Refusal(f"{text}: the superscript {sup} marks a layer in the style {marks[opened]}, but the "
                          f"{notation.preset} notation marks layers {want}; set [notation] layer_mark = "
                          f"\"{marks[opened]}\" if that is what you mean")
        closing = {"(": ")", "[": "]"}[opened]
        if not sup.endswith(closing):
            raise EquationError(f"cannot read the layer mark {sup} of {text}")
        return sup[1:-1].strip()
    if want != "^l":
        if notation.family == "mark" and re.fullmatch(r"[A-Za-z]([+-]\d)?|\d+", sup.replace(" ", "")):
            raise Refusal(f"{text}: the {notation.preset} notation marks layers {want}, so ^{sup} could be a power "
                          f"or a layer; write the power of a bracket, or the layer as {notation.mark(sup)}, or set "
                          "[notation] layer_mark = \"^l\"")
        return None
    return sup


def _atoms(s: str, table: Table, notation: Style) -> str:
    alternatives = "|".join(re.escape(n) for n in _names(notation))
    pattern = re.compile(
        r"(?<![A-Za-z\\])(?P<name>\\delta(?![A-Za-z])|(?:%s)(?![A-Za-z]))"
        r"(?P<sup>%s)?(?P<sub>%s)?(?P<sup2>%s)?" % (alternatives, _SUP, _SUB, _SUP)
    )
    roles = notation.role_names()
    layered = notation.family in ("mark", "unit")

    def repl(m):
        name = m.group("name").lstrip("\\")
        sup, sub, sup2 = m.group("sup"), m.group("sub"), m.group("sup2")
        text = m.group(0).strip()
        tail = ""
        if sup is None and sup2 is not None:
            sup, sup2 = sup2, None
            sup_first = False
        else:
            sup_first = True
        if sup2 is not None:
            tail = sup2
        mark = None
        if sup is not None and layered and roles.get(name) in _LAYERED_ROLES:
            mark = _mark(_brace(sup.split("^", 1)[1]), notation, text)
        if sup is not None and mark is None:
            # a power (y^2): leave it to the reader
            if sub is None:
                tail = sup + tail
            elif sup_first:
                tail = sup + sub + tail
                sub = None
            else:
                tail = sup + tail
            sup = None
        raw_sub = _brace(sub.split("_", 1)[1]) if sub else None
        if name in ("E", "J") or name in notation.losses:
            return _tex(_loss_atom(name, raw_sub, text, table, notation)) + tail
        subs = _subscripts(raw_sub, notation) if sub else ()
        if len(subs) >= 2 and subs[0] in notation.sample:
            subs = subs[1:]
            _note(table, f"{notation.sample[0]} is the sample (pattern) index: checked for one sample")
        return _tex(table.add(Atom(name, mark, subs, text))) + tail

    return pattern.sub(repl, s)


def _note(table: Table, note: str) -> None:
    if note not in table.notes:
        table.notes.append(note)


def _loss_atom(name: str, sub: str | None, text: str, table: Table, notation: Style) -> sp.Symbol:
    if sub is None:
        return table.add(Atom("loss", None, (), name))
    clean = sub.replace(" ", "").replace(r"\text", "").replace(r"\mathrm", "").strip("{}")
    if clean in notation.loss_subscripts:
        _note(table, f"{text} is read as the loss of one sample")
        return table.add(Atom("loss", None, (), name))
    if notation.preset == "mazur" and re.fullmatch(r"o\d+", clean):
        return table.add(Atom("err", None, (clean[1:],), text))
    books = [n for n, st in _presets().items() if clean in st.loss_subscripts]
    hint = f" (it is in the {', '.join(books)} notation: --notation {books[0]})" if books else ""
    raise Refusal(f"{text}: the {notation.preset} notation gives the loss no subscript {clean!r}, so it could mean "
                  f"one sample, a batch or one output's term{hint}")


def _presets():
    from derive.network.notation import PRESETS

    return PRESETS


def _brace(t: str) -> str:
    t = t.strip()
    if t.startswith("{") and t.endswith("}"):
        t = t[1:-1]
    return t.strip()


def _subscripts(t: str, notation: Style) -> tuple[str, ...]:
    t = t.replace(" ", "")
    if not t:
        raise EquationError("empty subscript")
    if "," in t:
        parts = tuple(t.split(","))
    elif re.fullmatch(r"[a-z]\d+", t) and notation.family == "node":
        parts = (t,)
    else:
        parts = tuple(t)
    for p in parts:
        if not re.fullmatch(r"[A-Za-z]|\d+|[a-z]\d+", p):
            raise EquationError(f"cannot read the subscript '{t}'")
    return parts


# ---------------------------------------------------------------------------------------------
# plain text

_PLAIN_NAME = re.compile(r"(delta|δ|y|u|w|b|t|x|a|z|h)(\d*)(?:_(\w+))?\Z")
_ATOMP = r"(?:delta|[yuwbtxaz])\d*(?:_[A-Za-z0-9]+)?"


def _plain(text: str, table: Table, notation: str) -> sp.Expr:
    s = text.strip()
    for a, b in (("∂", "d"), ("δ", "delta"), ("σ", "sigma"), ("·", "*"), ("×", "*"), ("−", "-"), ("’", "'"), ("^", "**")):
        s = s.replace(a, b)
    if "qq" in s:
        raise EquationError("unrecognised name containing 'qq'")
    if re.search(r"\.\.\.|…", s):
        raise EquationError("an ellipsis (...) cannot be checked: write the sum as Sum(expr, (q, 1, m))")
    s = re.sub(r"([A-Za-z]\w*)\s*'\s*\(", r"\1__d(", s)
    s = re.sub(r"(?<![A-Za-z0-9_])d\s*(E|J|%s)\s*/\s*d\s*(%s)(?![A-Za-z0-9_])" % (_ATOMP, _ATOMP), r"D(\1, \2)", s)

    def resolve(name: str):
        if name in ("E", "J") or name in notation.losses:
            return table.add(Atom("loss", None, (), name))
        m = _PLAIN_NAME.match(name)
        if m:
            kind = "delta" if m.group(1) in ("delta", "δ") else m.group(1)
            sup = m.group(2) or None
            if sup and notation.family != "mark":
                return None
            subs = ()
            if m.group(3):
                raw = m.group(3)
                subs = tuple(raw.split("_")) if "_" in raw else _subscripts(raw, notation)
            if len(name) == 1 and not (notation.family == "mark" and name in "yt"):
                return sp.Symbol(name)  # a dummy, a size or x: decided when resolving
            return table.add(Atom(kind, sup, subs, name))
        if re.fullmatch(r"[a-z]", name):
            return sp.Symbol(name)  # a dummy, a size or x: decided when resolving
        return None

    def act(fname, prime):
        def call(builder, args, depth):
            if len(args) != 1:
                raise ExpressionError(f"{fname} takes one argument")
            arg = builder.build(args[0], depth)
            return table.add(Act(fname, prime, arg, f"{fname}{'′' if prime else ''}(…)"))
        return call

    def sum_call(builder, args, depth):
        if len(args) != 2 or not isinstance(args[1], ast.Tuple) or len(args[1].elts) != 3 \
                or not isinstance(args[1].elts[0], ast.Name):
            raise ExpressionError("write sums as Sum(expr, (r, 1, n))")
        body = builder.build(args[0], depth)
        var, lo, hi = args[1].elts
        return sp.Sum(body, (sp.Symbol(var.id), builder.build(lo, depth), builder.build(hi, depth)))

    def deriv_call(builder, args, depth):
        if len(args) != 2:
            raise ExpressionError("D takes two arguments")
        num, den = builder.build(args[0], depth), builder.build(args[1], depth)
        return table.add(Deriv(num, den, "d/d"))

    calls = {"Sum": sum_call, "sum": sum_call, "D": deriv_call}
    for name, fname in (("f", "f"), ("sigma", "sigmoid"), ("sigmoid", "sigmoid"), ("relu", "relu"), ("ReLU", "relu"),
                        ("identity", "identity"), ("Identity", "identity"), ("tanh", "tanh"), ("softplus", "softplus")):
        calls[name + "__d"] = act(fname, True)
    calls["f"] = act("f", False)
    calls["sigma"] = act("sigmoid", False)
    calls["ReLU"] = act("relu", False)
    try:
        expr = parse_expression(s, resolve, calls=calls)
    except ExpressionError as exc:
        msg = str(exc)
        if "__d" in msg:
            msg = msg.replace("__d", "'")
        raise EquationError(f"cannot read '{text.strip()[:60]}': {msg}") from None
    return expr


# ---------------------------------------------------------------------------------------------
# resolving index letters and placeholders


@dataclass
class Resolution:
    sides: list  # resolved expressions (None for a side that could not be built)
    letters: dict  # letter -> layer
    free: list  # free index letters of the left-hand side, in order of appearance
    conflicts: list  # (side number, message): wrong indices found while resolving
    bound: set  # summation letters


class Resolver:
    def __init__(self, table: Table, notation: Notation, binding: dict | None = None, assume: dict | None = None):
        self.table = table
        self.notation = notation
        self.style = notation.style
        self.L = notation.depth
        self.sizes = notation.sizes
        self.binding = dict(binding or {})  # a general layer of a mark (Nielsen's l) -> its book number
        self.assume = dict(assume or {})  # an index letter the notation leaves free -> the layer tried
        self.roles = self.style.role_names()
        self.marks_used: set = set()  # general layer letters met in marks

    # -- walking the raw records ------------------------------------------------------------
    def _children(self, expr: sp.Basic):
        for s in expr.atoms(sp.Symbol):
            obj = self.table.items.get(s)
            if obj is None:
                continue
            yield s, obj
            for sub in self._subexprs(obj):
                yield from self._children(sub)

    @staticmethod
    def _subexprs(obj):
        if isinstance(obj, Deriv):
            return (obj.num, obj.den)
        if isinstance(obj, Grad):
            return (obj.of,)
        if isinstance(obj, Act):
            return (obj.arg,)
        if isinstance(obj, Group):
            return (obj.expr,)
        return ()

    def _sums(self, expr: sp.Basic):
        for node in sp.preorder_traversal(expr):
            if isinstance(node, sp.Sum):
                yield node
        for _, obj in self._children(expr):
            for sub in self._subexprs(obj):
                for node in sp.preorder_traversal(sub):
                    if isinstance(node, sp.Sum):
                        yield node

    # -- inference of layers --------------------------------------------------------------
    def size_layers(self) -> dict[str, int]:
        out = {}
        for l in range(self.L + 1):
            out[self.notation.size_name(l)] = l
        return out

    def fixed_letters(self) -> dict[str, int]:
        if self.style.family not in ("letter", "node"):
            return {}
        return {self.notation.letter(l): l for l in range(self.L + 1)}

    def _weight_ends(self, subs: tuple) -> tuple:
        """(from, to) of a weight's two subscripts, in the notation's order."""
        return tuple(subs) if self.style.weights == "from_to" else tuple(subs)[::-1]

    def constraints(self, atom: Atom):
        """(letter, layer) facts and (letter_a, letter_b, offset) relations implied by one atom."""
        facts, rels = [], []
        letters = [s for s in atom.subs if re.fullmatch(r"[A-Za-z]", s)]
        role = self.roles.get(atom.name, atom.name if atom.name in ("err", "loss") else None)
        layer = self._sup_layer(atom)
        if role == "weight" and len(atom.subs) == 2:
            a, b = self._weight_ends(atom.subs)
            if layer is not None:
                facts += [(a, layer - 1), (b, layer)]
            elif a.isalpha() and b.isalpha():
                rels.append((a, b, 1))
        elif role == "weight" and len(atom.subs) == 1 and layer is not None:
            facts.append((atom.subs[0], layer - 1))
        elif role in ("output", "weighted_sum", "bias", "delta") and layer is not None:
            facts += [(s, layer) for s in atom.subs]
        elif role == "input":
            facts += [(s, 0) for s in letters]
        elif role in ("net_output", "target", "err"):
            facts += [(s, self.L) for s in letters]
        return [(a, b) for a, b in facts if re.fullmatch(r"[A-Za-z]", a)], rels

    def _sup_layer(self, atom: Atom) -> int | None:
        """The layer (0 = input) that an atom's mark names: 2, L, l, l+1, k-1 (in the book's numbering)."""
        if atom.sup is None:
            return None
        st = self.style
        m = re.fullmatch(r"([A-Za-z])?\s*(?:([+-])\s*(\d+))?|(\d+)", atom.sup.strip())
        if not m or not (m.group(1) or m.group(4)):
            raise EquationError(f"cannot read the layer '{atom.sup}' of {atom.text}")
        if m.group(4):
            number = int(m.group(4))
        else:
            var, off = m.group(1), int(m.group(3) or 0) * (-1 if m.group(2) == "-" else 1)
            if var in st.last:
                number = self.notation.layer_number(self.L) + off
            elif var in st.general:
                self.marks_used.add(var)
                if var not in self.binding:
                    raise Unresolved(var, f"the general layer {var} of {atom.text}", general=True)
                number = self.binding[var] + off
            else:
                known = ", ".join([*st.general, *st.last]) or "none"
                raise Refusal(f"{atom.text}: the {st.preset} notation names a general layer by {known}, not "
                              f"'{var}'; write the layer number, or use the notation whose layer letter is {var}")
        layer = number - st.input_layer
        if not 0 <= layer <= self.L:
            first, last = self.notation.layer_number(0), self.notation.layer_number(self.L)
            raise LayerRange(f"{atom.text}: this net has layers {first}..{last} in the {st.preset} numbering "
                             f"(input = layer {first})")
        return layer

    def infer(self, sides: list[sp.Expr]) -> tuple[dict, list, set]:
        layers = dict(self.fixed_letters())
        layers.update(self.assume)
        facts, rels, conflicts = [], [], []
        bound = set()
        sizes = self.size_layers()
        for expr in sides:
            for _, obj in self._children(expr):
                if isinstance(obj, Atom):
                    f, r = self.constraints(obj)
                    facts += [(a, b, obj.text) for a, b in f]
                    rels += [(a, b, o, obj.text) for a, b, o in r]
            for node in self._sums(expr):
                for var, lo, hi in node.limits:
                    bound.add(var.name)
                    if isinstance(hi, sp.Symbol) and hi.name in sizes and self.style.family in ("letter", "node"):
                        facts.append((var.name, sizes[hi.name], f"Σ_{var.name}..{hi.name}"))
        for letter, layer, text in facts:
            if letter in layers and layers[letter] != layer:
                conflicts.append(f"in {text} the index {letter} runs over layer {layer}, elsewhere over layer {layers[letter]}")
            else:
                layers.setdefault(letter, layer)
        changed = True
        while changed:
            changed = False
            for a, b, off, text in rels:
                if a in layers and b not in layers:
                    layers[b] = layers[a] + off
                    changed = True
                elif b in layers and a not in layers:
                    layers[a] = layers[b] - off
                    changed = True
        # summation letters with no other clue: the notes' default dummies (r over k, q over j, ...)
        all_letters = set()
        for expr in sides:
            for _, obj in self._children(expr):
                if isinstance(obj, Atom):
                    all_letters |= {s for s in obj.subs if re.fullmatch(r"[A-Za-z]", s)}
        all_letters |= bound
        for letter in sorted(all_letters - set(layers)):
            if self.style.preset not in NOTES:
                break  # a textbook's letters name no layer: every layer they can stand for is tried
            for l in range(self.L + 1):
                if self.notation.dummy(l) == letter:
                    layers[letter] = l
        for a, b, off, text in rels:
            if a in layers and b in layers and layers[b] != layers[a] + off:
                conflicts.append(f"{text}: a weight w_ab joins a in one layer to b in the layer above, "
                                 f"but {a} is in layer {layers[a]} and {b} in layer {layers[b]}")
        for letter, layer in list(layers.items()):
            if not 0 <= layer <= self.L and (self.assume or self.binding):
                raise LayerRange(f"index {letter} would run over layer {layer}")
            if not 0 <= layer <= self.L:
                conflicts.append(f"index {letter} would run over layer {layer}, but the network has layers 0..{self.L}")
        return layers, conflicts, bound

    # -- building -------------------------------------------------------------------------
    def build(self, expr: sp.Expr, layers: dict, bound: set) -> sp.Expr:
        mapping = {}
        for s in expr.free_symbols:
            obj = self.table.items.get(s)
            if obj is not None:
                mapping[s] = self.build_obj(obj, layers, bound)
            else:
                mapping[s] = self._plain_symbol(s, layers, bound)
        out = expr.xreplace(mapping)
        # summation variables bound in Sums are not free symbols: rename them too
        return out.replace(lambda e: isinstance(e, sp.Sum), lambda e: self._sum(e, layers, bound))

    def _sum(self, e: sp.Sum, layers, bound):
        limits = []
        for var, lo, hi in e.limits:
            if isinstance(self.table.items.get(hi), Range):
                hi = index_symbol(self.notation.size_name(self._layer_of(var.name, layers)))
            limits.append((self._index(var.name, layers), lo.xreplace(self._size_map(lo)), hi.xreplace(self._size_map(hi))))
        body = e.function.xreplace({sp.Symbol(v.name): self._index(v.name, layers) for v, _, _ in e.limits})
        return sp.Sum(body, *limits)

    def _size_map(self, e):
        sizes = self.size_layers()
        return {s: index_symbol(s.name) for s in e.free_symbols if isinstance(s, sp.Symbol) and s.name in sizes}

    def _plain_symbol(self, s: sp.Symbol, layers, bound):
        name = s.name
        if s.is_integer and s.is_positive:
            return s  # already an index symbol
        if name in self.size_layers():
            return index_symbol(name)
        if name == "x":
            return X_VAR
        if name in layers:
            raise EquationError(f"the index letter '{name}' stands alone; indices belong in subscripts (y_{name})")
        raise EquationError(f"unknown symbol '{name}'")

    def _layer_of(self, letter: str, layers: dict) -> int:
        self._index(letter, layers)
        return layers[letter]

    def _index(self, letter: str, layers: dict) -> sp.Symbol:
        if letter not in layers and self.style.preset not in NOTES:
            raise Unresolved(letter, f"cannot tell which layer the index {letter} runs over")
        if letter not in layers:
            raise EquationError(f"cannot tell which layer the index {letter} runs over{self.notation.layer_hint()}")
        return index_symbol(letter)

    def build_obj(self, obj, layers, bound):
        if isinstance(obj, Atom):
            return self.atom(obj, layers)
        if isinstance(obj, Group):
            return self.build(obj.expr, layers, bound)
        if isinstance(obj, Range):
            return index_symbol(self.notation.size_name(self._layer_of(obj.letter, layers)))
        if isinstance(obj, Deriv):
            num = self.build(obj.num, layers, bound)
            den = self.build(obj.den, layers, bound)
            if not (isinstance(den, sp.Indexed) or den == X_VAR):
                raise EquationError(f"cannot differentiate by '{obj.text}'")
            return Partial(num, den)
        if isinstance(obj, Grad):
            of = self.build(obj.of, layers, bound)
            if not isinstance(of, sp.Indexed):
                raise EquationError(f"cannot read '{obj.text}'")
            return Partial(E, of)
        if isinstance(obj, Act):
            return self.activation(obj, self.build(obj.arg, layers, bound))
        raise EquationError("cannot read the equation")

    def activation(self, obj: Act, arg: sp.Expr) -> sp.Expr:
        if obj.fname == "f":
            act = self._layer_activation(arg, obj)
        elif obj.fname == "leaky_relu":
            act = leaky_relu()
        elif obj.fname in ACTIVATIONS:
            act = ACTIVATIONS[obj.fname]
        else:  # erf, sign: their derivatives by sympy.diff
            function = ELEMENTARY[obj.fname](X_VAR)
            return (sp.diff(function, X_VAR) if obj.prime else function).xreplace({X_VAR: arg})
        if act.is_softmax:
            raise EquationError(f"{obj.text}: softmax has no elementwise derivative (its δ sums over the layer)")
        form = act.derivative if obj.prime else act.expr
        return form.xreplace({X_VAR: arg})

    def _layer_activation(self, arg, obj):
        spec_layers = self.spec_layers
        if isinstance(arg, sp.Indexed):
            kind, l = _kind(arg)
            if kind == "u" and l:
                return spec_layers[l - 1].activation
        distinct = {layer.activation.name: layer.activation for layer in spec_layers
                    if layer.activation.name != "identity"}
        if len(distinct) == 1:
            return next(iter(distinct.values()))
        raise EquationError(f"{obj.text}: say which layer's activation, e.g. f'(u_k)")

    KIND: ClassVar[dict] = {"output": "y", "weighted_sum": "u", "weight": "w", "bias": "b", "delta": "delta", "target": "t",
                            "input": "y", "net_output": "y"}

    def _signed(self, kind: str, element: sp.Expr) -> sp.Expr:
        """The book's δ in the tool's: RHW's δ = -∂E/∂net is minus the tool's δ."""
        return -element if kind == "delta" and self.style.delta_sign == "minus" else element

    def atom(self, a: Atom, layers: dict) -> sp.Expr:
        name, L = a.name, self.L
        if name == "loss":
            return E
        if self.style.preset == "mazur":
            return self._mazur_atom(a)
        if self.style.family == "node" and a.subs and all(not re.fullmatch(r"[A-Za-z]", s) for s in a.subs):
            return self._node_atom(a)
        if name == "err":
            raise EquationError(f"cannot read {a.text}")
        role = self.roles.get(name)
        if role is None:
            raise EquationError(f"cannot read {a.text}: '{name}' is not a name of the {self.style.preset} notation")
        if self.style.family in ("mark", "unit"):
            return self._layer_atom(a, layers, role)
        if role == "input" and not a.subs:
            return X_VAR
        kind = self.KIND[role]
        want = 2 if kind == "w" else 1
        if len(a.subs) != want:
            if kind == "t" and not a.subs and self.sizes[L] == 1:
                return base("t")[1]
            raise EquationError(f"{a.text}: expected {want} index{'es' if want > 1 else ''}")
        idx = [self._idx(s, layers) for s in a.subs]
        letter = a.subs[-1]
        if kind == "t":
            return base("t")[idx[0]]
        if kind == "w":
            idx = list(self._weight_ends(tuple(idx)))
            ends = self._weight_ends(a.subs)
            letter = ends[1]
        if letter.isalpha():
            l = layers.get(letter)
        elif kind == "w" and ends[0].isalpha() and ends[0] in layers:
            l = layers[ends[0]] + 1
        else:
            raise EquationError(f"{a.text}: concrete indices need --notation node or a layer letter")
        if l is None:
            raise EquationError(f"cannot tell the layer of {a.text}")
        if role == "input" and l != 0:
            raise EquationError(f"{a.text}: {name} is the input layer")
        if kind in ("u", "w", "b", "delta") and l == 0:
            raise EquationError(f"{a.text}: the input layer has no {kind}")
        element = base(kind, l)[tuple(idx)] if kind == "w" else base(kind, l)[idx[0]]
        return self._signed(kind, element)

    def _idx(self, s: str, layers: dict):
        if s.isdigit():
            return sp.Integer(int(s))
        if re.fullmatch(r"[A-Za-z]", s):
            return self._index(s, layers)
        raise EquationError(f"cannot read the index '{s}'")

    def _layer_atom(self, a: Atom, layers: dict, role: str) -> sp.Expr:
        """A name of a book whose layers are marked (Nielsen's a^l_j) or whose letters are units of any layer
        (Bishop's z_j: the layer is the one its letter runs over in this reading)."""
        L, st = self.L, self.style
        layer = self._sup_layer(a)
        single = self.sizes[L] == 1
        if role == "input":
            if not a.subs:
                return X_VAR
            if len(a.subs) != 1:
                raise EquationError(f"{a.text}: expected one index")
            return base("y", 0)[self._idx(a.subs[0], layers)]
        if role in ("net_output", "target"):
            if a.subs:
                if len(a.subs) != 1:
                    raise EquationError(f"{a.text}: expected one index")
                i = self._idx(a.subs[0], layers)
            elif single:
                i = sp.Integer(1)
            else:
                raise EquationError(f"{a.text}: the output layer has {self.sizes[L]} units; give an index")
            return base("t")[i] if role == "target" else base("y", L)[i]
        kind = self.KIND[role]
        if layer is None and st.family == "unit" and a.subs:
            ends = self._weight_ends(a.subs) if kind == "w" and len(a.subs) == 2 else a.subs
            letter = ends[-1]
            if not letter.isalpha():
                raise EquationError(f"{a.text}: concrete indices name no layer in the {st.preset} notation; "
                                    "use index letters")
            self._index(letter, layers)
            layer = layers[letter]
        if layer is None:
            raise EquationError(f"{a.text}: give the layer as a superscript, e.g. {name_with_mark(st, 'z', 1)}_{{m}}")
        if kind in ("u", "w", "b", "delta") and layer == 0:
            raise LayerRange(f"{a.text}: layer {self.notation.layer_number(0)} is the input layer "
                             f"({self.style.preset} numbering), which has no {role.replace('_', ' ')}")
        width = self.sizes[layer]
        if kind == "w":
            if len(a.subs) == 2:
                j, k = self._weight_ends(tuple(self._idx(s, layers) for s in a.subs))
            elif len(a.subs) == 1 and width == 1:
                j, k = self._idx(a.subs[0], layers), sp.Integer(1)
            else:
                raise EquationError(f"{a.text}: expected two indices")
            return base("w", layer)[j, k]
        if not a.subs:
            if width != 1:
                raise EquationError(f"{a.text}: layer {self.notation.layer_number(layer)} has {width} units; "
                                    "give an index")
            return self._signed(kind, base(kind, layer)[1])
        if len(a.subs) != 1:
            raise EquationError(f"{a.text}: expected one index")
        return self._signed(kind, base(kind, layer)[self._idx(a.subs[0], layers)])

    def _mazur_atom(self, a: Atom) -> sp.Expr:
        """Mazur's names: i1 inputs, h1 hidden, o1 outputs; out_h1, net_o1, target_o1, w5 (numbered through
        the net), E_o1 one output's error, δ_o1."""
        L, note = self.L, self.notation
        if L != 2:
            raise Refusal(f"{a.text}: Mazur's names (i, h, o) fit a net with one hidden layer; this one has "
                          f"{L - 1}: use --notation node")
        role = self.roles.get(a.name, a.name if a.name == "err" else None)

        def unit(s: str, allowed: str) -> tuple[int, int]:
            m = re.fullmatch(r"([iho])(\d+)", s)
            if not m or m.group(1) not in allowed:
                raise EquationError(f"{a.text}: expected a unit {', '.join(c + '1' for c in allowed)}")
            l = {"i": 0, "h": 1, "o": 2}[m.group(1)]
            i = int(m.group(2))
            if not 1 <= i <= self.sizes[l]:
                raise EquationError(f"{a.text}: layer {l} has {self.sizes[l]} units")
            return l, i

        if len(a.subs) != 1:
            raise EquationError(f"{a.text}: expected one subscript (out_{{h1}}, w_5, i_1)")
        sub = a.subs[0]
        if role == "err":
            return self.loss_term(unit("o" + sub, "o")[1])
        if role == "input":
            if not sub.isdigit() or not 1 <= int(sub) <= self.sizes[0]:
                raise EquationError(f"{a.text}: expected an input i_1..i_{self.sizes[0]}")
            return base("y", 0)[int(sub)]
        if role == "weight":
            if not sub.isdigit():
                raise EquationError(f"{a.text}: Mazur numbers the weights w_1, w_2, ...")
            n = int(sub)
            for l in range(1, L + 1):
                for k in range(1, self.sizes[l] + 1):
                    for j in range(1, self.sizes[l - 1] + 1):
                        if note.weight_number(l, j, k) == n:
                            return base("w", l)[j, k]
            raise EquationError(f"{a.text}: there is no weight {n}")
        if role == "bias":
            raise Refusal(f"{a.text}: Mazur's b_1, b_2 are one bias shared by a layer, and the spec has one per "
                          "unit; write the unit's own bias in --notation node (b_3)")
        if role == "output":
            l, i = unit(sub, "iho")
            return base("y", l)[i]
        if role == "target":
            return base("t")[unit(sub, "o")[1]]
        if role in ("weighted_sum", "delta"):
            l, i = unit(sub, "ho")
            kind = "u" if role == "weighted_sum" else "delta"
            return self._signed(kind, base(kind, l)[i])
        raise EquationError(f"cannot read {a.text}: not a name of Mazur's example")

    def _node_atom(self, a: Atom) -> sp.Expr:
        L, note = self.L, self.notation
        name, subs = a.name, a.subs

        def node(n: int) -> tuple[int, int]:
            for l in range(1, L + 1):
                for i in range(1, self.sizes[l] + 1):
                    if note.node(l, i) == n:
                        return l, i
            raise EquationError(f"{a.text}: there is no node {n} (nodes 1..{sum(self.sizes[1:])})")

        def number(s: str) -> int:
            if not s.isdigit():
                raise EquationError(f"cannot read the index '{s}' of {a.text}")
            return int(s)

        def check(l, i):
            if not 1 <= i <= self.sizes[l]:
                raise EquationError(f"{a.text}: layer {l} has {self.sizes[l]} units")

        if name == "err":
            i = number(subs[0])
            check(L, i)
            return self.loss_term(i)
        if name in ("y", "a", "h"):
            if len(subs) != 1:
                raise EquationError(f"{a.text}: expected one index")
            s = subs[0]
            if s[0] in "oht" and s[1:].isdigit():
                n = int(s[1:])
                if s[0] == "o":
                    check(L, n)
                    return base("y", L)[n]
                if s[0] == "t":
                    check(L, n)
                    return base("t")[n]
                l, i = node(n)
                if l == L:
                    raise EquationError(f"{a.text}: node {n} is an output node (y_o{i})")
                return base("y", l)[i]
            l, i = node(number(s))
            return base("y", l)[i]
        if name == "x":
            i = number(subs[0])
            check(0, i)
            return base("y", 0)[i]
        if name == "t":
            i = number(subs[0])
            check(L, i)
            return base("t")[i]
        if name == "delta" and subs and subs[0][0] in "oh" and subs[0][1:].isdigit():
            n = int(subs[0][1:])
            if subs[0][0] == "o":
                check(L, n)
                return base("delta", L)[n]
            l, i = node(n)
            return base("delta", l)[i]
        if name in ("u", "z", "b", "delta"):
            kind = {"z": "u"}.get(name, name)
            l, i = node(number(subs[0]))
            return base(kind, l)[i]
        if name == "w":
            if len(subs) != 2:
                raise EquationError(f"{a.text}: expected w_(node)(source), e.g. w_31")
            l, i = node(number(subs[0]))
            src = number(subs[1])
            if l == 1:
                check(0, src)
                return base("w", 1)[src, i]
            l2, j = node(src)
            if l2 != l - 1:
                raise EquationError(f"{a.text}: node {src} is not in the layer below node {subs[0]}")
            return base("w", l)[j, i]
        raise EquationError(f"cannot read {a.text}")

    def loss_term(self, i: int) -> sp.Expr:
        loss = self.spec.loss
        term = loss.of(base("y", self.L)[i], base("t")[i])
        return term / self.sizes[self.L] if loss.mean_over_outputs else term

    # -- all sides ------------------------------------------------------------------------
    def resolve(self, sides: list[sp.Expr], spec) -> Resolution:
        """Resolve every side; each right side together with the left one (they share free letters)."""
        self.spec = spec
        self.spec_layers = spec.layers
        if self.style.preset not in NOTES:
            # a textbook's letters: what the whole equation says of a letter the left side leaves open
            # (Bishop's δ_k = y_k - t_k: k is an output unit because y_k is)
            joint, joint_conflicts, _ = self.infer(sides)
            if not joint_conflicts:
                self.assume = {**joint, **self.assume}
        lhs_layers, lhs_conflicts, lhs_bound = self.infer(sides[:1])
        if lhs_conflicts:
            raise EquationError(f"left side: {lhs_conflicts[0]}")
        out = [self.build(sides[0], lhs_layers, lhs_bound)]
        free = []
        for _, obj in self._children(sides[0]):
            if isinstance(obj, Atom):
                for s in obj.subs:
                    if re.fullmatch(r"[A-Za-z]", s) and s not in free and s not in lhs_bound:
                        free.append(s)
        conflicts, all_layers, all_bound = [[]], dict(lhs_layers), set(lhs_bound)
        for side in sides[1:]:
            layers, found, bound = self.infer([sides[0], side])
            all_layers.update(layers)
            all_bound |= bound
            conflicts.append(found)
            out.append(None if found else self.build(side, layers, bound))
        return Resolution(out, all_layers, free, conflicts, all_bound)


def name_with_mark(st: Style, name: str, layer: int) -> str:
    return f"{name}^{{{st.mark(layer + st.input_layer)}}}"


def _kind(element: sp.Indexed) -> tuple[str, int | None]:
    from derive.network.notation import parse_base

    return parse_base(element.base.label.name)
