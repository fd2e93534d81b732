"""LaTeX of a graph derivation's formulas: tensors named as in the textbooks, gradients as ∂J/∂….

`GraphLatexPrinter` is SymPy's LatexPrinter with the graph's names: the input x_{nk}, the targets t_{nk},
a layer's weighted sum and output u^{(l)}_{nk}, y^{(l)}_{nk}, its weights w^{(l)}_{jk} and b^{(l)}_{k}, a norm
layer's mean, variance and normalised value \\mu_n, \\sigma^2_n, \\hat x_{nk} and its scale and shift
\\gamma_k, \\beta_k (these carry their layer only where two layers have them), a custom layer's parameters
v^{(l)}_{jk}, and the gradient array d{name} as \\frac{\\partial J}{\\partial …}. Sums are nested
\\sum_{n=1}^{N}, an indicator [c], a Kronecker delta \\delta_{ab}. Index symbols that the derivation made
(SymPy Dummies: the marks of the chain rule and the summed indices of a delta elimination) print under the
letters `names` gives them, so that no two different indices look alike.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

from derive.document.builder import act_tex
from derive.document.graph_text import guard_parts
from derive.document.texprint import decimal
from derive.network.graph import Graph, Tensor

# a kind's node or parameter (spec name, without the layer number) -> its textbook symbol
NODE_SYMBOLS = {"mu": r"\mu", "var": r"\sigma^{2}", "xhat": r"\hat{x}", "gamma": r"\gamma", "beta": r"\beta",
                "mask": "r"}  # r: dropout's scaled mask (Srivastava et al.)
LAYERED = {"u": "u", "y": "y", "W": "w", "b": "b"}  # always with their layer, as in the notes
GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu",
         "nu", "xi", "pi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega"}
LOSS = sp.Symbol("J")


def _stem(tensor: Tensor) -> str:
    """A tensor's name without its layer number: W3 -> W, xhat4 -> xhat, v1 -> v."""
    suffix = str(tensor.layer)
    return tensor.name[: -len(suffix)] if tensor.layer and tensor.name.endswith(suffix) else tensor.name


