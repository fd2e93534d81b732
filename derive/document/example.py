"""The worked numeric example of `derive --example`: one forward pass, backward pass and update.

Every number comes from the derivation's own formulas (the weighted sum, the loss, the concrete
deltas, y_j delta_k, ...), evaluated by walking the SymPy expressions with 50-digit mpmath
arithmetic; nothing is compiled or eval'd. Inputs, targets and parameters are the spec's
`[example]` table where given, else drawn from a fixed seed (two decimals, so they are exact).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import mpmath
import sympy as sp

from derive.calculus.derivation import Derivation
from derive.spec.catalog import x as X

DIGITS = 50  # working precision
SEED = 2024  # for the numbers the spec leaves out

Vector = list  # of mpmath.mpf
Matrix = list  # of rows of mpmath.mpf, W[j][k] (0-based here, 1-based in print)

_FUNCTIONS = {
    # the spec's functions, and those SymPy writes in derivatives and output forms (erf -> erfinv)
    sp.exp: mpmath.exp, sp.log: mpmath.log, sp.tanh: mpmath.tanh, sp.sinh: mpmath.sinh,
    sp.cosh: mpmath.cosh, sp.sin: mpmath.sin, sp.cos: mpmath.cos, sp.tan: mpmath.tan,
    sp.atan: mpmath.atan, sp.asinh: mpmath.asinh, sp.erf: mpmath.erf, sp.Abs: abs,
    sp.sign: mpmath.sign, sp.erfinv: mpmath.erfinv, sp.erfc: mpmath.erfc, sp.atanh: mpmath.atanh,
    sp.acosh: mpmath.acosh, sp.asin: mpmath.asin, sp.acos: mpmath.acos, sp.acot: mpmath.acot,
    sp.sec: mpmath.sec, sp.csc: mpmath.csc, sp.cot: mpmath.cot, sp.coth: mpmath.coth,
    sp.sech: mpmath.sech, sp.csch: mpmath.csch,
}


class Undefined(ValueError):
    """A condition of a Piecewise compares an undefined value (NaN)."""


def real_or_nan(v):
    """A value on the real line, or NaN: sqrt and log of a negative number, a pole, 0**-1 (undefined)."""
    if isinstance(v, mpmath.mpc):
        return v.real if v.imag == 0 else mpmath.nan
    return v


class Evaluator:
    """Evaluates a SymPy expression tree in mpmath: Indexed elements and symbols come from `env`.

    Real arithmetic: a value outside the real domain of a function (log of a negative number, a
    division by zero) is NaN, and NaN propagates, through Piecewise conditions too.
    """

    def __init__(self, env: dict):
        self.env = env  # (base name, indices) -> mpf, Symbol -> int or mpf

    def __call__(self, e: sp.Expr):
        with mpmath.workdps(DIGITS):
            return self.value(e)

    def value(self, e):
        try:
            return real_or_nan(self._value(e))
        except ZeroDivisionError:
            return mpmath.nan

    def _value(self, e):
        if e.is_Integer:
            return mpmath.mpf(int(e))
        if e.is_Rational:
            return mpmath.mpf(int(e.p)) / int(e.q)
        if e.is_Float:
            return mpmath.mpf(e)
        if e is sp.E:
            return mpmath.e
        if e is sp.pi:
            return mpmath.pi
        if e is sp.I:
            return mpmath.mpc(0, 1)  # real_or_nan makes what it reaches NaN, unless it cancels
        if isinstance(e, sp.Symbol):
            return self.env[e]
        if isinstance(e, sp.Indexed):
            key = (e.base.label.name, tuple(int(self.value(i)) for i in e.indices))
            return self.env[key]
        if e.is_Add:
            return mpmath.fsum(self.value(a) for a in e.args)
        if e.is_Mul:
            result = mpmath.mpf(1)
            for a in e.args:
                result *= self.value(a)
            return result
        if e.is_Pow:
            base, exp = e.args
            if exp == sp.Rational(1, 2):
                return mpmath.sqrt(self.value(base))
            return self.value(base) ** self.value(exp)
        if isinstance(e, sp.Sum):
            (i, lo, hi), = e.limits
            lo, hi = int(self.value(lo)), int(self.value(hi))
            total = []
            for n in range(lo, hi + 1):
                total.append(Evaluator({**self.env, i: mpmath.mpf(n)}).value(e.function))
            return mpmath.fsum(total)
        if isinstance(e, sp.KroneckerDelta):
            a, b = (self.value(v) for v in e.args)
            return mpmath.mpf(1 if a == b else 0)
        if isinstance(e, sp.Piecewise):
            try:
                for value, cond in e.args:
                    if self.truth(cond):
                        return self.value(value)
            except Undefined:
                return mpmath.nan
            raise ValueError(f"no branch of {e} holds")
        if isinstance(e, sp.Heaviside):
            v = self.value(e.args[0])
            return v if mpmath.isnan(v) else mpmath.mpf(1 if v > 0 else 0)
        func = _FUNCTIONS.get(type(e))
        if func is not None:
            return func(*(self.value(a) for a in e.args))
        raise ValueError(f"cannot evaluate {type(e).__name__}")

    def truth(self, cond) -> bool:
        if cond == sp.true:
            return True
        if cond == sp.false:
            return False
        if isinstance(cond, sp.core.relational.Relational):
            a, b = self.value(cond.lhs), self.value(cond.rhs)
            if mpmath.isnan(a) or mpmath.isnan(b):
                raise Undefined(cond)
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[cond.rel_op]
        if isinstance(cond, sp.And):
            return all(self.truth(c) for c in cond.args)
        if isinstance(cond, sp.Or):
            return any(self.truth(c) for c in cond.args)
        if isinstance(cond, sp.Not):
            return not self.truth(cond.args[0])
        raise ValueError(f"cannot decide {cond}")


def _exact(v: float) -> mpmath.mpf:
    """A spec number as the decimal it was written as (0.05 is 1/20, not the nearest double)."""
    if not math.isfinite(v):
        return mpmath.mpf(v)  # inf or nan, printed as such
    r = sp.Rational(repr(float(v)))
    with mpmath.workdps(DIGITS):
        return mpmath.mpf(int(r.p)) / int(r.q)


def _draw(rng: random.Random, low: float, high: float) -> float:
    return round(rng.uniform(low, high), 2)


@dataclass
class WorkedExample:
    """All numbers of one step of training on one sample (layer 0 = the inputs)."""

    sizes: tuple[int, ...]
    x: Vector
    t: Vector
    W: dict  # l -> Matrix (n_{l-1} x n_l)
    b: dict  # l -> Vector or None (no bias)
    drawn: list[str] = field(default_factory=list)  # names of the values drawn from the seed
    u: dict = field(default_factory=dict)  # l -> Vector
    y: dict = field(default_factory=dict)  # l -> Vector (y[0] = x)
    E: mpmath.mpf | None = None
    dEdy: dict = field(default_factory=dict)  # l -> Vector: from the loss (output) or handed down
    dydu: dict = field(default_factory=dict)  # l -> Vector (None for softmax)
    delta: dict = field(default_factory=dict)  # l -> Vector
    gW: dict = field(default_factory=dict)  # l -> Matrix: dE/dw
    gb: dict = field(default_factory=dict)  # l -> Vector or None
    W_new: dict = field(default_factory=dict)
    b_new: dict = field(default_factory=dict)
    optimizer: str = "sgd"
    lr: float = 0.1

    @property
    def depth(self) -> int:
        return len(self.sizes) - 1

    @property
    def undefined(self) -> bool:
        """Whether some value is NaN: a weighted sum outside the real domain of its activation (sqrt, log)."""
        values = [self.E, *(v for part in (self.u, self.y, self.dEdy, self.dydu, self.delta, self.gb, self.b_new)
                            for vec in part.values() if vec is not None for v in vec),
                  *(v for part in (self.gW, self.W_new) for rows in part.values() for row in rows for v in row)]
        return any(v is not None and mpmath.isnan(v) for v in values)


def example_values(derivation: Derivation) -> WorkedExample:
    """Inputs, targets and parameters: the spec's [example] where given, the rest from SEED."""
    spec = derivation.spec
    sizes = spec.sizes
    given = spec.example
    rng = random.Random(SEED)
    drawn: list[str] = []

    def vector(values, n, low, high, name):
        if values is not None:
            return [_exact(v) for v in values]
        drawn.append(name)
        return [_exact(_draw(rng, low, high)) for _ in range(n)]

    x = vector(given.x if given else None, sizes[0], 0.0, 1.0, "x")
    out = spec.output.activation
    if given and given.t is not None:
        t = [_exact(v) for v in given.t]
    else:
        drawn.append("t")
        if out.is_softmax:
            hot = rng.randrange(sizes[-1])
            t = [_exact(1.0 if k == hot else 0.0) for k in range(sizes[-1])]
        elif out.name == "sigmoid":
            t = [_exact(_draw(rng, 0.01, 0.99)) for _ in range(sizes[-1])]
        else:
            t = [_exact(_draw(rng, -1.0, 1.0)) for _ in range(sizes[-1])]
    W, b = {}, {}
    for l in range(1, len(sizes)):
        rows, cols = sizes[l - 1], sizes[l]
        given_w = given.weights[l - 1] if given else None
        if given_w is not None:
            W[l] = [[_exact(v) for v in row] for row in given_w]
        else:
            drawn.append(f"W{l}")
            W[l] = [[_exact(_draw(rng, -0.5, 0.5)) for _ in range(cols)] for _ in range(rows)]
        if not spec.layers[l - 1].bias:
            b[l] = None
            continue
        given_b = given.biases[l - 1] if given else None
        b[l] = vector(given_b, cols, -0.5, 0.5, f"b{l}")
    train = spec.train
    name = train.optimizer.name if train else "sgd"
    lr = train.optimizer.lr if train else 0.1
    return WorkedExample(sizes, x, t, W, b, drawn, optimizer=name, lr=lr)


