"""The printed derivation: the derivation's rule objects laid out as a lecture note, in LaTeX.

`render_tex(derivation, proof_report, lang=..., example=...)` builds, in Python, every sentence and
equation of the document (a flow of paragraphs, equations, tables and plots per section) and hands it
to the jinja2 template `templates/document.tex.j2`, which only lays it out. The structure follows
the notes (seeds 000, 002, 003): the network and its notation, the forward pass and gradient descent,
each layer's gradients by the chain rule with the sums written out term by term, every activation's
derivative step by step, the optimiser, the batch (matrix) form, the proof, and a worked example.
Text from the spec is escaped (`escape`); nothing in the output depends on time or hash order.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field

import jinja2
import mpmath
import sympy as sp

from derive.calculus import activation_steps as steps
from derive.calculus.derivation import Derivation, LayerDerivation
from derive.calculus.rules import BackpropRule, ChainRule, LossRule, SoftmaxDeltaRule, SoftmaxRule, d
from derive.document.example import DIGITS, SEED, Evaluator, fmt, worked_example
from derive.document.phrases import LANGUAGES
from derive.document.texprint import DocumentLatexPrinter, InstanceLatexPrinter, MatrixLatexPrinter
from derive.network.chain import E
from derive.network.notation import Notation
from derive.spec.catalog import Activation
from derive.spec.catalog import x as X
from derive.spec.catalog import y as Y

# ---------------------------------------------------------------------------------------------
# escaping text from the spec


_SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
    "^": r"\textasciicircum{}", "_": r"\_", "%": r"\%", "~": r"\textasciitilde{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}", '"': r"\textquotedbl{}",
}
_UNICODE = {
    "δ": r"$\delta$", "∂": r"$\partial$", "Σ": r"$\Sigma$", "η": r"$\eta$", "σ": r"$\sigma$",
    "−": "-", "–": "--", "—": "---", "·": r"$\cdot$", "×": r"$\times$", "≤": r"$\le$", "≥": r"$\ge$",
    "→": r"$\to$", "≈": r"$\approx$", "’": "'", "‘": "`", "“": "``", "”": "''", "…": r"\dots{}",
}


def is_hangul(ch: str) -> bool:
    o = ord(ch)
    return 0xAC00 <= o <= 0xD7A3 or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F


def escape(text: str) -> str:
    """Plain text as LaTeX that prints it literally: every control character of TeX neutralised.

    ASCII specials become their text commands, Hangul and Latin-1 letters stay (inputenc/kotex print
    them), a few math symbols become math, anything else becomes a visible '?'.
    """
    out = []
    for ch in text:
        if ch in _SPECIAL:
            out.append(_SPECIAL[ch])
        elif ch in _UNICODE:
            out.append(_UNICODE[ch])
        elif " " <= ch <= "~":
            out.append(ch)
        elif ch in "\t\n\r":
            out.append(" ")
        elif is_hangul(ch) or ("\u00c0" <= ch <= "\u00ff" and ch not in "\u00d7\u00f7"):
            out.append(ch)
        else:
            out.append("?")
    return "".join(out)


def needs_kotex(lang: str, *texts: str) -> bool:
    return lang == "ko" or any(is_hangul(ch) for t in texts for ch in t)


# ---------------------------------------------------------------------------------------------
# the flow of a section: what the template lays out


@dataclass
class Para:
    text: str
    kind: str = "para"


@dataclass
class Equation:
    """One equation or an aligned chain: lines of (left side, right side, note)."""

    lines: list[tuple[str, str, str]]
    label: str | None = None
    boxed: bool = False
    kind: str = "equation"

    @property
    def single(self) -> bool:
        return len(self.lines) == 1


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    align: str
    caption: str = ""
    kind: str = "table"


@dataclass(frozen=True)
class Plot:
    f: str  # coordinates
    df: str
    ymin: str
    ymax: str
    name: str = "f"
    kind: str = "plot"


@dataclass
class IndexMap:
    """A window's index map along one dimension: input cells (x, label, padding?), output cells (x, label) and
    the links (output, input) of each output to the inputs its window reads."""

    inputs: list[tuple[float, str, bool]]
    outputs: list[tuple[float, str]]
    links: list[tuple[int, int]]
    kind: str = "index_map"


@dataclass
class Section:
    title: str
    label: str
    flow: list = field(default_factory=list)
    subsections: list[Section] = field(default_factory=list)
    after: list = field(default_factory=list)  # after the subsections


# ---------------------------------------------------------------------------------------------
# names of activations


_ACT_TEX = {
    "sigmoid": r"\sigma", "tanh": r"\tanh", "relu": r"\mathrm{ReLU}", "leaky_relu": r"\mathrm{LReLU}",
    "softplus": r"\mathrm{softplus}", "identity": r"\mathrm{id}", "softmax": r"\mathrm{softmax}",
}
_ACT_WORD = {
    "sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU", "leaky_relu": "leaky ReLU",
    "softplus": "softplus", "identity": "identity", "softmax": "softmax",
}
_LOSS_WORD = {
    "half_sse": "half the sum of squared errors", "sse": "sum of squared errors",
    "mse": "mean squared error", "cross_entropy": "cross entropy", "bce": "binary cross entropy",
}
_LOSS_WORD_KO = {
    "half_sse": "오차 제곱합의 절반", "sse": "오차 제곱합", "mse": "평균 제곱 오차",
    "cross_entropy": "크로스 엔트로피", "bce": "이진 크로스 엔트로피",
}
_OPT_WORD = {"sgd": "SGD", "momentum": "momentum", "nesterov": "Nesterov", "adagrad": "AdaGrad",
             "rmsprop": "RMSProp", "adam": "Adam", "lm": "Levenberg--Marquardt"}


# The update rules of the full-batch optimisers (one step an epoch on all samples), as (lhs, rhs, note) rows.
_IF_LOWER = r"\text{if } E(\theta + \Delta\theta) < E(\theta)"
_WOLFE = (r"E(\theta + t d)", (r"\le E(\theta) + c_1 t\, g^{\top} d, \quad "
                               r"|g(\theta + t d)^{\top} d| \le c_2 |g^{\top} d|"), "")
FULL_BATCH_RULES = {
    "lm": [(r"\left(J^{\top} H J + \mu I\right) \Delta\theta", r"= -g", ""),
           (r"\theta", r"\leftarrow \theta + \Delta\theta, \quad \mu \leftarrow \mu_{\mathrm{dec}}\, \mu", _IF_LOWER),
           (r"\mu", r"\leftarrow \mu_{\mathrm{inc}}\, \mu", r"\text{otherwise, and solve again}")],
    "newton": [(r"\left(H + \lambda I\right) \Delta\theta", "= -g", ""),
               (r"\theta", r"\leftarrow \theta + \Delta\theta", _IF_LOWER)],
    "hf": [(r"\left(G + \lambda I\right) \Delta\theta", "= -g", ""),
           (r"\theta", r"\leftarrow \theta + \Delta\theta", _IF_LOWER),
           (r"\rho", (r"= \frac{E(\theta + \Delta\theta) - E(\theta)}{g^{\top} \Delta\theta + "
                      r"\frac{1}{2} \Delta\theta^{\top} G\, \Delta\theta}"), "")],
    "lbfgs": [("d", "= -H g", ""), _WOLFE, (r"\theta", r"\leftarrow \theta + t d", "")],
    "cg": [("d", (r"= -g + \beta\, d_{\mathrm{prev}}, \quad \beta = \max\left(0, \frac{g^{\top} (g - "
                  r"g_{\mathrm{prev}})}{g_{\mathrm{prev}}^{\top} g_{\mathrm{prev}}}\right)"), ""),
           _WOLFE, (r"\theta", r"\leftarrow \theta + t d", "")],
}


def act_tex(act: Activation) -> str:
    if act.name in _ACT_TEX and not act.custom:
        return _ACT_TEX[act.name]
    return r"\mathrm{%s}" % escape(act.name)


def act_word(act: Activation) -> str:
    return _ACT_WORD.get(act.name, escape(act.name)) if not act.custom else r"\texttt{%s}" % escape(act.name)


def number(value: float) -> str:
    """A hyper-parameter as written: 0.5, 0.001, 10^{-8}."""
    text = repr(float(value))
    if "e" in text:
        mantissa, power = text.split("e")
        mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
        return (r"10^{%d}" % int(power)) if mantissa == "1" else r"%s \times 10^{%d}" % (mantissa, int(power))
    return text.removesuffix(".0")


# ---------------------------------------------------------------------------------------------


class DocumentBuilder:
    def __init__(self, derivation: Derivation, proof_report, lang: str, example: bool):
        if lang not in LANGUAGES:
            raise ValueError(f"--lang: expected one of {', '.join(LANGUAGES)}, got {lang!r}")
        self.d = derivation
        self.spec = derivation.spec
        self.net = derivation.net
        self.notation = derivation.notation
        self.lang = lang
        self.T = LANGUAGES[lang]
        self.proof = proof_report
        self.with_example = example
        self.p = DocumentLatexPrinter(self.notation)
        # the general (index) form of node notation reads like ijk; node numbers only for concrete indices
        general = Notation("ijk", self.notation.sizes) if self.notation.name == "node" else self.notation
        self.g = DocumentLatexPrinter(general)
        self.m = MatrixLatexPrinter(self.notation, self.net.depth)
        self.ex = InstanceLatexPrinter(self.notation)  # the worked example's neurons and weights
        self.E = self.notation.loss_name
        self.activations = self._distinct_activations()

    # -- helpers ---------------------------------------------------------------------------
    def t(self, key: str, **fields) -> str:
        text = self.T[key]
        return text % fields if fields else text

    def tex(self, expr) -> str:
        return self.g.doprint(expr)

    def layer_name(self, l: int) -> str:
        if l == 0:
            return self.t("input_layer")
        if l == self.net.depth:
            return self.t("output_layer")
        return self.t("hidden_layer", l=l)

    def _distinct_activations(self) -> list[Activation]:
        seen, out = set(), []
        for layer in self.spec.layers:
            act = layer.activation
            key = (act.name, sp.srepr(act.expr))
            if key not in seen:
                seen.add(key)
                out.append(act)
        return out

    def act_label(self, act: Activation) -> str:
        return f"sec:act{self.activations.index(act) + 1}"

    def f_of(self, act: Activation, arg: str) -> str:
        return r"%s(%s)" % (act_tex(act), arg)

    def paren(self, expr) -> str:
        tex = self.tex(expr)
        return r"\left(%s\right)" % tex if (expr.is_Add or isinstance(expr, sp.Sum)) else tex

    def collapse(self, expr):
        """A sum over a layer of width 1 whose notation drops the index (seed 004's y, delta^2)."""
        if self.notation.name != "layer":
            return expr
        widths = {ls.size: self.spec.sizes[ls.l] for ls in self.net.layers}

        def single(e):
            hi = e.limits[0][2]
            return widths.get(hi) == 1 and hi == self.net.output.size

        return expr.replace(lambda e: isinstance(e, sp.Sum) and single(e),
                            lambda e: e.function.xreplace({e.limits[0][0]: 1}))

    def terms(self, term, dummy, special, size, printer=None) -> str:
        """term(1) + term(2) + ... + term(special) + ... + term(size), as the notes write sums.

        Terms that are sums themselves are bracketed; when the whole line would run too wide, only
        the term that matters is written out: ... + term(special) + ...
        """
        printer = printer or self.g

        def show(part):
            tex = printer.doprint(part)
            return r"\left[%s\right]" % tex if part.is_Add else tex

        def join(parts):
            out = ""
            for i, part in enumerate(parts):
                tex = r"\cdots" if part is None else show(part)
                if i == 0:
                    out = tex
                elif tex.startswith("- "):
                    out += " - " + tex[2:]
                else:
                    out += " + " + tex
            return out

        full = join([term(sp.Integer(1)), term(sp.Integer(2)), None, term(special), None, term(size)])
        if visible_length(full) <= WIDE:
            return full
        return join([None, term(special), None])

    # -- document ---------------------------------------------------------------------------
    def context(self) -> dict:
        context = self._context()
        for section in context["sections"]:
            for part in [section, *section.subsections]:
                for item in part.flow + part.after:
                    if isinstance(item, Equation):
                        wrap_equation(item)
        return context

    def _context(self) -> dict:
        title = escape(self.spec.title)
        sections = [self.network_section(), self.forward_section()]
        sections += [self.layer_section(ld) for ld in self.d.layers]
        sections += [self.activation_section(), self.optimizer_section(), self.matrix_section(),
                     self.proof_section()]
        if self.with_example:
            sections.append(self.example_section())
        sections += self.second_order_sections()
        return {
            "lang": self.lang,
            "kotex": needs_kotex(self.lang, self.spec.title),
            "title": title,
            "doc_title": self.t("doc_title"),
            "name": escape(self.spec.name),
            "sections": sections,
            "diagram": self.diagram(),
        }

    # 1. network ----------------------------------------------------------------------------
    def network_section(self) -> Section:
        s = Section(self.t("network"), "sec:network")
        L = self.net.depth
        top, below = self.net.layers[L], self.net.layers[L - 1]
        s.flow.append(Para(self.t(
            "network_intro", depth=L, widths="--".join(map(str, self.spec.sizes)),
            w=self.tex(top.w[below.index, top.index]), b=self.tex(below.index), a=self.tex(top.index))))
        s.flow.append(Para(self.figure_caption(), kind="diagram"))
        rows = []
        for ls in self.net.layers:
            act = self.spec.layers[ls.l - 1].activation if ls.l else None
            rows.append([self.layer_name(ls.l), f"${self.tex(ls.index)}$", f"${self.tex(ls.size)}$",
                         str(self.spec.sizes[ls.l]), f"${act_tex(act)}$" if act else "---"])
        s.flow.append(Table([self.t("col_layer"), self.t("col_index"), self.t("col_neurons"),
                             self.t("col_width"), self.t("col_activation")], limit(rows, self), "lcccc",
                            caption=self.t("table_caption")))
        return s

    def figure_caption(self) -> str:
        """What the diagram leaves out: neurons of wide layers, middle layers of a deep net, weight labels."""
        sizes = self.spec.sizes
        if small_net(sizes):
            return self.t("figure_caption")
        notes = []
        if any(n > MAX_SHOWN for n in sizes):
            notes.append(self.t("figure_wide"))
        columns = diagram_columns(self.net.depth)
        if None in columns:
            gap = columns.index(None)
            notes.append(self.t("figure_deep", first=columns[gap - 1] + 1, last=columns[gap + 1] - 1))
        notes.append(self.t("figure_one_weight"))
        return self.t("figure_caption_big", notes="; ".join(notes))

    def diagram(self) -> str:
        return tikz_network(self)

    # 2. forward pass, loss, gradient descent -----------------------------------------------
    def forward_section(self) -> Section:
        s = Section(self.t("forward"), "sec:forward")
        s.flow.append(Para(self.t("forward_intro")))
        lines = []
        for ls in self.net.layers[1:]:
            a = ls.index
            act = ls.activation
            lines.append((self.tex(ls.u[a]), self.tex(self.net.weighted_sum(ls.l)), ""))
            if act.is_softmax:
                r = ls.dummy
                rhs = r"\frac{e^{%s}}{\sum_{%s=1}^{%s} e^{%s}}" % (
                    self.tex(ls.u[a]), self.tex(r), self.tex(ls.size), self.tex(ls.u[r]))
                lines.append((self.tex(ls.y[a]), rhs, ""))
            else:
                lines.append((self.tex(ls.y[a]), self.f_of(act, self.tex(ls.u[a])), ""))
        s.flow.append(Equation(lines, "eq:forward"))
        out = self.net.output
        loss = self.spec.loss
        words = (_LOSS_WORD if self.lang == "en" else _LOSS_WORD_KO).get(loss.name, r"\texttt{%s}" % escape(loss.name))
        s.flow.append(Para(self.t("loss_intro", t=self.tex(self.net.t[out.index]), loss=words)))
        s.flow.append(Equation([(self.E, self.tex(self.collapse(self.net.loss())), "")], "eq:loss"))
        key = "objective_mean" if self.spec.reduction == "mean" else "objective_sum"
        s.flow.append(Para(self.t(key, E=self.E)))
        opt = self.spec.train.optimizer if self.spec.train else None
        if opt is not None and opt.full_batch:
            s.flow.append(Para(self.t("gd_intro_full_batch", optimizer=self.t(f"word_{opt.name}"))))
        else:
            s.flow.append(Para(self.t("gd_intro", lr=number(opt.lr) if opt else "0.1")))
        s.flow.append(Equation([
            ("w", r"\leftarrow w - \eta \frac{\partial %s}{\partial w}" % self.E, ""),
            ("b", r"\leftarrow b - \eta \frac{\partial %s}{\partial b}" % self.E, ""),
        ], "eq:gd", kind="relations"))
        s.flow.append(Para(self.t("gd_after")))
        return s

    # 3. one layer ----------------------------------------------------------------------------
    def layer_section(self, ld: LayerDerivation) -> Section:
        l = ld.l
        this, below = ld.symbols, ld.below
        a, b = this.index, below.index
        w, u, yb = this.w[b, a], this.u[a], below.y[b]
        key = "layer_output" if ld.is_output else "layer_hidden"
        s = Section(self.t(key, l=l, a=self.tex(a)), f"sec:layer{l}")
        lab = f"eq:l{l}"
        tex = self.tex

        # weight gradient: (1) and (2)
        ws = Section(self.t("weight_gradient"), f"{lab}:w")
        chain = ld.step(ChainRule)
        ws.flow.append(Para(self.t("chain_intro", w=tex(w), u=tex(u))))
        ws.flow.append(Equation([(tex(chain.lhs), tex(chain.rhs), "")], f"{lab}:chain"))
        ws.flow.append(Para(self.t("linear_intro", u=tex(u), w=tex(w))))
        q = below.dummy
        expansion = self.weighted_terms(l, a, b)
        ws.flow.append(Equation([
            (tex(d(u, w)), r"\frac{\partial}{\partial %s}\left(%s\right)" % (tex(w), tex(self.net.weighted_sum(l))), ""),
            ("", r"\frac{\partial}{\partial %s}\left(%s\right)" % (tex(w), expansion), ""),
            ("", tex(yb), ""),
        ], f"{lab}:linear"))
        del q
        s.subsections.append(ws)

        # delta: (3) or (7)
        ds = Section(r"$\delta$", f"{lab}:d")
        ds.title = {"en": "Delta", "ko": "델타"}[self.lang]
        if this.activation.is_softmax:
            self.softmax_delta(ld, ds, lab)
        else:
            self.plain_delta(ld, ds, lab)
        ds.flow.append(Para(self.t("weight_result", linear=f"{lab}:linear", chain=f"{lab}:chain")))
        ds.flow.append(Equation([(tex(d(E, w)), tex(ld.dEdw), "")], f"{lab}:dw", boxed=True))
        s.subsections.append(ds)

        # bias
        if this.bias:
            bs = Section(self.t("bias_gradient"), f"{lab}:b")
            bias = this.b[a]
            bs.flow.append(Para(self.t("bias_intro", b=tex(bias), u=tex(u))))
            chain_b = sp.Mul(d(E, u), d(u, bias), evaluate=False)
            bs.flow.append(Equation([(tex(d(E, bias)), tex(chain_b), "")]))
            bs.flow.append(Equation([
                (tex(d(u, bias)), r"\frac{\partial}{\partial %s}\left(%s\right)" % (tex(bias), expansion), ""),
                ("", "1", ""),
            ]))
            bs.flow.append(Para(self.t("bias_result")))
            bs.flow.append(Equation([(tex(d(E, bias)), tex(ld.dEdb), "")], f"{lab}:db", boxed=True))
            s.subsections.append(bs)

        # handed down: (6)
        back = ld.step(BackpropRule)
        if back is not None:
            hs = Section(self.t("handed_down"), f"{lab}:h")
            r = this.dummy
            hs.flow.append(Para(self.t("handed_down_intro", y=tex(yb))))
            paths = sp.Sum(sp.Mul(d(E, this.u[r]), d(this.u[r], yb), evaluate=False), (r, 1, this.size))
            hs.flow.append(Equation([(tex(back.lhs), tex(self.collapse(paths)), "")]))
            hs.flow.append(Para(self.t("handed_down_local")))
            hs.flow.append(Equation([
                (tex(d(this.u[r], yb)),
                 r"\frac{\partial}{\partial %s}\left(%s\right)" % (tex(yb), self.weighted_terms(l, r, b)), ""),
                ("", tex(back.local), ""),
            ]))
            hs.flow.append(Para(self.t("handed_down_result")))
            hs.flow.append(Equation([(tex(back.lhs), tex(self.collapse(back.rhs)), "")], f"{lab}:back", boxed=True))
            s.subsections.append(hs)

        # the update, and the note's own numbering
        tail = Section("", "")
        tail.flow.append(Para(self.t("update_intro", gd="eq:gd")))
        lines = [(tex(w), r"\leftarrow %s - \eta\, %s" % (tex(w), self.paren(ld.dEdw)), "")]
        if this.bias:
            lines.append((tex(this.b[a]), r"\leftarrow %s - \eta\, %s" % (tex(this.b[a]), self.paren(ld.dEdb)), ""))
        tail.flow.append(Equation(lines, kind="relations"))
        if self.notation.name == "node" and not this.activation.is_softmax:
            tail.flow.append(Para(self.t("node_intro")))
            tail.flow.append(self.node_chain(ld))
        s.after.extend(tail.flow)
        return s

    def weighted_terms(self, l: int, a, b) -> str:
        """y_1 w_1k + y_2 w_2k + ... + y_j w_jk + ... + y_m w_mk + b_k"""
        this, below = self.net.layers[l], self.net.layers[l - 1]
        text = self.terms(lambda i: sp.Mul(below.y[i], this.w[i, a], evaluate=False), below.dummy, b, below.size)
        if this.bias:
            text += " + " + self.tex(this.b[a])
        return text

    def plain_delta(self, ld: LayerDerivation, s: Section, lab: str) -> None:
        tex = self.tex
        this = ld.symbols
        a = this.index
        u, yv = this.u[a], this.y[a]
        s.flow.append(Para(self.t("delta_intro", chain=f"{lab}:chain", a=tex(a))))
        s.flow.append(Equation([(tex(this.delta[a]), r"%s = %s" % (tex(d(E, u)), tex(
            sp.Mul(d(E, yv), d(yv, u), evaluate=False))), "")], f"{lab}:delta"))
        if ld.is_output:
            loss_step = ld.step(LossRule)
            out = self.spec.sizes[-1]
            if self.notation.name == "layer" and out == 1:
                s.flow.append(Para(self.t("loss_derivative_single")))
                total = self.collapse(self.net.loss())
                s.flow.append(Equation([(tex(loss_step.lhs), r"\frac{\partial}{\partial %s}\left(%s\right)" % (
                    tex(yv), tex(total)), ""), ("", tex(loss_step.rhs), "")], f"{lab}:loss"))
            else:
                s.flow.append(Para(self.t("loss_derivative_intro", a=tex(a), y=tex(yv))))
                s.flow.append(Equation(self.loss_lines(ld, loss_step), f"{lab}:loss"))
        else:
            above = self.d.layer(ld.l + 1)
            s.flow.append(Para(self.t("handed_intro", dEdy=tex(d(E, yv)), ref=f"eq:l{above.l}:back")))
            s.flow.append(Equation([(tex(d(E, yv)), tex(self.collapse(ld.dEdy)), "")]))
        act = this.activation
        act_rule = ld.steps[[type(st).__name__ for st in ld.steps].index("ActivationRule")]
        name = act_word(act)
        lines = [(tex(act_rule.lhs), r"%s'(%s)" % (act_tex(act), tex(u)), "")]
        in_u = act_rule.in_u
        if in_u != act_rule.rhs:
            lines.append(("", tex(in_u), ""))
            s.flow.append(Para(self.t("activation_intro", name=name, sec=self.act_label(act))))
        else:
            s.flow.append(Para(self.t("activation_intro_u", name=name, sec=self.act_label(act))))
        lines.append(("", tex(act_rule.rhs), ""))
        s.flow.append(Equation(lines, f"{lab}:act"))
        s.flow.append(Para(self.t("delta_result")))
        local = self.paren(ld.dydu)
        if visible_length(local) > LONG // 2:  # a long f'(u) stays f'(u), worked out in its equation above
            local = r"%s'(%s)" % (act_tex(act), tex(u))
        product = r"%s\, %s" % (self.paren(self.collapse(ld.dEdy)), local) \
            if ld.dydu != 1 else tex(self.collapse(ld.dEdy))
        lines = [(tex(this.delta[a]), product, "")]
        short = tex(self.collapse(ld.delta))
        if simplifies(ld) and short != product and visible_length(short) <= LONG:
            lines.append(("", short, ""))
        s.flow.append(Equation(lines, f"{lab}:deltavalue", boxed=len(lines) == 1))

    def loss_lines(self, ld: LayerDerivation, loss_step: LossRule) -> list:
        out = self.net.output
        r, a = out.dummy, out.index
        loss = self.spec.loss
        text = self.terms(lambda i: loss.of(out.y[i], self.net.t[i]), r, a, out.size)
        if loss.mean_over_outputs:
            text = r"\frac{1}{%s}\left(%s\right)" % (self.tex(out.size), text)
        first = r"\frac{\partial}{\partial %s}\left(%s\right)" % (self.tex(out.y[a]), text)
        return [(self.tex(loss_step.lhs), first, ""), ("", self.tex(loss_step.rhs), "")]

    def softmax_delta(self, ld: LayerDerivation, s: Section, lab: str) -> None:
        tex = self.tex
        this = ld.symbols
        a, r = this.index, this.dummy
        u = this.u[a]
        chain = [st for st in ld.steps if isinstance(st, ChainRule)][1]
        s.flow.append(Para(self.t("delta_intro_softmax", chain=f"{lab}:chain", a=tex(a), yr=tex(this.y[r]),
                                  u=tex(u))))
        s.flow.append(Equation([(tex(chain.lhs), tex(chain.rhs), "")], f"{lab}:delta"))
        jac = ld.step(SoftmaxRule)
        same, other = jac.cases
        s.flow.append(Para(self.t("softmax_jacobian", yr=tex(this.y[r]), ur=tex(this.u[r]))))
        cases = r"\begin{cases} %s & \text{if } %s = %s \\ %s & \text{if } %s \ne %s \end{cases}" % (
            tex(same), tex(r), tex(a), tex(other), tex(r), tex(a))
        s.flow.append(Equation([(tex(jac.lhs), cases, ""), ("", tex(jac.rhs), "")], f"{lab}:jac"))
        loss_step = ld.step(LossRule)
        s.flow.append(Para(self.t("loss_derivative_intro", a=tex(a), y=tex(this.y[a]))))
        s.flow.append(Equation(self.loss_lines(ld, loss_step), f"{lab}:loss"))
        delta_step = ld.step(SoftmaxDeltaRule)
        s.flow.append(Para(self.t("softmax_sum", **{"def": f"{lab}:delta"}, r=tex(r))))
        summand = sp.Mul(delta_step.dEdy, delta_step.jacobian, evaluate=False)
        lines = [(tex(this.delta[a]), tex(sp.Sum(summand, delta_step.over)), ""), ("", tex(delta_step.summed), "")]
        s.flow.append(Equation(lines))
        if delta_step.uses_target_sum:
            s.flow.append(Para(self.t("softmax_targets", sum=tex(delta_step.target_sum))))
        s.flow.append(Equation([(tex(this.delta[a]), tex(ld.delta), "")], f"{lab}:deltavalue", boxed=True))

    def node_chain(self, ld: LayerDerivation) -> Equation:
        """Seed 003's chain for one weight, in its node numbers: dE/dw_31 = ... = (y_o1 - y_t1) ..."""
        p = self.p
        this, below = ld.symbols, ld.below
        sizes = {ls.size: self.spec.sizes[ls.l] for ls in self.net.layers}
        at = {this.index: 1, below.index: 1, **sizes}

        def conc(e):
            return e.xreplace(at).doit()

        one = sp.Integer(1)
        w, u, yv, yb = this.w[one, one], this.u[one], this.y[one], below.y[one]
        chain = r"%s \cdot %s \cdot %s" % (p.doprint(d(E, yv)), p.doprint(d(yv, u)), p.doprint(d(u, w)))

        def par(e):
            t = p.doprint(e)
            return r"\left(%s\right)" % t if e.is_Add else t

        values = r"%s \cdot %s \cdot %s" % (par(conc(ld.dEdy)), par(conc(ld.dydu)), p.doprint(yb))
        return Equation([(p.doprint(d(E, w)), chain, ""), ("", values, "")])

    # 4. activations -----------------------------------------------------------------------
    def activation_section(self) -> Section:
        s = Section(self.t("activations"), "sec:activations")
        depth = self.net.depth
        for act in self.activations:
            sub = Section(act_word(act) if not act.custom else r"\texttt{%s}" % escape(act.name), self.act_label(act))
            f = act_tex(act)
            if act.is_softmax:
                sub.flow.append(Para(self.t("softmax_note", ref=f"eq:l{depth}:jac")))
                s.subsections.append(sub)
                continue
            sub.flow.append(Para(self.t("act_definition")))
            sub.flow.append(Equation([(r"%s(x)" % f, self.tex(act.expr), "")]))
            sub.flow.append(Para(self.t("act_steps")))
            chain = steps.derivative_steps(act)
            lines, last = [], None
            for i, st in enumerate(chain):
                body = self.tex(st.expr)
                if body == last:
                    continue
                note = ", ".join(self.T["rules"][r] for r in st.rules)
                note = r"\text{\footnotesize(%s)}" % note if note else ""
                lines.append((r"%s'(x)" % f if i == 0 else "", body, note))
                last = body
            sub.flow.append(Equation(lines, f"{self.act_label(act)}:d"))
            form = steps.output_form_steps(act)
            if form:
                sub.flow.append(Para(self.t("act_output_form", f=r"%s(x)" % f)))
                lines, last = [], None
                for i, st in enumerate(form):
                    body = self.tex(st.expr)
                    if body == last:
                        continue
                    lines.append((r"%s'(x)" % f if i == 0 else "", body, ""))
                    last = body
                sub.flow.append(Equation(lines, f"{self.act_label(act)}:y", boxed=False))
            elif isinstance(act.output_form, sp.Piecewise):
                sub.flow.append(Para(self.t("act_output_piecewise")))
                sub.flow.append(Equation([(r"%s'" % f, self.tex(act.output_form), "")], f"{self.act_label(act)}:y"))
            elif act.output_form is None:
                sub.flow.append(Para(self.t("act_no_output_form")))
            self.maximum(act, sub)
            drawn = plot(act, f)
            if drawn.f and drawn.df:  # nothing to draw where f takes no real value on the window
                sub.flow.append(Para(self.t("act_plot")))
                sub.flow.append(drawn)
            s.subsections.append(sub)
        return s

    def maximum(self, act: Activation, sub: Section) -> None:
        f = act_tex(act)
        deriv = act.derivative
        if isinstance(deriv, sp.Piecewise):
            slopes = [v for v, _ in deriv.args]
            if slopes and slopes[0] == 1:
                sub.flow.append(Para(self.t("act_no_vanishing")))
            return
        found = steps.maximum_steps(act)
        if isinstance(found, steps.Unbounded):
            sub.flow.append(Para(self.t("act_unbounded", f=f)))
            return
        if isinstance(found, steps.Supremum):
            sub.flow.append(Para(self.t("act_supremum", f=f, value=self.tex(found.value), end=self.tex(found.end))))
            self.vanishing(found.value, sub)
            return
        if found is None:
            return
        sub.flow.append(Para(self.t("act_max")))
        lines = []
        if visible_length(self.tex(found.second)) <= LONG:  # a long f'' is not worth a page of its own
            lines.append((r"%s''(x)" % f, self.tex(found.second), ""))
        if found.second_in_y is not None and self.tex(found.second_in_y) != self.tex(found.second):
            lines.append(("" if lines else r"%s''(x)" % f, self.tex(found.second_in_y), ""))
        rel = "=" if found.exact else r"\approx"
        root = r"0 \quad\Longrightarrow\quad x %s %s" % (rel, self.tex(found.argmax))
        if lines:
            lines.append(("", root, ""))
        else:
            lines.append((r"%s''(x)" % f, root, ""))
        sub.flow.append(Equation(lines))
        value = found.value
        if found.exact:
            approx = ""
            if not value.is_Integer and not value.is_Float:
                approx = r" \approx %s" % mpmath.nstr(mpmath.mpf(float(value)), 6)
            text = self.t("act_max_value", f=f, arg=self.tex(found.argmax), value=self.tex(value), approx=approx)
            if act.name == "sigmoid" and not act.custom:
                text += " " + self.t("act_sigmoid_note")
            sub.flow.append(Para(text))
        else:
            sub.flow.append(Para(self.t("act_max_numeric")))
            sub.flow.append(Equation([(r"%s'(%s)" % (f, self.tex(found.argmax)), r"\approx " + self.tex(value), "")],
                                     kind="relations"))
        if value == 1:
            sub.flow.append(Para(self.t("act_saturation", arg=self.tex(found.argmax))))
        if value > 1:
            sub.flow.append(Para(self.t("act_grows", value=self.tex(value))))
        self.vanishing(value, sub)

    def vanishing(self, bound: sp.Expr, sub: Section) -> None:
        """f' <= bound < 1 shrinks the gradient by bound^L through L layers: for this net's own depth."""
        if not (bound.is_number and 0 < bound < 1):
            return
        L = self.net.depth
        sub.flow.append(Para(self.t("act_vanishing", value=self.tex(bound), L=L,
                                    power_L=self.tex(sp.Pow(bound, sp.Symbol("L"), evaluate=False)),
                                    power=self.tex(bound**L))))

    # 5. optimiser --------------------------------------------------------------------------
    def optimizer_section(self) -> Section:
        s = Section(self.t("optimizer"), "sec:optimizer")
        opt = self.spec.train.optimizer if self.spec.train else None
        name = opt.name if opt else "sgd"
        fields = {"lr": number(opt.lr)} if opt and opt.lr is not None else {"lr": number(0.1)}
        if opt:
            fields.update({k: number(v) for k, v in opt.params})
        s.flow.append(Para(self.t(f"opt_{name}", **fields)))
        if name in FULL_BATCH_RULES:
            s.flow.append(Equation(FULL_BATCH_RULES[name], "eq:optimizer", kind="relations"))
            after = "opt_line_search_after" if name in ("lbfgs", "cg") else f"opt_{name}_after"
            s.flow.append(Para(self.t(after, **fields)))
            return s
        g = r"\frac{\partial %s}{\partial w}" % self.E
        rules = {
            "sgd": [("w", r"\leftarrow w - \eta\, g")],
            "momentum": [("v", r"\leftarrow \mu v - \eta\, g"), ("w", r"\leftarrow w + v")],
            "nesterov": [("v", r"\leftarrow \mu v - \eta\, g(w + \mu v)"), ("w", r"\leftarrow w + v")],
            "adagrad": [("h", r"\leftarrow h + g \odot g"),
                        ("w", r"\leftarrow w - \eta\, \frac{g}{\sqrt{h} + \epsilon}")],
            "rmsprop": [("h", r"\leftarrow \rho h + (1 - \rho)\, g \odot g"),
                        ("w", r"\leftarrow w - \eta\, \frac{g}{\sqrt{h} + \epsilon}")],
            "adam": [("m", r"\leftarrow \beta_1 m + (1 - \beta_1)\, g"),
                     ("v", r"\leftarrow \beta_2 v + (1 - \beta_2)\, g \odot g"),
                     (r"\hat m", r"= \frac{m}{1 - \beta_1^{t}}, \quad \hat v = \frac{v}{1 - \beta_2^{t}}"),
                     ("w", r"\leftarrow w - \eta\, \frac{\hat m}{\sqrt{\hat v} + \epsilon}")],
        }[name]
        lines = [(lhs, rhs, "") for lhs, rhs in rules]
        lines[0] = (lines[0][0], lines[0][1], r"\left(g = %s\right)" % g)
        s.flow.append(Equation(lines, "eq:optimizer", kind="relations"))
        s.flow.append(Para(self.t("opt_elementwise")))
        return s

    # 6. matrix form ---------------------------------------------------------------------------
    def matrix_section(self) -> Section:
        s = Section(self.t("matrix"), "sec:matrix")
        m = self.m
        s.flow.append(Para(self.t("matrix_intro")))
        s.flow.append(Para(self.t("matrix_forward")))
        lines = []
        for ls in self.net.layers[1:]:
            l = ls.l
            prev = r"\mathbf{X}" if l == 1 else r"\mathbf{Y}_{%d}" % (l - 1)
            rhs = r"%s \mathbf{W}_{%d}" % (prev, l)
            if ls.bias:
                rhs += r" + \mathbf{1} \mathbf{b}_{%d}^{\top}" % l
            lines.append((r"\mathbf{U}_{%d}" % l, rhs, ""))
            lines.append((r"\mathbf{Y}_{%d}" % l, r"%s\left(\mathbf{U}_{%d}\right)" % (act_tex(ls.activation), l),
                          r"\text{row by row}" if ls.activation.is_softmax else ""))
        s.flow.append(Equation(lines, "eq:mforward"))
        s.flow.append(Para(self.t("matrix_backward")))
        lines = []
        for ld in self.d.layers:
            if ld.dydu is not None and not (simplifies(ld) and visible_length(m.doprint(ld.delta)) <= LONG):
                local = m.parenthesize(ld.dydu, 45)
                if visible_length(local) > LONG // 2:
                    local = r"%s'\left(\mathbf{U}_{%d}\right)" % (act_tex(ld.symbols.activation), ld.l)
                rhs = r"%s \odot %s" % (m.parenthesize(ld.dEdy, 45), local) if ld.dydu != 1 else m.doprint(ld.dEdy)
            else:
                rhs = m.doprint(ld.delta)
            lines.append((r"\Delta_{%d}" % ld.l, rhs, ""))
        s.flow.append(Equation(lines, "eq:mbackward"))
        how = self.t("matrix_how_mean" if self.spec.reduction == "mean" else "matrix_how_sum")
        s.flow.append(Para(self.t("matrix_gradients", how=how)))
        scale = r"\frac{1}{N}\, " if self.spec.reduction == "mean" else ""
        lines = []
        for ld in self.d.layers:
            l = ld.l
            prev = r"\mathbf{X}" if l == 1 else r"\mathbf{Y}_{%d}" % (l - 1)
            lines.append((r"\frac{\partial %s}{\partial \mathbf{W}_{%d}}" % (self.E, l),
                          r"%s%s^{\top} \Delta_{%d}" % (scale, prev, l), ""))
            if ld.symbols.bias:
                lines.append((r"\frac{\partial %s}{\partial \mathbf{b}_{%d}}" % (self.E, l),
                              r"%s\Delta_{%d}^{\top} \mathbf{1}" % (scale, l), ""))
        s.flow.append(Equation(lines, "eq:mgrad"))
        return s

    # 7. proof ----------------------------------------------------------------------------------
    def proof_section(self) -> Section:
        s = Section(self.t("proof"), "sec:proof")
        if self.proof is None:
            s.flow.append(Para(self.t("proof_none")))
            return s
        s.flow.append(Para(self.t("proof_intro")))
        s.flow.append(Para(r"\textbf{%s}" % escape(self.proof.summary())))
        items = [escape(line) for line in self.proof.lines()]
        if items:
            s.flow.append(Para("", kind="list"))
            s.flow[-1].items = items
        return s

    # 7b. second order (a full-batch optimiser): from the graph engine, in its names -----------------
    def second_order_sections(self) -> list[Section]:
        from derive.calculus.backward import backward
        from derive.document.graph import second_order
        from derive.document.graph.document import GraphDocument
        from derive.network.graph import Graph

        if not second_order.wanted(self.spec):
            return []
        derivation = backward(Graph(self.spec))
        graph_doc = GraphDocument(derivation, None, self.lang, False)
        point = second_order.chain_instance(derivation.graph, worked_example(self.d)) if self.with_example else None
        return [second_order.second_order_section(graph_doc, derivation, point)]

    # 8. worked example -----------------------------------------------------------------------
    def example_section(self) -> Section:
        ex = worked_example(self.d)
        s = Section(self.t("example"), "sec:example")
        p = self.ex
        s.flow.append(Para(self.t("example_intro", digits=DIGITS)))
        if ex.drawn:
            names = ", ".join(r"\texttt{%s}" % n for n in ex.drawn)
            s.flow.append(Para(self.t("example_drawn", names=names, seed=SEED)))
        else:
            s.flow.append(Para(self.t("example_given")))
        if ex.undefined:
            s.flow.append(Para(self.t("example_undefined")))
        one = lambda i: sp.Integer(i)
        net = self.net
        L = net.depth

        def name(kind_base, *idx):
            return "$%s$" % p.doprint(kind_base[tuple(one(i) for i in idx)] if len(idx) > 1 else kind_base[one(idx[0])])

        # inputs and targets
        sub = Section(self.t("ex_inputs"), "sec:ex:in")
        rows = [[name(net.layers[0].y, i + 1), "$%s$" % fmt(v, 9, exact=True)] for i, v in enumerate(ex.x)]
        rows += [[name(net.t, k + 1), "$%s$" % fmt(v, 9, exact=True)] for k, v in enumerate(ex.t)]
        sub.flow.append(Table(["", self.t("col_value")], limit(rows, self), "lr"))
        s.subsections.append(sub)

        # forward
        sub = Section(self.t("ex_forward"), "sec:ex:fw")
        for ls in net.layers[1:]:
            l = ls.l
            sub.flow.append(Para(self.t("ex_forward_layer", l=l, name=self.layer_name(l))))
            rows = [[name(ls.y, k + 1), "$%s$" % fmt(ex.u[l][k]), "$%s$" % fmt(ex.y[l][k])]
                    for k in range(ex.sizes[l])]
            sub.flow.append(Table([self.t("col_neuron"), "$%s$" % self.tex(ls.u[ls.index]),
                                   "$%s$" % self.tex(ls.y[ls.index])], limit(rows, self), "crr"))
        sub.flow.append(Para(self.t("ex_loss")))
        sub.flow.append(Equation([(self.E, fmt(ex.E), "")]))
        s.subsections.append(sub)

        # backward
        sub = Section(self.t("ex_backward"), "sec:ex:bw")
        sub.flow.append(Para(self.t("ex_backward_intro", sec=f"sec:layer{L}")))
        for ld in self.d.layers:
            l = ld.l
            ls = ld.symbols
            sub.flow.append(Para(self.t("ex_forward_layer", l=l, name=self.layer_name(l))))
            dEdy_head = "$%s$" % self.tex(d(E, ls.y[ls.index]))
            dydu_head = "$%s$" % self.tex(d(ls.y[ls.index], ls.u[ls.index]))
            delta_head = "$%s$" % self.tex(ls.delta[ls.index])
            rows = []
            for k in range(ex.sizes[l]):
                rows.append([name(ls.y, k + 1), "$%s$" % fmt(ex.dEdy[l][k]),
                             "$%s$" % fmt(ex.dydu[l][k]) if ex.dydu[l] is not None else "---",
                             "$%s$" % fmt(ex.delta[l][k])])
            sub.flow.append(Table([self.t("col_neuron"), dEdy_head, dydu_head, delta_head], limit(rows, self), "crrr"))
        sub.flow.extend(self.example_chains(ex))
        s.subsections.append(sub)

        # parameters
        sub = Section(self.t("ex_params"), "sec:ex:par")
        opt = _OPT_WORD.get(ex.optimizer, ex.optimizer)
        top = self.d.layers[0]
        update = bool(ex.W_new)  # none for a full-batch optimiser
        if update:
            sub.flow.append(Para(self.t("ex_params_intro", dEdw=self.tex(top.dEdw), sec="sec:optimizer", optimizer=opt,
                                        lr=number(ex.lr))))
        else:
            sub.flow.append(Para(self.t("ex_params_intro_full_batch", dEdw=self.tex(top.dEdw), sec="sec:optimizer",
                                        optimizer=self.t(f"word_{ex.optimizer}"))))
        for l in range(1, L + 1):
            ls = net.layers[l]
            sub.flow.append(Para(self.t("ex_forward_layer", l=l, name=self.layer_name(l))))
            rows = []
            for j in range(ex.sizes[l - 1]):
                for k in range(ex.sizes[l]):
                    rows.append([name(ls.w, j + 1, k + 1), "$%s$" % fmt(ex.W[l][j][k], 9, exact=True),
                                 "$%s$" % fmt(ex.gW[l][j][k]), *(["$%s$" % fmt(ex.W_new[l][j][k])] if update else [])])
            if ex.b[l] is not None:
                for k in range(ex.sizes[l]):
                    rows.append([name(ls.b, k + 1), "$%s$" % fmt(ex.b[l][k], 9, exact=True),
                                 "$%s$" % fmt(ex.gb[l][k]), *(["$%s$" % fmt(ex.b_new[l][k])] if update else [])])
            head = [self.t("col_param"), self.t("col_value"), self.t("col_gradient")]
            sub.flow.append(Table([*head, self.t("col_updated")] if update else head, limit(rows, self),
                                  "lrrr" if update else "lrr"))
        s.subsections.append(sub)
        return s

    def example_chains(self, ex) -> list:
        """dE/dw for the first weight of the output and of the first hidden layer, factor by factor."""
        flow = []
        p = self.ex
        one = sp.Integer(1)
        for ld in (self.d.layers[0], self.d.layers[-1]) if self.net.depth > 1 else (self.d.layers[0],):
            l = ld.l
            ls, below = ld.symbols, ld.below
            w, u, yv, yb = ls.w[one, one], ls.u[one], ls.y[one], below.y[one]
            flow.append(Para(self.t("ex_chain", w=p.doprint(w))))
            if ex.dydu[l] is None:  # softmax: δ from its formula
                symbolic = r"%s \cdot %s" % (p.doprint(d(E, u)), p.doprint(d(u, w)))
                numbers = r"%s \cdot %s" % (wrap_negative(fmt(ex.delta[l][0])), wrap_negative(fmt(ex.y[l - 1][0], exact=l == 1)))
            else:
                symbolic = r"%s \cdot %s \cdot %s" % (p.doprint(d(E, yv)), p.doprint(d(yv, u)), p.doprint(d(u, w)))
                numbers = r"%s \cdot %s \cdot %s" % (
                    wrap_negative(fmt(ex.dEdy[l][0])), wrap_negative(fmt(ex.dydu[l][0])),
                    wrap_negative(fmt(ex.y[l - 1][0], exact=l == 1)))
            flow.append(Equation([(p.doprint(d(E, w)), symbolic, ""), ("", numbers, ""),
                                  ("", fmt(ex.gW[l][0][0]), "")]))
            del yb
        return flow


WIDE = 62  # characters of a displayed line that fit beside its left side


def visible_length(tex: str) -> int:
    """A rough printed width of a formula: its characters without commands and braces."""
    # a fraction of plain numbers is as wide as its longer part (1/2 is one character wide)
    text = re.sub(r"\\frac\{(\w+)\}\{(\w+)\}", lambda m: "x" * max(1, len(m.group(1)), len(m.group(2)))
                  if max(len(m.group(1)), len(m.group(2))) > 2 else "x", tex)
    text = re.sub(r"\\(left|right)\b", "", text)
    text = re.sub(r"\\(frac|partial|cdots)", "xx", text)
    text = re.sub(r"\\(log|exp|cosh|sinh|tanh|sin|cos|tan|operatorname|mathrm)\b", lambda m: m.group(1), text)
    text = re.sub(r"\\[a-zA-Z]+|[{}^_ ]", "", text)
    return len(text)


LONG = 62  # visible characters of a right-hand side before it is broken over lines


def split_top_level(tex: str, at: tuple[str, ...] = (" + ", " - ")) -> list[str]:
    """'a + b - c' -> ['a', '+ b', '- c'], splitting only outside braces and \\left...\\right."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(tex):
        if tex.startswith(r"\left", i) and not tex[i + 5:i + 6].isalpha():
            depth += 1
            i += 5
            continue
        if tex.startswith(r"\right", i) and not tex[i + 6:i + 7].isalpha():
            depth -= 1
            i += 6
            continue
        ch = tex[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 0 and i > start and tex.startswith(at, i):
            parts.append(tex[start:i].strip())
            start = i + 1
        i += 1
    parts.append(tex[start:].strip())
    return [p for p in parts if p]


def fit(tex: str, room: int) -> str:
    """A piece that cannot be broken (one long bracket) is shrunk to the line, as a last resort."""
    width = visible_length(tex)
    if width <= room:
        return tex
    return r"\scalebox{%.2f}{$\displaystyle %s$}" % (max(0.55, room / width), tex)


def wrap_equation(eq: Equation) -> None:
    """Break right-hand sides that would run off the page at their top-level + and -."""
    if eq.kind != "equation":
        return
    lines = []
    # a note column takes room beside every line (footnote size: about 0.6 of a character each)
    notes = [len(re.sub(r"\\[a-zA-Z]+|[{}]", "", note)) for _, _, note in eq.lines if note]
    room = LONG - (int(0.6 * max(notes)) + 6 if notes else 0)
    for lhs, rhs, note in eq.lines:
        if visible_length(rhs) <= room:
            lines.append((lhs, rhs, note))
            continue
        pieces = []
        for part in split_top_level(rhs):  # terms; a term still too long splits between its factors
            if visible_length(part) > room:
                factors = split_top_level(part, (r" \left(", r" \cdot "))
                pieces += [factors[0]] + [r"\cdot " + f.removeprefix(r"\cdot ") for f in factors[1:]]
            else:
                pieces.append(part)
        chunks, current = [], ""
        for part in pieces:
            if current and visible_length(current + part) > room:
                chunks.append(current)
                current = part
            else:
                current = f"{current} {part}".strip()
        chunks.append(current)
        chunks = [fit(chunk, room) for chunk in chunks]
        lines.append((lhs, chunks[0], note))
        for chunk in chunks[1:]:
            lines.append((None, r"\quad " + chunk, ""))
        if len(chunks) > 1:
            eq.boxed = False
    eq.lines = lines


def simplifies(ld: LayerDerivation) -> bool:
    """Whether the concrete delta is shorter than the product of its two factors (bce + sigmoid: y - t)."""
    return ld.dydu is not None and sp.count_ops(ld.delta) < sp.count_ops(sp.Mul(ld.dEdy, ld.dydu))


def wrap_negative(text: str) -> str:
    return r"\left(%s\right)" % text if text.startswith("-") else text


ROW_LIMIT = 12


def limit(rows: list, builder: DocumentBuilder) -> list:
    """At most ROW_LIMIT rows: the first ones, a row of dots, the last one."""
    if len(rows) <= ROW_LIMIT:
        return rows
    hidden = len(rows) - (ROW_LIMIT - 2)
    dots = [builder.t("ex_more", n=hidden - 1)] + [""] * (len(rows[0]) - 1)
    return rows[: ROW_LIMIT - 2] + [dots] + rows[-1:]


# ---------------------------------------------------------------------------------------------
# plot of f and f'

PLOT_RANGE = (-5, 5)
PLOT_POINTS = 81


@functools.lru_cache(maxsize=256)
def plot(act: Activation, name: str = "f") -> Plot:
    """f and f' on [-5, 5], on the real domain only: the curves break where a value is undefined (log and
    sqrt of negative numbers) and across a pole (tan), where they leave the window on opposite sides."""
    lo, hi = PLOT_RANGE
    xs = [lo + (hi - lo) * i / (PLOT_POINTS - 1) for i in range(PLOT_POINTS)]
    f = [_real(act.expr, v) for v in xs]
    df = [_real(act.derivative, v) if fv is not None else None for v, fv in zip(xs, f)]  # where f is defined
    values = [v for v in f + df if v is not None]
    ymin = max(min(values, default=-1.0), -3.0)
    ymax = min(max(values, default=1.0), 5.0)
    if ymax - ymin < 1:
        ymax = ymin + 1

    span = ymax - ymin
    top, bottom = ymax + span, ymin - span  # a steep curve leaves the window there (pgfplots cannot scale 10^3)

    def crosses(a: float, b: float) -> bool:
        return (a > ymax and b < ymin) or (a < ymin and b > ymax)

    def coords(vals):
        out, previous = [], None
        for i, (a, b) in enumerate(zip(xs, vals)):
            if b is None:
                if previous is not None:
                    out.append("(%s,nan)" % _short(a))
                previous = None
                continue
            if previous is not None and crosses(previous, b):
                out.append("(%s,nan)" % _short((a + xs[i - 1]) / 2))
            out.append("(%s,%s)" % (_short(a), _short(max(min(b, top), bottom))))
            previous = b
        return " ".join(out)

    return Plot(coords(f), coords(df), _round_down(ymin), _round_up(ymax), name)


def _real(expr: sp.Expr, v: float) -> float | None:
    """expr at x = v, or None where it is not a finite real number."""
    value = float(Evaluator({X: mpmath.mpf(v)})(expr))
    return value if math.isfinite(value) else None


def _short(v: float) -> str:
    text = "%.4f" % v
    text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _round_down(v: float) -> str:
    return _short(math.floor(v * 2) / 2)


def _round_up(v: float) -> str:
    return _short(math.ceil(v * 2) / 2)


# ---------------------------------------------------------------------------------------------
# the network diagram

MAX_SHOWN = 6  # neurons of a layer drawn in full
MAX_COLUMNS = 9  # layers drawn in full: deeper nets leave out the middle
COLUMN = 2.0  # cm, the narrowest column: room for a layer's heading and note
LINE = 16.0  # cm of the text line (a4, 2.2 cm margins) that a figure may fill


def _shown(n: int) -> list:
    """Neurons drawn for a layer of n: all when few, else 1, 2, 3, dots, n."""
    if n <= MAX_SHOWN:
        return list(range(1, n + 1))
    return [1, 2, 3, None, n]


def diagram_columns(depth: int) -> list:
    """Layers drawn, left to right: all of them, or the first four and the last three around a gap (None)."""
    if depth + 1 <= MAX_COLUMNS:
        return list(range(depth + 1))
    return [0, 1, 2, 3, None, depth - 2, depth - 1, depth]


def small_net(sizes) -> bool:
    """Few enough edges to label every weight."""
    return all(n <= 3 for n in sizes) and len(sizes) <= 4


def tikz_network(b: DocumentBuilder) -> str:
    """TikZ code for the network: one column per layer, neurons labelled with their outputs.

    Every column is at least COLUMN wide and its heading and note wrap inside it, so that labels of
    neighbouring layers never run into each other; a picture wider than the line is scaled to it.
    """
    net, p = b.net, b.p
    depth = net.depth
    sizes = b.spec.sizes
    small = small_net(sizes)
    columns = diagram_columns(depth)
    dx = min(4.6 if small else 3.6, max(COLUMN, 12.0 / (len(columns) - 1)))
    room = min(dx - 0.2, 3.4)  # text width of a heading or a note
    dy = 1.7 if small else 1.25
    out = [(r"\begin{tikzpicture}[x=1cm, y=1cm, >=stealth,"
            r" neuron/.style={circle, draw, thick, minimum size=10mm, inner sep=0pt, font=\small},"
            r" input/.style={neuron, fill=black!6}, dots/.style={inner sep=0pt},"
            r" label/.style={align=center, text width=%.2fcm, inner sep=1pt}]" % room)]
    positions: dict = {}
    highest = max(len(_shown(n)) - 1 for n in sizes) * dy / 2
    for c, l in enumerate(columns):
        xv = c * dx
        if l is None:
            out.append(r"\node at (%.2f,0) {$\cdots$};" % xv)
            continue
        ls = net.layers[l]
        shown = _shown(sizes[l])
        top = (len(shown) - 1) * dy / 2
        for pos, i in enumerate(shown):
            yv = top - pos * dy
            name = f"n{l}x{pos}"
            positions[(l, i)] = name
            if i is None:
                out.append(r"\node[dots] (%s) at (%.2f,%.2f) {$\vdots$};" % (name, xv, yv))
                continue
            label = p.doprint(ls.y[sp.Integer(i)])
            style = "input" if l == 0 else "neuron"
            out.append(r"\node[%s] (%s) at (%.2f,%.2f) {$%s$};" % (style, name, xv, yv, label))
        head = b.layer_name(l)
        out.append(r"\node[label, font=\small\bfseries, anchor=south] at (%.2f,%.2f) {%s};" % (xv, highest + 0.6, head))
        act = ls.activation
        size = ls.size if not ls.size.is_number else sp.Symbol(b.notation.size_name(l))  # seed 004's single y
        note = "$%s = %d$" % (b.tex(size), sizes[l])
        if act is not None:
            note += r", $%s$" % act_tex(act)
        out.append(r"\node[label, font=\footnotesize, anchor=north] at (%.2f,%.2f) {%s};" % (xv, -highest - 0.6, note))
    for l in range(1, depth + 1):
        if l not in columns or l - 1 not in columns:
            continue
        ls = net.layers[l]
        below = [i for i in _shown(sizes[l - 1]) if i is not None]
        above = [i for i in _shown(sizes[l]) if i is not None]
        for j in below:
            for k in above:
                src, dst = positions[(l - 1, j)], positions[(l, k)]
                if small:
                    w = p.doprint(ls.w[sp.Integer(j), sp.Integer(k)])
                    # straight edges labelled in the middle, crossing ones near their source
                    at = 0.5 if below.index(j) == above.index(k) else 0.2
                    out.append(r"\draw[->, black!55] (%s) -- node[pos=%.2f, sloped, above=-1pt, font=\scriptsize,"
                               r" text=black] {$%s$} (%s);" % (src, at, w, dst))
                elif j == below[0] and k == above[0]:
                    w = b.tex(ls.w[net.layers[l - 1].index, ls.index])
                    out.append(r"\draw[->, thick] (%s) -- node[pos=0.5, sloped, fill=white, inner sep=1pt,"
                               r" font=\scriptsize] {$%s$} (%s);" % (src, w, dst))
                else:
                    out.append(r"\draw[->, black!30] (%s) -- (%s);" % (src, dst))
    out.append(r"\end{tikzpicture}")
    picture = "\n".join(out)
    if (len(columns) - 1) * dx + room > LINE:
        return "\\resizebox{\\linewidth}{!}{%%\n%s}" % picture
    return picture


# ---------------------------------------------------------------------------------------------


@functools.cache
def _environment() -> jinja2.Environment:
    """One environment for the process: it compiles the template once."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("derive.document", "templates"),
        block_start_string="<%", block_end_string="%>",
        variable_start_string="<<", variable_end_string=">>",
        comment_start_string="<#", comment_end_string="#>",
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined, autoescape=False,
    )


def render_tex(derivation: Derivation, proof_report, *, lang: str, example: bool) -> str:
    """The whole LaTeX document of a derivation (and its proof report) in `lang` ("en" or "ko")."""
    context = DocumentBuilder(derivation, proof_report, lang, example).context()
    return _environment().get_template("document.tex.j2").render(**context)


__all__ = ["DocumentBuilder", "Y", "escape", "render_tex"]


def document_for_spec(path, *, lang: str = "en", example: bool = True, notation: str | None = None,
                      proof_report=...) -> str:
    """derive SPEC --tex: load, derive, prove (unless a report is given) and render; what generated/ holds."""
    from derive.calculus.derivation import derive
    from derive.spec.loader import load_spec

    derivation = derive(load_spec(path), notation)
    if proof_report is ...:
        from derive.calculus.proof import prove

        proof_report = prove(derivation)
    return render_tex(derivation, proof_report, lang=lang, example=example)
