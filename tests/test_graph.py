"""The graph engine: layer kinds in the spec, the generic reverse sweep, its proof, and bad input.

Module-level checks (central differences, a NumPy/PyTorch reference) are in test_graph_codegen.py; the
document in test_graph_document.py. Here: the derivation itself.
"""

from dataclasses import replace

import pytest
import sympy as sp
from hypothesis import given
from test_graph_codegen import EXPENSIVE, SPECS, graphs

from derive.calculus.backward import backward, gradient_base
from derive.calculus.graph_proof import prove_graph
from derive.errors import SpecError
from derive.network import indices as ix
from derive.network.graph import Graph
from derive.spec.loader import parse_spec
from tests.conftest import run_cli

n, k, j, r, N = ix.n, ix.k, ix.j, ix.r, ix.BATCH


def derived(text: str):
    spec = parse_spec(text, "net.toml")
    return backward(Graph(spec))


def test_dense_chain_through_the_engine_gives_the_seed_formulas():
    """(4)-(6) of DESIGN.md section 3 with the sample index: dW_jk = Σ_n δ_nk y_nj, db_k = Σ_n δ_nk,
    dy_nj = Σ_r δ_nr w_jr; and seed 003's δ_k = (y_k - t_k) y_k (1 - y_k), over N for the batch mean."""
    d = derived('name = "s"\ninputs = 2\nloss = "half_sse"\n'
                '[[layer]]\nunits = 2\nactivation = "sigmoid"\n[[layer]]\nunits = 2\nactivation = "sigmoid"\n')
    y2, t, u2 = sp.IndexedBase("y2"), sp.IndexedBase("t"), sp.IndexedBase("u2")
    assert sp.simplify(d.head.delta - (y2[n, k] - t[n, k]) * y2[n, k] * (1 - y2[n, k])) == 0
    assert d.head.scale == 1 / N
    du2, y1, W2 = gradient_base("u2"), sp.IndexedBase("y1"), sp.IndexedBase("W2")
    assert d.formula("W2") == sp.Sum(du2[n, k] * y1[n, j], (n, 1, N))
    assert d.formula("b2") == sp.Sum(du2[n, k], (n, 1, N))
    size = d.graph.tensors["u2"].shape[-1]
    assert d.formula("y1") == sp.Sum(W2[k, r] * du2[n, r], (r, 1, size))
    du1 = d.formula("u1")  # (7): δ_j = dy_j f'(u_j), in the output form of the sigmoid
    assert sp.simplify(du1 - gradient_base("y1")[n, k] * y1[n, k] * (1 - y1[n, k])) == 0
    assert u2 not in du1.atoms(sp.Indexed)


def test_delta_elimination_steps_are_recorded():
    d = derived(SPECS["residual_layer_norm"])
    contribution = d.gradients["W1"].contributions[0]
    assert [s.rule for s in contribution.steps] == ["substitute", "substitute"]
    assert all(s.guard is None for s in contribution.steps)  # j = b and k = c run over the same ranges
    assert contribution.local.has(sp.KroneckerDelta) and not contribution.result.has(sp.KroneckerDelta)


def test_skip_connection_gradients_are_summed():
    d = derived(SPECS["residual_layer_norm"])
    h1 = d.gradients["y1"]  # h1 feeds the layer norm (its mean, variance and normalised value) and the add
    assert h1.summed and {c.source.name for c in h1.contributions} == {"mu2", "var2", "xhat2", "u4"}


def test_adds_that_equate_sizes_both_ways_share_one_size():
    """add(a, b) then add(b, a): the second equation joins sizes already joined (once a hang in a loop)."""
    text = (HEAD + DENSE + '[[layer]]\nname = "b"\nunits = 3\nactivation = "tanh"\ninput = "x"\n'
            '[[layer]]\nname = "c"\nkind = "add"\ninput = ["a", "b"]\n'
            '[[layer]]\nname = "e"\nkind = "add"\ninput = ["b", "a"]\n'
            '[[layer]]\nname = "f"\nkind = "add"\ninput = ["c", "e"]\n' + OUT)
    graph = Graph(parse_spec(text, "net.toml"))
    assert graph.tensors["y1"].shape == graph.tensors["y2"].shape == graph.tensors["y4"].shape
    assert prove_graph(backward(graph)).ok


