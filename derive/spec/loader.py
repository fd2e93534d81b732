"""The network spec: TOML (DESIGN.md section 4) validated into immutable objects.

Every mistake raises SpecError("FILE: FIELD: what was expected"), before anything is derived or written.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import sympy as sp

from derive.errors import ExpressionError, SpecError
from derive.network.kinds import KINDS, Kind
from derive.network.kinds.custom import MAX_PARAMS, read_formula
from derive.network.kinds.dense import Dense
from derive.spec import catalog
from derive.spec.catalog import Activation, Loss
from derive.spec.expr import CONSTANTS, FUNCTIONS, parse_expression

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
NOTATIONS = ("ijk", "layer", "node")
REDUCTIONS = ("mean", "sum")
DTYPES = ("float64", "float32")
MAX_LAYERS = 64
MAX_UNITS = 100_000

OPTIMIZERS: dict[str, dict[str, float]] = {
    # name -> its hyper-parameters and their defaults (lr's default comes from [train])
    "sgd": {},
    "momentum": {"momentum": 0.9},
    "nesterov": {"momentum": 0.9},
    "adagrad": {"eps": 1e-8},
    "rmsprop": {"rho": 0.9, "eps": 1e-8},
    "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
    "lbfgs": {"history": 10, "tol": 1e-9},  # tol: stop when max |gradient| is below it
    "cg": {"tol": 1e-9},
    "lm": {"mu": 1e-3, "mu_dec": 0.1, "mu_inc": 10.0, "mu_max": 1e10},  # MATLAB's trainlm
    "newton": {"damping": 1e-3, "max_size": 500, "cg_iterations": 50},  # Hessian formed up to max_size weights
    "hf": {"damping": 1.0, "cg_iterations": 50},  # Martens 2010
}
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01, "rmsprop": 0.001, "adam": 0.001}
# one step an epoch on all samples, and no learning rate: the step is searched for (a line search) or solved
FULL_BATCH = ("lbfgs", "cg", "lm", "newton", "hf")


@dataclass(frozen=True)
class Layer:
    """One [[layer]]: its kind (with the kind's own keys), width, activation, name and inputs."""

    units: int  # its output's size per sample (features; channels x positions for a signal or image)
    activation: Activation
    kind: Kind = field(default_factory=Dense)
    name: str = ""
    inputs: tuple[str, ...] = ()  # layer names, "x" for the network input
    shape: tuple[int, ...] = ()  # its output's shape per sample: (units,), (C, L) or (C, H, W)

    def __post_init__(self):
        if not self.shape:
            object.__setattr__(self, "shape", (self.units,))

    @property
    def bias(self) -> bool:
        return getattr(self.kind, "bias", False)


@dataclass(frozen=True)
class Optimizer:
    name: str
    lr: float | None  # None for a full-batch optimiser, which takes none
    params: tuple[tuple[str, float], ...] = ()

    def get(self, key: str) -> float:
        return dict(self.params)[key]

    @property
    def full_batch(self) -> bool:
        return self.name in FULL_BATCH


@dataclass(frozen=True)
class Train:
    optimizer: Optimizer
    epochs: int = 10
    batch_size: int = 32


@dataclass(frozen=True)
class Example:
    """Numbers for the worked example; parameters not given are None (drawn later from a fixed seed)."""

    x: tuple[float, ...] | None
    t: tuple[float, ...] | None
    weights: tuple[tuple[tuple[float, ...], ...] | None, ...]
    biases: tuple[tuple[float, ...] | None, ...]


@dataclass(frozen=True)
class Spec:
    name: str
    title: str
    inputs: int  # numbers per sample (channels x positions for a signal or image)
    layers: tuple[Layer, ...]
    loss: Loss
    reduction: str = "mean"
    notation: str = "ijk"
    dtype: str = "float64"
    example: Example | None = None
    train: Train | None = None
    source: str = "<spec>"
    input_shape: tuple[int, ...] = ()  # (inputs,), (C, L) or (C, H, W)

    def __post_init__(self):
        if not self.input_shape:
            object.__setattr__(self, "input_shape", (self.inputs,))

    @property
    def depth(self) -> int:
        return len(self.layers)

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.inputs, *(layer.units for layer in self.layers))

    @property
    def output(self) -> Layer:
        return self.layers[-1]

    @property
    def is_chain(self) -> bool:
        """The dense chain of the notes: every layer dense and reading the one before."""
        names = ["x", *(layer.name for layer in self.layers)]
        return all(layer.kind.kind == "dense" and layer.inputs == (names[l],) for l, layer in enumerate(self.layers))

    def with_notation(self, notation: str) -> Spec:
        return replace(self, notation=notation)


