"""`derive check` in the textbooks' notations (issue 11, DESIGN.md section 12): notation as data, the presets,
the [notation] table of a spec, general layers, weight orders, cost names, RHW's delta sign, refusals, and a
hand-made corpus of equations copied from the books (tests/notation_corpus.toml)."""

from __future__ import annotations

import json
import tomllib
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from derive.checker.check import Checker, main, render
from derive.checker.equation import EquationError, Refusal
from derive.errors import ExpressionError, SpecError
from derive.network.notation import NOTES, PRESETS, TEXTBOOKS, Notation
from derive.spec.loader import load_spec, parse_spec

ROOT = Path(__file__).resolve().parent.parent
CORPUS = tomllib.loads((ROOT / "tests" / "notation_corpus.toml").read_text(encoding="utf-8"))["case"]
_CHECKERS: dict = {}


def _checker(spec, notation=None) -> Checker:
    key = (str(spec), notation)
    if key not in _CHECKERS:
        loaded = spec if not isinstance(spec, (str, Path)) else load_spec(ROOT / spec)
        _CHECKERS[key] = Checker(loaded, notation)
    return _CHECKERS[key]


def _verdict(checker: Checker, eq: str) -> tuple[str, str]:
    try:
        report = checker.check(eq)
    except Refusal as exc:
        return "REFUSED", str(exc)
    except (EquationError, SpecError, ExpressionError) as exc:
        return "UNREADABLE", str(exc)
    out, _ = render(report)
    return report.verdict, out


# ------------------------------------------------------------------------------------ the corpus

def test_corpus_covers_the_books():
    assert len(CORPUS) >= 60
    notations = {c.get("notation") for c in CORPUS}
    assert set(TEXTBOOKS) <= notations
    assert {"CORRECT", "INCORRECT", "REFUSED"} <= {c["expect"] for c in CORPUS}


@pytest.mark.parametrize("case", CORPUS, ids=[f"{i:03d}-{c['source'][:40]}" for i, c in enumerate(CORPUS)])
def test_corpus(case):
    verdict, out = _verdict(_checker(case["spec"], case.get("notation")), case["eq"])
    assert verdict == case["expect"], out
    if case.get("phrase"):
        assert case["phrase"] in out, out
    if verdict in ("CORRECT", "INCORRECT") and case.get("notation") in TEXTBOOKS:
        assert out.startswith("read as: "), out  # the convention applied comes first
        assert out.splitlines()[1] == verdict


# ------------------------------------------------------------------------------ notation as data

def test_presets_are_frozen_data_with_the_fields_of_section_12():
    assert set(NOTES) | set(TEXTBOOKS) == set(PRESETS)
    for name, style in PRESETS.items():
        assert style.preset == name
        assert style.weights in ("from_to", "to_from") and style.delta_sign in ("plus", "minus")
        assert style.layer_mark in ("^l", "^{(l)}", "^{[l]}")
        assert {"output", "weighted_sum", "target", "input"} <= set(style.role_names().values())
    with pytest.raises(FrozenInstanceError):
        PRESETS["nielsen"].weights = "from_to"
    assert PRESETS["nielsen"].weights == PRESETS["bishop"].weights == "to_from"
    assert PRESETS["ijk"].weights == PRESETS["layer"].weights == "from_to"
    assert PRESETS["rhw"].delta_sign == "minus" and PRESETS["nielsen"].input_layer == 1
    assert (PRESETS["nielsen"].output, PRESETS["nielsen"].weighted_sum, PRESETS["nielsen"].target) == ("a", "z", "y")
    assert (PRESETS["bishop"].output, PRESETS["bishop"].weighted_sum) == ("z", "a")


