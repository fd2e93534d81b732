"""The printed document over the whole space of legal specs (issue 9).

Every whitelisted function and constant as a custom activation, every catalog activation, every notation
and both languages, with and without the worked example, through `render_tex`, each document checked for
LaTeX structural errors (balanced groups and environments, no double super- or subscript, no SymPy
fallback names); a covering set of them compiled to PDF, many documents to one pdflatex run; a hypothesis
grammar of custom activations and losses over the whole whitelist, constants included (test_codegen's
grammar, extended), rendered and checked, a few compiled. Then one test per defect of the issue's table
that lives in the document (rows 1, 3, 4, 5, 6, 15, 16, and the worked example's names and asides).
PDF tests skip only outside CI without TeX (as in tests/test_pdf.py).
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import subprocess

import mpmath
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.calculus.activation_steps import Maximum, Supremum, Unbounded, maximum_steps
from derive.calculus.derivation import derive
from derive.document.builder import DocumentBuilder, diagram_columns, plot, render_tex
from derive.document.example import fmt, worked_example
from derive.document.pdf import PdfError, build
from derive.network.notation import Notation, base, latex, text
from derive.spec import catalog
from derive.spec.catalog import x as X
from derive.spec.expr import CONSTANTS, FUNCTIONS
from derive.spec.loader import NOTATIONS, parse_spec

try:  # pytest puts tests/ on sys.path (rootdir-relative "tests." when tests/ is a package)
    from test_codegen import CUSTOM_SLOPES, LOSS_TERMS, spec_text
    from test_codegen import activations as codegen_activations
    from test_codegen import losses as codegen_losses
    from test_pdf import HAVE_TEX, needs_tex
except ImportError:
    from tests.test_codegen import CUSTOM_SLOPES, LOSS_TERMS, spec_text
    from tests.test_codegen import activations as codegen_activations
    from tests.test_codegen import losses as codegen_losses
    from tests.test_pdf import HAVE_TEX, needs_tex

LANGS = ("en", "ko")

# -- the space ------------------------------------------------------------------------------------

# every whitelisted function of x, and every constant inside an activation
WHITELIST = {name: f"{name}(x)" for name in sorted(FUNCTIONS)}
CONSTANT_ACTIVATIONS = {"pi": "2 * atan(x) / pi", "e": "exp(x / e) - e"}
assert set(CONSTANT_ACTIVATIONS) == set(CONSTANTS)
CATALOG = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "softmax")
assert set(CATALOG) == set(catalog.ACTIVATION_NAMES)
SPACE = {**{f"fn_{k}": v for k, v in WHITELIST.items()}, **{f"const_{k}": v for k, v in CONSTANT_ACTIVATIONS.items()},
         **{f"cat_{k}": None for k in CATALOG}}


def activation_toml(key: str) -> str:
    if key.startswith("cat_"):
        return f'"{key[4:]}"'
    return f'{{ name = "{key}", expr = "{SPACE[key]}" }}'


def space_spec(key: str) -> str:
    """A 2-3-2 net with the activation in both layers (softmax: tanh below it), and a loss that suits it."""
    act = activation_toml(key)
    hidden, loss = act, '"half_sse"'
    if key == "cat_softmax":
        hidden, loss = '"tanh"', '"cross_entropy"'
    elif key == "cat_sigmoid":
        loss = '"bce"'
    return spec_text(2, [(3, hidden), (2, act)], loss)


@functools.cache
def parsed(text_: str, name: str = "space.toml"):
    return parse_spec(text_, name)


@functools.cache
def derivation(text_: str, notation: str):
    return derive(parsed(text_), notation)


@functools.cache
def document(text_: str, notation: str, lang: str, example: bool) -> str:
    return render_tex(derivation(text_, notation), None, lang=lang, example=example)


# -- cheap LaTeX structure ---------------------------------------------------------------------------

_TOKEN = re.compile(r"\\[a-zA-Z]+\*?|\\.|%[^\n]*|\s+|.", re.DOTALL)


def latex_problems(tex: str) -> list[str]:
    """Structural errors TeX would stop at, found without TeX: unbalanced braces, \\begin/\\end and
    \\left/\\right; a second superscript or subscript on one nucleus (a^{1}_{m}^{2}, e^{x}^{L}); SymPy's
    fallback names for objects it cannot print (\\text{\\Pi}, \\operatorname{Heaviside})."""
    problems = []
    tokens = [t for t in _TOKEN.findall(tex) if not t.isspace() and not t.startswith("%")]

    def group(i: int, close: str | None) -> int:
        """Parse tokens from i up to `close` ("}" or None for the end); return the index after it."""
        sup = sub = False
        while i < len(tokens):
            tok = tokens[i]
            if tok == close:
                return i + 1
            if tok == "}":
                problems.append("unbalanced }")
                return i + 1
            if tok in ("^", "_"):
                if (tok == "^" and sup) or (tok == "_" and sub):
                    context = "".join(tokens[max(0, i - 8):i + 4])
                    problems.append(f"double {'superscript' if tok == '^' else 'subscript'}: {context}")
                sup, sub = sup or tok == "^", sub or tok == "_"
                i += 1
                if i < len(tokens):  # the script's argument: one token or a group
                    i = group(i + 1, "}") if tokens[i] == "{" else i + 1
                continue
            sup = sub = False  # a new nucleus
            if tok == "{":
                i = group(i + 1, "}")
            elif tok in (r"\left", r"\right", r"\big", r"\Big", r"\bigl", r"\bigr"):
                i += 2  # the delimiter belongs to it
            else:
                i += 1
        if close is not None:
            problems.append("unbalanced {")
        return i

    group(0, None)
    stack = []
    for kind, name in re.findall(r"\\(begin|end)\{([^}]*)\}", tex):
        if kind == "begin":
            stack.append(name)
        elif not stack or stack.pop() != name:
            problems.append(f"\\end{{{name}}} without its \\begin")
    problems += [f"\\begin{{{name}}} never ended" for name in stack]
    lefts, rights = len(re.findall(r"\\left(?![a-zA-Z])", tex)), len(re.findall(r"\\right(?![a-zA-Z])", tex))
    if lefts != rights:
        problems.append(f"{lefts} \\left but {rights} \\right")
    problems += [f"SymPy's fallback name {m}" for m in re.findall(r"\\text\{\\[a-zA-Z]+\}|\\operatorname\{[A-Z]\w*\}", tex)]
    return problems


def test_the_structure_check_catches_what_tex_refuses():
    assert latex_problems(r"$1 - a^{1}_{m}^{2}$")[0].startswith("double superscript")
    assert latex_problems(r"$\sqrt{2} e^{- \frac{1}{2}}^{L}$")[0].startswith("double superscript")
    assert latex_problems(r"$3 z^{2}^{2}$") and latex_problems(r"$x_{1}_{2}$")
    assert latex_problems(r"$\text{\Pi} x$") and latex_problems(r"$\frac{1}{2$") and latex_problems(r"$a}$")
    assert latex_problems(r"\begin{align} x \end{equation}") and latex_problems(r"$\left( x$")
    fine = (r"$\sum_{r=1}^{n} \delta_{r} w_{jr}$, $\left(a^{1}_{m}\right)^{2}$, $w^{1}_{nm}$, $x_{1}^{2}$, "
            r"$\left(e^{x}\right)^{2}$, $\{a\}$ 100\% \begin{cases} 1 & \text{if } x \end{cases} $\mathbf{W}_{2}^{\top}$")
    assert latex_problems(fine) == []


def assert_sound(tex: str, what) -> None:
    assert tex.startswith("\\documentclass") and tex.rstrip().endswith("\\end{document}"), what
    problems = latex_problems(tex)
    assert not problems, (what, problems[:5])


# -- every activation x notation x language x example, through render_tex -----------------------------


@pytest.mark.parametrize("key", list(SPACE))
def test_every_activation_renders_in_every_notation_and_language(key):
    spec_ = space_spec(key)
    for notation in NOTATIONS:
        for lang in LANGS:
            for example in (False, True):
                tex = document(spec_, notation, lang, example)
                assert_sound(tex, (key, notation, lang, example))
                assert ("sec:example" in tex) == example
                assert ("\\usepackage{kotex}" in tex) == (lang == "ko")


# -- PDFs: a covering set, many documents to one pdflatex run ----------------------------------------


def packed_spec(keys: list[str]) -> str:
    """One hidden layer of width 2 per activation, the last one on the output layer (softmax, when it is
    among them, is the output, with cross entropy; the sigmoid output gets binary cross entropy)."""
    acts = [activation_toml(k) for k in keys if k != "cat_softmax"]
    if "cat_softmax" in keys:
        return spec_text(2, [(2, a) for a in acts] + [(2, '"softmax"')], '"cross_entropy"')
    loss = '"bce"' if keys[-1] == "cat_sigmoid" else '"half_sse"'
    return spec_text(2, [(2, a) for a in acts], loss)


def covering_set() -> list[tuple[list[str], str, str, bool]]:
    """Every activation of the space in one of a few documents (four to a document); the documents cycle
    through the notations, the languages and the example flag, so that every value of every axis, and
    every notation with every language, is compiled."""
    keys = list(SPACE)
    chunks = [keys[i:i + 4] for i in range(0, len(keys), 4)]
    return [(chunk, NOTATIONS[i % 3], LANGS[i % 2], (i // 2) % 2 == 0) for i, chunk in enumerate(chunks)]


COVERING = covering_set()
assert sorted(k for chunk, *_ in COVERING for k in chunk) == sorted(SPACE)
assert {(n, lang) for _, n, lang, _ in COVERING} == {(n, lang) for n in NOTATIONS for lang in LANGS}
assert {(lang, ex) for _, _, lang, ex in COVERING} == {(lang, ex) for lang in LANGS for ex in (False, True)}


def _labelled(body: str, prefix: str) -> str:
    """A document's labels and references with a prefix of their own, so that bodies share one run."""
    return re.sub(r"\\(label|ref|eqref)\{", lambda m: "\\%s{%s:" % (m.group(1), prefix), body)


