"""Numbers on the right of a hand derivation (DESIGN.md section 12, issue "checker reads the textbooks" item 7):
judged at the worked example's point, to the precision written. The values are Mazur's step-by-step
backpropagation example (the network of seed 003, its [example] point), as he published them."""

import pytest

from derive.checker.check import Checker
from derive.spec.loader import load_spec
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def mazur():
    return Checker(load_spec(ROOT / "examples" / "seed003.toml"), "mazur")


MAZUR = [
    r"net_{h1} = 0.3775",
    r"out_{o1} = 0.75136507",
    r"E_{total} = 0.298371109",
    r"\frac{\partial E_{total}}{\partial out_{o1}} = 0.74136507",
    r"\frac{\partial out_{o1}}{\partial net_{o1}} = 0.186815602",
    r"\frac{\partial net_{o1}}{\partial w_5} = 0.593269992",
    r"\frac{\partial E_{total}}{\partial w_5} = 0.082167041",
    r"\frac{\partial E_{total}}{\partial w_5} = 0.74136507 \cdot 0.186815602 \cdot 0.593269992 = 0.082167041",
    r"\frac{\partial E_{total}}{\partial out_{h1}} = 0.036350306",
    r"\frac{\partial E_{total}}{\partial w_1} = 0.000438568",
    r"\frac{\partial E_{total}}{\partial w_5} = 0.0821",  # truncated: within one unit of the last digit
    r"\frac{\partial E_{total}}{\partial w_5} = 8.2167 \times 10^{-2}",
]


@pytest.mark.parametrize("equation", MAZUR)
def test_mazurs_published_numbers_are_correct(mazur, equation):
    report = mazur.check(equation)
    assert report.verdict == "CORRECT", equation
    assert report.at_example


@pytest.mark.parametrize("equation, why", [
    (r"\frac{\partial E_{total}}{\partial w_5} = 0.0825", "written to 0.0001, yours is off by 0.000333"),
    (r"\frac{\partial E_{total}}{\partial w_5} = -0.082167041", "the value is 0.0821670405642"),
    (r"\frac{\partial E_{total}}{\partial w_1} = 0.000437", "written to 1e-06"),  # more than a unit off
    (r"\frac{\partial E_{total}}{\partial out_{o1}} = 0.75136507", "the value is 0.741365"),  # out, not out - t
])
def test_wrong_numbers_are_incorrect_with_the_value(mazur, equation, why):
    report = mazur.check(equation)
    assert report.verdict == "INCORRECT"
    assert why in " ".join(d for side in report.sides for d in side.diagnosis)


def test_a_wrong_step_of_a_chain_of_numbers_is_named(mazur):
    from derive.checker.check import render

    report = mazur.check(r"\frac{\partial E_{total}}{\partial w_5} = 0.74136507 \cdot 0.186815602 = 0.082167041")
    assert report.verdict == "INCORRECT" and [s.correct for s in report.sides] == [False, True]
    assert "step 1 of 2 is wrong" in render(report)[0]


def test_an_exact_constant_is_still_an_identity(mazur):
    """Without a decimal point the right side claims the formula everywhere: judged at random points."""
    report = mazur.check(r"\frac{\partial E_{total}}{\partial w_5} = \frac{1}{12}")
    assert report.verdict == "INCORRECT" and not report.at_example


# ---------------------------------------------------------------- update rules (seed 003 trains with SGD, η = 0.5)

@pytest.mark.parametrize("equation", [
    r"w_5^{+} = 0.35891648",  # Mazur's updated weights
    r"w_1^{+} = 0.149780716",
    r"w_5^{+} = w_5 - \eta \frac{\partial E_{total}}{\partial w_5}",
    r"w_5^{+} = w_5 - \eta \frac{\partial E_{total}}{\partial w_5} = 0.4 - 0.5 \cdot 0.082167041 = 0.35891648",
    r"w_5 \leftarrow w_5 - \alpha \frac{\partial E_{total}}{\partial w_5}",
    r"\Delta w_5 = -\eta \frac{\partial E_{total}}{\partial w_5}",
    r"w_5^{new} = w_5 - 0.5 \cdot \delta_{o1} out_{h1}",
])
def test_update_rules_against_the_spec_learning_rate(mazur, equation):
    report = mazur.check(equation)
    assert report.verdict == "CORRECT", equation
    assert any("update rule" in note for note in report.notes)


@pytest.mark.parametrize("equation", [
    r"w_5^{+} = w_5 + \eta \frac{\partial E_{total}}{\partial w_5}",  # uphill
    r"w_5^{+} = w_5 - \frac{\partial E_{total}}{\partial w_5}",  # η dropped
    r"\Delta w_5 = \eta \frac{\partial E_{total}}{\partial w_5}",
    r"w_5^{+} = 0.3592",  # more than a unit of its last digit from 0.35891648
])
def test_wrong_update_rules_are_incorrect(mazur, equation):
    assert mazur.check(equation).verdict == "INCORRECT", equation


def test_an_update_rule_for_another_optimiser_is_refused():
    from derive.checker.equation import Refusal

    checker = Checker(load_spec(ROOT / "examples" / "digits.toml"))
    with pytest.raises(Refusal, match="trains with adam"):
        checker.check(r"w^{+}_{jk} = w_{jk} - \eta \frac{\partial E}{\partial w_{jk}}")


@pytest.mark.parametrize("yours, exact, ok", [
    ("0.0821", "0.082167", True),  # truncated
    ("0.0822", "0.082167", True),  # rounded
    ("-0.0821", "-0.082167", True),
    ("0.0820", "0.082167", False),
    ("0.01", "0", False),  # one unit off is not a rounding of 0
    ("0.01", "0.0113", True),
    ("0.01", "0.0099", True),
])
def test_a_numeral_is_the_value_rounded_or_truncated(yours, exact, ok):
    import sympy as sp

    from derive.checker.check import _last_place, _written_as

    value = sp.Rational(yours)
    assert bool(_written_as(value, sp.Rational(exact), _last_place(yours, value), True)) == ok
