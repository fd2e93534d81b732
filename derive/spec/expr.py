"""Safe expressions: Python syntax walked with an `ast` whitelist and built into SymPy.

Nothing here calls `eval`, `sympify` or `parse_expr` on user text (DESIGN.md section 7). Only
numbers, known names, + - * / **, unary minus and a fixed set of functions are accepted; length,
nesting depth and the size of numbers are bounded so that nothing huge is ever computed.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping

import sympy as sp

from derive.errors import ExpressionError

MAX_LENGTH = 2000
MAX_DEPTH = 40
MAX_LITERAL = 10**6
MAX_POWER_BITS = 256  # a constant power is evaluated only when its result fits in this many bits


def _sigmoid(x):
    return 1 / (1 + sp.exp(-x))


def _softplus(x):
    return sp.log(1 + sp.exp(x))


def _relu(x):
    return sp.Piecewise((x, x > 0), (0, True))


FUNCTIONS: dict[str, Callable[..., sp.Expr]] = {
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "abs": sp.Abs,
    "sin": sp.sin,
    "cos": sp.cos,
    "tan": sp.tan,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "tanh": sp.tanh,
    "atan": sp.atan,
    "asinh": sp.asinh,
    "erf": sp.erf,
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "relu": _relu,
}
CONSTANTS = {"pi": sp.pi, "e": sp.E}

Resolver = Callable[[str], sp.Expr | None]


class _Builder:
    def __init__(self, resolve: Resolver, functions: Mapping[str, Callable[..., sp.Expr]],
                 calls: Mapping[str, Callable[..., sp.Expr]],
                 subscripts: Mapping[str, Callable[..., sp.Expr]]):
        self.resolve = resolve
        self.functions = functions
        self.calls = calls
        self.subscripts = subscripts

    def build(self, node: ast.AST, depth: int = 0) -> sp.Expr:
        if depth > MAX_DEPTH:
            raise ExpressionError(f"nested deeper than {MAX_DEPTH} levels")
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise ExpressionError(f"{_describe(node)} is not allowed")
        return method(node, depth + 1)

    def _Expression(self, node, depth):
        return self.build(node.body, depth)

    def _Constant(self, node, depth):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ExpressionError(f"literal {value!r} is not a number")
        if not math.isfinite(value) or abs(value) > MAX_LITERAL:
            raise ExpressionError(f"number {value!r} is larger than {MAX_LITERAL}")
        if isinstance(value, int):
            return sp.Integer(value)
        return sp.Rational(repr(value))  # exact: 0.1 means 1/10

    def _Name(self, node, depth):
        found = self.resolve(node.id)
        if found is None:
            found = CONSTANTS.get(node.id)
        if found is None:
            raise ExpressionError(f"unknown name '{node.id}'")
        return found

    def _Subscript(self, node, depth):
        if not (isinstance(node.value, ast.Name) and node.value.id in self.subscripts):
            if not self.subscripts:
                raise ExpressionError("subscripts are not allowed")
            what = f"unknown name '{node.value.id}'" if isinstance(node.value, ast.Name) else "this subscript"
            raise ExpressionError(f"{what}: only {', '.join(self.subscripts)} take subscripts")
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if not all(isinstance(item, ast.Name) for item in items):
            raise ExpressionError(f"subscripts of '{node.value.id}' must be index letters")
        return self.subscripts[node.value.id]([item.id for item in items])

    def _UnaryOp(self, node, depth):
        operand = self.build(node.operand, depth)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return operand
        raise ExpressionError(f"operator {type(node.op).__name__} is not allowed")

    def _BinOp(self, node, depth):
        left = self.build(node.left, depth)
        right = self.build(node.right, depth)
        op = type(node.op)
        if op is ast.Add:
            return left + right
        if op is ast.Sub:
            return left - right
        if op is ast.Mult:
            return left * right
        if op is ast.Div:
            if right == 0:
                raise ExpressionError("division by zero")
            return left / right
        if op is ast.Pow:
            return _power(left, right)
        raise ExpressionError(f"operator {op.__name__} is not allowed")

    def _Call(self, node, depth):
        if not isinstance(node.func, ast.Name):
            raise ExpressionError("only calls of named functions are allowed")
        name = node.func.id
        if node.keywords:
            raise ExpressionError(f"keyword arguments to '{name}' are not allowed")
        if name in self.calls:
            return self.calls[name](self, node.args, depth)
        function = self.functions.get(name)
        if function is None:
            raise ExpressionError(f"unknown function '{name}'")
        if len(node.args) != 1:
            raise ExpressionError(f"'{name}' takes one argument")
        return function(self.build(node.args[0], depth))


def _power(base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
    if exponent.is_Number and abs(exponent) > 64:
        raise ExpressionError(f"exponent {exponent} is larger than 64")
    if base.is_Number and exponent.is_Number:
        magnitude = max(abs(float(sp.log(abs(base), 2))) if base != 0 else 0.0, 1.0)
        if magnitude * abs(float(exponent)) > MAX_POWER_BITS:
            raise ExpressionError(f"power {base}**{exponent} is too large")
    return base**exponent


def _describe(node: ast.AST) -> str:
    names = {
        "Attribute": "attribute access", "Subscript": "subscripts", "Lambda": "lambda",
        "Compare": "comparison", "BoolOp": "boolean operator", "IfExp": "conditional expression",
        "List": "list", "Tuple": "tuple", "Dict": "dict", "Set": "set", "JoinedStr": "f-string",
        "ListComp": "comprehension", "GeneratorExp": "generator", "NamedExpr": "assignment",
        "Starred": "star expression", "Await": "await", "Yield": "yield",
    }
    return names.get(type(node).__name__, f"syntax '{type(node).__name__}'")


def parse_expression(
    text: str,
    names: Mapping[str, sp.Expr] | Resolver,
    *,
    functions: Mapping[str, Callable[..., sp.Expr]] = FUNCTIONS,
    calls: Mapping[str, Callable[..., sp.Expr]] | None = None,
    subscripts: Mapping[str, Callable[..., sp.Expr]] | None = None,
) -> sp.Expr:
    """Parse `text` into a SymPy expression; names are looked up in `names` (a mapping or a function).

    `calls` adds special forms that receive the builder and the raw argument nodes (e.g. `Sum`);
    `subscripts` maps the names that may be subscripted (`v[j, k]`) to a function of the index letters.
    Raises ExpressionError with a short reason.
    """
    if not isinstance(text, str):
        raise ExpressionError("expected a string")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise ExpressionError("empty expression")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError) as exc:
        raise ExpressionError(f"not a valid expression ({getattr(exc, 'msg', exc)})") from None
    except RecursionError:
        raise ExpressionError(f"nested deeper than {MAX_DEPTH} levels") from None
    resolve = names.get if isinstance(names, Mapping) else names
    builder = _Builder(resolve, functions, calls or {}, subscripts or {})
    try:
        return builder.build(tree)
    except RecursionError:
        raise ExpressionError(f"nested deeper than {MAX_DEPTH} levels") from None