def test_layer_norm_nodes_are_the_textbook_graph():
    g = Graph(parse_spec(SPECS["residual_layer_norm"], "net.toml"))
    assert [t.what for t in g.layers[1].nodes] == ["mean", "variance", "normalised", "pre-activation", "output"]
    assert g.tensors["mu2"].indices == (n,) and g.tensors["xhat2"].indices == (n, k)
    bn = Graph(parse_spec(SPECS["batch_norm_relu_softmax"], "net.toml"))
    assert bn.tensors["mu2"].indices == (k,)  # over the samples: batch norm couples them
    assert bn.layers[1].kind.couples_samples


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hand_written_graphs_are_proven(name):
    d = derived(SPECS[name])
    proof = prove_graph(d)
    assert proof.ok, proof.failures
    leaves = sum(1 for t in d.graph.tensors.values() if t.role in ("input", "param"))
    assert proof.checked >= leaves
    norms = [lg.l for lg in d.graph.layers if lg.kind.kind in ("layer_norm", "batch_norm")]
    assert proof.closed_form_layers == norms


def _mutated(d, name, change):
    gradient = d.gradients[name]
    first = gradient.contributions[0]
    gradient.contributions[0] = replace(first, result=change(first.result))
    return d


@pytest.mark.parametrize("name,change", [
    ("W1", lambda e: -e),  # sign flipped
    ("gamma2", lambda e: 2 * e),  # off by a factor
    ("mu2", lambda e: e.xreplace({sp.IndexedBase("var2")[n]: 0})),  # a node dropped
])
def test_a_wrong_backward_formula_is_caught(name, change):
    d = _mutated(derived(SPECS["residual_layer_norm"]), name, change)
    proof = prove_graph(d)
    assert not proof.ok
    assert "FAILED" in proof.summary()


def test_a_wrong_norm_backward_breaks_the_closed_form():
    d = derived(SPECS["batch_norm_relu_softmax"])
    d = _mutated(d, "var2", lambda e: e / 2)
    proof = prove_graph(d)
    assert any("closed form" in f for f in proof.failures)


@EXPENSIVE
@given(graphs())
def test_random_graphs_are_proven(text):
    d = derived(text)
    proof = prove_graph(d)
    assert proof.ok, (text, proof.failures)


def test_cli_prints_and_proves_a_graph(tmp_path):
    spec = tmp_path / "g.toml"
    spec.write_text(SPECS["residual_layer_norm"], encoding="utf-8")
    result = run_cli(str(spec))
    assert result.returncode == 0, result.stderr
    assert "proven:" in result.stdout and "paths, added" in result.stdout
    assert "dW1_jk = Σ_{n=1..N}" in result.stdout


# ---------------------------------------------------------------- bad input

HEAD = 'name = "g"\ninputs = 3\nloss = "half_sse"\n'
DENSE = '[[layer]]\nname = "a"\nunits = 3\nactivation = "tanh"\n'
OUT = '[[layer]]\nunits = 2\nactivation = "identity"\n'


def custom(forward, params='{ v = ["in", "out"] }', units=2):
    return f'[[layer]]\nkind = "custom"\nunits = {units}\nparams = {params}\nforward = "{forward}"\n'


