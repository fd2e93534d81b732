"""`derive check`: the corpus of hand equations, the command line, and garbage in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.checker.check import Checker, main, render
from derive.checker.equation import EquationError, _NotSimple, _Simple
from derive.errors import ExpressionError, SpecError
from derive.spec.loader import load_spec

ROOT = Path(__file__).resolve().parent.parent
CORPUS = tomllib.loads((ROOT / "tests" / "check_corpus.toml").read_text(encoding="utf-8"))["case"]
_CHECKERS: dict = {}


def _checker(spec: str, notation: str | None = None) -> Checker:
    key = (spec, notation)
    if key not in _CHECKERS:
        _CHECKERS[key] = Checker(load_spec(ROOT / spec), notation)
    return _CHECKERS[key]


def _verdict(case: dict) -> tuple[str, str]:
    try:
        report = _checker(case["spec"], case.get("notation")).check(case["eq"])
    except (EquationError, SpecError, ExpressionError) as exc:
        return "UNREADABLE", str(exc)
    out, _ = render(report)
    return report.verdict, out


def test_corpus_is_big_and_covers_the_notations_and_seeds():
    assert len(CORPUS) >= 40
    specs = {c["spec"] for c in CORPUS}
    assert {"examples/seed003.toml", "examples/seed003_ijk.toml", "examples/seed004.toml"} <= specs
    sources = " ".join(c["source"] for c in CORPUS)
    for seed in ("000", "002", "003", "004"):
        assert seed in sources
    verdicts = {c["expect"] for c in CORPUS}
    assert verdicts == {"CORRECT", "INCORRECT", "UNREADABLE"}


@pytest.mark.parametrize("case", CORPUS, ids=[f"{i:03d}-{c['source'][:30]}" for i, c in enumerate(CORPUS)])
def test_corpus(case):
    verdict, out = _verdict(case)
    assert verdict == case["expect"], out
    if case.get("diagnosis"):
        assert case["diagnosis"] in out, out
    if case.get("error"):
        assert case["error"] in out, out
    if verdict == "INCORRECT" and "wrong index: " not in out:
        assert "counterexample" in out and "yours = " in out and "exact = " in out, out


# ------------------------------------------------------------------------------- the command line


def _run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_correct(capsys):
    code, out, err = _run(capsys, str(ROOT / "examples/seed003_ijk.toml"), r"\frac{\partial E}{\partial w_{jk}} = y_{j} \delta_{k}")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "CORRECT"
    assert lines[1].startswith("read as: ∂E/∂w^2_jk = ")  # the tool's own layer notation
    assert lines[2].startswith("exact: ∂E/∂w_jk = ")
    assert err == ""


def test_cli_incorrect_has_counterexample_and_diagnosis(capsys):
    code, out, _ = _run(capsys, str(ROOT / "examples/seed003_ijk.toml"), "delta_k = y_k - t_k")
    assert code == 1
    assert out.splitlines()[0] == "INCORRECT"
    assert "counterexample: k = " in out
    assert "diagnosis: missing factor" in out and "y_k" in out


def test_cli_json(capsys):
    code, out, _ = _run(capsys, str(ROOT / "examples/seed003.toml"), "dE/dw_31 = -(y_o1 - y_t1)*y_o1*(1 - y_o1)*y_h1", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["verdict"] == "INCORRECT"
    assert data["notation"] == "node"
    assert data["counterexample"]["yours"] != data["counterexample"]["exact"]
    assert any("sign flipped" in d for d in data["diagnosis"])


def test_cli_notation_option(capsys):
    code, out, _ = _run(capsys, str(ROOT / "examples/seed003.toml"), "dE/dw_jk = y_j*delta_k", "--notation", "ijk")
    assert code == 0 and out.startswith("CORRECT\n")


@pytest.mark.parametrize("argv, phrase", [
    (["examples/seed003_ijk.toml", "dE/dw_jk"], "no '=' found"),
    (["examples/seed003_ijk.toml", "dE/dq_k = y_j"], "q_k"),
    (["examples/missing.toml", "dE/dw_jk = y_j*delta_k"], "file not found"),
    (["examples/seed003_ijk.toml", "delta_k = __import__('os')"], "cannot read"),
    (["examples/seed003_ijk.toml", r"\delta_k = \input{/etc/passwd}"], "cannot read"),
])
def test_cli_unreadable_is_one_line_exit_2(capsys, argv, phrase):
    argv = [str(ROOT / argv[0]), *argv[1:]]
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert phrase in err


def test_cli_unreadable_json(capsys):
    code, out, _ = _run(capsys, str(ROOT / "examples/seed003_ijk.toml"), "delta_k = ", "--json")
    assert code == 2
    assert json.loads(out)["verdict"] == "UNREADABLE"


def test_output_is_deterministic(capsys):
    argv = [str(ROOT / "examples/seed004.toml"), r"\frac{\partial J}{\partial w^1_{nm}} = -(t-y) w^2_m x_n"]
    first = _run(capsys, *argv)
    second = _run(capsys, *argv)
    assert first == second and first[0] == 1


def test_relu_points_cover_both_sides_of_every_kink():
    checker = _checker("examples/seed004.toml")
    report = checker.check(r"\frac{\partial J}{\partial z^1_m} = \delta^1_m")
    ev = report.evaluator
    from derive.network.notation import base

    for i in range(1, ev.widths[1] + 1):
        signs = {ev_point.values[base("u", 1)[i]] > 0 for ev_point in ev.points}
        assert signs == {True, False}


def test_module_entry_point_has_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "derive.checker.check", str(ROOT / "examples/seed003_ijk.toml"), "dE/dw_jk = ("],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


# ------------------------------------------------------------------------------- the two LaTeX readers agree

SIMPLE = [
    r"{\mathit{qqf}} {\mathit{qqg}}",
    r"-{\mathit{qqf}} 2(t - {\mathit{qqg}}) \cdot 1 \cdot {\mathit{qqh}}",
    r"\sum_{r=1}^{n} {\mathit{qqf}} {\mathit{qqg}} \cdot (1-{\mathit{qqh}}) + 2",
    r"\frac{1}{2}({\mathit{qqc}} - {\mathit{qqd}})^{2} + \frac{1}{2}({\mathit{qqf}} - {\mathit{qqg}})^{2}",
    r"({\mathit{qqc}} \cdot {\mathit{qqd}} + {\mathit{qqf}} \cdot {\mathit{qqg}}) \cdot {\mathit{qqh}}(1 - {\mathit{qqh}}) \cdot {\mathit{qqi}}",
    r"-(1 + x)^{-2} \cdot 3",
    r"{\mathit{qqc}} \times 0.01 - 2",
]


@pytest.mark.parametrize("s", SIMPLE)
def test_simple_reader_agrees_with_latex2sympy(s):
    from latex2sympy2_extended import latex2sympy

    ours = _Simple(s).parse()
    theirs = latex2sympy(s)
    assert sp.simplify(ours - theirs) == 0


def test_simple_reader_leaves_the_rest_to_latex2sympy():
    for s in (r"a/b c", r"e^{x}", r"\exp(x)", r"\frac{1}{N}"):
        with pytest.raises(_NotSimple):
            _Simple(s).parse()


# ------------------------------------------------------------------------------- garbage in

PIECES = [*"wyutbxzaEJkjimnqr0123456789_^{}()+-*/=.,'\\ ", r"\frac", r"\partial", r"\delta", r"\sum", r"\sigma",
          r"\cdot", r"\left(", r"\right)", "d", "f", r"\begin{cases}", r"\end{cases}", "&", r"\\", "오차", "가중합",
          "Sum(", "delta_", "w_jk", "y_j", r"\text{ReLU}'", "_{o1}", "^{1}_{nm}"]
LATEXISH = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=80), LATEXISH, LATEXISH.map(lambda s: r"\frac{\partial E}{\partial w_{jk}} = " + s)))
def test_garbage_never_crashes(text):
    code = main([str(ROOT / "examples/seed003_ijk.toml"), text])
    assert code in (0, 1, 2)


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=80), LATEXISH))
def test_garbage_is_refused_cleanly(text):
    """Unreadable input is refused with a reason, never by an internal error."""
    checker = _checker("examples/seed003.toml")
    try:
        checker.check(text)
    except (EquationError, SpecError, ExpressionError) as exc:
        assert str(exc) and "\n" not in str(exc)


@pytest.mark.skipif(os.environ.get("CHECK_SPEED") != "1", reason="timing; set CHECK_SPEED=1 (see bench/bench_check.py)")
def test_speed_two_layer_under_three_seconds():
    import time

    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "derive.checker.check", str(ROOT / "examples/seed003_ijk.toml"),
                    r"\frac{\partial E}{\partial w_{jk}} = y_{j} \delta_{k}"], check=True, capture_output=True)
    assert time.perf_counter() - start < 3.0