def worked_example(derivation: Derivation) -> WorkedExample:
    """One forward pass, backward pass and optimiser step, from the derivation's formulas."""
    ex = example_values(derivation)
    net = derivation.net
    spec = derivation.spec
    env: dict = {}
    for ls in net.layers:
        env[ls.size] = mpmath.mpf(ex.sizes[ls.l])
    for k, v in enumerate(ex.t, 1):
        env[("t", (k,))] = v
    ex.y[0] = ex.x
    for j, v in enumerate(ex.x, 1):
        env[("y0", (j,))] = v
    for l in range(1, ex.depth + 1):
        for j, row in enumerate(ex.W[l], 1):
            for k, v in enumerate(row, 1):
                env[(f"w{l}", (j, k))] = v
        if ex.b[l] is not None:
            for k, v in enumerate(ex.b[l], 1):
                env[(f"b{l}", (k,))] = v

    def at(expr, **index):
        local = dict(env)
        for symbol, value in index.items():
            local[_symbol(net, symbol)] = mpmath.mpf(value)
        return Evaluator(local)(expr)

    # forward: u_k = Σ_j y_j w_jk + b_k (the derivation's weighted sum), y_k = f(u_k)
    for l in range(1, ex.depth + 1):
        ls = net.layers[l]
        s = net.weighted_sum(l)
        us = [at(s, **{ls.index.name: k}) for k in range(1, ex.sizes[l] + 1)]
        act = spec.layers[l - 1].activation
        with mpmath.workdps(DIGITS):
            if act.is_softmax and any(mpmath.isnan(v) for v in us):
                ys = [mpmath.nan] * len(us)
            elif act.is_softmax:
                top = max(us)
                exps = [mpmath.exp(v - top) for v in us]
                total = mpmath.fsum(exps)
                ys = [e / total for e in exps]
            else:
                ys = [Evaluator({X: v})(act.expr) for v in us]
        ex.u[l], ex.y[l] = us, ys
        for k, (uv, yv) in enumerate(zip(us, ys), 1):
            env[(f"u{l}", (k,))] = uv
            env[(f"y{l}", (k,))] = yv
    ex.E = at(net.loss())

    # backward, output layer first: ∂E/∂y, ∂y/∂u, δ of the derivation, then y_j δ_k and δ_k
    for ld in derivation.layers:
        l, a = ld.l, ld.symbols.index.name
        n = ex.sizes[l]
        ex.dEdy[l] = [at(ld.dEdy, **{a: k}) for k in range(1, n + 1)]
        ex.dydu[l] = None if ld.dydu is None else [at(ld.dydu, **{a: k}) for k in range(1, n + 1)]
        ex.delta[l] = [at(ld.delta, **{a: k}) for k in range(1, n + 1)]
        for k, v in enumerate(ex.delta[l], 1):
            env[(f"delta{l}", (k,))] = v
        b_name = ld.below.index.name
        ex.gW[l] = [[at(ld.dEdw, **{a: k, b_name: j}) for k in range(1, n + 1)]
                    for j in range(1, ex.sizes[l - 1] + 1)]
        ex.gb[l] = None if ld.dEdb is None else [at(ld.dEdb, **{a: k}) for k in range(1, n + 1)]
    _step(ex, spec)
    return ex