class GraphLatexPrinter(LatexPrinter):
    printmethod = "_graph_latex"  # not "_latex": Indexed would print itself

    def __init__(self, graph: Graph, names: dict | None = None, settings=None):
        super().__init__({"mul_symbol": None, "fold_short_frac": False, **(settings or {})})
        self.given = settings
        self.graph = graph
        self.names = dict(names or {})  # Dummy -> the letter it prints as
        stems: dict[str, set[int]] = {}
        for t in graph.tensors.values():
            stems.setdefault(_stem(t), set()).add(t.layer)
        self.shared = {stem for stem, layers in stems.items() if len(layers) > 1}
        self.activations = {sp.Function(f"f_{lg.l}"): lg.activation for lg in graph.layers}

    def with_names(self, names: dict) -> GraphLatexPrinter:
        return GraphLatexPrinter(self.graph, {**self.names, **names}, self.given)

    # -- names ---------------------------------------------------------------------------------
    def tensor_of(self, base: sp.IndexedBase) -> tuple[Tensor, bool]:
        """(the tensor, whether base is its gradient array d{name})."""
        name = base.label.name
        if name in self.graph.tensors:
            return self.graph.tensors[name], False
        if name.startswith("d") and name[1:] in self.graph.tensors:
            return self.graph.tensors[name[1:]], True
        raise KeyError(name)

    def _print_other(self, base: sp.IndexedBase, indices) -> str:
        """An array that is no tensor of the graph: the rules' per-sample delta{l}, a closed form's g."""
        name = base.label.name
        parts = [self._print(i) for i in indices]
        sub = "".join(parts) if all(len(p) == 1 for p in parts) else ",".join(parts)
        stem = name.rstrip("0123456789")
        layer = name[len(stem):]
        symbol = "\\" + stem if stem in GREEK else stem if len(stem) == 1 else r"\mathrm{%s}" % stem.replace("_", r"\_")
        return symbol + ("^{(%s)}" % layer if layer else "") + ("_{%s}" % sub if sub else "")

    def symbol_of(self, tensor: Tensor) -> tuple[str, str]:
        """(its symbol, its layer superscript or '')."""
        stem = _stem(tensor)
        if tensor.role in ("input", "target"):
            return tensor.name, ""
        layer = "(%d)" % tensor.layer
        if stem in NODE_SYMBOLS:
            return NODE_SYMBOLS[stem], layer if stem in self.shared else ""
        if stem in LAYERED:
            return LAYERED[stem], layer
        if stem in GREEK:
            return "\\" + stem, layer
        if len(stem) == 1:
            return stem, layer
        return r"\mathrm{%s}" % stem.replace("_", r"\_"), layer

    def element(self, tensor: Tensor, indices) -> str:
        symbol, layer = self.symbol_of(tensor)
        parts = [self._print(i) for i in indices]
        sub = "".join(parts) if all(len(p) == 1 and p.isalpha() for p in parts) else ",".join(parts)
        if symbol.endswith("^{2}") and layer:  # \sigma^{2} of layer l: (\sigma^{(l)})^{2}
            return r"\left(%s^{%s}_{%s}\right)^{2}" % (symbol[:-4], layer, sub)
        text = symbol + ("^{%s}" % layer if layer else "")
        return text + ("_{%s}" % sub if sub else "")

    def _print_Indexed(self, expr):
        try:
            tensor, gradient = self.tensor_of(expr.base)
        except KeyError:
            return self._second_order(expr) or self._print_other(expr.base, expr.indices)
        text = self.element(tensor, expr.indices)
        return r"\frac{\partial J}{\partial %s}" % text if gradient else text

    def _second_order(self, expr) -> str | None:
        """J{x}[n, o, ...] as ∂y_no/∂x (the Jacobian), R{x} and R{dx} as R{x}, R{∂J/∂x} (the R-operator), V{p} as
        R{p} (the direction); None for any other array."""
        name, tensors = expr.base.label.name, self.graph.tensors
        if name[:1] == "J" and name[1:] in tensors:
            target = tensors[name[1:]]
            n, o, *rest = expr.indices
            out = self.element(self.graph.output, (n, o))
            inner = self.element(target, tuple(rest) if target.role == "param" else (n, *rest))
            return r"\frac{\partial %s}{\partial %s}" % (out, inner)
        for prefix, gradient in (("Rd", True), ("R", False), ("V", False)):
            if name.startswith(prefix) and name[len(prefix):] in tensors:
                inner = self.element(tensors[name[len(prefix):]], expr.indices)
                return r"\mathcal{R}\left\{%s\right\}" % (r"\frac{\partial J}{\partial %s}" % inner if gradient
                                                                else inner)
        return None

    def _print_IndexedBase(self, expr):
        try:
            tensor, gradient = self.tensor_of(expr)
        except KeyError:
            return self._print_other(expr, ())
        symbol, layer = self.symbol_of(tensor)
        if symbol.endswith("^{2}") and layer:  # \sigma^{2} of layer l: (\sigma^{(l)})^{2}
            text = r"\left(%s^{%s}\right)^{2}" % (symbol[:-4], layer)
        else:
            text = symbol + ("^{%s}" % layer if layer else "")
        return r"\frac{\partial J}{\partial %s}" % text if gradient else text

    def _print_Symbol(self, expr, style="plain"):
        if expr in self.names:
            return self.names[expr]
        if expr == LOSS or expr.name == "E":
            return expr.name
        return super()._print_Symbol(expr, style=style)

    def _print_Dummy(self, expr):
        return self.names.get(expr, expr.name)

    def _has_superscript(self, expr) -> bool:
        if not isinstance(expr, sp.Indexed):
            return False
        try:
            tensor, gradient = self.tensor_of(expr.base)
        except KeyError:
            return False
        return not gradient and (bool(self.symbol_of(tensor)[1]) or self.symbol_of(tensor)[0].endswith("}"))

    def parenthesize(self, item, level, is_neg=False, strict=False):
        if self._has_superscript(item) and (level > PRECEDENCE["Pow"] or (not strict and level == PRECEDENCE["Pow"])):
            return r"\left(%s\right)" % self._print(item)
        return super().parenthesize(item, level, is_neg=is_neg, strict=strict)

    def _is_gradient(self, e) -> bool:
        """∂J/∂x, and the Jacobian's and R-operator's arrays (printed after the local factors too)."""
        if not isinstance(e, sp.Indexed):
            return False
        try:
            return self.tensor_of(e.base)[1]
        except KeyError:
            return self._second_order(e) is not None

    # -- operations ----------------------------------------------------------------------------
    def _print_Rational(self, expr):
        text = decimal(expr)
        return text if text is not None else super()._print_Rational(expr)

    def _as_ordered_terms(self, expr, order=None):
        """y - t rather than - t + y: negative terms last."""
        terms = super()._as_ordered_terms(expr, order=order)
        return sorted(terms, key=lambda term: (term.could_extract_minus_sign(), not isinstance(term, sp.Sum),
                                               term in self.graph.constants))

    def _print_Mul(self, expr):
        """Constants and local factors, then the gradients, then derivatives and sums:
        \\frac{1}{d} \\sum_j …, \\gamma_k \\frac{\\partial J}{\\partial u_{nk}} (never a gradient inside a fraction)."""
        if expr.could_extract_minus_sign():
            inner = -expr
            tex = self._print(inner)
            return "- " + (r"\left(%s\right)" % tex if inner.is_Add else tex)
        factors = list(sp.Mul.make_args(expr))
        flips = [i for i, f in enumerate(factors) if isinstance(f, sp.Sum) and f.function.could_extract_minus_sign()]
        if flips:  # a sum of negative terms among the factors: its sign in front of the product
            for i in flips:
                factors[i] = sp.Sum(-factors[i].function, *factors[i].limits)
            body = self._print_Mul(sp.Mul(*factors, evaluate=False)) if len(factors) > 1 else self._print(factors[0])
            return body if len(flips) % 2 == 0 else "- " + body
        grads = [f for f in factors if self._is_gradient(f)]
        tail = [f for f in factors if isinstance(f, (sp.Derivative, sp.Sum))]
        if not grads and not tail:
            return super()._print_Mul(expr)
        others = sp.Mul(*(f for f in factors if f not in grads and f not in tail))
        parts = []
        if others != 1:
            lead = self._print(others)
            parts.append(r"\left(%s\right)" % lead if others.is_Add else lead)
        parts += [self._print(f) for f in grads]
        parts += [self._print(f) for f in sorted(tail, key=lambda f: isinstance(f, sp.Sum))]
        return r"\, ".join(parts)

    def _print_Sum(self, expr):
        """Nested sums, outermost first: \\sum_{n=1}^{N} \\sum_{k=1}^{d_5} …; a sign in front."""
        body = expr.function
        if body.could_extract_minus_sign():
            return "- " + self._print(sp.Sum(-body, *expr.limits))
        tex = self._print(body)
        if body.is_Add:
            tex = r"\left(%s\right)" % tex
        heads = [r"\sum_{%s=%s}^{%s}" % (self._print(i), self._print(lo), self._print(hi))
                 for i, lo, hi in reversed(expr.limits)]
        return " ".join(heads) + " " + tex

    def _print_KroneckerDelta(self, expr, exp=None):
        a, b = (self._print(x) for x in expr.args)
        sub = a + b if len(a) == 1 and len(b) == 1 else "%s,%s" % (a, b)
        return r"\delta_{%s}" % sub

    def _print_Derivative(self, expr):
        (var, count), = expr.variable_count
        inner = expr.expr
        if isinstance(inner, sp.Function) and type(inner) in self.activations:  # f_l'(u): the layer's activation
            act = self.activations[type(inner)]
            return r"%s'\left(%s\right)" % (act_tex(act), self._print(inner.args[0]))
        order = "" if count == 1 else "^{%d}" % count
        return r"\frac{\partial%s %s}{\partial %s%s}" % (order, self._print(inner), self._print(var), order)

    def _print_Function(self, expr, exp=None):
        if type(expr) in self.activations:
            act = self.activations[type(expr)]
            return r"%s\left(%s\right)" % (act_tex(act), self._print(expr.args[0]))
        return super()._print_Function(expr, exp=exp)

    def _print_Piecewise(self, expr):
        if len(expr.args) == 2 and expr.args[1].cond == sp.true and expr.args[1].expr == 0:
            value, cond = expr.args[0]
            bracket = r"\left[%s\right]" % self._print(cond)
            if value == 1:
                return bracket
            inner = self._print(value)
            return (r"\left(%s\right)" % inner if value.is_Add else inner) + r"\, " + bracket
        rows = []
        for value, cond in expr.args:
            when = r"\text{otherwise}" if cond == sp.true else r"\text{if } " + self._print(cond)
            rows.append(r"%s & %s" % (self._print(value), when))
        return r"\begin{cases} %s \end{cases}" % r" \\ ".join(rows)

    def _print_And(self, expr):
        """A range guard as chains 1 \\le e \\le H and a stride's 2 \\mid e (`guard_parts`)."""
        shown = []
        for part in guard_parts(expr):
            if part[0] == "range":
                _, low, e, high = part
                shown.append(r" \le ".join(self._print(x) for x in (low, e, high) if x is not None))
            elif part[0] == "divides":
                shown.append(r"%s \mid %s" % (self._print(part[1]), self._print(part[2])))
            else:
                shown.append(self._print(part[1]))
        return r",\ ".join(shown)

    _print_LessThan = _print_GreaterThan = _print_Equality = _print_And

    def _print_Atom(self, expr):
        own = getattr(type(expr), "_latex", None)
        return own(expr, self) if own is not None else self._print_Basic(expr)


def gradient_of(printer: GraphLatexPrinter, tensor: Tensor, indices=None) -> str:
    """∂J/∂(one element of tensor), in its own indices unless given."""
    return r"\frac{\partial J}{\partial %s}" % printer.element(tensor, tensor.indices if indices is None else indices)
