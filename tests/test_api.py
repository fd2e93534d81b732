"""The Python API (derive/api.py): a spec from a path, a TOML string or a dict; reprs; documents; modules."""

from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

import derive
from codegen.gradcheck import check_module
from derive.api import Network, load
from derive.errors import SpecError
from derive.io import OutputError
from derive.spec.loader import parse_spec, parse_table

ROOT = Path(__file__).resolve().parent.parent
SEED003 = ROOT / "examples" / "seed003.toml"
RESIDUAL = ROOT / "tests" / "specs" / "graph_residual_ln.toml"
BATCH_NORM = ROOT / "tests" / "specs" / "graph_batch_norm.toml"
SPECS = sorted((ROOT / "examples").glob("*.toml")) + sorted((ROOT / "tests" / "specs").glob("*.toml"))

GRAPH = {  # the structure of the TOML, in Python (tuples where TOML has arrays)
    "name": "tiny_residual",
    "title": "A <tiny> residual & layer-norm net",
    "inputs": 3,
    "loss": "half_sse",
    "layer": (
        {"name": "h1", "units": 3, "activation": "tanh"},
        {"name": "h2", "units": 3, "activation": "relu"},
        {"kind": "add", "name": "skip", "input": ("h1", "h2")},
        {"kind": "layer_norm", "name": "ln"},
        {"name": "out", "units": 2, "activation": "identity"},
    ),
    "example": {"x": (0.5, -0.2, 0.1), "t": (0.3, -0.4)},
}
GRAPH_TOML = '''
name = "tiny_residual"
title = "A <tiny> residual & layer-norm net"
inputs = 3
loss = "half_sse"
[[layer]]
name = "h1"
units = 3
activation = "tanh"
[[layer]]
name = "h2"
units = 3
activation = "relu"
[[layer]]
kind = "add"
name = "skip"
input = ["h1", "h2"]
[[layer]]
kind = "layer_norm"
name = "ln"
[[layer]]
name = "out"
units = 2
activation = "identity"
[example]
x = [0.5, -0.2, 0.1]
t = [0.3, -0.4]
'''


@pytest.fixture(scope="module")
def chain() -> Network:
    return load(SEED003)


@pytest.fixture(scope="module")
def graph() -> Network:
    return load(GRAPH)


# -- loading ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_a_dict_is_read_as_its_toml(path):
    text = path.read_text(encoding="utf-8")
    assert parse_table(tomllib.loads(text), str(path)) == parse_spec(text, str(path))


def test_path_string_and_dict_give_one_spec():
    text = SEED003.read_text(encoding="utf-8")
    by_path, by_str = load(SEED003).spec, load(str(SEED003)).spec
    assert by_path == by_str
    assert load(text, name=str(SEED003)).spec == by_path
    assert load(tomllib.loads(text), name=str(SEED003)).spec == by_path
    assert load(GRAPH_TOML).spec == load(GRAPH).spec
    assert derive.load(GRAPH).spec == load(GRAPH).spec  # the package's re-export
    assert load(by_path).spec is by_path


def test_the_callers_dict_is_not_kept_or_changed():
    table = {"name": "n", "inputs": 2, "loss": "mse", "layer": [{"units": 1, "activation": "identity"}]}
    before = repr(table)
    spec = load(table).spec
    table["layer"][0]["units"] = 5
    assert repr(spec) == repr(load({"name": "n", "inputs": 2, "loss": "mse", "layer": [{"units": 1, "activation": "identity"}]}).spec)
    assert before != repr(table) and spec.layers[0].units == 1


def test_importing_the_package_stays_light():
    """`derive check` must start fast: `import derive` loads neither SymPy nor the API."""
    code = "import sys, derive; print('sympy' in sys.modules, 'derive.api' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False"]


# -- errors: SpecError with the commands' one-line messages -------------------------------------------