def test_notation_keeps_its_old_api():
    n = Notation("ijk", (2, 2, 2))
    assert n.style is PRESETS["ijk"] and n == Notation("ijk", (2, 2, 2))
    assert n.letter(2) == "k" and n.dummy(2) == "r" and n.size_name(2) == "n" and n.loss_name == "E"
    layer = Notation("layer", (3, 4, 1))
    assert layer.letter(0) == "n" and layer.loss_name == "J" and layer.size_name(1) == "n_1"


def test_printed_in_the_books_symbols():
    from derive.network.notation import base, latex, text

    w = base("w", 2)[1, 2]  # from neuron 1 of layer 1 to neuron 2 of layer 2
    assert text(w, Notation("ijk", (2, 2, 2))) == "w_12"
    assert text(w, Notation("nielsen", (2, 2, 2))) == "w^3_21"  # to-from, input = layer 1
    assert latex(w, Notation("goodfellow", (2, 2, 2))) == "w^{(2)}_{21}"
    assert text(w, Notation("mazur", (2, 2, 2))) == "w_7"  # h1 -> o2 is his w7
    assert text(base("delta", 2)[1], Notation("rhw", (2, 2, 2))) == "-δ_1"  # the tool's δ is -δ_RHW


# ------------------------------------------------------------------------------ the spec and the CLI

SPEC = """
name = "n222"
inputs = 2
loss = "half_sse"
{notation}
[[layer]]
units = 2
activation = "sigmoid"
[[layer]]
units = 2
activation = "sigmoid"
"""


@pytest.mark.parametrize("name", list(PRESETS))
def test_spec_accepts_every_preset(name):
    spec = parse_spec(SPEC.format(notation=f'notation = "{name}"'))
    assert Checker(spec).notation.name == name


def test_notation_table():
    spec = parse_spec(SPEC.format(notation='[notation]\npreset = "nielsen"\ninput_layer = 0\n'
                                           'names = { loss = "E" }'))
    checker = Checker(spec)
    assert checker.notation.style.input_layer == 0 and checker.notation.loss_name == "E"
    # issue 11 row 4, layers counted from 0: the transposed weight is wrong, the right one right
    assert _verdict(checker, r"\delta^1_j = \sum_{k=1}^{2} w^2_{jk} \delta^2_k \sigma'(z^1_j)")[0] == "INCORRECT"
    assert _verdict(checker, r"\delta^1_j = \sum_{k=1}^{2} w^2_{kj} \delta^2_k \sigma'(z^1_j)")[0] == "CORRECT"
    assert _verdict(checker, r"\frac{\partial E}{\partial b^L_j} = \delta^L_j")[0] == "CORRECT"


def test_notation_table_changes_a_preset():
    table = '[notation]\npreset = "layer"\nweights = "to_from"\nnames = { output = "a", weighted_sum = "z", target = "y", loss = "C" }'
    checker = Checker(parse_spec(SPEC.format(notation=table)))
    assert _verdict(checker, r"\frac{\partial C}{\partial w^2_{jk}} = a^1_k \delta^2_j")[0] == "CORRECT"
    assert _verdict(checker, r"\frac{\partial C}{\partial w^2_{jk}} = a^1_j \delta^2_k")[0] == "INCORRECT"
    sign = '[notation]\npreset = "ijk"\ndelta_sign = "minus"'
    checker = Checker(parse_spec(SPEC.format(notation=sign)))
    assert _verdict(checker, r"\delta_k = (t_k - y_k) y_k (1 - y_k)")[0] == "CORRECT"


@pytest.mark.parametrize("table, phrase", [
    ('notation = "smith"', "notation: expected one of ijk, layer, node, nielsen"),
    ('[notation]\npreset = "smith"', "notation.preset"),
    ('[notation]\nweights = "up"', "notation.weights"),
    ('[notation]\ndelta_sign = "-"', "notation.delta_sign"),
    ('[notation]\nlayer_mark = "^(l)"', "notation.layer_mark"),
    ('[notation]\ninput_layer = 2', "notation.input_layer"),
    ('[notation]\nnames = { output = "a b" }', "notation.names.output"),
    ('[notation]\nnames = { colour = "a" }', "notation.names.colour"),
    ('[notation]\nsize = 1', "notation.size"),
])
def test_bad_notation_table_names_the_field(table, phrase):
    with pytest.raises(SpecError) as info:
        parse_spec(SPEC.format(notation=table), "net.toml")
    assert phrase in str(info.value)


