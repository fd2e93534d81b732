"""Proof, not assertion: the delta rule checked against direct differentiation with sympy.diff.

On an explicit small instance of the network (same depth, activations and loss, widths up to 3),
the loss E is differentiated directly for every parameter and compared with the derivation's
index-form results instantiated there ("full"; the default "auto" does so up to 8 layers). "fast"
proves every layer's rule locally instead: direct differentiation of Σ_a g_a y_a (the upstream gradient g as symbols)
for the layer's parameters and the gradient it hands down.

Each comparison is made at a random exact rational point in 60-digit arithmetic (E differentiated
in the one parameter, the others fixed), and where E is small also symbolically (SymPy reduces
the difference to zero); the report says which. Both are deterministic: same spec, same report.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import sympy as sp
from sympy.logic.boolalg import Boolean

from derive.budget import time_limit
from derive.calculus.derivation import Derivation
from derive.network.chain import Instance, instance_widths
from derive.network.notation import base

DIGITS = 60
# A symbolic check is tried where the loss is small (seed 003's output layer); the time limit is
# only a safety net.
SYMBOLIC_MAX_NODES = 160
SYMBOLIC_SECONDS = 10

@dataclass(frozen=True)
class ProofItem:
    scope: str  # "end-to-end" or "local"
    layer: int
    quantity: sp.Expr  # the parameter (or y of the layer below, for a handed-down gradient)
    method: str  # "symbolic" or "probe"
    ok: bool


@dataclass
class ProofReport:
    widths: tuple[int, ...]
    end_to_end: bool
    items: list[ProofItem] = field(default_factory=list)
    assumption: str | None = None  # e.g. targets sum to one

    def _scope(self, scope: str) -> list[ProofItem]:
        return [i for i in self.items if i.scope == scope]

    @property
    def parameters(self) -> int:
        scope = "end-to-end" if self.end_to_end else "local"
        return sum(1 for i in self._scope(scope) if _is_parameter(i.quantity))

    @property
    def proven(self) -> int:
        scope = "end-to-end" if self.end_to_end else "local"
        return sum(1 for i in self._scope(scope) if _is_parameter(i.quantity) and i.ok)

    @property
    def ok(self) -> bool:
        return all(i.ok for i in self.items)

    @property
    def instance(self) -> str:
        return "-".join(map(str, self.widths))

    def summary(self) -> str:
        how = "end to end" if self.end_to_end else "layer by layer"
        return (f"proved {self.proven}/{self.parameters} parameters: delta rule == direct differentiation "
                f"({how}, {self.instance} instance)")

    def lines(self) -> list[str]:
        out = []
        for scope, title in (("end-to-end", "end to end"), ("local", "layer-local")):
            items = self._scope(scope)
            if not items:
                continue
            ok = sum(i.ok for i in items)
            symbolic = sum(i.ok and i.method == "symbolic" for i in items)
            layers = len({i.layer for i in items})
            params = sum(_is_parameter(i.quantity) for i in items)
            handed = len(items) - params
            what = f"{params} parameters" + (f" and {handed} handed-down gradients" if handed else "")
            out.append(f"{title}: {ok}/{len(items)} proved ({what}, {layers} layers): "
                       f"{symbolic} simplified to zero symbolically, {ok - symbolic} at a random exact rational "
                       f"point with {DIGITS}-digit arithmetic")
        if self.assumption:
            out.append(f"assuming {self.assumption}")
        failed = [i for i in self.items if not i.ok]
        if failed:
            out.append("FAILED: " + ", ".join(sorted({str(i.quantity) for i in failed})))
        return out

    def as_dict(self) -> dict:
        return {
            "parameters": self.parameters,
            "proven": self.proven,
            "instance": list(self.widths),
            "end_to_end": self.end_to_end,
            "checks": len(self.items),
            "symbolic": sum(i.method == "symbolic" and i.ok for i in self.items),
            "assumption": self.assumption,
            "summary": self.summary(),
            "details": self.lines(),
        }


def _is_parameter(q: sp.Expr) -> bool:
    return q.base.label.name[0] in "wb"


def substitute(expr: sp.Expr, mapping: dict) -> sp.Expr:
    """xreplace that visits each distinct subexpression once: the written-out loss shares its
    lower layers many times over, and a plain xreplace walks every copy."""
    if not mapping:
        return expr
    return _substitute_memo(expr, mapping, {})


def _substitute_memo(expr: sp.Expr, mapping: dict, done: dict) -> sp.Expr:
    def walk(e):
        if e in done:
            return done[e]
        if e in mapping:
            result = mapping[e]
        elif not e.args:
            result = e
        else:
            args = tuple(walk(a) for a in e.args)
            result = e.func(*args) if args != e.args else e
        done[e] = result
        return result

    return walk(expr)


class _Comparer:
    """Decides ∂E/∂p (by sympy.diff) == the rule's value.

    Probe: at a random exact rational point (in 60-digit arithmetic), E is differentiated in p
    (`_Slope`: sympy.diff node by node, with the chain rule) and compared with the rule evaluated there (the rule's
    forward values computed numerically at the same point, so deep nets stay cheap). Symbolic:
    where E is small, together(diff(E, p) - rule) must give zero: cheap and deterministic.
    """

    def __init__(self, seed: int = 2024):
        self.random = random.Random(seed)

    def same(self, E: sp.Expr, p: sp.Expr, rule: Callable[[dict], sp.Expr], symbols: list) -> tuple[bool, str]:
        """`rule(mapping)` gives the rule's value with the instance's symbols replaced by `mapping`
        (numbers for the probe; the symbols themselves for the symbolic check)."""
        if not self._probe_equal(E, p, rule, symbols):
            return False, "probe"
        if _small(E) and not E.has(sp.Piecewise):
            try:
                with time_limit(SYMBOLIC_SECONDS):  # a safety net only: the size bound keeps this quick
                    difference = sp.diff(E, p) - rule({})
                    if _small(difference) and sp.together(difference) == 0:
                        return True, "symbolic"
            except TimeoutError:
                pass
        return True, "probe"

    def _probe_equal(self, E: sp.Expr, p: sp.Expr, rule, symbols: list) -> bool:
        exact = {}
        for s in symbols:
            value = sp.Rational(self.random.randint(-24, 24), self.random.randint(11, 31))
            exact[s] = value if value != 0 else sp.Rational(1, 13)
        for digits in (DIGITS, 3 * DIGITS):  # a near miss is looked at again with more digits
            point = {s: sp.Float(v, digits) for s, v in exact.items()}
            direct = _Slope(p, point)(E)[1].evalf(digits)
            expected = sp.sympify(rule(point)).evalf(digits)
            if not (direct.is_number and expected.is_number):
                return False
            if abs(direct - expected) < sp.Float(10) ** (15 - DIGITS) * (1 + abs(expected)):
                return True
        return False


def _small(e: sp.Basic, limit: int = SYMBOLIC_MAX_NODES) -> bool:
    """At most `limit` distinct subexpressions (a written-out loss shares its lower layers, so
    counting the tree, as count_ops does, costs exponential time)."""
    seen, todo = set(), [e]
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        if len(seen) > limit:
            return False
        todo.extend(node.args)
    return True


class _Slope:
    """(value, ∂/∂p) of an expression at a point, by the chain rule over its graph: each node's partial
    derivatives come from sympy.diff of that node alone, so a written-out loss that shares its lower
    layers many times over is differentiated in time linear in its distinct subexpressions."""

    def __init__(self, p: sp.Expr, point: dict):
        self.p = p
        self.point = point
        self.memo: dict = {}

    def __call__(self, e: sp.Basic) -> tuple[sp.Expr, sp.Expr]:
        if e in self.memo:
            return self.memo[e]
        if e in self.point:
            result = (self.point[e], sp.Integer(1 if e == self.p else 0))
        elif not e.args or e.is_number:
            result = (e, sp.Integer(0))
        elif isinstance(e, sp.Piecewise):
            result = self._piecewise(e)
        elif isinstance(e, Boolean):  # a condition: decided at the point, no slope
            result = (e.func(*(self(a)[0] for a in e.args)), sp.Integer(0))
        else:
            parts = [self(a) for a in e.args]
            value = e.func(*(v for v, _ in parts))
            slope = sp.Integer(0)
            moving = [i for i, (_, d) in enumerate(parts) if d != 0]
            if moving:
                names = [sp.Dummy(real=True) for _ in e.args]  # real: d|a|/da is sign(a)
                at = dict(zip(names, (v for v, _ in parts)))
                form = e.func(*names)
                slope = sum((sp.diff(form, names[i]).xreplace(at) * parts[i][1] for i in moving), sp.Integer(0))
            result = (value, slope)
        self.memo[e] = result
        return result

    def _piecewise(self, e: sp.Piecewise) -> tuple[sp.Expr, sp.Expr]:
        for branch, condition in e.args:
            if condition == sp.true or self._truth(condition):
                return self(branch)
        return (sp.nan, sp.nan)

    def _truth(self, condition: Boolean) -> bool:
        return bool(self(condition)[0] == sp.true)


class _Instantiator:
    """Index-form results of the derivation, evaluated on an explicit instance.

    `values` writes y{l}[i], u{l}[i] out in the instance's symbols; `rule(expr, indices)` gives a rule
    as a function of a point, evaluated (by `_Evaluation`) memoised over the shared subexpressions.
    """

    def __init__(self, derivation: Derivation, widths: tuple[int, ...], values: dict, general: dict | None = None,
                 normalise: dict | None = None):
        self.d = derivation
        self.widths = widths
        self.values = values
        self.sizes = {ls.size: widths[ls.l] for ls in derivation.net.layers}
        self.general = general or {}  # l -> the delta of layer l with its upstream gradient as symbols
        self.normalise = normalise or {}  # e.g. the last target as 1 - the others (softmax + cross entropy)

    def concrete(self, expr: sp.Expr, indices: dict) -> sp.Expr:
        return expr.xreplace({**self.sizes, **{k: sp.Integer(v) for k, v in indices.items()}}).doit()

    def rule(self, expr: sp.Expr, indices: dict) -> Callable[[dict], sp.Expr]:
        """The rule `expr` at `indices`, as a function of a point (see _Comparer.same)."""
        concrete = self.concrete(expr, indices)
        return lambda point: _Evaluation(self, point)(concrete)


class _Evaluation:
    """One instantiation at one point: deltas and forward values computed once, shared by all rules."""

    def __init__(self, inst: _Instantiator, point: dict):
        self.inst = inst
        self.point = point
        self.memo: dict = {}
        self.deltas: dict = {}

    def _value(self, e: sp.Expr) -> sp.Expr:
        return _substitute_memo(e, self.point, self.memo) if self.point else e

    def __call__(self, expr: sp.Expr) -> sp.Expr:
        expr = expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base.label.name.startswith("delta"),
                            lambda e: self.delta(int(e.base.label.name[5:]), int(e.indices[0])))
        expr = expr.xreplace(self.inst.normalise)
        mapping = {a: self._value(self.inst.values[a]) for a in expr.atoms(sp.Indexed) if a in self.inst.values}
        return self._value(expr.xreplace(mapping))

    def delta(self, l: int, i: int) -> sp.Expr:
        if (l, i) not in self.deltas:
            ld = self.inst.d.layer(l)
            general = self.inst.general.get(l, ld.delta)
            self.deltas[(l, i)] = self(self.inst.concrete(general, {ld.symbols.index: i}))
        return self.deltas[(l, i)]


def _targets_sum_to_one(derivation: Derivation) -> bool:
    return derivation.spec.output.activation.is_softmax and any(
        getattr(s, "uses_target_sum", False) for s in derivation.layers[0].steps)


MODES = ("auto", "full", "fast", "off")
AUTO_FULL_DEPTH = 8  # "auto": end to end up to this depth (seconds), layer by layer beyond


def prove(derivation: Derivation, *, mode: str = "auto", seed: int = 2024,
          progress: Callable[[int, int], None] | None = None) -> ProofReport | None:
    """Prove every parameter's rule: "full" end to end, "fast" layer by layer (each layer's rule
    against direct differentiation with the upstream gradient as symbols), "auto" full up to
    AUTO_FULL_DEPTH layers and fast beyond, "off" not at all (None).
    `progress(done, total)` is told after each check."""
    if mode == "off":
        return None
    if mode == "auto":
        mode = "full" if derivation.spec.depth <= AUTO_FULL_DEPTH else "fast"
    if mode not in MODES:
        raise ValueError(f"proof mode {mode!r}: expected one of {', '.join(MODES)}")
    spec = derivation.spec
    widths = instance_widths(spec)
    report = ProofReport(widths, end_to_end=mode == "full")
    total = _count_checks(spec, widths, report.end_to_end)
    tell = (lambda done: progress(done, total)) if progress else (lambda done: None)
    compare = _Comparer(seed)
    normalise = {}
    if _targets_sum_to_one(derivation):
        t = base("t")
        n = widths[-1]
        normalise = {t[n]: 1 - sum(t[i] for i in range(1, n))}
        report.assumption = "the targets sum to one (Σ_k t_k = 1), as for a probability distribution"
    if report.end_to_end:
        _end_to_end(derivation, widths, compare, normalise, report, tell)
    else:
        for l in range(spec.depth, 0, -1):
            _local(derivation, widths, l, compare, normalise, report, tell)
    return report


def _count_checks(spec, widths, end_to_end: bool) -> int:
    params = sum(widths[l] * (widths[l - 1] + spec.layers[l - 1].bias) for l in range(1, len(widths)))
    return params if end_to_end else params + sum(widths[1:-1])


def _gradient_rules(derivation: Derivation, l: int, widths, instantiate: _Instantiator):
    """(quantity, rule as a function of a point) for every parameter of layer l on the instance."""
    ld = derivation.layer(l)
    a, b = ld.symbols.index, ld.below.index
    for k in range(1, widths[l] + 1):
        for j in range(1, widths[l - 1] + 1):
            yield ld.symbols.w[j, k], instantiate.rule(ld.dEdw, {a: k, b: j})
        if ld.dEdb is not None:
            yield ld.symbols.b[k], instantiate.rule(ld.dEdb, {a: k})


def _end_to_end(derivation, widths, compare, normalise, report, progress):
    inst = Instance(derivation.spec, widths)
    E = substitute(inst.E, normalise)
    instantiate = _Instantiator(derivation, widths, inst.values, normalise=normalise)
    symbols = [s for s in inst.symbols if s not in normalise]
    for l in range(derivation.spec.depth, 0, -1):
        for param, rule in _gradient_rules(derivation, l, widths, instantiate):
            ok, method = compare.same(E, param, rule, symbols)
            report.items.append(ProofItem("end-to-end", l, param, method, ok))
            progress(len(report.items))


def _local(derivation, widths, l, compare, normalise, report, progress):
    """Layer l alone: its inputs y{l-1} and the upstream gradient g{l} are free symbols."""
    spec = derivation.spec
    ld = derivation.layer(l)
    below = [base("y", l - 1)[j] for j in range(1, widths[l - 1] + 1)]
    # the explicit instance of one layer: its inputs are the symbols `below`
    one = Instance(_one_layer_spec(spec, l, widths), (widths[l - 1], widths[l]))
    rename = {base(kind, 1): base(kind, l) for kind in ("w", "b", "u", "y")}
    rename[base("y", 0)] = base("y", l - 1)
    values = {_rebase(k, rename): v.xreplace(_indexed_map(v, rename)) for k, v in one.values.items()}
    ys = [values[base("y", l)[k]] for k in range(1, widths[l] + 1)]
    params = [_rebase(p, rename) for p in one.params]
    if ld.is_output:
        E = one.E.xreplace(_indexed_map(one.E, rename)).xreplace(normalise)
        general = {}
        symbols = [*below, *[s for s in one.targets if s not in normalise], *params]
    else:
        g = base("g", l)
        E = sum((g[k] * y for k, y in enumerate(ys, 1)), sp.Integer(0))
        general = {l: ld.delta.xreplace({ld.dEdy: g[ld.symbols.index]})}
        symbols = [*below, *[g[k] for k in range(1, widths[l] + 1)], *params]
    instantiate = _Instantiator(derivation, widths, values, general, normalise)
    rules = list(_gradient_rules(derivation, l, widths, instantiate))
    if l > 1:
        rules += [(yj, instantiate.rule(ld.handed_down, {ld.below.index: j})) for j, yj in enumerate(below, 1)]
    for quantity, rule in rules:
        ok, method = compare.same(E, quantity, rule, symbols)
        report.items.append(ProofItem("local", l, quantity, method, ok))
        progress(len(report.items))


def _one_layer_spec(spec, l, widths):
    return replace(spec, inputs=widths[l - 1], layers=(spec.layers[l - 1],))


def _rebase(e: sp.Indexed, rename: dict) -> sp.Indexed:
    return rename.get(e.base, e.base)[e.indices]


def _indexed_map(expr: sp.Expr, rename: dict) -> dict:
    return {e: _rebase(e, rename) for e in expr.atoms(sp.Indexed) if e.base in rename}

