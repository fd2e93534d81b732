"""The NumPy renderer of the IR: one method per operation, views for the alignment of axes.

Elementwise expressions are printed by `codegen.printer`'s `ArrayPrinter` (stable sigmoid, logaddexp, erf,
masks), each array use as a view aligned to the output's axes (`MU2[:, None]`, `W6.T`). Contractions of two
matrices or a matrix and a vector print as `@` with `.T` where needed; others as `np.einsum`. Another
backend is a subclass with its own `_op_*` methods.
"""

from __future__ import annotations

import string

import sympy as sp

from codegen.forms import CodegenError
from codegen.printer import (
    ArrayPrinter,
    Mask,
    UnprintableError,
    helper_names,
    helper_source,
    numeric_constants,
    print_lines,
)

from .ir import (
    Alias,
    Array,
    Comment,
    Contract,
    Elementwise,
    FirstMaxOp,
    Load,
    Op,
    Reduce,
    Ref,
    Reshape,
    Softmax,
    Window,
)
from .lower import BATCH


def _shape(array: Array) -> str:
    sizes = [str(s) for s in array.shape]
    return f"({sizes[0]},)" if len(sizes) == 1 else f"({', '.join(sizes)})"


class NumpyRenderer:
    """Prints ops as lines of NumPy source; arrays named in `into` exist already and are written in place
    (`out=`), such as the views of the flat gradient buffer."""

    printer = ArrayPrinter

    def __init__(self, into: set[str] | frozenset = frozenset()):
        self.into = set(into)

    def print_lines(self, expr: sp.Expr, target: str, prefix: str) -> list[str]:
        """`target = expr` for a whole-array expression over named arrays (the loss), common parts first."""
        return print_lines(expr, target, prefix, printer=self.printer())

    def helpers(self, code: str) -> list[str]:
        """The sources of the helpers `code` calls, to copy into the module."""
        return [helper_source(name) for name in helper_names(code)]

    def view(self, ref: Ref, axes: tuple[sp.Symbol, ...]) -> str:
        """The array of `ref` transposed and given new axes so that it broadcasts against `axes`."""
        name = ref.array.name
        if not ref.letters:
            return name
        try:
            places = [axes.index(a) for a in ref.letters]
        except ValueError:
            raise CodegenError(f"{name}{list(ref.letters)} does not fit the axes {list(axes)}") from None
        perm = sorted(range(len(places)), key=lambda i: places[i])
        if perm != list(range(len(perm))):
            name = self.permute(name, tuple(perm))
        held = sorted(places)
        if held != list(range(len(axes) - len(held), len(axes))):  # not trailing: broadcasting needs new axes
            name += "[" + ", ".join(":" if p in held else "None" for p in range(held[0], len(axes))) + "]"
        return name

    def elementwise_text(self, op: Elementwise) -> str:
        expr = numeric_constants(op.expr)
        views = {symbol: self.view(ref, op.out.axes) for symbol, ref in op.uses.items()}
        if isinstance(expr, Mask):
            expr = sp.Piecewise((1, expr.args[0]), (0, True))
        try:
            text = self.printer(views=views).doprint(expr)
        except Exception as exc:  # noqa: BLE001 - SymPy's printers raise several kinds
            raise UnprintableError(f"no {self.printer.language_name} form for {sp.sstr(op.expr)[:120]}: {exc}") \
                from None
        held = {a for s in expr.free_symbols if s in op.uses for a in op.uses[s].letters}
        if held != set(op.out.axes):
            text = self.broadcast(text, _shape(op.out), held)
        return text

    @staticmethod
    def broadcast(text: str, shape: str, held: set) -> str:
        """An expression over some of the output's axes (`held`) spread over all of them."""
        return f"np.broadcast_to({text}, {shape}).astype(DTYPE)"

    def contract_text(self, op: Contract, into: bool = False) -> str:
        out = op.out.axes
        refs = op.operands
        if len(refs) == 2:
            sides = self._matmul(refs[0], refs[1], out)
            if sides is not None:
                return f"np.matmul({sides[0]}, {sides[1]}, out={op.out.name})" if into else " @ ".join(sides)
        if len(refs) == 2:
            dot = self._tensordot(refs[0], refs[1], out)
            if dot is not None:
                return f"{op.out.name}[...] = {dot}" if into else dot
        return self.einsum(op, into)

    def einsum(self, op: Contract, into: bool = False) -> str:
        """Any other contraction."""
        out, refs = op.out.axes, op.operands
        letters = list(dict.fromkeys(a for r in refs for a in r.letters))
        chars = dict(zip(letters, string.ascii_lowercase))
        spec = ",".join("".join(chars[a] for a in r.letters) for r in refs) + "->" + "".join(chars[a] for a in out)
        extra = f", out={op.out.name}" if into else ""
        return f'np.einsum("{spec}", {", ".join(r.array.name for r in refs)}{extra})'

    def _tensordot(self, a: Ref, b: Ref, out: tuple[sp.Symbol, ...]) -> str | None:
        """np.tensordot where a contraction of two arrays of more than two axes sums every letter they share and
        keeps the rest (a convolution over its window view): BLAS, where einsum would loop over the strided view."""
        shared = set(a.letters) & set(b.letters)
        if max(len(a.letters), len(b.letters)) <= 2 or not shared or shared & set(out) \
                or len(set(a.letters)) != len(a.letters) or len(set(b.letters)) != len(b.letters):
            return None
        summed = [s for s in a.letters if s in shared]
        axes = (tuple(a.letters.index(s) for s in summed), tuple(b.letters.index(s) for s in summed))
        kept = [s for s in (*a.letters, *b.letters) if s not in shared]
        text = f"{self.printer.ns}.tensordot({a.array.name}, {b.array.name}, axes=({axes[0]}, {axes[1]}))"
        if kept != list(out):
            text = self.permute(text, tuple(kept.index(s) for s in out))
        return text

    def _matmul(self, a: Ref, b: Ref, out: tuple[sp.Symbol, ...]) -> tuple[str, str] | None:
        """The two sides of `left @ right`, when the contraction is a matrix (or matrix-vector) product."""
        summed = (set(a.letters) | set(b.letters)) - set(out)
        if len(summed) != 1 or set(a.letters) & set(b.letters) - summed or len(out) > 2:
            return None
        (s,) = summed
        if s not in a.letters or s not in b.letters or len(a.letters) > 2 or len(b.letters) > 2:
            return None
        if len(out) == 2:
            p, q = out
            left, right = (a, b) if p in a.letters else (b, a)
            if p not in left.letters or q not in right.letters:
                return None
            return self._side(left, (p, s)), self._side(right, (s, q))
        if len(out) == 1:
            (p,) = out
            matrix, vector = (a, b) if p in a.letters else (b, a)
            if len(vector.letters) != 1:
                return None
            if matrix.letters == (p, s) or matrix.letters == (s, p):
                return self._side(matrix, (p, s)), vector.array.name
            return None
        return (a.array.name, b.array.name) if len(a.letters) == len(b.letters) == 1 else None

    @staticmethod
    def _side(ref: Ref, want: tuple[sp.Symbol, sp.Symbol]) -> str:
        if len(ref.letters) == 1:
            return ref.array.name
        return ref.array.name if ref.letters == want else f"{ref.array.name}.T"

    def reduce_text(self, op: Reduce, into: bool = False) -> str:
        ref = op.operand
        summed = [i for i, a in enumerate(ref.letters) if a not in op.out.axes]
        kept = [a for a in ref.letters if a in op.out.axes]
        axis = summed[0] if len(summed) == 1 else tuple(summed)
        extra = f", out={op.out.name}" if into else ""
        if op.maximum:
            text = f"_window_max({ref.array.name}, {tuple(summed)})"
            if into:
                return f"{op.out.name}[...] = {text}"
        else:
            text = self.reduction(ref.array.name, "mean" if op.mean else "sum", axis, extra)
        if kept != list(op.out.axes):
            text = self.permute(text, tuple(kept.index(a) for a in op.out.axes))
        return text

    @staticmethod
    def call(helper: str, *args: str) -> str:
        """A call of one of the module's helpers."""
        return f"{helper}({', '.join(args)})"

    @staticmethod
    def permute(text: str, perm: tuple[int, ...]) -> str:
        return f"{text}.T" if len(perm) == 2 else f"{text}.transpose({perm})"

    @staticmethod
    def reduction(name: str, how: str, axis, extra: str = "") -> str:
        return f"{name}.{how}(axis={axis}{extra})"

    @staticmethod
    def reshape(name: str, sizes: str) -> str:
        """`name` reshaped to the comma-separated `sizes`."""
        return f"{name}.reshape({sizes})"

    def line(self, op: Op | Comment) -> list[str]:
        if isinstance(op, Comment):
            return [f"# {line}" for line in op.text.splitlines()]
        comment = [f"# {line}" for line in op.comment.splitlines()] if op.comment else []
        name = op.out.name
        if name in self.into:
            return [*comment, self._into(op)]
        if isinstance(op, Elementwise):
            code = f"{name} = {self.elementwise_text(op)}"
        elif isinstance(op, Contract):
            code = f"{name} = {self.contract_text(op)}"
        elif isinstance(op, Reduce):
            code = f"{name} = {self.reduce_text(op)}"
        elif isinstance(op, Alias):
            code = f"{name} = {self.view(op.source, op.out.axes)}"
        elif isinstance(op, Softmax):
            code = f"{name}, {op.lse.name} = {self.call('_softmax', op.source.array.name)}"
        elif isinstance(op, Load):
            code = f"{name} = {op.text}"
        elif isinstance(op, Window):
            code = f"{name} = {self.window_text(op)}"
        elif isinstance(op, FirstMaxOp):
            code = f"{name} = _first_max({op.source.name}, {op.axes})"
        elif isinstance(op, Reshape):
            shape = ", ".join("-1" if size == BATCH else str(size) for size in op.out.shape)  # N: the batch's
            code = f"{name} = {self.reshape(op.source.name, shape)}"
        else:  # pragma: no cover - every op has its method
            raise CodegenError(f"no rendering for {type(op).__name__}")
        return [*comment, code]

    @staticmethod
    def window_text(op: Window) -> str:
        text = op.source.name
        if any(step != 1 for step in op.dilate):
            text = f"_dilate({text}, {tuple(op.dilate)})"
        if op.window:
            lengths = tuple(length for length, _ in op.window)
            axes = tuple(axis for _, axis in op.window)
            text = f"_windows({text}, {tuple(op.pads)}, {lengths}, {axes})"
        elif any(pad != (0, 0) for pad in op.pads):
            text = f"np.pad({text}, {tuple(op.pads)})"

        def part(start, stop, step):
            if (start, stop, step) == (None, None, None):
                return ":"
            return ":".join(["" if start is None else str(start), "" if stop is None else str(stop),
                             *([] if step is None else [str(step)])])

        parts = [part(*s) for s in op.slices]
        while parts and parts[-1] == ":":
            parts.pop()
        text = f"{text}[{', '.join(parts)}]" if parts else text
        for i, j in op.diagonals:
            text = f"np.diagonal({text}, 0, {i}, {j})"
        return text

    def _into(self, op: Op) -> str:
        """The op writing an existing array: `out=` where NumPy takes it, else an assignment to all of it."""
        name = op.out.name
        if isinstance(op, Contract):
            return self.contract_text(op, into=True)
        if isinstance(op, Reduce):
            kept = [a for a in op.operand.letters if a in op.out.axes]
            if kept == list(op.out.axes):
                return self.reduce_text(op, into=True)
            return f"{name}[...] = {self.reduce_text(op)}"
        if isinstance(op, Elementwise):
            return f"{name}[...] = {self.elementwise_text(op)}"
        if isinstance(op, Alias):
            return f"{name}[...] = {self.view(op.source, op.out.axes)}"
        if isinstance(op, Reshape):
            return f"{name}[...] = {op.source.name}.reshape({name}.shape)"
        raise CodegenError(f"cannot write {type(op).__name__} into {name}")

    def lines(self, ops: list[Op | Comment]) -> list[str]:
        return [line for op in ops for line in self.line(op)]