def test_cli_accepts_every_preset_and_refuses_in_one_line(capsys):
    spec = str(ROOT / "examples/seed003.toml")
    for name in PRESETS:
        code = main([spec, "dE/dw_jk = y_j*delta_k", "--notation", name])
        assert code in (0, 1, 2)
    capsys.readouterr()
    code = main([spec, r"\delta^1_j = \sum_{k=1}^{2} w^2_{jk} \delta^2_k \sigma'(z^1_j)", "--notation", "nielsen"])
    out = capsys.readouterr().out
    assert code == 1 and out.startswith("read as: ") and out.splitlines()[1] == "INCORRECT"
    code = main([spec, r"\delta^1_j = \sum_{k=1}^{2} w^2_{kj} \delta^2_k \sigma'(z^1_j)", "--notation", "nielsen"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and "input_layer = 0" in captured.err
    code = main([spec, r"\delta_{pj} = (t_{pj} - o_{pj}) o_{pj} (1 - o_{pj})", "--notation", "rhw", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["verdict"] == "CORRECT" and data["read_as"].startswith("read as: ")


# ------------------------------------------------------------------------------ chains and files

def test_chain_names_the_first_wrong_step():
    checker = _checker("examples/seed003.toml", "nielsen")
    verdict, out = _verdict(checker, r"\frac{\partial C}{\partial b^L_j} = \frac{\partial C}{\partial z^L_j} "
                                     r"= \delta^L_j = a^L_j - y_j")
    assert verdict == "INCORRECT"
    assert r"step 3 of 3 is wrong: \delta^L_j = a^L_j - y_j" in out


ANSWERS = r"""
% a student's answers, in Nielsen's notation
\begin{align}
\delta^L_j &= (a^L_j - y_j) \sigma'(z^L_j) \\
\frac{\partial C}{\partial b^l_j} &= \delta^l_j \\
  &= a^L_j - y_j
\end{align}
Then $\frac{\partial C}{\partial w^l_{jk}} = a^{l-1}_k \delta^l_j$ for every layer, and
\[ \delta^1_j = \sum_{k=1}^{2} w^2_{kj} \delta^2_k \sigma'(z^1_j) \]
"""


def test_file_of_answers(tmp_path, capsys):
    path = tmp_path / "answers.tex"
    path.write_text(ANSWERS, encoding="utf-8")
    spec = str(ROOT / "examples/seed003.toml")
    code = main([spec, "--notation", "nielsen", "--file", str(path)])
    out = capsys.readouterr().out
    assert code == 2  # one refused
    assert out.splitlines()[-1] == "4 equations: 2 correct, 1 incorrect, 1 refused, 0 unreadable"
    assert "[2] line 5: INCORRECT" in out and "step 2 of 2 is wrong" in out
    code = main([spec, "--notation", "nielsen", "--file", str(path), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert [e["verdict"] for e in data["equations"]] == ["CORRECT", "INCORRECT", "CORRECT", "REFUSED"]
    assert data["summary"]["CORRECT"] == 2 and data["equations"][1]["first_wrong_step"] == 2


def test_file_and_equation_are_exclusive(tmp_path, capsys):
    spec = str(ROOT / "examples/seed003.toml")
    assert main([spec]) == 2
    assert main([spec, "dE/dw_31 = 1", "--file", str(tmp_path / "a.tex")]) == 2
    assert main([spec, "--file", str(tmp_path / "missing.tex")]) == 2
    assert "file not found" in capsys.readouterr().err