class _Reader:
    """Reads one table, remembering where it is, so every error names its field."""

    def __init__(self, source: str, table: dict, path: str = ""):
        self.source = source
        self.table = table
        self.path = path

    def field(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str | None, message: str):
        where = self.field(key) if key else (self.path or "spec")
        raise SpecError(f"{self.source}: {where}: {message}")

    def check_keys(self, allowed: tuple[str, ...]):
        for key in self.table:
            if key not in allowed:
                self.fail(key, f"unknown key (expected one of: {', '.join(allowed)})")

    def get(self, key: str, kind: type | tuple, default: Any = ..., *, what: str):
        if key not in self.table:
            if default is ...:
                self.fail(key, f"missing (expected {what})")
            return default
        value = self.table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            self.fail(key, f"expected {what}, got {value!r}")
        if not isinstance(value, kinds):
            self.fail(key, f"expected {what}, got {_show(value)}")
        return value

    def positive_int(self, key: str, default: Any = ..., *, limit: int = MAX_UNITS) -> int:
        value = self.get(key, int, default, what="a positive integer")
        if value is not default and not 0 < value <= limit:
            self.fail(key, f"expected a positive integer up to {limit}, got {value}")
        return value

    def positive_float(self, key: str, default: Any = ...) -> float:
        value = self.get(key, (int, float), default, what="a positive number")
        if value is not default and not 0 < value < float("inf"):
            self.fail(key, f"expected a positive number, got {value}")
        return float(value) if value is not None else None

    def choice(self, key: str, choices: tuple[str, ...], default: Any = ...) -> str:
        value = self.get(key, str, default, what=f"one of {', '.join(choices)}")
        if value not in choices:
            self.fail(key, f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def sub(self, key: str, table: dict) -> _Reader:
        return _Reader(self.source, table, self.field(key))


def _show(value: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
             list: "an array", dict: "a table"}
    text = repr(value)
    return f"{names.get(type(value), type(value).__name__)} {text[:40]}"


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file; raises SpecError for anything wrong, the missing file included."""
    path = Path(path)
    source = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"{source}: file not found") from None
    except IsADirectoryError:
        raise SpecError(f"{source}: is a directory, expected a TOML file") from None
    except OSError as exc:
        raise SpecError(f"{source}: cannot read ({exc.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"{source}: not UTF-8 text") from None
    return parse_spec(text, source)


def parse_spec(text: str, source: str = "<spec>") -> Spec:
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{source}: TOML syntax error: {exc}") from None
    return _build(_Reader(source, table))


def parse_table(table: dict, source: str = "<spec>") -> Spec:
    """A spec given as a dict of the TOML's structure (tuples read as arrays), through the same validation."""
    if not isinstance(table, dict):
        raise SpecError(f"{source}: expected a table (dict) of the spec's keys, got {_show(table)}")
    return _build(_Reader(source, _plain(table, source, "")))


def _plain(value: Any, source: str, where: str) -> Any:
    """A copy of a dict given in Python: string keys only, tuples as lists (what tomllib would give)."""
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise SpecError(f"{source}: {where or 'spec'}: keys must be strings, got {_show(key)}")
        return {key: _plain(item, source, f"{where}.{key}" if where else key) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item, source, f"{where}[{i + 1}]") for i, item in enumerate(value)]
    return value