def compile_together(docs: dict[str, str], runs: int = 2) -> tuple[str, str]:
    """Compile several documents of one preamble in one pdflatex run (and a second for the references):
    (text by pdftotext, log). A LaTeX error or an overfull line is reported with its document's name."""
    preambles = {name: tex.split("\\begin{document}", 1)[0] for name, tex in docs.items()}
    first = next(iter(preambles.values()))
    assert all(p == first for p in preambles.values()), "one batch, one preamble"
    parts, spans, line = [first, "\\begin{document}\n"], [], first.count("\n") + 2
    for i, (name, tex) in enumerate(docs.items()):
        body = tex.split("\\begin{document}", 1)[1].rsplit("\\end{document}", 1)[0]
        body = _labelled(body, f"d{i}") + "\n\\clearpage\n"
        spans.append((line, line + body.count("\n"), name))
        parts.append(body)
        line += body.count("\n")
    parts.append("\\end{document}\n")

    def where(n: int) -> str:
        return next((name for lo, hi, name in spans if lo <= n <= hi), "the preamble")

    try:
        data, log = build("".join(parts), max_runs=runs)
    except PdfError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise AssertionError(f"{where(int(m.group(1))) if m else '?'}: {exc}") from None
    overfull = [(float(w), where(int(n))) for w, n in
                re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\) [^\n]*?lines? (\d+)", log)]
    assert not [o for o in overfull if o[0] > 5], overfull
    pages = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True,
                           timeout=120).stdout.decode("utf-8")
    return pages, log


