"""The commands' edges (issue 9): one output policy, budgets, closed pipes, one error format.

Every bad case gives one line `PROG: error: ...` on stderr, exit code 2, no traceback, and leaves
every file as it was.
"""

import os
import subprocess
import sys

import pytest
from conftest import EXAMPLES, ROOT, run_cli

from derive import cli as derive_cli
from derive.calculus.derivation import derive
from derive.calculus.proof import prove
from derive.document import pdf
from derive.network.notation import Notation
from derive.spec.loader import parse_spec

SEED003 = ROOT / "examples" / "seed003.toml"
SEED003_IJK = ROOT / "examples" / "seed003_ijk.toml"


def spec_file(tmp_path, activations, *, units=2, inputs=2, extra="", name="net", loss='"half_sse"'):
    layers = "".join(f"[[layer]]\nunits = {units}\nactivation = {a}\n" for a in activations)
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\ninputs = {inputs}\nloss = {loss}\n{layers}{extra}')
    return path


def one_error_line(result, prog="derive"):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{prog}: error: "), lines[0]
    return lines[0]


def codegen_cli(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "codegen.cli", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=timeout, check=False)


# -- rows 10, 11, 18, 19: one output-path policy -------------------------------------------------

def test_row10_unwritable_folder_is_one_line(tmp_path):
    if os.geteuid() == 0:
        folder = "/proc"  # root may write anywhere else; /proc takes no new files
    else:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o555)
    for args in (["--tex", f"{folder}/out.tex"], ["--pdf", f"{folder}/out.pdf"]):
        line = one_error_line(run_cli(str(SEED003), *args))
        assert "cannot write in folder" in line and args[0] in line
    line = one_error_line(codegen_cli(str(SEED003), "-o", f"{folder}/out.py"), "codegen")
    assert "cannot write in folder" in line


