"""The network as a graph of tensors in index notation, built once from the spec's layer kinds.

Every quantity is a `Tensor`: the input x[n, k], the targets t[n, k], parameters (W3[j, k]), and nodes
defined by an index expression over other tensors' elements (u3[n, k], mu3[n], y3[n, k]). Index `n` is the
sample, so a kind that couples the samples (batch norm) is written like any other. Sizes are symbols
(d_3, N); `Graph.sizes` holds the spec's numbers. Every consumer (derivation, proof, document, code)
works from this one graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import sympy as sp

from derive.network import indices as ix
from derive.network.kinds import Kind, Param
from derive.spec.catalog import Activation

ROLES = ("input", "target", "param", "node", "mask")  # a mask: data drawn per call (dropout), not differentiated


@dataclass(frozen=True)
class Tensor:
    name: str  # also its module key for parameters ("W3"), its array name in code otherwise
    role: str  # one of ROLES
    indices: tuple[sp.Symbol, ...]
    shape: tuple[sp.Expr, ...]
    layer: int
    expr: sp.Expr | None = None  # a node's definition
    what: str = ""  # "weighted sum", "mean", "output", ... (the document words it)
    param: Param | None = None
    constant: bool = False  # a selection (max pooling's arg max): piecewise constant, no gradient flows through it

    @property
    def base(self) -> sp.IndexedBase:
        return sp.IndexedBase(self.name)

    @property
    def element(self) -> sp.Indexed:
        return self.base[self.indices]

    @property
    def ranges(self) -> dict[sp.Symbol, sp.Expr]:
        return dict(zip(self.indices, self.shape))

    def reads(self) -> tuple[str, ...]:
        """The tensors its definition reads, in order of first appearance."""
        if self.expr is None:
            return ()
        seen: dict[str, None] = {}
        for e in sp.preorder_traversal(self.expr):
            if isinstance(e, sp.Indexed):
                seen.setdefault(e.base.label.name)
        return tuple(seen)


@dataclass
class LayerGraph:
    l: int
    name: str
    kind: Kind
    activation: Activation
    inputs: tuple[str, ...]  # tensor names
    width: int  # its output's size per sample (features, or channels x positions)
    shape: tuple[int, ...] = ()  # its output's shape per sample: (features,), (C, L) or (C, H, W)
    params: list[Tensor] = field(default_factory=list)
    nodes: list[Tensor] = field(default_factory=list)  # intermediate nodes, then u{l}, then y{l}

    @property
    def pre(self) -> Tensor:
        return self.nodes[-2]

    @property
    def output(self) -> Tensor:
        return self.nodes[-1]


class LayerBuilder:
    """What a kind's `forward` sees: its inputs, index letters, sizes, parameters and `node()`."""

    n, m, k, j, i, r, batch = ix.n, ix.m, ix.k, ix.j, ix.i, ix.r, ix.BATCH

    def __init__(self, graph: Graph, layer: LayerGraph, width_in: sp.Symbol, width: sp.Symbol,
                 in_dims: tuple[sp.Expr, ...] = (), window: dict[str, sp.Symbol] | None = None,
                 out_dims: tuple[sp.Expr, ...] = ()):
        self.graph = graph
        self.layer = layer
        self.width_in = width_in  # features (channels) of its first input
        self.width = width  # its own features (channels)
        self.in_dims = in_dims or (width_in,)  # its first input's sizes per sample
        self.window = window or {}  # window size symbols by name (A_3, B_3)
        self.out_dims = out_dims or (width,)  # its output's sizes per sample
        self.inputs = [graph.tensors[name].base for name in layer.inputs]

    def param(self, name: str) -> sp.IndexedBase:
        return sp.IndexedBase(f"{name}{self.layer.l}")

    def mask(self, name: str, idx: tuple[sp.Symbol, ...]) -> sp.IndexedBase:
        """Data of this layer with its output's shape, drawn per call (dropout's scaled mask)."""
        tensor = Tensor(f"{name}{self.layer.l}", "mask", idx, (ix.BATCH, *self.out_dims), self.layer.l, what="mask")
        self.graph.add(tensor)
        return tensor.base

    def tensor(self, name: str) -> Tensor:
        return self.graph.tensors[f"{name}{self.layer.l}"]

    def constant(self, name: str, value: float) -> sp.Symbol:
        symbol = sp.Symbol(f"{name}_{self.layer.l}", positive=True)
        self.graph.constants[symbol] = sp.Float(value)
        return symbol

    @property
    def own(self) -> tuple[sp.Symbol, ...]:
        """The letters of its output's elements per sample (k; k, p; k, p, q)."""
        return ix.own(len(self.layer.shape) or 1)

    def shape_of(self, idx: tuple[sp.Symbol, ...]) -> tuple[sp.Expr, ...]:
        sizes = {ix.n: ix.BATCH, ix.m: ix.BATCH, ix.k: self.width, ix.r: self.width,
                 ix.j: self.width_in, ix.i: self.width_in}
        return tuple(sizes[a] for a in idx)

    def node(self, name: str, idx: tuple[sp.Symbol, ...], expr: sp.Expr, what: str,
             dims: tuple[sp.Expr, ...] | None = None, constant: bool = False) -> sp.IndexedBase:
        """A node of this layer; `dims`: its sizes after the sample's, when not those of its letters."""
        shape = self.shape_of(idx) if dims is None else (ix.BATCH, *dims)
        tensor = Tensor(f"{name}{self.layer.l}", "node", idx, shape, self.layer.l, expr, what, constant=constant)
        self.graph.add(tensor)
        self.layer.nodes.append(tensor)
        return tensor.base