BAD = [
    ("unknown kind", DENSE + '[[layer]]\nkind = "conv9d"\n' + OUT, "layer[2].kind", "expected one of"),
    ("unknown input", DENSE + '[[layer]]\nkind = "add"\ninput = ["a", "zz"]\n' + OUT, "layer[2].input",
     "unknown layer 'zz'"),
    ("cycle: a later layer", DENSE + '[[layer]]\nname = "b"\nunits = 3\nactivation = "tanh"\ninput = "c"\n'
     '[[layer]]\nname = "c"\nkind = "add"\ninput = ["a", "b"]\n' + OUT, "layer[2].input", "no cycles"),
    ("cycle: itself", DENSE + '[[layer]]\nname = "b"\nunits = 3\nactivation = "tanh"\ninput = "b"\n' + OUT,
     "layer[2].input", "unknown layer 'b'"),
    ("add of one input", DENSE + '[[layer]]\nkind = "add"\ninput = ["a"]\n' + OUT, "layer[2].input",
     "at least 2"),
    ("shape mismatch", DENSE + '[[layer]]\nname = "b"\nunits = 2\nactivation = "tanh"\n'
     '[[layer]]\nkind = "add"\ninput = ["a", "b"]\n' + OUT, "layer[3].input", "one shape"),
    ("unused layer", DENSE + '[[layer]]\nname = "b"\nunits = 2\nactivation = "tanh"\ninput = "x"\n' + OUT,
     "layer[1]", "used by no later layer"),
    ("units on a norm", DENSE + '[[layer]]\nkind = "layer_norm"\nunits = 3\n' + OUT, "layer[2].units",
     "unknown key"),
    ("negative eps", DENSE + '[[layer]]\nkind = "layer_norm"\neps = -1\n' + OUT, "layer[2].eps", "positive"),
    ("momentum above one", DENSE + '[[layer]]\nkind = "batch_norm"\nmomentum = 2\n' + OUT,
     "layer[2].momentum", "(0, 1]"),
    ("name taken", DENSE + '[[layer]]\nname = "a"\nunits = 2\nactivation = "tanh"\n', "layer[2].name",
     "already taken"),
    ("name x", '[[layer]]\nname = "x"\nunits = 2\nactivation = "tanh"\n', "layer[1].name", "network input"),
    ("custom: unknown name", custom("sum(y[j]*q[j, k], j)"), "layer[1].forward", "q"),
    ("custom: free index other than k", custom("y[j]*v[j, k]"), "layer[1].forward", "not summed"),
    ("custom: sum over an undeclared letter", custom("sum(y[j]*v[j, k], z)"), "layer[1].forward",
     "cannot sum over 'z'"),
    ("custom: index over the wrong width", custom("sum(y[j]*v[k, j], j)"), "layer[1].forward",
     "needs an index over the input width"),
    ("custom: unsafe code", custom("__import__('os').system('true')"), "layer[1].forward", "only calls of named"),
    ("custom: attribute", custom("y.real"), "layer[1].forward", "attribute"),
    ("custom: no input", custom("v[1, k]"), "layer[1].forward", "index letters"),
    ("custom: unused parameter", custom("sum(y[j]*v[j, k], j)", '{ v = ["in", "out"], c = ["out"] }'),
     "layer[1].params", "not used"),
    ("custom: bad dims", custom("sum(y[j], j)", '{ v = ["in", "side"] }'), "layer[1].params.v", "dimensions"),
    ("custom: gradient-like name", custom("sum(y[j]*dv[j, k], j)", '{ dv = ["in", "out"] }'),
     "layer[1].params.dv", "start with d"),
    ("softmax inside", '[[layer]]\nname = "a"\nunits = 3\nactivation = "softmax"\n' + OUT,
     "layer[1].activation", "only allowed on the output layer"),
]


@pytest.mark.parametrize("what,body,field,message", BAD, ids=[b[0] for b in BAD])
def test_bad_graph_specs_name_the_field(what, body, field, message):
    with pytest.raises(SpecError) as caught:
        parse_spec(HEAD + body, "net.toml")
    text = str(caught.value)
    assert text.startswith(f"net.toml: {field}: ") and message in text, text


def test_bad_graph_spec_on_the_command_line_writes_nothing(tmp_path):
    spec = tmp_path / "net.toml"
    spec.write_text(HEAD + BAD[1][1], encoding="utf-8")
    tex = tmp_path / "out.tex"
    result = run_cli(str(spec), "--tex", str(tex))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "layer[2].input" in result.stderr and "Traceback" not in result.stderr
    assert not tex.exists()


def test_checker_refuses_a_graph_spec_in_one_line(tmp_path):
    spec = tmp_path / "g.toml"
    spec.write_text(SPECS["residual_layer_norm"], encoding="utf-8")
    result = run_cli("check", str(spec), "dE/dw_jk = y_j*delta_k")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "dense chains" in result.stderr and "layer_norm" in result.stderr