TOP_KEYS = ("name", "title", "inputs", "loss", "reduction", "notation", "dtype", "layer", "example", "train")


def _build(r: _Reader) -> Spec:
    r.check_keys(TOP_KEYS)
    name = r.get("name", str, what="an identifier such as 'seed003'")
    if not IDENTIFIER.match(name) or len(name) > 64:
        r.fail("name", f"expected an identifier [A-Za-z_][A-Za-z0-9_]* of at most 64 characters, got {name!r}")
    title = r.get("title", str, name, what="a string")
    if len(title) > 200:
        r.fail("title", "longer than 200 characters")
    input_shape = _input_shape(r)
    inputs = math.prod(input_shape)
    raw_layers = r.get("layer", list, what="an array of [[layer]] tables")
    if not raw_layers:
        r.fail("layer", "expected at least one [[layer]]")
    if len(raw_layers) > MAX_LAYERS:
        r.fail("layer", f"at most {MAX_LAYERS} layers are supported, got {len(raw_layers)}")
    layers = _layers(r, raw_layers, input_shape)
    if len(layers[-1].shape) > 1:
        r.fail(f"layer[{len(layers)}]", f"the output layer gives {_shape_text(layers[-1].shape)} per sample; the "
               "network's output is a feature vector: add a flatten (and a dense) layer")
    loss = _loss(r)
    output = layers[-1].activation
    if loss.needs_probability and output.name not in catalog.PROBABILITY_ACTIVATIONS:
        r.fail("loss", f"{loss.name} needs a probability output (sigmoid or softmax on the last layer), "
               f"got {output.name}")
    notation = _notation(r)
    spec = Spec(
        name=name,
        title=title,
        inputs=inputs,
        input_shape=input_shape,
        layers=tuple(layers),
        loss=loss,
        reduction=r.choice("reduction", REDUCTIONS, "mean"),
        notation=notation,
        dtype=r.choice("dtype", DTYPES, "float64"),
        source=r.source,
    )
    example = _example(r, spec) if "example" in r.table else None
    train = _train(r)
    coupled = next((i for i, layer in enumerate(spec.layers, 1) if layer.kind.couples_samples), None)
    if train.optimizer.name in ("lm", "hf") and coupled is not None:
        kind = spec.layers[coupled - 1].kind.kind
        r.sub("train", r.table["train"]).fail("optimizer", f"{train.optimizer.name} needs the Jacobian of each "
                                              f"sample's outputs, and layer[{coupled}] ({kind}) couples the samples; "
                                              "use another optimiser (adam, lbfgs, cg, newton)")
    return replace(spec, example=example, train=train)


def _notation(r: _Reader):
    """`notation = "nielsen"` (any preset name) or a [notation] table {preset, weights, names, delta_sign,
    layer_mark, input_layer} (DESIGN.md section 12): a preset name, or the style the table makes."""
    from derive.network import notation as notations  # the presets live with the printers

    presets = tuple(notations.PRESETS)
    value = r.get("notation", (str, dict), "ijk", what=f"one of {', '.join(presets)} or a [notation] table")
    if isinstance(value, str):
        return r.choice("notation", presets, "ijk")
    t = r.sub("notation", value)
    t.check_keys(("preset", "weights", "names", "delta_sign", "layer_mark", "input_layer"))
    t.choice("preset", presets, "ijk")
    t.choice("weights", notations.WEIGHT_ORDERS, "from_to")
    t.choice("delta_sign", notations.DELTA_SIGNS, "plus")
    t.choice("layer_mark", notations.LAYER_MARKS, "^l")
    if "input_layer" in value and value["input_layer"] not in (0, 1) or isinstance(value.get("input_layer"), bool):
        t.fail("input_layer", f"expected 0 or 1 (the number of the input layer), got {value['input_layer']!r}")
    names = t.sub("names", t.get("names", dict, {}, what="a table {output, weighted_sum, target, loss, input}"))
    names.check_keys(notations.NAME_KEYS)
    for key in names.table:
        text = names.get(key, str, what="a name")
        if not re.fullmatch(r"[A-Za-z]{1,8}", text):
            names.fail(key, f"expected a name of 1 to 8 letters, got {text!r}")
    return notations.custom_style(value)


