"""From the graph engine to the plan of a graph module: the forward and backward passes as IR blocks.

Forward: every node of `derive.network.graph.Graph` in topological order, its index expression lowered
(`lower.Lowerer`); the activation y = f(u) in the stable form `codegen.forms.activation_forms` chose, the
softmax with its log-sum-exp. Batch norm's mean and variance are a branch: the batch's own (training) or
the state's running statistics (inference).

Backward: the reverse sweep of `derive.calculus.backward`, only the gradients some parameter needs: the
output δ (the head: the notes' loss and activation rules, times 1/N for the mean), then each tensor's
∂J/∂x as the derivation wrote it, summed over its consumers; ∂J/∂u = ∂J/∂y ⊙ f'(u) in the activation's
chosen form. The loss: `codegen.forms.loss_expression` (log-softmax, log-sigmoid where a log meets them).
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sympy as sp

from codegen.forms import CodegenError, activation_forms, array, domains, loss_expression, optimizer_call, relu_like
from codegen.printer import stabilize
from derive.calculus.backward import GraphDerivation, backward, gradient_base, per_sample
from derive.calculus.jacobian import JacobianError, curvature, jacobian_base, output_jacobian
from derive.calculus.second_order import direction_base, r_operator
from derive.document.graph_text import text as graph_text
from derive.network import indices as ix
from derive.network.graph import Graph, LayerGraph, Tensor
from derive.spec import catalog
from derive.spec.loader import DEFAULT_LR, OPTIMIZERS, Spec

from .ir import Alias, Array, Block, Comment, Elementwise, Load, Op, Softmax
from .lower import BATCH, Lowerer
from .render import NumpyRenderer
from .share import share

RESERVED = {"np", "N", "X", "T", "E", "params", "state", "grads", "cache", "DTYPE", "float", "dict", "range", "min",
            "max", "len", "print", "scale", "seed", "rng", "key"}


class Namer:
    """Array names: unique, never a keyword or a name the module uses otherwise."""

    def __init__(self):
        self.taken = set(RESERVED)
        self.counts: dict[str, int] = {}

    def claim(self, name: str) -> str:
        while name in self.taken or keyword.iskeyword(name):
            name += "_"
        self.taken.add(name)
        return name

    def fresh(self, prefix: str) -> str:
        while True:
            count = self.counts.get(prefix, 0)
            self.counts[prefix] = count + 1
            name = f"{prefix}{count}"
            if name not in self.taken:
                self.taken.add(name)
                return name


@dataclass
class ParamInit:
    key: str
    shape: tuple[int, ...]
    init: str  # "normal" (with std), "ones", "zeros"
    std: str = ""
    note: str = ""


@dataclass
class StateStat:
    key: str  # "mean5"
    array: str  # the batch statistic in the cache (MU5)
    size: int
    momentum: float
    variance: bool
    positions: int = 1  # the positions per sample it also runs over (a signal's or image's channels)
    layer: int = 0


@dataclass
class GraphPlan:
    spec: Spec
    dtype: str
    source: str
    summary: list[str]  # one line per layer
    params: list[ParamInit]
    state: list[StateStat]
    forward: list[Block]
    output: str
    cache: list[str]
    backward: list[str]
    grads: list[tuple[str, str]]  # (key, array)
    loss_lines: list[str]
    loss_args: list[str]
    loss_comment: str
    divisor: str
    helpers: list[str]
    uses_softmax: bool
    domains: list[str]  # where a function is real only on part of the line: "layer 1: u > 0 (log)"
    optimizer: str
    optimizer_defaults: dict[str, dict[str, str]]
    forward_lines: list[str] = field(default_factory=list)
    hvp: list[str] = field(default_factory=list)  # the body of _hvp(params, X, T, V)
    uses_rng: bool = False  # dropout: its masks are drawn from an rng argument
    jacobian: JacobianPlan | None = None  # None where a layer couples the samples

    @property
    def param_keys(self) -> list[str]:
        return [p.key for p in self.params]


@dataclass
class JacobianPlan:
    body: list[str]  # of _jacobian(params, X, at): returns ({key: (N, n_out, *shape)}, (Y, U) of the output layer)
    curvature: list[str]  # of _curvature(Y, U, T): H[n, k] (diagonal) or H[n, k, r]
    outputs: tuple[str, str]  # the output layer's Y and U: _curvature's arguments
    at: str  # "u" or "y": where the Gauss-Newton curvature is taken
    diagonal: bool
    reads_targets: bool
    curvature_text: str  # the derived H, as a comment


def _title(lg: LayerGraph, graph: Graph) -> str:
    inputs = ", ".join("x" if name == "x" else graph.layers[graph.tensors[name].layer - 1].name for name in lg.inputs)
    size = f"width {lg.width}" if len(lg.shape) <= 1 else f"shape [{', '.join(map(str, lg.shape))}]"
    return f"layer {lg.l} {lg.name}: {lg.kind.kind} of {inputs}, {size}, activation {lg.activation.name}"


class GraphPlanner:
    renderer_class = NumpyRenderer  # another backend plans with its own renderer

    def __init__(self, spec: Spec, dtype: str | None):
        self.spec = spec
        self.dtype = dtype or spec.dtype
        self.graph = Graph(spec)
        self.derivation: GraphDerivation = backward(self.graph)
        self.namer = Namer()
        self.numbers = {s: sp.Integer(v) for s, v in self.graph.sizes.items() if s != ix.BATCH}
        self.numbers.update(self.graph.constants)
        self.arrays: dict[str, Array] = {}  # tensor or gradient base name -> its array
        self.gradient_of = {gradient_base(name).label.name: name for name in self.derivation.gradients}
        self.params = {p.name for p in self.graph.params}
        self.uses_rng = any(t.role == "mask" for t in self.graph.tensors.values())
        self._name_arrays()
        self.renderer = self.renderer_class(into=self.into())

    def into(self) -> set[str]:
        """The arrays the backward pass writes in place: each parameter's gradient, a view of the flat buffer."""
        return {self.grad(p.name).name for p in self.graph.params}

    # ------------------------------------------------------------ arrays

    def _shape(self, tensor: Tensor) -> tuple[sp.Expr, ...]:
        return tuple(sp.sympify(s).xreplace(self.numbers) for s in tensor.shape)

    def _name_arrays(self):
        for name, tensor in self.graph.tensors.items():
            if tensor.role == "param":
                local = self.namer.claim(name)
            elif tensor.role in ("input", "target"):
                local = {"x": "X", "t": "T"}[name]
            else:
                local = self.namer.claim(name.upper())
            self.arrays[name] = Array(local, tensor.indices, self._shape(tensor))
        for name in self.derivation.gradients:
            tensor = self.graph.tensors[name]
            self.arrays[gradient_base(name).label.name] = Array(
                self.namer.claim("d" + self.arrays[name].name), tensor.indices, self._shape(tensor))

    def resolve(self, base: str) -> Array:
        if base not in self.arrays:
            raise CodegenError(f"unknown tensor {base}")
        return self.arrays[base]

    def grad(self, name: str) -> Array:
        return self.arrays[gradient_base(name).label.name]

    def _numbers(self, expr: sp.Expr) -> sp.Expr:
        return expr.xreplace(self.numbers)

    # ------------------------------------------------------------ forward

    def forward(self, lower: Lowerer) -> list[Block]:
        blocks = [Block()]
        for lg in self.graph.layers:
            self.forward_layer(lower, lg, blocks)
        return [b for b in blocks if b.ops or b.condition]

    def forward_layer(self, lower: Lowerer, lg: LayerGraph, blocks: list[Block]):
        """Appends the ops of layer `lg`'s nodes to `blocks` (a batch statistic opens a branch of its own)."""
        for mask in (t for t in self.graph.tensors.values() if t.role == "mask" and t.layer == lg.l):
            shape = ", ".join(["X.shape[0]", *(str(int(n)) for n in self._shape(mask)[1:])])
            blocks[-1].ops += [Comment(f"layer {lg.l} {lg.name} (dropout): {mask.name} = m/(1 - p), m ~ Bernoulli(1 - p)"
                                       " where rng is given, else 1"),
                               Load(self.arrays[mask.name], f"_keep(rng, ({shape}), {lg.kind.p!r}, DTYPE)")]
        stats = {t.name for t in lg.nodes if t.what in ("mean", "variance")} if lg.kind.couples_samples else set()
        for node in lg.nodes:
            out = self.arrays[node.name]
            if node.name in stats:
                branch = self._running(lower, lg, node, out)
                if len(blocks) > 1 and blocks[-2].condition and not blocks[-1].ops:  # the variance after the mean
                    blocks[-2].ops += branch.ops[1:]
                    blocks[-2].otherwise += branch.otherwise
                else:
                    blocks += [branch, Block()]
                continue
            start = len(lower.ops)
            comment = f"layer {lg.l} {lg.name} ({lg.kind.kind}): {node.what} {node.name}{_idx(node)} = " \
                      f"{_plain(node.expr) if node is not lg.output else self._activation_text(lg)}"
            if node is lg.pre and lg.kind.kind == "dense":
                comment += "  (u = y W + b)"
            if node is lg.output:
                self._activation(lower, lg, out, comment)
            else:
                lower.assign(out, self._numbers(self._selections(node.expr)), comment)
            blocks[-1].ops.extend(lower.ops[start:])
            del lower.ops[start:]

    def _selections(self, expr: sp.Expr) -> sp.Expr:
        """A selection node's elements (max pooling's arg max) as their definitions, so that the lowering sees
        Σ x·[arg max] and takes the maximum; the backward pass reads the stored selection."""
        constant = {t.name: t for t in self.graph.nodes if t.constant}
        if not constant:
            return expr

        def define(e: sp.Indexed) -> sp.Expr:
            node = constant[e.base.label.name]
            return node.expr.xreplace(dict(zip(node.indices, e.indices)))

        return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base.label.name in constant, define)

    def _activation_text(self, lg: LayerGraph) -> str:
        act = lg.activation
        if act.is_softmax:
            return f"softmax(u{lg.l})_k = exp(u_k) / Σ_r exp(u_r)"
        return f"f(u{lg.l}[n, k]) = {_plain(act.expr.xreplace({catalog.x: sp.Symbol('u')}))}"

    def _activation(self, lower: Lowerer, lg: LayerGraph, out: Array, comment: str):
        u = self.arrays[lg.pre.name].ref()
        if lg.activation.is_softmax:
            lse = Array(self.namer.claim(f"LSE{lg.l}"), (ix.n,), out.shape[:1])
            lower.ops += [Comment(comment + " (the row maximum subtracted)"), Softmax(out, lse, u)]
            return
        act = lg.activation
        value = activation_forms(act).forward(act, u.symbol)
        if value == u.symbol:
            lower.ops += [Comment(comment + " (identity: no copy)"), Alias(out, u)]
        else:
            lower.ops += [Comment(comment), Elementwise(out, value, {u.symbol: u})]

    def _running(self, lower: Lowerer, lg: LayerGraph, node: Tensor, out: Array) -> Block:
        """Batch norm's statistic: the batch's (training, no state) or the running one (inference)."""
        memo = dict(lower.memo)
        start = len(lower.ops)
        comment = f"layer {lg.l} {lg.name} (batch_norm): {node.what} {node.name}{_idx(node)} = {_plain(node.expr)}"
        lower.assign(out, self._numbers(node.expr), comment)
        ops = lower.ops[start:]
        del lower.ops[start:]
        lower.memo = memo  # nothing computed inside the branch is shared outside it
        key = f"{'mean' if node.what == 'mean' else 'var'}{lg.l}"
        load = Load(out, f'state["{key}"]')
        return Block([Comment("training: the batch's own statistic"), *ops], condition="state is None",
                     otherwise=[Comment(f"inference: the running {node.what}"), load])

    # ------------------------------------------------------------ backward

    def needed(self, roots: list[str] | None = None) -> list[str]:
        """The gradients some parameter's gradient (or those of `roots`) reads, in the order of the reverse sweep."""
        want: set[str] = set()
        stack = list(self.params if roots is None else roots)
        out = self.graph.layers[-1].pre.name
        while stack:
            name = stack.pop()
            if name in want:
                continue
            want.add(name)
            if name == out:
                continue
            for e in self.derivation.gradients[name].expr.atoms(sp.Indexed):
                base = e.base.label.name
                if base in self.gradient_of and self.gradient_of[base] not in want:
                    stack.append(self.gradient_of[base])
        return [name for name in self.derivation.gradients if name in want]

    def backward(self, lower: Lowerer, names: list[str] | None = None) -> list[Op]:
        """The ops of the gradients `names` (default: those the parameters' gradients need), in sweep order."""
        lower.ops = []
        out_layer = self.graph.layers[-1]
        layers_by_pre = {lg.pre.name: lg for lg in self.graph.layers}
        for name in self.needed() if names is None else names:
            target = self.grad(name)
            gradient = self.derivation.gradients[name]
            if name == out_layer.pre.name:
                self._head(lower, target)
            elif name in layers_by_pre:
                self._through_activation(lower, layers_by_pre[name], target)
            else:
                paths = len(gradient.contributions)
                text = f"∂J/∂{name}{_idx(gradient.tensor)} = {_plain(gradient.expr)}"
                if paths > 1:
                    text += f"\n    ({paths} paths, added: " + ", ".join(c.source.name for c in gradient.contributions) \
                            + ")"
                lower.assign(target, self._numbers(gradient.expr), text)
        return lower.ops

    def _head(self, lower: Lowerer, target: Array):
        """The output δ of the notes' rules (3) per sample, times 1/N for the batch mean."""
        head = self.derivation.head
        lg = self.graph.layers[-1]
        act = lg.activation
        delta = head.delta
        note = ""
        if not act.is_softmax:
            forms = activation_forms(act)
            u = sp.IndexedBase(lg.pre.name)
            n, k = ix.n, ix.k
            if delta.has(u) or forms.output_form_unsafe:
                # no (safe) output form: the factors of the delta rule apart, each stable
                dEdy = per_sample(head.steps[0].rhs)  # the loss rule's ∂E/∂y_k
                delta = stabilize(dEdy) * forms.derivative(act.derivative.xreplace({catalog.x: u[n, k]}))
                note = "\n    ∂E/∂y and f'(u) kept apart" + (_kept(act) if forms.output_form_unsafe else " (no form in y)")
        text = (f"(3) the output δ: ∂J/∂u{lg.l}[n, k] = {_plain(head.scale)} · δ[n, k], "
                f"δ = {_plain(head.delta)}{note}")
        if act.is_softmax and self.spec.loss.name == "cross_entropy":
            text += "\n    using Σ_r t_r = 1 (each row of T sums to one)"
        lower.assign(target, self._numbers(head.scale * delta), text)

    @staticmethod
    def _slope(lg: LayerGraph, u: sp.Expr, y: sp.Expr) -> sp.Expr:
        """f'(u) of an elementwise activation in the form activation_forms chose: in y where that is safe, else in u."""
        act = lg.activation
        forms = activation_forms(act)
        if forms.derivative_in_y or act.output_form is None:
            return forms.derivative(act.dydu(u, y))
        return forms.derivative(act.derivative.xreplace({catalog.x: u}))

    def _through_activation(self, lower: Lowerer, lg: LayerGraph, target: Array):
        """(7) ∂J/∂u = ∂J/∂y ⊙ f'(u), f' in the form activation_forms chose (in y where it is safe)."""
        act = lg.activation
        u, y = self.arrays[lg.pre.name].ref(), self.arrays[lg.output.name].ref()
        dy = self.grad(lg.output.name).ref()
        slope = self._slope(lg, u.symbol, y.symbol)
        shown = act.dydu(sp.Symbol(f"u{lg.l}"), sp.Symbol(f"y{lg.l}"))
        text = f"(7) ∂J/∂u{lg.l} = ∂J/∂y{lg.l} ⊙ f'(u{lg.l}), f' = {_plain(shown)}"
        if activation_forms(act).output_form_unsafe:
            text += _kept(act)
        if slope == 1:
            lower.ops += [Comment(text + " (identity: no copy)"), Alias(target, dy)]
            return
        lower.ops += [Comment(text), Elementwise(target, dy.symbol * slope, {dy.symbol: dy, u.symbol: u, y.symbol: y})]

    # ------------------------------------------------------------ second order

    def hvp(self) -> list[str]:
        """The body of `_hvp(params, X, T, V)`: the forward pass and the part of the sweep the R-operator reads,
        then R{·} of the nodes and of the sweep (`derive.calculus.second_order`), ending in R{∂J/∂p} = (H V)_p."""
        in_u = frozenset(lg.l for lg in self.graph.layers if not lg.activation.is_softmax
                         and not activation_forms(lg.activation).derivative_in_y)
        rop = r_operator(self.derivation, in_u)
        steps = {s.of: s for s in (*rop.forward, *rop.backward)}
        roots = [f"d{p.name}" for p in self.graph.params]
        wanted = _closure(roots, steps, lambda base: base.startswith("R") and base[1:] in steps, lambda b: b[1:])
        read = {e.base.label.name for name in wanted for e in steps[name].formula.atoms(sp.Indexed)}
        plain = self.needed([self.gradient_of[b] for b in read if b in self.gradient_of])
        for step in (*rop.forward, *rop.backward):
            if step.of in wanted:
                self.arrays[step.base.label.name] = Array(self.namer.claim("R" + self.arrays[step.of].name),
                                                          step.tensor.indices, self._shape(step.tensor))
        for p in self.graph.params:
            self.arrays[direction_base(p.name).label.name] = Array(self.namer.claim("V" + self.arrays[p.name].name),
                                                                   p.indices, self._shape(p))
        lower = Lowerer(self.resolve, self.namer.fresh)
        blocks = self.forward(lower)
        self.backward(lower, [name for name in plain if name not in self.params])
        for step in (*rop.forward, *rop.backward):
            if step.of in wanted:
                target = self.arrays[step.base.label.name]
                lower.assign(target, self._numbers(step.formula), f"R{{{step.of}}}{_idx(step.tensor)} = "
                                                                   f"{_plain(step.formula)}")
        ops = share(lower.ops, self.namer.fresh, "c")
        directions = [Load(self.arrays[direction_base(p.name).label.name], f'V["{p.name}"]') for p in self.graph.params]
        lines = ["state = None  # training mode: batch norm uses the batch's statistics"] \
            if any(b.condition for b in blocks) else []
        lines += self._body([*blocks, Block(ops)], directions)
        returned = ", ".join(f'"{p.name}": {self.arrays[f"Rd{p.name}"].name}' for p in self.graph.params)
        return [*lines, f"return {{{returned}}}"]

    def jacobian(self) -> JacobianPlan | None:
        """The bodies of `_jacobian(params, X, at)` (each output unit's sweep, `derive.calculus.jacobian`, started
        from ∂y_no/∂u_nk, or from [o = k] for at = "u") and `_curvature(Y, U, T)` (the derived Hessian of the
        per-sample loss where the Gauss-Newton matrix takes it)."""
        try:
            jac = output_jacobian(self.derivation)
        except JacobianError:
            return None
        curv = curvature(self.derivation)
        out = self.graph.layers[-1]
        steps = {s.tensor.name: s for s in jac.steps}
        wanted = _closure([f"J{p.name}" for p in self.graph.params], steps, lambda b: b in steps, lambda b: b)
        for step in jac.steps:
            if step.tensor.name in wanted:
                self.arrays[step.tensor.name] = Array(self.namer.claim("J" + self.arrays[step.of].name),
                                                      step.tensor.indices, self._shape(step.tensor))
        eye = Array(self.namer.claim(f"EYE{out.width}"), (ix.o, ix.k), (sp.Integer(out.width),) * 2)
        self.arrays[eye.name] = eye

        def identity(expr: sp.Expr) -> sp.Expr:  # [a = b] as an element of the identity matrix
            return self._numbers(expr.replace(lambda e: isinstance(e, sp.KroneckerDelta),
                                              lambda e: sp.IndexedBase(eye.name)[e.args]))

        lower = Lowerer(self.resolve, self.namer.fresh)
        blocks = self.forward(lower)
        seed = self.arrays[f"J{out.pre.name}"]
        memo = dict(lower.memo)
        lower.assign(seed, identity(sp.KroneckerDelta(ix.o, ix.k)),
                     f"at u: ∂u{out.l}[n, o]/∂u{out.l}[n, k] = [o = k]")
        at_u, lower.ops, lower.memo = lower.ops, [], dict(memo)
        start = jac.seed if out.activation.is_softmax else \
            sp.KroneckerDelta(ix.o, ix.k) * self._slope(out, out.pre.element, out.output.element)
        lower.assign(seed, identity(start), f"∂y{out.l}[n, o]/∂u{out.l}[n, k] = {_plain(jac.seed)}")
        at_y, lower.ops, lower.memo = lower.ops, [], memo  # nothing computed in a branch is shared outside it
        layers_by_pre = {lg.pre.name: lg for lg in self.graph.layers if not lg.activation.is_softmax}
        for step in jac.steps[1:]:
            formula = step.formula
            if step.of in layers_by_pre:  # J_u = J_y ⊙ f'(u), f' in the chosen form, as in the sweep
                lg = layers_by_pre[step.of]
                formula = jacobian_base(lg.output.name)[(ix.n, ix.o, *lg.pre.indices[1:])] * \
                    self._slope(lg, lg.pre.element, lg.output.element)
            if step.tensor.name in wanted:
                lower.assign(self.arrays[step.tensor.name], identity(formula),
                             f"∂y[n, o]/∂{step.of} = J{step.of}{_idx(step.tensor)} = {_plain(step.formula)}")
        ops = share(lower.ops, self.namer.fresh, "c")
        lines = self._body([*blocks, Block(at_u, 'at == "u"', at_y), Block(ops)],
                           [Load(eye, f"np.eye({out.width}, dtype=DTYPE)")])
        outputs = (self.arrays[out.output.name].name, self.arrays[out.pre.name].name)
        returned = ", ".join(f'"{p.name}": {self.arrays[f"J{p.name}"].name}' for p in self.graph.params)
        body = [*lines, f"return {{{returned}}}, ({', '.join(outputs)})"]

        k, r = ix.k, ix.r
        h = Array("H", (ix.n, k) if curv.diagonal else (ix.n, k, r),
                  (ix.BATCH, sp.Integer(out.width)) if curv.diagonal else (ix.BATCH, *(sp.Integer(out.width),) * 2))
        eye_kr = Array(eye.name, (k, r), eye.shape)
        lower = Lowerer(lambda name: eye_kr if name == eye.name else self.resolve(name), self.namer.fresh)
        lower.assign(h, identity(curv.diag if curv.diagonal else curv.hessian))
        ops = [op for op in lower.ops if not isinstance(op, Comment)]
        used = {a for op in ops for a in op.reads()}
        lines = [f"N = {outputs[0]}.shape[0]"] if any(_uses_batch(op) for op in ops) else []
        renderer = self.renderer_class()
        lines += renderer.lines([Load(eye_kr, f"np.eye({out.width}, dtype=DTYPE)")] if eye_kr in used else [])
        curvature_lines = [*lines, *renderer.lines(ops), "return H"]
        return JacobianPlan(body, curvature_lines, outputs, curv.at, curv.diagonal, curv.reads_targets,
                            _plain(self._numbers(curv.hessian)))

    def _body(self, blocks: list[Block], extra: list[Load]) -> list[str]:
        """The lines of a function of (params, X, ...) that runs `blocks` (the forward pass, then its own): N and
        the parameters loaded where they are read, each of `extra` where its array is read, a softmax's
        log-sum-exp dropped where nothing reads it (the loss is not computed there)."""
        every = [op for b in blocks for op in b.all_ops()]
        used = {a for op in every for a in op.reads()}
        for op in every:
            if isinstance(op, Softmax) and op.lse not in used:
                op.lse = Array("_", op.lse.axes, op.lse.shape)
        renderer = self.renderer_class()
        lines = ["N = X.shape[0]"] if any(_uses_batch(op) for op in every) else []
        if self.uses_rng:
            lines.append("rng = None  # without dropout: the masks are 1")
        lines += renderer.lines([*self._loads(every), *(load for load in extra if load.out in used)])
        return lines + render_blocks(renderer, blocks)

    # ------------------------------------------------------------ module

    def init(self) -> list[ParamInit]:
        found = []
        for lg in self.graph.layers:
            for tensor in lg.params:
                p = tensor.param
                shape = tuple(int(s) for s in self._shape(tensor))
                if p.init == "by_activation":  # fans: the "in" ("out") size times the window's (a kernel's)
                    window = [size for size, dim in zip(shape, p.dims) if dim not in ("in", "out")]
                    n_in = shape[p.dims.index("in")] * int(np.prod(window))
                    n_out = shape[p.dims.index("out")] * int(np.prod(window))
                    he = relu_like(lg.activation)
                    std = f"(2 / {n_in}) ** 0.5" if he else f"(2 / ({n_in} + {n_out})) ** 0.5"
                    found.append(ParamInit(tensor.name, shape, "normal", std, "He" if he else "Glorot"))
                elif p.init == "fan_in" and "in" in p.dims:
                    fan_in = shape[p.dims.index("in")]
                    found.append(ParamInit(tensor.name, shape, "normal", f"{fan_in} ** -0.5", "normal(0, 1/√fan_in)"))
                elif p.init == "ones":
                    found.append(ParamInit(tensor.name, shape, "ones"))
                else:
                    found.append(ParamInit(tensor.name, shape, "zeros"))
        return found

    def state(self) -> list[StateStat]:
        found = []
        for lg in self.graph.layers:
            if not lg.kind.couples_samples:
                continue
            for node in lg.nodes:
                if node.what in ("mean", "variance"):
                    key = f"{'mean' if node.what == 'mean' else 'var'}{lg.l}"
                    positions = int(np.prod([int(n) for n in self._shape(self.graph.tensors[lg.inputs[0]])[2:]]))
                    found.append(StateStat(key, self.arrays[node.name].name, int(self._shape(node)[0]),
                                           float(lg.kind.momentum), node.what == "variance", positions, lg.l))
        return found

    def plan(self) -> GraphPlan:
        lower = Lowerer(self.resolve, self.namer.fresh)
        forward_blocks = self.forward(lower)
        for block in forward_blocks:
            block.ops = share(block.ops, self.namer.fresh, "c")
        backward_ops = share(self.backward(lower), self.namer.fresh, "c")

        out_layer = self.graph.layers[-1]
        L = out_layer.l
        loss_lines, loss_args = self.objective()

        # what the backward pass reads of the forward one (and the loss), returned by _forward
        produced = [op.out.name for b in forward_blocks for op in b.all_ops()]
        if out_layer.activation.is_softmax:
            produced.append(f"LSE{L}")
        wanted = {a.name for op in backward_ops for a in op.reads()}  # (a Comment reads nothing)
        read = [name for name in dict.fromkeys(produced) if name in wanted]  # in forward order: deterministic
        output = self.arrays[out_layer.output.name].name
        stats = self.state()
        cache = list(dict.fromkeys([output, *loss_args, *read, *(s.array for s in stats)]))
        # parameters each pass reads, loaded from params at its top
        forward_ops = [op for b in forward_blocks for op in b.all_ops()]
        forward_loads = self._loads(forward_ops)
        backward_loads = self._loads(backward_ops, exclude=produced)
        if any(_uses_batch(op) for op in forward_ops):
            forward_loads.insert(0, Load(Array("N", (), ()), "X.shape[0]"))
        forward_blocks.insert(0, Block(forward_loads))
        backward_lines = self.renderer.lines([*backward_loads, *backward_ops])
        if any(_uses_batch(op) for op in backward_ops):
            backward_lines.insert(0, "N = X.shape[0]")
        grads = [(p.name, self.grad(p.name).name) for p in self.graph.params]

        lines_text = "\n".join([*self.renderer.lines(forward_ops), *backward_lines, *loss_lines])
        optimizer_defaults = {name: {**({"lr": repr(DEFAULT_LR[name])} if name in DEFAULT_LR else {}),
                                     **{k: repr(v) for k, v in params.items()}} for name, params in OPTIMIZERS.items()}
        return GraphPlan(
            spec=self.spec,
            dtype=self.dtype,
            source=Path(self.spec.source).name,
            summary=[_title(lg, self.graph) for lg in self.graph.layers],
            params=self.init(),
            state=stats,
            forward=forward_blocks,
            output=output,
            cache=cache,
            backward=backward_lines,
            grads=grads,
            loss_lines=loss_lines,
            loss_args=loss_args,
            loss_comment=_plain(self.spec.loss.expr),
            divisor=self.divisor(),
            helpers=self.renderer.helpers(lines_text),
            uses_softmax=out_layer.activation.is_softmax,
            optimizer=optimizer_call(self.spec),
            domains=domains(self.spec),
            optimizer_defaults=optimizer_defaults,
            uses_rng=self.uses_rng,
        )

    def objective(self) -> tuple[list[str], list[str]]:
        """The lines of E (each sample's loss, over the output layer's arrays) and the arrays they read besides T."""
        out_layer = self.graph.layers[-1]
        L = out_layer.l
        loss_expr, _ = loss_expression(self.spec, L)
        names = {array(f"Y{L}"): sp.Symbol(self.arrays[out_layer.output.name].name, real=True),
                 array(f"U{L}"): sp.Symbol(self.arrays[out_layer.pre.name].name, real=True),
                 array(f"LSE{L}"): sp.Symbol(f"LSE{L}", real=True)}
        loss_expr = loss_expr.xreplace(names)
        loss_args = sorted(s.name for s in loss_expr.free_symbols if s.name != "T")
        return self.renderer.print_lines(loss_expr, "E", "e"), loss_args

    def divisor(self) -> str:
        """What the sum of E is divided by: the batch's size for the mean, the outputs' for a loss that averages them."""
        divisor = []
        if self.spec.reduction == "mean":
            divisor.append("T.shape[0]")
        if self.spec.loss.mean_over_outputs:
            divisor.append(str(self.graph.layers[-1].width))
        return " * ".join(divisor) if len(divisor) < 2 else f"({' * '.join(divisor)})"

    def _loads(self, ops: list[Op], exclude=()) -> list[Op]:
        read = {a.name: a for op in ops for a in op.reads()}
        order = [p.name for p in self.graph.params]  # the module's key order: deterministic
        return [Load(read[self.arrays[name].name], f'params["{name}"]') for name in order
                if self.arrays[name].name in read and self.arrays[name].name not in exclude]