def _row_docs(lang: str) -> dict:
    """The issue's specs whose PDFs failed or ran off the page, in this language."""
    gelu, deep = one_activation(GELU), deep_spec(8)
    if lang == "en":
        return {"row1 gelu": (gelu, "ijk", True), "row15 8 layers": (deep, "ijk", False),
                "row16 1e300": (one_activation('"sigmoid"', extra=HUGE), "ijk", True),
                "row3 layer tanh": (one_activation('"tanh"', "layer"), "layer", True)}
    return {"row1 gelu": (gelu, "node", True), "row15 8 layers": (deep, "layer", False),
            "row4 exp(-x^2)": (one_activation('{ name = "g", expr = "exp(-x**2)" }'), "ijk", False),
            "row5 tan": (one_activation('{ name = "t", expr = "tan(x / 4)" }'), "ijk", False),
            "row6 sqrt": (one_activation('{ name = "r", expr = "sqrt(x)" }'), "layer", True)}


def pdf_batches() -> dict[str, dict[str, tuple]]:
    """Two batches per language (the two cores each take one), covering set and rows shared out."""
    batches: dict[str, dict[str, tuple]] = {f"{lang}-{half}": {} for lang in LANGS for half in (1, 2)}
    for i, (chunk, notation, lang, example) in enumerate(COVERING):
        batches[f"{lang}-{1 + (i // 2) % 2}"][f"cover {'+'.join(chunk)} {notation}"] = (
            packed_spec(chunk), notation, example)
    for lang in LANGS:
        for j, (name, case) in enumerate(_row_docs(lang).items()):
            batches[f"{lang}-{2 - j % 2}"][name] = case
    return batches