def _input_shape(r: _Reader) -> tuple[int, ...]:
    """`inputs = 8` features, `[C, L]` a signal, `[C, H, W]` an image."""
    value = r.get("inputs", (int, list), what="a positive integer, [channels, length] or [channels, height, width]")
    if isinstance(value, int):
        return (r.positive_int("inputs"),)
    if not 2 <= len(value) <= 3 or any(not isinstance(v, int) or isinstance(v, bool) or not 0 < v <= 4096
                                       for v in value):
        r.fail("inputs", f"expected [channels, length] or [channels, height, width] of positive integers up to "
               f"4096, got {value!r}")
    if math.prod(value) > MAX_UNITS:
        r.fail("inputs", f"at most {MAX_UNITS} numbers per sample, got {math.prod(value)}")
    return tuple(value)


def _shape_text(shape: tuple[int, ...]) -> str:
    names = {2: "a signal", 3: "an image"}
    return f"{names[len(shape)]} [{', '.join(map(str, shape))}]" if len(shape) > 1 else f"{shape[0]} features"


def _layers(r: _Reader, raw_layers: list, input_shape: tuple[int, ...]) -> list[Layer]:
    """Every [[layer]] read, its inputs resolved and its shape checked against them."""
    layers: list[Layer] = []
    widths = {"x": input_shape}
    used: set[str] = set()
    for index, raw in enumerate(raw_layers):
        where = f"layer[{index + 1}]"
        if not isinstance(raw, dict):
            r.fail(where, f"expected a table, got {_show(raw)}")
        layer = _layer(_Reader(r.source, raw, where), index + 1, widths, last=index == len(raw_layers) - 1)
        layers.append(layer)
        widths[layer.name] = layer.shape
        used.update(layer.inputs)
    for index, layer in enumerate(layers[:-1]):
        if layer.name not in used:
            r.fail(f"layer[{index + 1}]", f"the output of {layer.name!r} is used by no later layer "
                   "(only the last layer is the network's output)")
    return layers