BAD = [
    ({"name": "n", "inputs": 2, "loss": "mse", "layer": [{"units": 2, "activation": "softmax"}, {"units": 1}]},
     "<spec>: layer[1].activation: softmax is only allowed on the output layer"),
    ({"name": "n", "inputs": 2, "loss": "mse", "layer": [{"units": 0}]}, "<spec>: layer[1].units:"),
    ({"name": "n", "inputs": 2, "loss": "mse", "layer": [{"units": 2}], "colour": 1}, "<spec>: colour: unknown key"),
    ({"name": "n", "inputs": 2, "loss": "mse", "layer": [{"kind": "add", "input": ["x"]}]}, "<spec>: layer[1]"),
    ({"name": "n", "inputs": 2, "loss": "mse", "layer": [{"units": 1, "input": "nowhere"}]}, "<spec>: layer[1]"),
    ({"name": "n", "inputs": 2, "loss": "mse", "layer": [{"units": 1, "activation": {"name": "f", "expr": "__import__('os')"}}]},
     "<spec>: layer[1].activation"),
    ({"name": "n", "inputs": 2, "loss": "mse", 3: "x", "layer": [{"units": 1}]}, "<spec>: spec: keys must be strings"),
    ({"name": "n", "inputs": 2, "loss": "mse", "layer": [{"units": 1, 7: 1}]}, "<spec>: layer[1]: keys must be strings"),
    ([1, 2], "<spec>: expected a TOML string, a dict, a path or a Spec, got list"),
]


@pytest.mark.parametrize("source, message", BAD)
def test_a_wrong_spec_is_one_spec_error(source, message):
    with pytest.raises(SpecError) as caught:
        load(source)
    text = str(caught.value)
    assert text.startswith(message) and "\n" not in text


def test_dict_and_toml_errors_read_alike():
    text = 'name = "n"\ninputs = 2\nloss = "mse"\n[[layer]]\nunits = 2\nactivation = "softmax"\n[[layer]]\nunits = 1\n'
    with pytest.raises(SpecError) as from_text:
        load(text, name="net.toml")
    with pytest.raises(SpecError) as from_dict:
        load(tomllib.loads(text), name="net.toml")
    assert str(from_text.value) == str(from_dict.value)
    assert str(from_text.value).startswith("net.toml: layer[1].activation:")


def test_missing_file_and_bad_toml():
    with pytest.raises(SpecError, match="absent.toml: file not found"):
        load("absent.toml")
    with pytest.raises(SpecError, match="TOML syntax error"):
        load("name = \n")


def test_bad_options(chain):
    with pytest.raises(ValueError, match="lang: expected one of en, ko"):
        chain.tex(lang="fr")
    with pytest.raises(ValueError, match="dtype: expected one of"):
        chain.module(dtype="float16")


# -- derivation, proof and reprs -------------------------------------------------------------------

def test_derived_and_proved_once(chain, graph):
    for net in (chain, graph):
        assert net.derivation is net.derivation
        assert net.proof is net.proof
        assert net.proof.ok
    assert chain.is_chain and not graph.is_chain
    assert repr(chain) == "<Network seed003: dense chain 2-2-2, loss half_sse>"
    assert repr(graph) == "<Network tiny_residual: graph of 5 layers, loss half_sse>"


def test_latex_repr_is_an_align_of_the_gradients(chain, graph):
    tex = chain._repr_latex_()
    assert tex.startswith("\\begin{align*}\n") and tex.endswith("\n\\end{align*}")
    assert r"\delta_{3} &= \left(1 - y_{o1}\right) \left(y_{o1} - y_{t1}\right) y_{o1}" in tex
    assert r"\frac{\partial E}{\partial w_{31}} &= \delta_{3} y_{h1}" in tex
    tex = graph._repr_latex_()
    assert r"\frac{\partial J}{\partial u^{(5)}_{nk}} &= \frac{y^{(5)}_{nk} - t_{nk}}{N}" in tex
    assert r"\frac{\partial J}{\partial \gamma_{k}} &=" in tex
    assert tex.count("&=") == len(graph.formulas) == tex.count("\\\\\n") + 1


