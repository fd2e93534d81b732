"""Every whitelisted function and constant, every catalog activation, every notation, through the
terminal, --json and `derive check` (issue 9). The document and PDF are walked in
test_document_space.py, the generated modules in test_codegen_functions.py.

The round trip: every formula `derive` prints (its LaTeX, as --json gives it) is read back by
`derive check` and judged CORRECT, and a deliberately wrong one INCORRECT.
"""

import json

import pytest

from derive.calculus.derivation import derive
from derive.calculus.proof import prove
from derive.checker.check import Checker
from derive.cli import summary, terminal_text
from derive.spec.expr import CONSTANTS, FUNCTIONS
from derive.spec.loader import parse_spec

# one custom activation per whitelisted function and constant, each kept where the function is real
WHOLE_WHITELIST = {
    "exp": "exp(x / 2)", "log": "log(1 + x**2)", "sqrt": "sqrt(1 + x**2)", "abs": "abs(x) + x / 3",
    "sin": "sin(x)", "cos": "cos(x) + x", "tan": "tan(x / 4)", "sinh": "sinh(x / 2)", "cosh": "cosh(x / 3)",
    "tanh": "tanh(x)", "atan": "atan(x)", "asinh": "asinh(x)", "erf": "x * (1 + erf(x / sqrt(2))) / 2",
    "sigmoid": "sigmoid(2 * x)", "softplus": "softplus(x) - 1", "relu": "relu(x) + x / 4",
    "pi": "2 * atan(x) / pi", "e": "x / e + tanh(x)",
}
CATALOG = ['"identity"', '"sigmoid"', '"tanh"', '"relu"', '{ name = "leaky_relu", alpha = 0.2 }', '"softplus"']


def test_the_table_covers_the_whole_whitelist():
    assert set(WHOLE_WHITELIST) == set(FUNCTIONS) | set(CONSTANTS)
    for name, text in WHOLE_WHITELIST.items():
        assert name in text


def spec_of(hidden: str, *, notation="ijk", output='"sigmoid"', loss='"half_sse"', units=2):
    return parse_spec(f'name = "space"\ninputs = 2\nloss = {loss}\nnotation = "{notation}"\n'
                      f'[[layer]]\nunits = {units}\nactivation = {hidden}\n'
                      f'[[layer]]\nunits = 2\nactivation = {output}\n')


def round_trip(spec, *, quantities=None):
    derivation = derive(spec)
    report = prove(derivation, mode="fast")
    assert report.ok, report.lines()
    text = terminal_text(derivation, report)
    assert "Traceback" not in text and "\\text{" not in text
    data = json.loads(json.dumps(summary(derivation, report), ensure_ascii=False))
    assert data["proof"]["proven"] == data["proof"]["parameters"]
    checker = Checker(spec, None)
    rows = [row for row in data["formulas"] if quantities is None or row["quantity"] in quantities]
    assert rows
    for row in rows:
        verdict = checker.check(row["latex"]).verdict
        assert verdict == "CORRECT", (row["latex"], verdict)
    return rows


@pytest.mark.parametrize("name", sorted(WHOLE_WHITELIST))
def test_every_function_and_constant_round_trips(name):
    expr = WHOLE_WHITELIST[name]
    spec = spec_of(f'{{ name = "f_{name}", expr = "{expr}" }}')
    rows = round_trip(spec, quantities={"delta"})
    hidden_delta = next(r for r in rows if r["layer"] == 1)
    wrong = hidden_delta["latex"].replace(r"\delta_{j} =", r"\delta_{j} = 2 \cdot", 1)
    assert Checker(spec, None).check(wrong).verdict == "INCORRECT"


@pytest.mark.parametrize("notation", ["ijk", "layer", "node"])
@pytest.mark.parametrize("hidden", CATALOG, ids=[c.strip('"{ }').split(",")[0] for c in CATALOG])
def test_every_catalog_activation_in_every_notation(hidden, notation):
    quantities = None if notation != "node" else {"delta", "dE/dw"}
    round_trip(spec_of(hidden, notation=notation), quantities=quantities)


def test_softmax_head_round_trips():
    spec = spec_of('"tanh"', output='"softmax"', loss='"cross_entropy"')
    round_trip(spec)


def test_products_of_functions_round_trip():
    # abs, sign, atan, sinh side by side in one delta: bars and braced arguments must not pair across terms
    round_trip(spec_of('{ name = "odd", expr = "x * atan(x) / (1 + abs(x)) + cosh(x / 7)" }', notation="layer",
                       output='{ name = "soft", expr = "softplus(x) * tanh(x) - e / pi" }'),
               quantities={"delta"})


@pytest.mark.parametrize("function", ["sin", "cos", "tan", "sinh", "cosh", "tanh", "exp", "ln"])
def test_a_braced_argument_is_not_the_whole_product(function):
    from derive.checker.equation import Table, read_side

    table = Table()
    expr = read_side(rf"\{function}{{\left(u_{{k}} \right)}} y_{{k}}", table, "ijk", True)
    assert expr.is_Mul and len(expr.args) == 2, expr  # f(u_k) times y_k, never f(u_k y_k)