def _symbol(net, name: str) -> sp.Symbol:
    for ls in net.layers:
        if ls.index.name == name:
            return ls.index
    raise KeyError(name)


def _step(ex: WorkedExample, spec) -> None:
    """One step of the spec's optimiser from its initial state (velocities and moments zero)."""
    opt = spec.train.optimizer if spec.train else None
    if opt is not None and opt.full_batch:  # its step is taken on all samples, not on this one
        return
    params = dict(opt.params) if opt else {}
    with mpmath.workdps(DIGITS):
        lr = _exact(ex.lr)
        update = _update_rule(ex.optimizer, lr, {k: _exact(v) for k, v in params.items()})
        for l in range(1, ex.depth + 1):
            ex.W_new[l] = [[update(w, g) for w, g in zip(row, grow)] for row, grow in zip(ex.W[l], ex.gW[l])]
            ex.b_new[l] = None if ex.b[l] is None else [update(v, g) for v, g in zip(ex.b[l], ex.gb[l])]


def _update_rule(name: str, lr, p: dict):
    """w after the first step (t = 1) of each optimiser, as the document prints its rules."""
    if name in ("sgd", "momentum", "nesterov"):
        # momentum: v = mu v - eta g, w = w + v; Nesterov's look-ahead point is w itself while v = 0
        return lambda w, g: w - lr * g
    if name == "adagrad":
        return lambda w, g: w - lr * g / (mpmath.sqrt(g * g) + p["eps"])
    if name == "rmsprop":
        return lambda w, g: w - lr * g / (mpmath.sqrt((1 - p["rho"]) * g * g) + p["eps"])
    if name == "adam":
        def adam(w, g):
            m = (1 - p["beta1"]) * g / (1 - p["beta1"])
            v = (1 - p["beta2"]) * g * g / (1 - p["beta2"])
            return w - lr * m / (mpmath.sqrt(v) + p["eps"])
        return adam
    raise ValueError(name)