def _layer(r: _Reader, l: int, widths: dict[str, tuple[int, ...]], last: bool) -> Layer:
    kind_name = r.choice("kind", tuple(KINDS), "dense")
    cls = KINDS[kind_name]
    own = list(getattr(cls, "keys", None) or
               [f.name for f in fields(cls) if f.name not in ("params_declared", "formula", "forward_text")])
    special = ("params", "forward") if kind_name == "custom" else ()
    r.check_keys(("kind", "name", "input", "activation", *(("units",) if cls.units_key else ()), *own, *special))
    name = r.get("name", str, f"layer{l}", what="an identifier naming the layer")
    if not IDENTIFIER.match(name) or len(name) > 32:
        r.fail("name", f"expected an identifier of at most 32 characters, got {name!r}")
    if name == "x" or name in widths:
        r.fail("name", f"{name!r} is already taken" + (" (x is the network input)" if name == "x" else ""))
    previous = list(widths)[-1]
    value = r.get("input", (str, list), previous, what="a layer name or a list of layer names")
    names = [value] if isinstance(value, str) else value
    for item in names:
        if not isinstance(item, str):
            r.fail("input", f"expected layer names, got {_show(item)}")
        if item not in widths:
            later = "a later layer or this one; layers read only earlier ones, so there are no cycles"
            r.fail("input", f"unknown layer {item!r} (known: {', '.join(widths)}; it may not name {later})")
    if len(set(names)) != len(names):
        r.fail("input", "names a layer twice")
    low, high = cls.inputs
    if len(names) < low or (high is not None and len(names) > high):
        wanted = f"at least {low}" if high is None else (f"{low}" if low == high else f"{low} to {high}")
        r.fail("input", f"{kind_name} takes {wanted} input(s), got {len(names)}")
    shapes = tuple(widths[item] for item in names)
    wrong = next((item for item, shape in zip(names, shapes) if cls.rank is not None and len(shape) != cls.rank), None)
    if wrong is not None:
        wanted = {1: "a feature vector", 2: "a signal [C, L]", 3: "an image [C, H, W]"}[cls.rank]
        hint = ": add a flatten layer before it" if cls.rank == 1 else ""
        r.fail("input", f"{kind_name} needs {wanted}, and {wrong!r} gives {_shape_text(widths[wrong])}{hint}")
    if kind_name == "custom":
        kind = _custom(r, shapes[0][0])
    elif hasattr(cls, "read"):
        kind = cls.read(r, shapes[0])
    else:
        kind = cls(**_kind_keys(r, cls, own))
    if kind_name == "add" and len(set(shapes)) > 1:
        r.fail("input", f"add needs inputs of one shape, got {', '.join(_shape_text(s) for s in shapes)}")
    problem = kind.check_shapes(shapes)
    if problem:
        r.fail("input", problem)
    units = r.positive_int("units") if cls.units_key else None
    act = _activation(r, cls.default_activation)
    shape = kind.shape(shapes, units)
    if act.is_softmax:
        if not last:
            r.fail("activation", "softmax is only allowed on the output layer")
        if shape[0] < 2:
            r.fail("units", "softmax needs at least 2 units")
    return Layer(math.prod(shape), act, kind, name, tuple(names), shape)


def _kind_keys(r: _Reader, cls: type, own: list[str]) -> dict:
    """A kind's own keys, typed by their defaults: booleans, and positive numbers (momentum at most 1)."""
    values = {}
    for f in fields(cls):
        if f.name not in own or f.name not in r.table:
            continue
        if isinstance(f.default, bool):
            values[f.name] = r.get(f.name, bool, what="true or false")
        else:
            values[f.name] = r.positive_float(f.name)
            if f.name == "momentum" and values[f.name] > 1:
                r.fail(f.name, f"expected a number in (0, 1], got {values[f.name]}")
            if f.name == "p" and values[f.name] >= 1:
                r.fail(f.name, f"expected a probability of dropping in (0, 1), got {values[f.name]}")
            if f.name == "eps" and values[f.name] > 1:
                r.fail(f.name, f"expected a small positive number, got {values[f.name]}")
    return values


def _custom(r: _Reader, width_in: int) -> Kind:
    raw = r.get("params", dict, {}, what="a table {name = [\"in\", \"out\"], ...}")
    if len(raw) > MAX_PARAMS:
        r.fail("params", f"at most {MAX_PARAMS} parameters")
    declared: dict[str, tuple[str, ...]] = {}
    for key, dims in raw.items():
        if not IDENTIFIER.match(key) or len(key) > 16 or key in ("y", "sum", "x", "t") or key in FUNCTIONS \
                or key in CONSTANTS or key in ("i", "j", "k", "r") or key.startswith("d"):
            r.fail(f"params.{key}", "expected a parameter name: an identifier that is not y, sum, an index "
                   "letter (i, j, k, r) or a function name, and does not start with d (d... names gradients)")
        if not isinstance(dims, list) or not 1 <= len(dims) <= 2 or any(d not in ("in", "out") for d in dims) \
                or len(set(dims)) != len(dims):
            r.fail(f"params.{key}", 'expected its dimensions: ["in"], ["out"], ["in", "out"] or ["out", "in"]')
        declared[key] = tuple(dims)
    text = r.get("forward", str, what="an index formula in y[j] and the declared parameters, output index k")
    try:
        formula = read_formula(text, declared)
    except ExpressionError as exc:
        r.fail("forward", str(exc))
    unused = [name for name in declared if not formula.has(sp.IndexedBase(name))]
    if unused:
        r.fail("params", f"declared but not used in forward: {', '.join(unused)}")
    return KINDS["custom"](tuple(declared.items()), text, formula)


