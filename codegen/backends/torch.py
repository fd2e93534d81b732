"""The PyTorch target (DESIGN.md 13): one `torch.autograd.Function` per layer whose backward is the derivation's.

Each layer's Function runs its kind's forward formulas (lowered as for the NumPy module, printed against the
array API, whose PyTorch namespace array_api_compat provides), saves what its backward reads, and in backward
runs its part of the derived reverse sweep: ∂J/∂u through the activation, the intermediate nodes, the
parameters, and what the layer hands to each of its inputs (the contributions whose source is one of its
nodes; PyTorch adds those of several consumers, as the sweep does). The output layer's Function stops at its
pre-activation u_L; `_Output` applies the output activation (backward: the derived Jacobian-vector product) and
`_Loss` the activation and the loss together (backward: the notes' output δ, rules (3)).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from codegen.forms import CodegenError
from codegen.graph.ir import Array, Block, Comment, Load, Op, Softmax
from codegen.graph.lower import Lowerer
from codegen.graph.plan import GraphPlan, _idx, _plain, _title, _uses_batch, render_blocks
from codegen.graph.share import share
from derive.calculus import deltas
from derive.calculus.backward import gradient_base, per_sample
from derive.calculus.rules import SoftmaxRule, d
from derive.network import indices as ix
from derive.network.graph import LayerGraph

from .array_api import XpPlanner, XpPrinter, XpRenderer


class TorchPrinter(XpPrinter):
    """The array-API printing, with PyTorch's faster forms where the standard has none: a boolean mask multiplied
    (PyTorch promotes it; torch.where costs three times as much), max(u, c) as a clamp."""

    language_name = "PyTorch"

    def _print_Mul(self, expr):
        rest, masks = self.masks_apart(expr)
        if not masks:
            return super()._print_Mul(expr)
        if rest == 1:
            return f"xp.astype({' & '.join(masks)}, DTYPE)"
        return " * ".join([self.parenthesize(rest, 50), *masks])

    def _print_Max(self, expr):
        numbers = [a for a in expr.args if a.is_number]
        if len(expr.args) == 2 and len(numbers) == 1:
            (array,) = (a for a in expr.args if not a.is_number)
            return f"torch.clamp({self._print(array)}, min={self._print(numbers[0])})"
        return super()._print_Max(expr)


class TorchRenderer(XpRenderer):
    printer = TorchPrinter


@dataclass
class LayerFunction:
    """One layer as an autograd Function: `forward(ctx, *inputs, *params)` -> outputs, and its backward."""

    l: int
    title: str
    inputs: list[str]  # arrays of the tensors it reads (X, Y1, ...)
    params: list[tuple[str, str]]  # (key, array)
    outputs: list[str]  # its output (u_L for the output layer), then batch statistics
    statistics: list[tuple[str, str, int, float, bool]]  # (state key, array, positions, momentum, variance)
    forward: list[str]
    inference: list[str] | None  # batch norm with the running statistics (no Function: not trained so)
    saved: list[str]
    grad_outputs: list[str]  # backward's arguments after ctx
    backward: list[str]
    returns: list[str]


@dataclass
class TorchPlan:
    plan: GraphPlan
    layers: list[LayerFunction]
    output_forward: list[str]  # _Output: U -> Y
    output_saved: list[str]
    output_backward: list[str]  # dY -> dU
    output_names: tuple[str, str, str, str]  # (U, Y, dU, dY)
    loss_forward: list[str]  # _Loss: U, T -> E lines (Y, LSE computed first)
    loss_saved: list[str]
    loss_backward: list[str]  # g -> dU
    loss_du: str
    helpers: list[str]


def _prolog(renderer: XpRenderer, ops: list[Op | Comment], batch_from: str) -> list[str]:
    """N, DTYPE and DEVICE, where the lines of `ops` read them (taken from the array `batch_from`)."""
    text = "\n".join(renderer.lines(ops))
    prolog = []
    if any(_uses_batch(op) for op in ops if isinstance(op, Op)):
        prolog.append(f"N = {batch_from}.shape[0]")
    if "DTYPE" in text:
        prolog.append(f"DTYPE = {batch_from}.dtype")
    if "DEVICE" in text:
        prolog.append(f"DEVICE = {batch_from}.device")
    return prolog


def _lines(renderer: XpRenderer, ops: list[Op | Comment], batch_from: str) -> list[str]:
    """Ops as lines, after their prolog."""
    return _prolog(renderer, ops, batch_from) + renderer.lines(ops)


def _reads(ops: list[Op | Comment]) -> list[str]:
    return list(dict.fromkeys(a.name for op in ops for a in op.reads()))


class TorchPlanner(XpPlanner):
    renderer_class = TorchRenderer

    def __init__(self, spec, dtype):
        super().__init__(spec, dtype)
        if self.uses_rng:
            raise CodegenError("the PyTorch target has no dropout yet")

    def layer(self, lg: LayerGraph) -> LayerFunction:
        last = lg is self.graph.layers[-1]
        lower = Lowerer(self.resolve, self.namer.fresh)
        blocks = [Block()]
        self.forward_layer(lower, lg, blocks)
        if last:  # the output activation is _Output's and _Loss's
            ops = blocks[-1].ops
            cut = next(i for i, op in enumerate(ops) if isinstance(op, Comment) and
                       op.text.startswith(f"layer {lg.l} {lg.name} ({lg.kind.kind}): output"))
            del ops[cut:]
        for block in blocks:
            block.ops = share(block.ops, self.namer.fresh, "c")
        training = [op for b in blocks for op in b.ops]
        inference = [op for b in blocks for op in (b.otherwise if b.condition else b.ops)]
        inputs = [self.arrays[name].name for name in dict.fromkeys(lg.inputs)]
        params = [(p.name, self.arrays[p.name].name) for p in lg.params]
        out = self.arrays[(lg.pre if last else lg.output).name].name
        statistics = [s for s in self.state() if s.layer == lg.l]
        outputs = [out, *(s.array for s in statistics)]

        # the backward pass: ∂J/∂u, the layer's nodes and parameters in sweep order, then its inputs' parts
        lower.ops = []
        if not last:
            self._through_activation(lower, lg, self.grad(lg.pre.name))
        own = {t.name for t in lg.nodes[:-2]} | {p.name for p in lg.params}
        for name, gradient in self.derivation.gradients.items():
            if name in own:
                lower.assign(self.grad(name), self._numbers(gradient.expr),
                             f"∂J/∂{name}{_idx(gradient.tensor)} = {_plain(gradient.expr)}")
        ops: list[Op | Comment] = list(lower.ops)
        conditional = []
        for i, name in enumerate(dict.fromkeys(lg.inputs)):
            parts = [c.result for c in self.derivation.gradients[name].contributions if c.source.layer == lg.l]
            lower.ops = []
            target = self.grad(name)
            lower.assign(target, self._numbers(sp.Add(*parts)),
                         f"∂J/∂{name}{_idx(self.graph.tensors[name])} += {_plain(sp.Add(*parts))}  (layer {lg.l}'s part)")
            conditional.append(Block(list(lower.ops), condition=f"ctx.needs_input_grad[{i}]",
                                     otherwise=[Load(target, "None")]))
        renderer = TorchRenderer()
        grad_out = self.grad((lg.pre if last else lg.output).name).name
        produced = {op.out.name for op in training if isinstance(op, Op)} | set(inputs) | {a for _, a in params}
        every = ops + [op for b in conditional for op in b.ops]
        saved = [name for name in _reads(every) if name in produced]
        body = _prolog(renderer, every, grad_out) + render_blocks(renderer, [Block(ops), *conditional])
        returns = [self.grad(name).name for name in dict.fromkeys(lg.inputs)] + [self.grad(k).name for k, _ in params]
        stats = [(s.key, s.array, s.positions, s.momentum, s.variance) for s in statistics]
        first = inputs[0]
        return LayerFunction(
            l=lg.l, title=_title(lg, self.graph), inputs=inputs, params=params, outputs=outputs, statistics=stats,
            forward=_lines(renderer, training, first),
            inference=_lines(renderer, inference, first) if statistics else None,
            saved=saved, grad_outputs=[grad_out, *(f"_d{s.array}" for s in statistics)], backward=body, returns=returns)

    def output_function(self):
        """_Output: y_L = f(u_L); backward: Σ_r ∂J/∂y_r ∂y_r/∂u_k, the activation's rule with its deltas eliminated."""
        lg = self.graph.layers[-1]
        u, y = self.arrays[lg.pre.name], self.arrays[lg.output.name]
        dy = self.arrays.setdefault(gradient_base(lg.output.name).label.name,
                                    Array(self.namer.claim("d" + y.name), y.axes, y.shape))
        du = Array(self.namer.claim("d" + u.name), u.axes, u.shape)
        lower = Lowerer(self.resolve, self.namer.fresh)
        self._activation(lower, lg, y, f"y{lg.l} = f(u{lg.l})")
        _name_lse(lower.ops, "_")
        forward, lower.ops = lower.ops, []
        if lg.activation.is_softmax:
            n, r, k = ix.n, ix.r, ix.k
            outputs = sp.IndexedBase(lg.output.name)
            rule = SoftmaxRule(lg.l, d(outputs[r], sp.IndexedBase(lg.pre.name)[k]), outputs, r, k)
            chain = gradient_base(lg.output.name)[n, r] * per_sample(rule.rhs)
            size = lg.output.shape[-1]
            result, _ = deltas.eliminate(chain, {k: (sp.Integer(1), size)}, ((r, sp.Integer(1), size),))
            lower.assign(du, self._numbers(result), f"∂J/∂u{lg.l}[n, k] = Σ_r ∂J/∂y_r · ∂y_r/∂u_k, "
                                                     f"∂y_r/∂u_k = y_r([r = k] - y_k)")
        else:
            self._through_activation(lower, lg, du)
        renderer = TorchRenderer()
        saved = [name for name in _reads(lower.ops) if name in (u.name, y.name)]
        return (_lines(renderer, forward, u.name), saved, _lines(renderer, lower.ops, dy.name),
                (u.name, y.name, du.name, dy.name))

    def loss_function(self):
        """_Loss: the output activation and the loss from u_L and T; backward: ∂J/∂u_L, the notes' output δ."""
        lg = self.graph.layers[-1]
        lower = Lowerer(self.resolve, self.namer.fresh)
        self._activation(lower, lg, self.arrays[lg.output.name], f"y{lg.l} = f(u{lg.l})")
        _name_lse(lower.ops, f"LSE{lg.l}")  # the name the loss's lines read
        renderer = TorchRenderer()
        lines, _ = self.objective()
        forward = _lines(renderer, lower.ops, "T") + lines
        lower.ops = []
        du = self.grad(lg.pre.name)
        self._head(lower, du)
        backward = _lines(renderer, lower.ops, "T")
        reads = _reads(lower.ops)
        return forward, [name for name in reads if name != "T"], backward, du.name

    def torch_plan(self) -> TorchPlan:
        plan = self.plan()
        layers = [self.layer(lg) for lg in self.graph.layers]
        out_fwd, out_saved, out_bwd, names = self.output_function()
        loss_fwd, loss_saved, loss_bwd, loss_du = self.loss_function()
        text = "\n".join([*(line for f in layers for line in (*f.forward, *(f.inference or ()), *f.backward)),
                          *out_fwd, *out_bwd, *loss_fwd, *loss_bwd])
        return TorchPlan(plan, layers, out_fwd, out_saved, out_bwd, names, loss_fwd, loss_saved, loss_bwd, loss_du,
                         TorchRenderer().helpers(text))


def _name_lse(ops, name: str):
    for op in ops:
        if isinstance(op, Softmax):
            op.lse = Array(name, op.lse.axes, op.lse.shape)


def plan_torch(spec, dtype: str | None = None) -> TorchPlan:
    return TorchPlanner(spec, dtype).torch_plan()