@needs_tex
@pytest.mark.parametrize("batch", [f"{lang}-{half}" for lang in LANGS for half in (1, 2)])
def test_covering_set_and_the_issues_specs_compile(batch):
    lang = batch.split("-")[0]
    docs = {name: document(spec_, notation, lang, example)
            for name, (spec_, notation, example) in pdf_batches()[batch].items()}
    pages, _ = compile_together(docs, runs=1)  # one run finds every error and overfull line
    # row 15: neighbouring headings and notes of the diagram never run into each other
    assert not re.search(r"(hidden|은닉층) \d+(hidden|은닉층)|ReLUn|tanhn|σn", pages)
    if "row1 gelu" in docs:
        assert "π" in pages


# -- the grammar: test_codegen's, extended to the whole whitelist and the constants ----------------------

INNER = ["x", "pi * x", "x / e", "2 * x", "x - 1 / 2"]


@st.composite
def whitelist_activations(draw):
    """f(inner) [+ slope], for every whitelisted f, and a constant factor now and then."""
    name = draw(st.sampled_from(sorted(FUNCTIONS)))
    inner = draw(st.sampled_from(INNER))
    term = f"{name}({inner})"
    factor = draw(st.sampled_from(["", "pi * ", "e * ", "3 * "]))
    slope = draw(st.sampled_from(CUSTOM_SLOPES))
    name_ = f"w_{name}_{INNER.index(inner)}_{len(factor)}_{CUSTOM_SLOPES.index(slope)}"  # one name, one expression
    return f'{{ name = "{name_}", expr = "{factor}{term}{slope}" }}'


@st.composite
def whitelist_losses(draw):
    """A penalty of the error through a whitelisted function or a constant: e.g. log(cosh(pi * (y - t)))."""
    name = draw(st.sampled_from(["exp", "log", "sqrt", "cosh", "softplus", "abs", "atan", "asinh", "sin", "erf"]))
    inner = draw(st.sampled_from(["(y - t)", "pi * (y - t)", "(y - t) / e", "(y - t)**2"]))
    terms = {"exp": f"exp(-{inner}**2)", "log": f"log(1 + {inner}**2)", "sqrt": f"sqrt(1 + {inner}**2)",
             "cosh": f"log(cosh({inner}))", "softplus": f"softplus({inner}) + softplus(-{inner})",
             "abs": f"abs({inner})", "atan": f"{inner} * atan({inner})", "asinh": f"{inner} * asinh({inner})",
             "sin": f"{inner}**2 + sin({inner})**2", "erf": f"{inner} * erf({inner})"}
    extra = draw(st.sampled_from(["", f" + {LOSS_TERMS[0]}", " + t * y**2 / e"]))
    return f'{{ name = "custom_loss", expr = "{terms[name]}{extra}" }}'


@st.composite
def documents(draw):
    """(spec text, notation, lang, example): depth 1-2, widths 1-3, activations from both grammars."""
    depth = draw(st.integers(1, 2))
    widths = draw(st.lists(st.integers(1, 3), min_size=depth + 1, max_size=depth + 1))
    layers = []
    for l in range(1, depth + 1):
        act = draw(st.one_of(whitelist_activations(), codegen_activations(output=l == depth, units=widths[l])))
        layers.append((widths[l], act))
    loss = draw(st.one_of(codegen_losses(layers[-1][1]), whitelist_losses()))
    return (spec_text(widths[0], layers, loss), draw(st.sampled_from(NOTATIONS)), draw(st.sampled_from(LANGS)),
            draw(st.booleans()))