def _activation(r: _Reader, default: str | None = None) -> Activation:
    value = r.get("activation", (str, dict), ... if default is None else default,
                  what="an activation name or a table {name, expr}")
    names = ", ".join(catalog.ACTIVATION_NAMES)
    if isinstance(value, str):
        if value not in catalog.ACTIVATION_NAMES:
            r.fail("activation", f"unknown activation {value!r} (expected one of {names}, "
                   "or a table {name = ..., expr = ...} in x)")
        return catalog.activation(value)
    t = r.sub("activation", value)
    t.check_keys(("name", "expr", "alpha"))
    name = t.get("name", str, what="a name")
    if "expr" not in value:
        if name not in catalog.ACTIVATION_NAMES:
            t.fail("name", f"unknown activation {name!r} (expected one of {names}, or give an expr in x)")
        if "alpha" in value:
            if name != "leaky_relu":
                t.fail("alpha", "only leaky_relu takes alpha")
            alpha = t.get("alpha", (int, float), what="a number")
            if not 0 <= alpha < 1:
                t.fail("alpha", f"expected a number in [0, 1), got {alpha}")
            return catalog.activation(name, sp.Rational(repr(float(alpha))))
        return catalog.activation(name)
    if "alpha" in value:
        t.fail("alpha", "alpha belongs to leaky_relu, not to a custom expr")
    if not IDENTIFIER.match(name) or len(name) > 32:
        t.fail("name", f"expected an identifier of at most 32 characters, got {name!r}")
    if name in catalog.ACTIVATION_NAMES:
        t.fail("name", f"{name!r} is a built-in activation; give the custom one another name")
    expr = _expression(t, "expr", {"x": catalog.x}, "an expression in x")
    return catalog.custom_activation(name, expr)


def _loss(r: _Reader) -> Loss:
    value = r.get("loss", (str, dict), what="a loss name or a table {name, expr}")
    names = ", ".join(catalog.LOSSES)
    if isinstance(value, str):
        if value not in catalog.LOSSES:
            r.fail("loss", f"unknown loss {value!r} (expected one of {names}, "
                   "or a table {name = ..., expr = ...} in y and t)")
        return catalog.LOSSES[value]
    t = r.sub("loss", value)
    t.check_keys(("name", "expr"))
    name = t.get("name", str, what="a name")
    if "expr" not in value:
        if name not in catalog.LOSSES:
            t.fail("name", f"unknown loss {name!r} (expected one of {names}, or give an expr in y and t)")
        return catalog.LOSSES[name]
    if not IDENTIFIER.match(name) or len(name) > 32:
        t.fail("name", f"expected an identifier of at most 32 characters, got {name!r}")
    if name in catalog.LOSSES:
        t.fail("name", f"{name!r} is a built-in loss; give the custom one another name")
    expr = _expression(t, "expr", {"y": catalog.y, "t": catalog.t}, "an expression in y and t")
    if catalog.y not in expr.free_symbols:
        t.fail("expr", "the loss must depend on y")
    return catalog.custom_loss(name, expr)


def _expression(r: _Reader, key: str, names: dict, what: str) -> sp.Expr:
    text = r.get(key, str, what=what)
    try:
        expr = parse_expression(text, names)
    except ExpressionError as exc:
        r.fail(key, f"{exc} (expected {what})")
    if not expr.free_symbols:
        r.fail(key, f"expected {what}, got a constant")
    return expr


def _numbers(r: _Reader, key: str, length: int) -> tuple[float, ...] | None:
    value = r.get(key, list, None, what=f"an array of {length} numbers")
    if value is None:
        return None
    if len(value) != length or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        r.fail(key, f"expected an array of {length} numbers")
    for i, v in enumerate(value):
        if not math.isfinite(v):
            r.fail(key, f"entry {i + 1} is {v}: expected a finite number")
    return tuple(float(v) for v in value)