def test_formulas_are_the_terminals(graph):
    from derive.document import graph_text

    assert [row["text"] for row in graph.formulas] == [row["text"] for row in graph_text.rows(graph.derivation)]
    assert {row["layer"] for row in graph.formulas} == {0, 1, 2, 3, 4, 5}  # 0: the input's gradient


def test_html_repr_escapes_text(graph, chain):
    page = graph._repr_html_()
    assert "A &lt;tiny&gt; residual &amp; layer-norm net" in page and "<tiny>" not in page
    assert "<td>skip</td><td>add</td><td>h1, h2</td><td>3</td><td>identity</td>" in page
    assert "<code>du5_nk = (-t_nk + y5_nk)/N</code>" in page
    assert "proven" in page
    assert page.count("<tr>") == 1 + 5 + 1 + len(graph.formulas)
    assert "<code>δ_3 = (1 - y_o1)*(y_o1 - y_t1)*y_o1</code>" in chain._repr_html_()


# -- documents ---------------------------------------------------------------------------------------

def test_tex_is_what_derive_writes(chain):
    generated = ROOT / "generated"
    assert chain.tex(example=True) == (generated / "seed003.tex").read_text(encoding="utf-8")
    assert chain.tex(lang="ko", example=True) == (generated / "seed003.ko.tex").read_text(encoding="utf-8")


def test_graph_tex(graph):
    from derive.document.graph import render_graph_tex

    en, ko = graph.tex(), graph.tex(lang="ko", example=True)
    assert en == render_graph_tex(graph.derivation, graph.proof, lang="en", example=False)
    assert en.startswith("\\documentclass") and "\\usepackage{kotex}" in ko
    assert len(ko) > len(graph.tex(lang="ko"))  # the worked example


def test_pdf_follows_the_output_policy(chain, tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        chain.pdf(tmp_path / "absent" / "out.pdf")
    with pytest.raises(OutputError, match="is the input"):
        chain.pdf(SEED003)
    with pytest.raises(OutputError, match="is a folder"):
        chain.pdf(tmp_path)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="TeX Live is not installed")
def test_pdf(chain, graph, tmp_path):
    for net, lang in ((chain, "en"), (graph, "ko")):
        out = net.pdf(tmp_path / f"{net.spec.name}.pdf", lang=lang, example=True)
        assert out == tmp_path / f"{net.spec.name}.pdf"
        assert out.read_bytes().startswith(b"%PDF-")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed003.pdf", "tiny_residual.pdf"]


# -- modules -----------------------------------------------------------------------------------------

def test_module_is_what_codegen_writes(chain):
    assert chain.module() == (ROOT / "generated" / "seed003.py").read_text(encoding="utf-8")
    assert chain.module() is chain.module()
    assert "np.float32" in chain.module(dtype="float32")


@pytest.mark.parametrize("source", [SEED003, GRAPH, BATCH_NORM, ROOT / "tests" / "specs" / "graph_glu.toml"],
                         ids=["chain", "residual", "batch_norm", "glu"])
def test_loaded_module_gradients_match_central_differences(source):
    m = load(source).load_module()
    report = check_module(m, seed=2)
    assert report.passed(1e-5), report
    assert "def fit(" in inspect.getsource(m)
    assert inspect.getsource(m.fit).startswith("def fit(")


def test_load_module_is_fresh_and_trains():
    net = load(BATCH_NORM)
    m, again = net.load_module(), net.load_module()
    assert m is not again and m.__name__ not in sys.modules
    assert m.__doc__ and m.STATE_KEYS == ("mean2", "var2")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3))
    T = np.eye(2)[(X[:, 0] + X[:, 1] > 0).astype(int)]
    params, state = m.init_params(0), m.init_state()
    history = m.fit(params, X, T, epochs=30, batch_size=16, optimizer=m.Adam(lr=0.05), state=state)
    assert history[-1] < history[0] / 2
    assert not np.allclose(state["mean2"], 0.0)
    accuracy = np.mean(m.predict(params, X, state).argmax(axis=1) == T.argmax(axis=1))
    assert accuracy > 0.9
    assert net.load_module(dtype="float32").DTYPE == np.float32
