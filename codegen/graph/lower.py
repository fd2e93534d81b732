"""Index expressions -> IR operations: sums become contractions or reductions, the rest elementwise.

A formula of the graph engine (a node's definition, or a gradient ∂J/∂x in x's own indices) is an expression
over tensor elements (y1[n, j], W3[j, k], du6[n, j]) and sums over index letters. `Lowerer.assign` turns
`target[letters] = formula` into operations, innermost sum first:

- Σ_s of a sum of terms is the sum of the terms' Σ_s (linearity); a term free of s is multiplied by the range;
- in a product, the factors free of s move outside the sum; the others are grouped by the letters they
  carry (a factor whose letters are a subset of another's joins it), each group one elementwise operand;
- one operand: a reduction (`A.sum(axis=...)`, `.mean` for 1/n Σ); two or more: a contraction (`A @ B`
  where it is a matrix product, else einsum).

Equal sums and operands are computed once (hash-consed up to a renaming of their letters), across the
formulas of a pass and from the forward pass into the backward one: the backward pass of a custom layer
reads the forward pass's Y2 @ G3 instead of computing it again.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from codegen.forms import CodegenError
from codegen.printer import stabilize

from .gather import Gather
from .ir import Alias, Array, Comment, Contract, Elementwise, Op, Reduce, Ref, Reshape

BATCH = sp.Symbol("N", integer=True, positive=True)


def letters_of(expr: sp.Expr) -> set[sp.Symbol]:
    """The index letters of the elements an expression reads."""
    return {i for e in expr.atoms(sp.Indexed) for i in e.indices}


class Lowerer:
    """Lowers formulas to ops appended to `self.ops`; `resolve(name)` gives the Array of a tensor base."""

    def __init__(self, resolve: Callable[[str], Array], fresh: Callable[[str], str]):
        self.resolve = resolve
        self.fresh = fresh  # a new array name with this prefix
        self.ops: list[Op] = []
        self.temps: dict[str, Array] = {}
        self.memo: dict[tuple, Array] = {}

    # ------------------------------------------------------------ helpers

    def array(self, base: sp.IndexedBase) -> Array:
        name = base.label.name
        return self.temps[name] if name in self.temps else self.resolve(name)

    def _size(self, letter: sp.Symbol, expr: sp.Expr) -> sp.Expr:
        for e in sorted(expr.atoms(sp.Indexed), key=sp.default_sort_key):
            for position, index in enumerate(e.indices):
                if index == letter:
                    return self.array(e.base).shape[position]
        raise CodegenError(f"no size for index {letter} in {expr}")

    def _order(self, expr: sp.Expr, free: set[sp.Symbol]) -> list[sp.Symbol]:
        """The free letters in a canonical order, independent of their names: batch axes first, then by the
        (array, position) pairs each letter indexes; names break what remains tied."""
        def signature(letter):
            places = sorted((self.array(e.base).name, p, self.array(e.base).shape[p] == BATCH)
                            for e in expr.atoms(sp.Indexed) for p, index in enumerate(e.indices) if index == letter)
            return (0 if any(batch for _, _, batch in places) else 1, places, letter.name)

        return sorted(free, key=signature)

    def _key(self, kind: str, expr: sp.Expr, order: list[sp.Symbol], bound: tuple[sp.Symbol, ...] = ()) -> tuple:
        mapping = {a: sp.Symbol(f"_f{i}") for i, a in enumerate(order)}
        mapping.update({s: sp.Symbol(f"_s{i}") for i, s in enumerate(bound)})
        renamed = expr.xreplace({e: sp.IndexedBase(self.array(e.base).name)[tuple(i.xreplace(mapping) for i in
                                                                               e.indices)]
                                 for e in expr.atoms(sp.Indexed)})
        return (kind, renamed)

    def _temp(self, order: list[sp.Symbol], expr: sp.Expr, prefix: str) -> Array:
        """A new temporary over the letters `order`, its axes written as their positions _f0, _f1, ..."""
        name = self.fresh(prefix)
        array = Array(name, tuple(sp.Symbol(f"_f{i}") for i in range(len(order))),
                      tuple(self._size(a, expr) for a in order))
        self.temps[name] = array
        return array

    def symbols(self, expr: sp.Expr) -> tuple[sp.Expr, dict[sp.Symbol, Ref]]:
        """Every element a[i, j] as the symbol of its Ref, for elementwise printing."""
        uses: dict[sp.Symbol, Ref] = {}
        mapping = {}
        for e in expr.atoms(sp.Indexed):
            if len(set(e.indices)) != len(e.indices):
                raise CodegenError(f"a diagonal element {e} (a repeated index) has no elementwise form")
            ref = Ref(self.array(e.base), tuple(e.indices))
            uses[ref.symbol] = ref
            mapping[e] = ref.symbol
        value = expr.xreplace(mapping)
        stray = {s for s in value.free_symbols if s.is_integer and s != BATCH}
        if stray:
            raise CodegenError(f"index {', '.join(sorted(map(str, stray)))} outside an element in {expr}: "
                               "no elementwise form (a Kronecker delta or a range guard left in the formula)")
        return value, uses

    # ------------------------------------------------------------ sums

    def _operand(self, factors: list[sp.Expr]) -> sp.Indexed:
        expr = sp.Mul(*factors)
        if isinstance(expr, sp.Indexed) and len(set(expr.indices)) == len(expr.indices):
            return expr
        order = self._order(expr, letters_of(expr))
        key = self._key("elementwise", expr, order)
        if key not in self.memo:
            out = self._temp(order, expr, "q")
            local = expr.xreplace({a: self._placeholder(order, a) for a in order})
            value, uses = self.symbols(local)
            self.ops.append(Elementwise(out, stabilize(value), uses))
            self.memo[key] = out
        return self._use(self.memo[key], order)

    @staticmethod
    def _placeholder(order: list[sp.Symbol], letter: sp.Symbol) -> sp.Symbol:
        """A free letter as the canonical position it holds (_f0, _f1, ...): how a shared temporary is written."""
        return sp.Symbol(f"_f{order.index(letter)}") if letter in order else letter

    @staticmethod
    def _use(array: Array, order: list[sp.Symbol]) -> sp.Expr:
        """A memoised array (axes _f0, _f1, ...) indexed by this use's letters."""
        if not array.axes:
            return sp.IndexedBase(array.name)[()]
        return sp.IndexedBase(array.name)[tuple(order[int(a.name[2:])] for a in array.axes)]

    def _groups(self, factors: list[sp.Expr]) -> list[list[sp.Expr]]:
        groups: dict[frozenset, list[sp.Expr]] = {}
        for f in factors:
            groups.setdefault(frozenset(letters_of(f)), []).append(f)
        keys = sorted(groups, key=lambda g: (-len(g), sorted(a.name for a in g)))
        merged: dict[frozenset, list[sp.Expr]] = {}
        for g in keys:
            home = next((h for h in merged if g <= h), None)
            if home is None:
                merged[g] = list(groups[g])
            else:
                merged[home].extend(groups[g])
        return list(merged.values())

    def _sum_once(self, body: sp.Expr, limits, mean: bool = False) -> sp.Expr:
        """Σ over the letters of `limits` at once (one contraction, not one per letter)."""
        if any(lo != 1 for _, lo, _ in limits):
            raise CodegenError(f"a sum over {limits[0][0]} from {limits[0][1]}: only full ranges are laid out")
        letters = {s: hi for s, _, hi in limits}
        terms = []
        for term in sp.Add.make_args(sp.expand(body, deep=False, mul=False, multinomial=False,
                                               power_exp=False, power_base=False, log=False)):
            held = [s for s in letters if s in letters_of(term)]
            scale = sp.Mul(*(hi for s, hi in letters.items() if s not in held))
            if not held:
                terms.append(term if mean else term * scale)
                continue
            factors = sp.Mul.make_args(term)
            outside = [f for f in factors if not letters_of(f) & set(held)]
            inside = [f for f in factors if letters_of(f) & set(held)]
            if any(s in f.free_symbols and s not in letters_of(f) for f in factors for s in held):
                raise CodegenError(f"index {held[0]} outside an element in {term}")
            operands = [self._operand(g) for g in self._groups(inside)]
            product = sp.Mul(*operands)
            free = letters_of(product) - set(held)
            order = self._order(product, free)
            key = self._key("mean" if mean else "sum", product, order, tuple(held))
            if key not in self.memo:
                out = self._temp(order, product, "p")
                refs = tuple(Ref(self.array(o.base), tuple(self._placeholder(order, a) for a in o.indices))
                             for o in operands)
                self.ops.append(Reduce(out, refs[0], mean) if len(refs) == 1 else Contract(out, refs))
                self.memo[key] = out
            terms.append(sp.Mul(*outside) * scale * self._use(self.memo[key], order))
        return sp.Add(*terms)

    def lower(self, expr: sp.Expr) -> sp.Expr:
        """The expression with every sum replaced by a temporary array (innermost first)."""
        def one(e: sp.Sum):
            return self._sum_once(e.function, e.limits)

        return expr.replace(lambda e: isinstance(e, sp.Sum), one)

    # ------------------------------------------------------------ assignments

    def assign(self, target: Array, expr: sp.Expr, comment: str = "") -> None:
        """target[target.axes] = expr, as ops appended to self.ops (after the comment, if any)."""
        if comment:
            self.ops.append(Comment(comment))
        ranges = {a: int(size) for a, size in zip(target.axes, target.shape) if sp.sympify(size).is_Integer}
        tiled = Gather(self).tile(expr, target, ranges)
        if tiled is not None:  # computed over the tiles' (outer, inner) letters, then reshaped
            formula, tiles = tiled
            self.assign(tiles, formula)
            self.ops.append(Reshape(target, tiles))
            return
        expr = Gather(self).rewrite(expr, ranges)
        expr = self._mean(expr)
        lowered = self.lower(expr)
        free = letters_of(lowered)
        if not free <= set(target.axes):
            raise CodegenError(f"{target.name}: letters {free - set(target.axes)} are neither summed nor its own")
        # a single temporary of this formula alone: let it be the target (no copy)
        single = self._single_temp(lowered, target)
        if single is not None:
            single.out = target
            return
        if isinstance(lowered, sp.Indexed) and tuple(lowered.indices) == target.axes:
            self.ops.append(Alias(target, Ref(self.array(lowered.base), target.axes)))
            return
        value, uses = self.symbols(lowered)
        self.ops.append(Elementwise(target, stabilize(value), uses))

    def _mean(self, expr: sp.Expr) -> sp.Expr:
        """1/n Σ_s over the full range n: marked as a mean (printed `.mean(axis=...)`)."""
        if not (expr.is_Mul and len(expr.args) == 2):
            return expr
        scale, total = sorted(expr.args, key=lambda a: isinstance(a, sp.Sum))
        if not isinstance(total, sp.Sum) or len(total.limits) != 1 or scale != 1 / total.limits[0][2]:
            return expr
        inner = self.lower(total.function)
        return self._sum_once(inner, total.limits, mean=True)

    def _single_temp(self, lowered: sp.Expr, target: Array) -> Op | None:
        """The op that made `lowered`, when it is one fresh contraction or reduction and already in target's letter
        order: it then writes the target itself."""
        if not isinstance(lowered, sp.Indexed) or tuple(lowered.indices) != target.axes:
            return None
        name = lowered.base.label.name
        op = self.ops[-1] if self.ops else None
        if name not in self.temps or not isinstance(op, (Contract, Reduce)) or op.out.name != name:
            return None
        # re-letter the op's operands from its placeholders to the target's letters
        placeholders = op.out.axes
        mapping = dict(zip(placeholders, target.axes))
        if isinstance(op, Contract):
            op.operands = tuple(Ref(r.array, tuple(mapping.get(a, a) for a in r.letters)) for r in op.operands)
        else:
            op.operand = Ref(op.operand.array, tuple(mapping.get(a, a) for a in op.operand.letters))
        for key, value in list(self.memo.items()):
            if value.name == name:  # later formulas read the target itself
                self.memo[key] = Array(target.name, value.axes, value.shape)
        del self.temps[name]
        return op