def _example(r: _Reader, spec: Spec) -> Example:
    e = r.sub("example", r.get("example", dict, what="a table"))
    depth = spec.depth
    allowed = ("x", "t", *(f"W{l}" for l in range(1, depth + 1)), *(f"b{l}" for l in range(1, depth + 1)))
    e.check_keys(allowed)
    weights, biases = [], []
    for l in range(1, depth + 1):
        if spec.layers[l - 1].kind.kind != "dense" and (f"W{l}" in e.table or f"b{l}" in e.table):
            e.fail(f"W{l}" if f"W{l}" in e.table else f"b{l}", f"only dense layers take numbers here; layer[{l}] "
                   f"is {spec.layers[l - 1].kind.kind} (its parameters are drawn from the example's seed)")
        rows, cols = spec.sizes[l - 1], spec.sizes[l]
        raw = e.get(f"W{l}", list, None, what=f"a {rows}x{cols} array of arrays")
        if raw is None:
            weights.append(None)
        else:
            if len(raw) != rows or not all(isinstance(row, list) for row in raw):
                e.fail(f"W{l}", f"expected {rows} rows of {cols} numbers (W[j][k] joins j below to k)")
            weights.append(tuple(_numbers(e.sub(f"W{l}", {str(i): row}), str(i), cols) for i, row in enumerate(raw)))
        if f"b{l}" in e.table and not spec.layers[l - 1].bias:
            e.fail(f"b{l}", f"layer[{l}] has no bias")
        biases.append(_numbers(e, f"b{l}", cols))
    return Example(_numbers(e, "x", spec.inputs), _numbers(e, "t", spec.sizes[-1]), tuple(weights), tuple(biases))


def _train(r: _Reader) -> Train:
    raw = r.get("train", dict, {}, what="a table")
    t = r.sub("train", raw)
    t.check_keys(("optimizer", "learning_rate", "epochs", "batch_size"))
    lr = t.positive_float("learning_rate", None)
    value = t.get("optimizer", (str, dict), "sgd", what="an optimizer name or a table {name, lr, ...}")
    names = ", ".join(OPTIMIZERS)
    if isinstance(value, str):
        if value not in OPTIMIZERS:
            t.fail("optimizer", f"unknown optimizer {value!r} (expected one of {names})")
        name, o, params = value, t, tuple(OPTIMIZERS[value].items())
    else:
        o = t.sub("optimizer", value)
        name = o.choice("name", tuple(OPTIMIZERS))
        defaults = OPTIMIZERS[name]
        o.check_keys(("name", *(() if name in FULL_BATCH else ("lr",)), *defaults))
        params = tuple((key, o.positive_float(key, default)) for key, default in defaults.items())
        for key, val in params:
            if key in ("momentum", "rho", "beta1", "beta2", "mu_dec") and not val < 1:
                o.fail(key, f"expected a number in (0, 1), got {val}")
            if key == "mu_inc" and not val > 1:
                o.fail(key, f"expected a number above 1, got {val}")
            if key in ("history", "max_size", "cg_iterations") and val != int(val):
                o.fail(key, f"expected a whole number, got {val}")
        if name == "lm" and not dict(params)["mu"] < dict(params)["mu_max"]:
            o.fail("mu", "expected a number below mu_max")
    if name in FULL_BATCH:
        if lr is not None:
            t.fail("learning_rate", f"{name} takes no learning rate (its step is solved, not scaled)")
        optimizer = Optimizer(name, None, params)
    else:
        given = o.positive_float("lr", None) if o is not t else None
        optimizer = Optimizer(name, given or lr or DEFAULT_LR[name], params)
    return Train(optimizer, t.positive_int("epochs", 10, limit=10**6), t.positive_int("batch_size", 32, limit=10**7))