def test_row11_no_output_over_an_input(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(SEED003.read_text())
    before = spec.read_bytes()
    line = one_error_line(run_cli(str(spec), "--tex", str(spec)))
    assert "is the input" in line
    line = one_error_line(run_cli(str(spec), "--pdf", "s.toml", cwd=tmp_path))
    assert "is the input" in line
    line = one_error_line(codegen_cli("s.toml", "-o", str(spec), cwd=tmp_path), "codegen")
    assert "is the input" in line
    assert spec.read_bytes() == before


def test_row18_nothing_written_when_the_pdf_fails(tmp_path, monkeypatch, capsys):
    tex, out = tmp_path / "o.tex", tmp_path / "o.pdf"
    tex.write_text("old tex")
    out.write_bytes(b"old pdf")

    def failing_build(source, **_):
        raise pdf.PdfError("LaTeX error: Missing $ inserted")

    monkeypatch.setattr(pdf, "build", failing_build)
    code = derive_cli.main([str(SEED003), "--proof", "off", "--tex", str(tex), "--pdf", str(out)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("derive: error: --pdf: LaTeX error")
    assert tex.read_text() == "old tex" and out.read_bytes() == b"old pdf"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.pdf", "o.tex"]  # no temporary left behind


def test_row19_two_outputs_on_one_path(tmp_path):
    target = tmp_path / "X"
    line = one_error_line(run_cli(str(SEED003), "--tex", str(target), "--pdf", str(target)))
    assert "--pdf" in line and "own file" in line
    assert not target.exists()


def test_outputs_written_together(tmp_path):
    result = run_cli(str(SEED003), "--proof", "off", "--tex", "a.tex", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a.tex").read_text().startswith("\\documentclass")
    assert [p.name for p in tmp_path.iterdir()] == ["a.tex"]


# -- row 12: closed pipes -------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["check", str(SEED003_IJK), "delta_q = y_q"], [str(SEED003), "--proof", "off"]],
                         ids=["check", "derive"])
def test_row12_closed_pipe_is_no_error(args):
    proc = subprocess.Popen([sys.executable, "-m", "derive.cli", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader leaves before anything is printed, as `| head -1` may
    _, err = proc.communicate(timeout=120)
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()


# -- rows 8, 9, 13, 17: budgets and sizes -----------------------------------------------------------

def test_row8_non_finite_example_is_a_spec_error(tmp_path):
    spec = spec_file(tmp_path, ['"sigmoid"'], extra="[example]\nx = [inf, nan]\n")
    for args in ([str(spec)], [str(spec), "--example", "--tex", str(tmp_path / "o.tex")]):
        line = one_error_line(run_cli(*args))
        assert "example.x" in line and "finite" in line
    assert not (tmp_path / "o.tex").exists()


def test_row9_towers_of_exp_give_up_in_the_budget(tmp_path):
    tower4 = spec_file(tmp_path, ['{ name = "e4", expr = "exp(exp(exp(exp(x))))" }', '"identity"'], name="e4")
    line = one_error_line(run_cli(str(tower4), "--time-limit", "3", timeout=60))
    assert "gave up after 3 s" in line
    tower5 = spec_file(tmp_path, ['{ name = "e5", expr = "exp(exp(exp(exp(exp(x)))))" }', '"identity"'], name="e5")
    result = run_cli(str(tower5), "--time-limit", "30", timeout=120)
    line = one_error_line(result)
    assert "too large" in line or "gave up" in line
    line = one_error_line(codegen_cli(str(tower4), "-o", str(tmp_path / "e4.py"), "--time-limit", "3", timeout=60),
                          "codegen")
    assert "gave up" in line and not (tmp_path / "e4.py").exists()


def test_row13_runaway_check_gives_up(tmp_path):
    result = run_cli("check", str(SEED003_IJK), "delta_k = exp(exp(exp(exp(exp(y_k)))))", "--time-limit", "3",
                     timeout=90)
    line = one_error_line(result, "derive check")
    assert "gave up" in line or "too large" in line


def test_row17_huge_widths(tmp_path):
    spec = spec_file(tmp_path, ['"sigmoid"', '"sigmoid"'], units=100000, inputs=100000)
    out = tmp_path / "big.tex"
    line = one_error_line(run_cli(str(spec), "--example", "--tex", str(out), timeout=120))
    assert "--example" in line and "drop --example" in line
    assert not out.exists()
    result = run_cli(str(spec), "--proof", "fast", "--tex", str(out), timeout=300)  # index form holds for any width
    assert result.returncode == 0, result.stderr
    assert "n_{1} = 100000" in out.read_text() or "100000" in out.read_text()


def test_nested_time_limits_keep_the_outer_budget():
    import time

    from derive.budget import time_limit

    started = time.monotonic()
    with pytest.raises(TimeoutError), time_limit(0.3):
        while True:  # a search that catches its own time-outs must not swallow the command's
            try:
                with time_limit(0.05):
                    time.sleep(1)
            except TimeoutError:
                pass
    assert time.monotonic() - started < 5


def test_an_alarm_in_a_gc_callback_waits_for_the_next_one():
    """A gc callback (hypothesis installs one) swallows an exception raised in it: the budget does not raise
    there, and the repeating alarm stops the block right after (no "unraisable exception")."""
    import gc
    import sys
    import time

    from derive.budget import time_limit

    unraisable, hook = [], sys.unraisablehook
    calls = []

    def slow_callback(phase, info):  # long enough that the alarm lands inside it
        if phase == "start" and len(calls) < 3:
            calls.append(phase)
            end = time.monotonic() + 0.15
            while time.monotonic() < end:
                pass

    sys.unraisablehook = unraisable.append
    gc.callbacks.append(slow_callback)
    try:
        with pytest.raises(TimeoutError), time_limit(0.05):
            gc.collect()
            while True:
                time.sleep(0.01)
    finally:
        gc.callbacks.remove(slow_callback)
        sys.unraisablehook = hook
    assert calls and not unraisable


# -- row 14: deep nets in the checker ------------------------------------------------------------

def test_row14_deep_ijk_says_which_notation(tmp_path):
    spec = spec_file(tmp_path, ['"relu"', '"tanh"'] * 4)
    line = one_error_line(run_cli("check", str(spec), "dE/db_k = delta_k"), "derive check")
    assert "--notation layer" in line
    suggested = line.split("e.g. ")[1]
    result = run_cli("check", str(spec), "--notation", "layer", suggested)
    assert result.returncode == 0 and result.stdout.startswith("CORRECT"), result.stdout + result.stderr
    assert Notation("ijk", (2,) * 9).layer_hint() and not Notation("ijk", (2, 2, 2)).layer_hint()


# -- row 20: proof modes and progress --------------------------------------------------------------

MIXED8 = ['"relu"', '"tanh"', '"sigmoid"', '{ name = "leaky_relu", alpha = 0.2 }', '"softplus"',
          '{ name = "swish", expr = "x * sigmoid(x)" }', '{ name = "gelu", expr = "x * (1 + erf(x / sqrt(2))) / 2" }',
          '"identity"']


def test_row20_eight_mixed_layers_prove_fully():
    layers = "".join(f"[[layer]]\nunits = 3\nactivation = {a}\n" + ("bias = false\n" if i == 4 else "")
                     for i, a in enumerate(MIXED8))
    spec = parse_spec('name = "mixed8"\ninputs = 4\nloss = { name = "logcosh", expr = "log(cosh(y - t))" }\n' + layers)
    derivation = derive(spec)
    seen = []
    report = prove(derivation, mode="full", progress=lambda done, total: seen.append((done, total)))
    assert report.end_to_end and report.ok and report.proven == report.parameters == 46
    assert seen[-1] == (46, 46) and [d for d, _ in seen] == list(range(1, 47))


def test_proof_modes_on_the_command_line():
    for mode, words in (("full", "end to end"), ("fast", "layer by layer"), ("off", "not proved")):
        result = run_cli(str(SEED003), "--proof", mode)
        assert result.returncode == 0, result.stderr
        assert words in result.stdout
    one_error_line(run_cli(str(SEED003), "--proof", "sometimes"))


def test_a_wrong_rule_fails_the_full_proof():
    from dataclasses import replace

    derivation = derive(parse_spec(SEED003.read_text()))
    output = derivation.layers[0]
    broken = replace(output, dEdw=2 * output.dEdw)
    derivation.layers[0] = broken
    report = prove(derivation, mode="full")
    assert not report.ok and all(not i.ok for i in report.items if i.layer == 2 and str(i.quantity)[0] == "w")


# -- one error format ---------------------------------------------------------------------------------

@pytest.mark.parametrize("prog, args", [
    ("derive", [str(EXAMPLES[0]), "--no-such-option"]),
    ("derive", ["absent.toml"]),
    ("derive check", ["check", "absent.toml", "delta_k = 1"]),
    ("derive check", ["check", str(SEED003_IJK), "delta_k ="]),
], ids=["derive-option", "derive-missing", "check-missing", "check-unreadable"])
def test_one_error_format(prog, args):
    one_error_line(run_cli(*args), prog)


def test_one_error_format_codegen():
    one_error_line(codegen_cli("absent.toml", "-o", "x.py"), "codegen")
    one_error_line(codegen_cli("--no-such-option"), "codegen")