MAX_EXPONENT = 10**6  # beyond 10^(10^6) a 50-digit mantissa is noise: print the power of ten alone


def fmt(v, digits: int = 9, exact: bool = False) -> str:
    """A number to `digits` significant digits, as LaTeX: 0.593269992, -1.2345 \\times 10^{-5}.

    Computed values keep their trailing zeros (0.751365070); `exact` values (the spec's own inputs,
    which are short decimals) print as written (0.05). The width is bounded whatever the size:
    1.5 \\times 10^{300}; exp(10^300) as 10^{4.34294482 \\times 10^{299}}; NaN and infinities by name.
    """
    if v is None:
        return ""
    with mpmath.workdps(DIGITS):
        if mpmath.isnan(v):
            return r"\mathrm{NaN}"
        if mpmath.isinf(v):
            return r"\infty" if v > 0 else r"-\infty"
        if v == 0:
            return "0"
        power = mpmath.log10(abs(v))
        if abs(power) >= MAX_EXPONENT:
            return r"%s10^{%s}" % ("-" if v < 0 else "", fmt(power, digits))
        text = mpmath.nstr(v, digits, min_fixed=-4, max_fixed=digits, strip_zeros=exact)
    if "e" in text:
        mantissa, power = text.split("e")
        if exact:
            mantissa = mantissa.removesuffix(".0")
        return r"%s \times 10^{%d}" % (mantissa, int(power))
    return text


def as_floats(values) -> list:
    """Nested lists of mpf as floats, for comparisons in tests."""
    if values is None:
        return None
    if isinstance(values, list):
        return [as_floats(v) for v in values]
    return float(values)