def _plain(expr: sp.Expr) -> str:
    """A formula as `derive` prints it (x_nk, Σ_{j=1..d_0}); SymPy's plain text where that printer has no
    form (a general Piecewise: GraphTextPrinter falls back to a method StrPrinter lacks)."""
    try:
        return graph_text(expr)
    except AttributeError:
        return sp.sstr(expr)


def _kept(act: catalog.Activation) -> str:
    form = act.output_form.xreplace({catalog.y: sp.Symbol("y")})
    return f"\n    (u is kept: the form in y, {sp.sstr(form)}, is not finite and exact in floating point for every u)"


def _idx(tensor: Tensor) -> str:
    return "[" + ", ".join(a.name for a in tensor.indices) + "]" if tensor.indices else ""


def _closure(roots, steps: dict, is_step, name_of) -> set[str]:
    """The steps `roots` and every step their formulas read, transitively."""
    found: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in found:
            continue
        found.add(name)
        for e in steps[name].formula.atoms(sp.Indexed):
            base = e.base.label.name
            if is_step(base):
                stack.append(name_of(base))
    return found


def _uses_batch(op: Op) -> bool:
    """Reads N: in its formula, or in the shape a formula that misses some axes is broadcast to."""
    if not isinstance(op, Elementwise):
        return False
    held = {a for s in op.expr.free_symbols if s in op.uses for a in op.uses[s].letters}
    broadcast = held != set(op.out.axes) and any(BATCH in sp.sympify(size).free_symbols for size in op.out.shape)
    return BATCH in op.expr.free_symbols or broadcast


def plan_graph(spec: Spec, dtype: str | None = None) -> GraphPlan:
    planner = GraphPlanner(spec, dtype)
    plan = planner.plan()
    plan.forward_lines = render_blocks(planner.renderer, plan.forward)
    plan.hvp = planner.hvp()
    plan.jacobian = planner.jacobian()
    return plan


def render_blocks(renderer: NumpyRenderer, blocks: list[Block]) -> list[str]:
    lines = []
    for block in blocks:
        if block.condition is None:
            lines += renderer.lines(block.ops)
            continue
        lines.append(f"if {block.condition}:")
        lines += ["    " + line for line in renderer.lines(block.ops)]
        lines.append("else:")
        lines += ["    " + line for line in renderer.lines(block.otherwise)]
    return lines


__all__ = ["GraphPlan", "plan_graph"]