GRAMMAR = settings(deadline=None, max_examples=max(6, settings().max_examples // 5),
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@GRAMMAR
@given(case=documents())
def test_grammar_documents_are_sound_latex(case):
    spec_, notation, lang, example = case
    tex = document(spec_, notation, lang, example)
    assert_sound(tex, case)


@needs_tex
@settings(GRAMMAR, max_examples=2)
@given(case=documents())
def test_a_few_grammar_documents_compile(case):
    spec_, notation, lang, example = case
    compile_together({"grammar": document(spec_, notation, lang, example)}, runs=1)


# -- the issue's rows --------------------------------------------------------------------------------

GELU = '{ name = "gelu", expr = "x * (1 + erf(x / sqrt(2))) / 2" }'


def one_activation(act: str, notation: str = "ijk", sizes=(2, 3, 2), out: str | None = None, loss='"half_sse"',
                   extra: str = "") -> str:
    layers = [(n, act) for n in sizes[1:-1]] + [(sizes[-1], out or '"identity"')]
    text_ = spec_text(sizes[0], layers, loss).replace('name = "net"', 'name = "net"\n' + f'notation = "{notation}"')
    return text_ + extra


@pytest.mark.parametrize("act", [GELU, '{ name = "a", expr = "2 * atan(x) / pi" }',
                                 '{ name = "s", expr = "sigmoid(pi * x)" }'])
def test_row1_pi_prints_as_pi(act):
    spec_ = one_activation(act)
    for lang in LANGS:
        tex = document(spec_, "ijk", lang, True)
        assert "\\text{\\Pi}" not in tex and "\\pi" in tex
        assert_sound(tex, act)


def test_row1_every_constant_prints_in_both_printers():
    n = Notation("ijk", (2, 3, 2))
    for constant in (sp.pi, sp.E, sp.EulerGamma, sp.GoldenRatio, sp.Catalan, sp.TribonacciConstant, sp.oo):
        assert latex(constant, n) == sp.latex(constant), constant  # SymPy's own LaTeX of it
        assert not latex_problems("$%s$" % latex(constant, n))
    assert latex(sp.pi * X, n) == r"\pi x" and latex(sp.exp(-sp.pi), n) == r"e^{- \pi}"
    assert text(sp.pi * X, n) == "π*x" and text(sp.E, n) == "e"  # not "E", the loss
    assert text(sp.EulerGamma, n) == "γ" and text(sp.oo, n) == "∞"


def test_row3_powers_of_superscripted_symbols_are_bracketed():
    tanh = document(one_activation('"tanh"', "layer"), "layer", "en", False)
    assert r"1 - \left(a^{1}_{m}\right)^{2}" in tex_or_fail(tanh)
    cube = document(one_activation('{ name = "c", expr = "x**3" }', "layer", sizes=(2, 3, 1),
                                   out='{ name = "c", expr = "x**3" }'), "layer", "en", False)
    assert r"3 \left(z^{1}_{m}\right)^{2}" in tex_or_fail(cube)
    assert r"3 \left(z^{2}\right)^{2}" in cube  # the single output drops its index: z^{2}, squared
    n = Notation("layer", (2, 3, 1))
    a = base("y", 1)[sp.Symbol("m")]
    assert text(1 - a**2, n) == "1 - (a^1_m)**2" and latex(a**-2, n) == r"\frac{1}{\left(a^{1}_{m}\right)^{2}}"
    assert latex(base("y", 0)[sp.Symbol("n")] ** 2, n) == "x_{n}^{2}"  # no superscript, no brackets


def tex_or_fail(tex: str) -> str:
    assert_sound(tex, "document")
    return tex


def test_row4_power_of_a_power_is_bracketed():
    tex = tex_or_fail(document(one_activation('{ name = "g", expr = "exp(-x**2)" }'), "ijk", "en", False))
    assert r"\left(\sqrt{2} e^{- \frac{1}{2}}\right)^{L}" in tex
    assert r"\sqrt{2} e^{- \frac{1}{2}}^{L}" not in tex


@pytest.mark.parametrize("expr", ["tan(x / 4)", "x**3", "sqrt(x)", "log(x)", "exp(x)", "sinh(x)"])
def test_row5_an_unbounded_slope_is_called_unbounded(expr):
    spec_ = one_activation(f'{{ name = "a", expr = "{expr}" }}')
    act = parsed(spec_).layers[0].activation
    assert isinstance(maximum_steps(act), Unbounded)
    assert act.derivative_max is None
    for lang in LANGS:
        tex = tex_or_fail(document(spec_, "ijk", lang, False))
        assert ("Its slope is unbounded" if lang == "en" else "상한이 없다") in tex
        assert "largest slope" not in tex and "가장 큰 기울기" not in tex
        assert not re.search(r"f'\(u\) \\le (?!c\$)", tex)  # no bound but the generic c


def test_row5_maxima_are_the_true_maxima():
    """Each maximum reported is the peak of f' (checked against its known value, or on a fine grid)."""
    cases = {"sigmoid(x)": sp.Rational(1, 4), "tanh(x)": 1, "exp(-x**2)": sp.sqrt(2) * sp.exp(-sp.Rational(1, 2)),
             "2 * atan(x) / pi": 2 / sp.pi, "sigmoid(pi * x)": sp.pi / 4, "erf(x)": 2 / sp.sqrt(sp.pi)}
    for expr, peak in cases.items():
        act = parsed(one_activation(f'{{ name = "a", expr = "{expr}" }}')).layers[0].activation
        found = maximum_steps(act)
        assert isinstance(found, Maximum) and sp.simplify(found.value - peak) == 0, expr
    softplus = maximum_steps(catalog.activation("softplus"))  # approaches 1, never reaches it
    assert isinstance(softplus, Supremum) and softplus.value == 1 and softplus.end == sp.oo
    tex = document(space_spec("cat_softplus"), "ijk", "en", False)
    assert r"$\mathrm{softplus}'(x) < 1$ everywhere" in tex
    swish = catalog.custom_activation("swish", X * FUNCTIONS["sigmoid"](X))
    found = maximum_steps(swish)
    assert isinstance(found, Maximum) and not found.exact
    slope = sp.lambdify(X, swish.derivative, "mpmath")
    assert max(slope(mpmath.mpf(i) / 100) for i in range(-1000, 1001)) <= float(found.value) + 1e-7


@pytest.mark.parametrize("expr", ["sqrt(x)", "log(x)", "x**pi", "log(1 + x) - x / 2"])
def test_row6_plots_and_example_keep_to_the_real_domain(expr):
    spec_ = one_activation(f'{{ name = "a", expr = "{expr}" }}')
    act = parsed(spec_).layers[0].activation
    drawn = plot(act, "f")
    for coords in (drawn.f, drawn.df):
        points = re.findall(r"\(([-\d.]+),([-\d.]+|nan)\)", coords)
        assert points and all(float(a) >= -1 for a, b in points if b != "nan"), expr  # no value left of the domain
    for lang in LANGS:
        tex = tex_or_fail(document(spec_, "ijk", lang, True))
        assert "unbounded coords=jump" in tex
    ex = worked_example(derivation(spec_, "ijk"))
    if ex.undefined:  # a weighted sum left the domain: NaN, said so, never a complex or wrong number
        assert "\\mathrm{NaN}" in document(spec_, "ijk", "en", True) and "not a number" in document(spec_, "ijk", "en", True)


def test_row6_a_pole_breaks_the_curve():
    drawn = plot(catalog.custom_activation("t", sp.tan(X)), "f")
    assert drawn.f.count("nan") >= 2  # at -pi/2 and pi/2, not a line through the window


DEEP = [("relu", 4), ("tanh", 3), ("sigmoid", 4), ("leaky_relu", 3), ("softplus", 4),
        ('{ name = "swish", expr = "x*sigmoid(x)" }', 3), (GELU, 4), ("identity", 2)]


def deep_spec(depth: int = 8) -> str:
    layers = [(n, a if a.startswith("{") else f'"{a}"') for a, n in (DEEP * 8)[:depth]]
    return spec_text(3, layers, '{ name = "logcosh", expr = "log(cosh(y - t))" }')


def test_row15_deep_diagram_labels_have_room():
    tex = tex_or_fail(document(deep_spec(8), "ijk", "en", False))
    picture = tex[tex.index("\\begin{tikzpicture}"):tex.index("\\end{tikzpicture}")]
    width = float(re.search(r"label/.style=\{align=center, text width=([\d.]+)cm", picture).group(1))
    heads = [float(v) for v in re.findall(r"\\node\[label, font=\\small\\bfseries, anchor=south\] at \(([\d.]+),", picture)]
    notes = [float(v) for v in re.findall(r"\\node\[label, font=\\footnotesize, anchor=north\] at \(([\d.]+),", picture)]
    assert len(heads) == len(notes) == 9
    for row in (heads, notes):
        assert all(b - a >= width for a, b in itertools.pairwise(row)), (row, width)  # wrapped inside its column
    assert "wide layers" not in tex  # no layer is wide here: the caption says what is left out
    assert diagram_columns(8) == list(range(9)) and diagram_columns(20) == [0, 1, 2, 3, None, 18, 19, 20]


def test_row15_very_deep_diagram_leaves_out_the_middle():
    d = derivation(deep_spec(12), "layer")
    builder = DocumentBuilder(d, None, "en", False)
    picture = builder.diagram()
    drawn = sorted({int(l) for l in re.findall(r"\(n(\d+)x", picture)})
    assert drawn == [0, 1, 2, 3, 10, 11, 12] and "$\\cdots$" in picture
    assert "hidden layers 4 to 9 left out" in builder.figure_caption()


HUGE = """
[example]
x = [1e300, -1e300]
t = [0.5, 1e300]
W1 = [[1e300, 0.5, -1e300], [0.25, 1e300, 0.5]]
"""


def test_row16_huge_example_values_print_with_bounded_digits():
    spec_ = one_activation('"sigmoid"', extra=HUGE)
    tex = tex_or_fail(document(spec_, "ijk", "en", True))
    example = tex[tex.index("\\label{sec:example}"):]
    assert not re.search(r"\d{12,}", example), re.search(r".{40}\d{12,}.{10}", example)
    assert "10^{300}" in example
    with mpmath.workdps(50):
        assert fmt(mpmath.exp(mpmath.mpf(10) ** 300)) == r"10^{4.34294482 \times 10^{299}}"
        assert fmt(-mpmath.mpf(10) ** 300, exact=True) == r"-1 \times 10^{300}"
        assert fmt(mpmath.nan) == r"\mathrm{NaN}" and fmt(mpmath.inf) == r"\infty"


def test_example_names_every_layer_apart_in_ijk():
    tex = document(one_activation('"sigmoid"'), "ijk", "en", True)
    example = tex[tex.index("\\label{sec:example}"):]
    for name in ("y_{i=1}", "y_{j=1}", "y_{k=1}", "t_{k=1}", r"w_{i=1,\,j=1}", r"w_{j=1,\,k=1}"):
        assert f"${name}$" in example, name
    assert "$y_{1}$" not in example and "$w_{11}$" not in example
    chains = re.findall(r"the weight \$(.*?)\$ by the chain rule", example)
    assert len(chains) == 2 and chains[0] != chains[1]
    node = document(one_activation('"sigmoid"'), "node", "en", True)  # node numbers name layers already
    assert "$x_{1}$" in node and "$y_{h1}$" in node


def test_the_about_0_3_aside_is_explained_and_the_figure_uses_the_nets_depth():
    tex = document(one_activation('"sigmoid"', out='"sigmoid"', loss='"bce"'), "ijk", "en", False)
    assert "quoted as ``about 0.3''" in tex and "not ``about 0.3''" not in tex
    assert r"for this network's $L = 2$: $\frac{1}{16}$" in tex and "L = 3" not in tex
    ko = document(one_activation('"sigmoid"', out='"sigmoid"', loss='"bce"'), "ijk", "ko", False)
    assert "0.3 정도" in ko and r"$L = 2$이면 $\frac{1}{16}$" in ko


def test_tex_is_present_in_ci_for_the_pdf_tests():
    """The PDF tests above skip only outside CI; in CI TeX must be there (tests/test_pdf.py's rule)."""
    if os.environ.get("CI"):
        assert HAVE_TEX
