"""The array-API backend (DESIGN.md 13): the graph module's plan printed against the array API standard.

`XpPrinter` prints elementwise formulas as `xp.` calls of the standard (atan, not arctan; a boolean mask as
`xp.where`, since the standard multiplies no booleans); `XpRenderer` prints the IR with `xp.sum`, `xp.permute_dims`,
`xp.tensordot` and broadcast products where NumPy would use einsum. The planner and the derivation are the NumPy
module's; only the printing differs. A module of this backend takes its namespace from its inputs
(`array_api_compat.array_namespace`), so it runs on NumPy, CuPy and PyTorch tensors, on any device.
"""

from __future__ import annotations

import sympy as sp

from codegen.forms import CodegenError
from codegen.graph.ir import Contract, FirstMaxOp, Load, Window
from codegen.graph.plan import GraphPlanner, render_blocks
from codegen.graph.render import NumpyRenderer
from codegen.printer import ArrayPrinter, Mask

from . import xp_helpers

# NumPy's names of functions the standard spells otherwise
_STANDARD_NAMES = {"arctan": "atan", "arcsin": "asin", "arccos": "acos", "arctanh": "atanh", "arcsinh": "asinh",
                   "arccosh": "acosh", "arctan2": "atan2", "power": "pow", "amax": "max", "amin": "min"}


class XpPrinter(ArrayPrinter):
    """Elementwise formulas as calls of the array API standard's namespace `xp`."""

    language_name = "array-API"
    ns = "xp"

    def _module_format(self, fqn, register=True):
        if fqn.startswith("numpy."):
            name = fqn[len("numpy."):]
            fqn = "numpy." + _STANDARD_NAMES.get(name, name)
        return super()._module_format(fqn, register)

    def helper(self, name: str, *args) -> str:
        return f"{name}(xp, {', '.join(self._print(a) for a in args)})"

    def _print_erf(self, expr):
        raise CodegenError("the array-API backend has no erf yet (the standard has none)")

    _print_erfc = _print_Erfc = _print_erf

    def masks_apart(self, expr: sp.Mul) -> tuple[sp.Expr, list[str]]:
        """(the product of the factors that are no mask, the printed conditions of those that are)."""
        rest = sp.Mul(*(f for f in expr.args if not isinstance(f, Mask)))
        return rest, [self._print(f.args[0]) for f in expr.args if isinstance(f, Mask)]

    def _print_Mul(self, expr):
        rest, masks = self.masks_apart(expr)
        if not masks:
            return super()._print_Mul(expr)
        cond = " & ".join(masks)
        value = f"xp.asarray({self._print(rest)}, dtype=DTYPE)" if rest.is_number else self._print(rest)
        return f"xp.where({cond}, {value}, 0.0)"

    def _print_Mask(self, expr):
        return f"xp.astype({self._print(expr.args[0])}, DTYPE)"

    def _print_Piecewise(self, expr):
        if all(value.is_number for value, _ in expr.args):  # xp.where needs one array among its values
            (value, cond), *rest = expr.args
            first = sp.Symbol(f"xp.asarray({self._print(value)}, dtype=DTYPE)")
            return super()._print_Piecewise(sp.Piecewise((first, cond), *rest, evaluate=False))
        return super()._print_Piecewise(expr)

    def _branch(self, value):
        return self._print(value)


class XpRenderer(NumpyRenderer):
    """The IR as array-API source: no einsum; no `out=` (arrays of the standard need not be writable: its planner
    names no array to write into)."""

    printer = XpPrinter

    def helpers(self, code: str) -> list[str]:
        return xp_helpers.helper_sources(code)

    @staticmethod
    def call(helper: str, *args: str) -> str:
        return f"{helper}({', '.join(('xp', *args))})"

    @staticmethod
    def broadcast(text: str, shape: str, held: set) -> str:
        if not held:  # a constant: an array of its own
            return f"xp.full({shape}, {text}, dtype=DTYPE, device=DEVICE)"
        return f"xp.broadcast_to({text}, {shape})"

    @staticmethod
    def permute(text: str, perm: tuple[int, ...]) -> str:
        return f"{text}.T" if len(perm) == 2 else f"xp.permute_dims({text}, {perm})"

    @staticmethod
    def reduction(name: str, how: str, axis, extra: str = "") -> str:
        return f"xp.{how}({name}, axis={axis})"

    @staticmethod
    def reshape(name: str, sizes: str) -> str:
        return f"xp.reshape({name}, ({sizes},))" if "," not in sizes else f"xp.reshape({name}, ({sizes}))"

    def einsum(self, op: Contract, into: bool = False) -> str:
        """Σ of a broadcast product: every operand aligned to the output's letters, then the summed ones."""
        out = op.out.axes
        summed = tuple(dict.fromkeys(a for r in op.operands for a in r.letters if a not in out))
        axes = (*out, *summed)
        product = " * ".join(self.view(r, axes) for r in op.operands)
        if not summed:
            return product
        return f"xp.sum({product}, axis={tuple(range(len(out), len(axes)))})"

    def line(self, op) -> list[str]:
        if isinstance(op, Window | FirstMaxOp):
            raise CodegenError("the array-API backend has no windows yet (convolution and pooling layers)")
        if isinstance(op, Load) and op.text.startswith("_keep("):
            raise CodegenError("the array-API backend has no dropout yet (the standard draws no random numbers)")
        return super().line(op)


class XpPlanner(GraphPlanner):
    renderer_class = XpRenderer

    def into(self) -> set[str]:
        return set()


def plan_array_api(spec, dtype: str | None = None):
    """The plan of an array-API module: the forward pass, the loss and the reverse sweep (no second order)."""
    planner = XpPlanner(spec, dtype)
    plan = planner.plan()
    plan.forward_lines = render_blocks(planner.renderer, plan.forward)
    return plan