class Graph:
    """The tensors of a spec in topological order, and its layers."""

    def __init__(self, spec):
        self.spec = spec
        self.tensors: dict[str, Tensor] = {}
        self.constants: dict[sp.Symbol, sp.Expr] = {}  # eps_3 -> 1e-5
        self.sizes: dict[sp.Symbol, int] = {ix.BATCH: 0}  # d_l -> width (N is set per instance)
        self.aliases: dict[sp.Symbol, sp.Symbol] = {}
        shape = spec.input_shape
        dims = tuple(self.size_symbol(0, value, len(shape), axis) for axis, value in enumerate(shape))
        self.add(Tensor("x", "input", (ix.n, *ix.own(len(shape))), (ix.BATCH, *dims), 0, what="input"))
        self.layers: list[LayerGraph] = []
        names = {"x": "x"}
        for l, layer in enumerate(spec.layers, 1):
            lg = LayerGraph(l, layer.name, layer.kind, layer.activation,
                            tuple(names[name] for name in layer.inputs), layer.units, layer.shape)
            names[layer.name] = f"y{l}"
            self._build(lg)
            self.layers.append(lg)
        self._merge_sizes()
        out = self.layers[-1].output
        self.add(Tensor("t", "target", out.indices, out.shape, len(spec.layers), what="target"))

    def _root(self, s: sp.Symbol) -> sp.Symbol:
        while s in self.aliases:
            s = self.aliases[s]
        return s

    def _same_size(self, a: sp.Symbol, b: sp.Symbol):
        """a and b are one size (an add's inputs): their representatives joined, never into a cycle."""
        a, b = self._root(a), self._root(b)
        if a != b:
            self.aliases[a] = b

    def _merge_sizes(self):
        """Every size symbol an add equates with another replaced by one representative."""
        if not self.aliases:
            return
        mapping = {s: self._root(s) for s in self.aliases}
        for name, t in list(self.tensors.items()):
            self.tensors[name] = replace(t, shape=tuple(s.xreplace(mapping) for s in t.shape),
                                         expr=None if t.expr is None else t.expr.xreplace(mapping))
        for lg in self.layers:
            lg.params = [self.tensors[t.name] for t in lg.params]
            lg.nodes = [self.tensors[t.name] for t in lg.nodes]
        for s in mapping:
            del self.sizes[s]

    def size_symbol(self, l: int, value: int, rank: int = 1, axis: int = 0) -> sp.Symbol:
        """The size of layer l's output along `axis`: d_l for features; C_l, L_l for a signal; C_l, H_l, W_l
        for an image; a window's A_l, B_l are made by `window_symbol`."""
        names = {1: "d", 2: "CL", 3: "CHW"}[rank]
        symbol = ix.index(f"{names[axis]}_{l}")
        self.sizes[symbol] = value
        return symbol

    def window_symbol(self, l: int, name: str, value: int) -> sp.Symbol:
        symbol = ix.index(f"{name}_{l}")
        self.sizes[symbol] = value
        return symbol

    def add(self, tensor: Tensor):
        assert tensor.name not in self.tensors, tensor.name
        self.tensors[tensor.name] = tensor

    def _build(self, lg: LayerGraph):
        first = self.tensors[lg.inputs[0]]
        in_dims = first.shape[1:]
        # a size the kind takes from its inputs is their symbol: all of an add's inputs share them
        for name in lg.inputs[1:]:
            for a, b in zip(self.tensors[name].shape[1:], in_dims):
                self._same_size(a, b)
        probe = LayerBuilder(self, lg, in_dims[0], in_dims[0], in_dims)
        dims = tuple(self.size_symbol(lg.l, value, len(lg.shape), axis) if dim is None else dim
                     for axis, (dim, value) in enumerate(zip(lg.kind.dims(probe), lg.shape)))
        window = {name: self.window_symbol(lg.l, name, value) for name, value in lg.kind.windows().items()}
        b = LayerBuilder(self, lg, in_dims[0], dims[0], in_dims, window, dims)
        sizes = {"in": in_dims[0], "out": dims[0], **window}
        for p in lg.kind.params():
            pools = {"in": [ix.j, ix.i], "out": [ix.k, ix.r], "A": [ix.a], "B": [ix.b]}
            idx = tuple(pools[dim].pop(0) for dim in p.dims)
            tensor = Tensor(f"{p.name}{lg.l}", "param", idx, tuple(sizes[dim] for dim in p.dims), lg.l, param=p,
                            what="parameter")
            self.add(tensor)
            lg.params.append(tensor)
        pre = lg.kind.forward(b)
        own = (ix.n, *b.own)
        u = b.node("u", own, pre, "pre-activation", dims)
        act = lg.activation
        y_expr = None if act.is_softmax else act.of(u[own])
        if act.is_softmax:  # over the layer: y_k = exp(u_k) / Σ_r exp(u_r)
            y_expr = sp.exp(u[ix.n, ix.k]) / sp.Sum(sp.exp(u[ix.n, ix.r]), (ix.r, 1, dims[0]))
        b.node("y", own, y_expr, "output", dims)

    def builder(self, lg: LayerGraph) -> LayerBuilder:
        """What the layer's kind saw when its forward pass was built (for its closed forms)."""
        in_dims = self.tensors[lg.inputs[0]].shape[1:]
        window = {name: ix.index(f"{name}_{lg.l}") for name in lg.kind.windows()}
        dims = lg.output.shape[1:]
        return LayerBuilder(self, lg, in_dims[0], dims[0], in_dims, window, dims)

    def sizes_at(self, input_shape: tuple[int, ...], cap: int) -> dict[sp.Symbol, int] | None:
        """Every size symbol's value for a smaller net of the same kinds (input `input_shape`, widths and
        channels at most `cap`, windows as they are), or None where a window would not fit."""
        values = dict(zip(self.tensors["x"].shape[1:], input_shape))
        shapes = {"x": tuple(input_shape)}
        for lg, layer in zip(self.layers, self.spec.layers):
            kind = lg.kind.capped(cap)
            ins = tuple(shapes[name] for name in layer.inputs)
            if kind.check_shapes(ins) is not None:
                return None
            shape = kind.shape(ins, min(layer.units, cap) if kind.units_key else None)
            shapes[layer.name] = shape
            for symbol, value in zip(lg.output.shape[1:], shape):
                if symbol in self.sizes:
                    values[symbol] = value
            for name, value in kind.windows().items():
                values[ix.index(f"{name}_{lg.l}")] = value
        return values

    @property
    def depth(self) -> int:
        return len(self.layers)

    @property
    def output(self) -> Tensor:
        return self.layers[-1].output

    @cached_property
    def params(self) -> list[Tensor]:
        return [p for lg in self.layers for p in lg.params]

    @cached_property
    def nodes(self) -> list[Tensor]:
        return [t for t in self.tensors.values() if t.role == "node"]

    @cached_property
    def consumers(self) -> dict[str, list[Tensor]]:
        found: dict[str, list[Tensor]] = {name: [] for name in self.tensors}
        for node in self.nodes:
            for name in node.reads():
                found[name].append(node)
        return found

    def layer_of(self, tensor: Tensor) -> LayerGraph | None:
        return self.layers[tensor.layer - 1] if tensor.layer else None
