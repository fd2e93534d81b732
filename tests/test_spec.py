"""Every class of bad spec: SpecError naming file and field; the CLI exits 2 with one line, writes nothing."""

import time

import pytest
from conftest import EXAMPLES, run_cli

from derive.errors import ExpressionError, SpecError
from derive.spec.expr import parse_expression
from derive.spec.loader import load_spec, parse_spec

GOOD = '''
name = "net"
inputs = 2
loss = "half_sse"
[[layer]]
units = 3
activation = "sigmoid"
[[layer]]
units = 2
activation = "sigmoid"
'''


def spec_with(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


BAD = [
    # (what is wrong, spec text, words the message must hold)
    ("unknown key", GOOD + 'colour = "red"\n', ["colour", "unknown key"]),
    ("unknown key in a layer", spec_with('units = 3', 'units = 3\ndropout = 0.5'), ["layer[1].dropout", "unknown key"]),
    ("wrong type", spec_with('inputs = 2', 'inputs = "two"'), ["inputs", "positive integer"]),
    ("boolean as a number", spec_with('inputs = 2', 'inputs = true'), ["inputs"]),
    ("zero units", spec_with('units = 3', 'units = 0'), ["layer[1].units", "positive integer"]),
    ("negative inputs", spec_with('inputs = 2', 'inputs = -1'), ["inputs"]),
    ("missing field", GOOD.replace('inputs = 2\n', ''), ["inputs", "missing"]),
    ("no layers", GOOD.split("[[layer]]")[0], ["layer", "missing"]),
    ("bad name", spec_with('name = "net"', 'name = "my net; rm -rf"'), ["name", "identifier"]),
    ("unknown activation", spec_with('activation = "sigmoid"', 'activation = "sigmoidal"'),
     ["layer[1].activation", "unknown activation"]),
    ("unknown loss", spec_with('loss = "half_sse"', 'loss = "hinge"'), ["loss", "unknown loss"]),
    ("unknown optimizer", GOOD + '[train]\noptimizer = "bfgs"\n', ["train.optimizer", "unknown optimizer"]),
    ("unknown reduction", spec_with('loss = "half_sse"', 'loss = "half_sse"\nreduction = "max"'), ["reduction"]),
    ("unknown notation", spec_with('loss = "half_sse"', 'loss = "half_sse"\nnotation = "xyz"'), ["notation"]),
    ("softmax on a hidden layer", spec_with('activation = "sigmoid"', 'activation = "softmax"'),
     ["layer[1].activation", "softmax is only allowed on the output layer"]),
    ("cross entropy on a non-probability output",
     spec_with('loss = "half_sse"', 'loss = "cross_entropy"').replace(
         'units = 2\nactivation = "sigmoid"', 'units = 2\nactivation = "relu"'),
     ["loss", "probability output"]),
    ("unsafe expression", spec_with('activation = "sigmoid"',
                                    'activation = { name = "evil", expr = "__import__(\'os\').system(\'touch PWNED\')" }'),
     ["layer[1].activation.expr", "only calls of named functions"]),
    ("attribute access", spec_with('activation = "sigmoid"', 'activation = { name = "evil", expr = "x.__class__" }'),
     ["layer[1].activation.expr", "attribute access"]),
    ("huge power", spec_with('activation = "sigmoid"', 'activation = { name = "big", expr = "9**9**9**9 * x" }'),
     ["layer[1].activation.expr", "exponent"]),
    ("oversized expression", spec_with('activation = "sigmoid"',
                                       'activation = { name = "long", expr = "' + "x+" * 1500 + 'x" }'),
     ["layer[1].activation.expr", "longer than"]),
    ("deeply nested expression", spec_with('activation = "sigmoid"',
                                           'activation = { name = "deep", expr = "' + "exp(" * 60 + "x" + ")" * 60 + '" }'),
     ["layer[1].activation.expr", "nested deeper"]),
    ("unknown variable", spec_with('activation = "sigmoid"', 'activation = { name = "f", expr = "x * z" }'),
     ["layer[1].activation.expr", "unknown name 'z'"]),
    ("custom loss without y", spec_with('loss = "half_sse"', 'loss = { name = "odd", expr = "t**2" }'),
     ["loss.expr", "depend on y"]),
    ("example of the wrong shape", GOOD + '[example]\nW1 = [[1.0, 2.0]]\n', ["example.W1", "rows"]),
    ("TOML syntax error", GOOD + 'units = = 3\n', ["TOML syntax error"]),
]


@pytest.mark.parametrize("what, text, words", BAD, ids=[b[0] for b in BAD])
def test_bad_spec_raises_spec_error_naming_the_field(what, text, words):
    with pytest.raises(SpecError) as info:
        parse_spec(text, "net.toml")
    message = str(info.value)
    assert message.startswith("net.toml: ")
    assert "\n" not in message
    for word in words:
        assert word in message, (what, message)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "nope.toml")
    with pytest.raises(SpecError, match="is a directory"):
        load_spec(tmp_path)


def test_huge_power_is_refused_quickly():
    start = time.perf_counter()
    with pytest.raises(ExpressionError):
        parse_expression("9**9**9**9", {})
    with pytest.raises(ExpressionError):
        parse_expression("2**(10**6)", {})
    assert time.perf_counter() - start < 1


def test_safe_expressions_build_sympy():
    import sympy as sp

    x = sp.Symbol("x")
    assert parse_expression("x * sigmoid(x)", {"x": x}) == x / (1 + sp.exp(-x))
    assert parse_expression("0.1*x", {"x": x}) == x / 10  # decimals are exact
    for text in ["lambda: 1", "[x]", "x if x else 1", "x < 1", "f'x'", "x[0]", "(x := 1)", "open('f')"]:
        with pytest.raises(ExpressionError):
            parse_expression(text, {"x": x})


CLI_CASES = [b for b in BAD if b[0] in ("unknown key", "zero units", "unsafe expression", "softmax on a hidden layer",
                                         "TOML syntax error", "huge power")]


@pytest.mark.parametrize("what, text, words", CLI_CASES, ids=[b[0] for b in CLI_CASES])
def test_cli_bad_spec_one_line_exit_2_nothing_written(tmp_path, what, text, words):
    spec = tmp_path / "net.toml"
    spec.write_text(text)
    new_tex = tmp_path / "new.tex"
    old_tex = tmp_path / "old.tex"
    old_tex.write_text("keep me")
    for out in (new_tex, old_tex):
        result = run_cli(str(spec), "--tex", str(out), cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr
        assert "net.toml" in lines[0] and words[0] in lines[0]
    assert not new_tex.exists()
    assert old_tex.read_text() == "keep me"
    assert not (tmp_path / "PWNED").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.toml", "old.tex"]


def test_cli_missing_file(tmp_path):
    result = run_cli(str(tmp_path / "absent.toml"))
    assert result.returncode == 2
    assert result.stderr.strip().endswith("absent.toml: file not found")


def test_cli_output_folder_missing(tmp_path):
    result = run_cli(str(EXAMPLES[0]), "--tex", str(tmp_path / "no" / "such" / "out.tex"))
    assert result.returncode == 2
    assert "--tex" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_load(path):
    spec = load_spec(path)
    assert spec.name == path.stem
    assert spec.depth >= 1
