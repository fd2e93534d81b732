"""Reads at affine indices lowered to views: a convolution's windows, its flipped correlation, a flatten.

Some formulas of the engine index an array by expressions of the letters: x[n, j, 2(p-1) + a - 1] (a
convolution's input), du[n, r, (p - a)/2 + 1] (a strided map's gradient, defined where 2 divides p - a),
du3[n, 4(k-1) + 2(p-1) + q] (a flatten's gradient), under range guards that say where the read falls inside
the array. `Gather.rewrite` replaces each such read by a view with one axis per letter (`Window`: dilated for a
stride, zero-padded, its windows taken with `sliding_window_view`, sliced by the stride, reversed where the
letter counts down) and drops a guard that only says the read is inside the array: the padding is zero there,
and so is the term. A read at a row-major position, and a sum of an array times [k = its row-major position],
are a `Reshape`. What remains is indexed by letters only, for the contractions of `lower`.
"""

from __future__ import annotations

import math

import sympy as sp

from codegen.forms import CodegenError
from derive.calculus.deltas import eliminate
from derive.network.kinds.pool import FirstMax

from .ir import Array, FirstMaxOp, Reduce, Ref, Reshape, Window


def _plain(index: sp.Expr) -> bool:
    return index.is_Symbol


def _row_major(index: sp.Expr, letters: list[sp.Symbol], sizes: list[int]) -> bool:
    """index == 1 + Σ_i (letter_i - 1) Π_{j > i} size_j: the C-order position of the letters."""
    stride, want = 1, sp.Integer(1)
    for letter, size in reversed(list(zip(letters, sizes))):
        want += (letter - 1) * stride
        stride *= size
    return sp.expand(index - want) == 0


class Gather:
    def __init__(self, lowerer):
        self.lw = lowerer

    def rewrite(self, expr: sp.Expr, ranges: dict[sp.Symbol, int]) -> sp.Expr:
        """expr with its affine reads as views and their range guards dropped; `ranges`: each letter's size."""
        if isinstance(expr, sp.Sum):
            inner = {**ranges, **{s: int(hi) for s, _, hi in expr.limits if hi.is_Integer}}
            flat = self._flatten(expr, inner)
            if flat is not None:
                return flat
            largest = self._maximum(expr, inner)
            if largest is not None:
                return largest
            return sp.Sum(self.rewrite(expr.function, inner), *expr.limits)
        if isinstance(expr, sp.Piecewise) and self._is_guard(expr):
            (body, condition), _ = expr.args
            for term in sp.Add.make_args(body):  # [c] Σ terms = Σ [c] term: each term zero outside by its own read
                self._check_implied(term, condition)
            return self.rewrite(body, ranges)
        if isinstance(expr, sp.Indexed):
            return expr if all(map(_plain, expr.indices)) else self._read(expr, ranges)
        if isinstance(expr, FirstMax):
            return self._first_max(expr, ranges)
        if not expr.args or not expr.has(sp.Indexed):
            return expr
        return expr.func(*(self.rewrite(a, ranges) for a in expr.args))

    # ------------------------------------------------------------ tiles

    def tile(self, expr: sp.Expr, target: Array, ranges: dict) -> tuple[sp.Expr, Array] | None:
        """A gradient read back through windows that tile their input (stride s = window size, no padding):
        du[(h - a)/s + 1] summed over the window's a where s divides h - a. With h = s(h' - 1) + h'' the
        divisibility is a = h'', a Kronecker delta, eliminated: the formula in (h', h'') reads plain letters, and
        the target is its reshape. Returns (that formula, the array it fills), or None where nothing tiles."""
        axes, shape = list(target.axes), list(target.shape)
        summed = {s: hi for e in expr.atoms(sp.Sum) for s, _, hi in e.limits}
        mapping, box, inners = {}, {}, set()
        for h in target.axes:
            size = ranges.get(h)
            steps = {sp.fraction(i.coeff(h))[1] for e in expr.atoms(sp.Indexed) for i in e.indices
                     if i.coeff(h).is_Rational and not i.coeff(h).is_Integer}
            if size is None or len(steps) != 1:
                continue
            (step,) = steps
            windows = {s for e in expr.atoms(sp.Indexed) for i in e.indices for s in i.free_symbols
                       if s in summed and i.coeff(s) == -i.coeff(h) and summed[s] == step}
            if int(step) < 2 or size % int(step) or len(windows) != 1:
                continue
            outer, inner = sp.Symbol(f"{h.name}_o", integer=True, positive=True), \
                sp.Symbol(f"{h.name}_i", integer=True, positive=True)
            mapping[h] = step * (outer - 1) + inner
            at = axes.index(h)
            axes[at:at + 1] = [outer, inner]
            shape[at:at + 1] = [sp.Integer(size // int(step)), step]
            box.update({outer: (sp.Integer(1), sp.Integer(size // int(step))), inner: (sp.Integer(1), step)})
            inners.add(inner)
        if not mapping:
            return None

        def as_delta(e: sp.Piecewise) -> sp.Expr:  # [s | h'' - a] with h'', a in 1..s: [a = h'']
            (value, condition), rest = e.args
            kept, deltas_found = [], []
            for part in condition.args if isinstance(condition, sp.And) else (condition,):
                if isinstance(part, sp.Eq) and isinstance(part.lhs, sp.Mod) and part.rhs == 0:
                    rest_of = part.lhs.args[0]
                    pair = [s for s in rest_of.free_symbols if s in inners or s in summed]
                    if len(pair) == 2 and sp.expand(rest_of - sum(rest_of.coeff(s) * s for s in pair)) % \
                            part.lhs.args[1] == 0 and sorted(rest_of.coeff(s) for s in pair) == [-1, 1]:
                        deltas_found.append(sp.KroneckerDelta(*pair))
                        continue
                kept.append(part)
            value = value * sp.Mul(*deltas_found)
            return sp.Piecewise((value, sp.And(*kept)), rest) if kept else value

        split = expr.xreplace(mapping)
        split = split.replace(lambda e: isinstance(e, sp.Piecewise) and Gather._is_guard(e), as_delta)
        free = {a: (sp.Integer(1), sp.Integer(n)) for a, n in zip(target.axes, target.shape) if a not in mapping
                and sp.sympify(n).is_Integer}
        result, _ = eliminate(split, {**free, **box})
        if result.has(sp.KroneckerDelta) or any(not all(map(_plain, e.indices)) and e.has(*box)
                                                 for e in result.atoms(sp.Indexed)):
            return None
        name = self.lw.fresh("t")
        out = Array(name, tuple(axes), tuple(shape))
        self.lw.temps[name] = out
        return result, out

    # ------------------------------------------------------------ guards

    @staticmethod
    def _is_guard(expr: sp.Piecewise) -> bool:
        return len(expr.args) == 2 and expr.args[1] == (0, True) and not expr.args[0].cond.has(sp.Indexed)

    def _check_implied(self, body: sp.Expr, condition: sp.Basic) -> None:
        """Every part of the condition says that an affine read, a factor of the body, is inside its array (or
        that the stride divides it): the zero padding of the view then gives the guard's 0."""
        reads = [(f, self.lw.array(f.base)) for f in sp.Mul.make_args(body)
                 if isinstance(f, sp.Indexed) and not all(map(_plain, f.indices))]
        for part in condition.args if isinstance(condition, sp.And) else (condition,):
            if not any(self._implies(f, array, part) for f, array in reads):
                raise CodegenError(f"a range guard {part} that says nothing of where an element is read: "
                                   f"no zero padding can stand for it (in {body})")

    @staticmethod
    def _implies(element: sp.Indexed, array: Array, part: sp.Basic) -> bool:
        for index, size in zip(element.indices, array.shape):
            if _plain(index):
                continue
            if isinstance(part, sp.Eq) and isinstance(part.lhs, sp.Mod) and part.rhs == 0:
                step = part.lhs.args[1]
                scaled = sp.expand(step * index)
                if any((d := sp.expand(scaled - sign * part.lhs.args[0])).is_Integer and d % step == 0
                       for sign in (1, -1)):
                    return True
            elif isinstance(part, (sp.LessThan, sp.GreaterThan)):
                gap = sp.expand(part.gts - part.lts)
                for bound in (index - 1, size - index):
                    ratio = sp.simplify(gap / bound) if bound != 0 else None
                    if ratio is not None and ratio.is_number and ratio.is_positive:
                        return True
        return False

    def _maximum(self, expr: sp.Sum, ranges: dict) -> sp.Expr | None:
        """Σ_{a,b} x[window at a, b] FirstMax(x[window at a', b'], ..., (a, b)) = the window's maximum."""
        factors = sp.Mul.make_args(expr.function)
        chosen = [f for f in factors if isinstance(f, FirstMax)]
        reads = [f for f in factors if isinstance(f, sp.Indexed)]
        if len(factors) != 2 or len(chosen) != 1 or len(reads) != 1:
            return None
        (select,), (read,) = chosen, reads
        element, letters, _, offsets = select.args
        if element.xreplace(dict(zip(letters, offsets))) != read or {s for s, _, _ in expr.limits} != set(offsets):
            return None
        view = self.rewrite(read, ranges)
        array = self.lw.array(view.base)
        kept = [i for i in view.indices if i not in offsets]
        refs = Ref(array, tuple(sp.Symbol(f"_f{kept.index(i)}") if i in kept else i for i in view.indices))
        shape = tuple(size for i, size in zip(view.indices, array.shape) if i not in offsets)
        out = self._memo(("maximum", array.name, tuple(offsets), tuple(view.indices)), shape,
                         lambda out: Reduce(out, refs, maximum=True))
        return out[tuple(kept)]

    # ------------------------------------------------------------ reshapes

    def _flatten(self, expr: sp.Sum, ranges: dict) -> sp.Expr | None:
        """Σ_{j,p,q} a[n, j, p, q] [k = row-major position of (j, p, q)] = a reshaped to [n, k]."""
        factors = sp.Mul.make_args(expr.function)
        deltas = [f for f in factors if isinstance(f, sp.KroneckerDelta)]
        elements = [f for f in factors if isinstance(f, sp.Indexed)]
        if len(deltas) != 1 or len(elements) != 1 or len(factors) != 2:
            return None
        (delta,), (element,) = deltas, elements
        summed = [s for s, _, _ in expr.limits]
        free, position = delta.args if delta.args[0].is_Symbol and delta.args[0] not in summed else delta.args[::-1]
        array = self.lw.array(element.base)
        tail = list(element.indices[len(element.indices) - len(summed):])
        if not free.is_Symbol or free in summed or set(tail) != set(summed) or \
                not _row_major(position, tail, [ranges[s] for s in tail]):
            return None
        kept = element.indices[: len(element.indices) - len(summed)]
        shape = (*array.shape[: len(kept)], math.prod(int(s) for s in array.shape[len(kept):]))
        out = self._memo(("flatten", array.name, len(kept)), shape, lambda out: Reshape(out, array))
        return out[(*kept, free)]

    def _split(self, element: sp.Indexed, ranges: dict) -> sp.Indexed | None:
        """a[n, 1 + Σ (l_i - 1) Π size] (a row-major position of several letters, at any axes) = a reshaped to
        [n, l_1, l_2, ...], one reshape for all of them; None where no index is such a position."""
        array = self.lw.array(element.base)
        shape, indices, split = [], [], False
        for index, size in zip(element.indices, array.shape):
            order = list(ranges)  # ties (sizes of 1) in the order of the letters' axes
            letters = sorted(index.free_symbols, key=lambda s: (-abs(index.coeff(s)), order.index(s) if s in order
                                                                else len(order), s.name))
            sizes = [ranges.get(s) for s in letters]
            if len(letters) > 1 and None not in sizes and math.prod(sizes) == size and _row_major(index, letters, sizes):
                shape += sizes
                indices += letters
                split = True
            else:
                shape.append(size)
                indices.append(index)
        if not split:
            return None
        made = next((op for op in self.lw.ops if isinstance(op, Reshape) and op.out.name == array.name), None)
        source = array if made is None else made.source  # a reshape of a reshape: one reshape
        out = self._memo(("split", source.name, tuple(shape)), tuple(shape), lambda out: Reshape(out, source))
        return out[tuple(indices)]

    # ------------------------------------------------------------ windows

    def _read(self, element: sp.Indexed, ranges: dict) -> sp.Indexed:
        split = self._split(element, ranges)
        if split is not None:
            return split if all(map(_plain, split.indices)) else self._read(split, ranges)
        array = self.lw.array(element.base)
        dilate, pads, window, slices, letters, windowed = [], [], [], [], [], []
        sizes: dict[sp.Symbol, sp.Expr] = {}
        for axis, (index, size) in enumerate(zip(element.indices, array.shape)):
            if _plain(index):
                dilate.append(1), pads.append((0, 0)), slices.append((None, None, None)), letters.append(index)
                sizes[index] = size
                continue
            step, pad, cut, position, offset = self._axis(element, index, int(size), ranges)
            dilate.append(step), pads.append(pad), slices.append(cut), letters.append(position)
            sizes[position] = ranges[position]
            if offset is not None:
                letter, length, reverse = offset
                window.append((length, axis))
                windowed.append(((None, None, -1) if reverse else (None, None, None), letter))
                sizes[letter] = length
        # a letter both a window's offset and an index of its own (max pooling's selection read back at the
        # arg max): the view's diagonal over the two axes
        current, diagonals = [*letters, *(w for _, w in windowed)], []
        for letter in list(dict.fromkeys(current)):
            while current.count(letter) > 1:
                i = current.index(letter)
                j = current.index(letter, i + 1)
                diagonals.append((i, j))
                current = [c for at, c in enumerate(current) if at not in (i, j)] + [letter]
        if len(set(current)) != len(current):  # pragma: no cover - every repeat is taken out above
            raise CodegenError(f"no view for the read {element}")
        key = ("window", array.name, tuple(dilate), tuple(pads), tuple(window), tuple(slices),
               tuple(c for c, _ in windowed), tuple(diagonals))
        shape = tuple(sizes[letter] for letter in current)
        out = self._memo(key, shape, lambda out: Window(out, array, tuple(dilate), tuple(pads), tuple(window),
                                                        (*slices, *(c for c, _ in windowed)), tuple(diagonals)))
        return out[tuple(current)]

    def _first_max(self, expr, ranges: dict) -> sp.Indexed:
        """FirstMax(e, (a', b'), (A, B), (a, b)): the window view of e, its first maximum as a one-hot over (a, b)
        (the window's axes last)."""
        element, letters, sizes, chosen = expr.args
        view = self.rewrite(element, {**ranges, **{s: int(size) for s, size in zip(letters, sizes)}})
        if not isinstance(view, sp.Indexed) or not set(letters) <= set(view.indices):
            raise CodegenError(f"no view for the selection {expr}")
        array = self.lw.array(view.base)
        axes = tuple(view.indices.index(s) for s in letters)
        kept = [at for at, s in enumerate(view.indices) if s not in letters]
        shape = (*(array.shape[at] for at in kept), *(array.shape[at] for at in axes))
        out = self._memo(("first max", array.name, axes), shape, lambda out: FirstMaxOp(out, array, axes))
        return out[(*(view.indices[at] for at in kept), *chosen)]

    @staticmethod
    def _axis(element, index: sp.Expr, size: int, ranges: dict):
        """How one axis of the view is made: (dilation step, padding, slice of the position axis, its letter,
        (window letter, length, reversed) or None). index is affine in one or two letters; a rational one
        (a stride's gradient) reads the array dilated by the common denominator."""
        letters = sorted(index.free_symbols, key=lambda s: s.name)
        if any(s not in ranges for s in letters) or not 1 <= len(letters) <= 2:
            raise CodegenError(f"no view for the read {element}: index {index} is not affine in one or two letters")
        step = math.lcm(*(sp.fraction(sp.nsimplify(c))[1] for c in
                          (*(index.coeff(s) for s in letters), index.subs({s: 0 for s in letters}))))
        step = int(step)
        dilated = sp.expand(index * step - step + 1)  # the index into the dilated array, of size step (size - 1) + 1
        size = step * (size - 1) + 1
        coefficients = {s: int(dilated.coeff(s)) for s in letters}
        constant = int(dilated.subs({s: 0 for s in letters}))
        if any(dilated.coeff(s).is_Integer is False for s in letters):
            raise CodegenError(f"no view for the read {element}")
        lowest = constant + sum(min(c, c * ranges[s]) for s, c in coefficients.items())
        highest = constant + sum(max(c, c * ranges[s]) for s, c in coefficients.items())
        pad = (max(0, 1 - lowest), max(0, highest - size))
        start = constant + sum(coefficients.values()) - 1 + pad[0]  # 0-based, every letter at its first value
        offset = None
        if len(letters) == 2:
            unit = [s for s in letters if abs(coefficients[s]) == 1]
            if not unit:
                raise CodegenError(f"no view for the read {element}: neither letter of {index} steps by one")
            w = min(unit, key=lambda s: (ranges[s], s.name))  # the shorter range is the window (a kernel's offsets)
            length = ranges[w]
            reverse = coefficients[w] < 0
            if reverse:
                start -= length - 1
            offset = (w, length, reverse)
            (position,) = [s for s in letters if s != w]
        else:
            (position,) = letters
        c = coefficients[position]
        count = ranges[position]
        stop = start + c * count
        extent = size + pad[0] + pad[1] - (offset[1] - 1 if offset else 0)  # the position axis of the view
        if c == 1 and start == 0 and stop == extent:
            cut = (None, None, None)
        else:
            cut = (start, stop if stop >= 0 else None, c if c != 1 else None)
        return step, pad, cut, position, offset

    # ------------------------------------------------------------ memo

    def _memo(self, key: tuple, shape: tuple, make) -> sp.IndexedBase:
        if key not in self.lw.memo:
            name = self.lw.fresh("w")
            out = Array(name, tuple(sp.Symbol(f"_f{i}") for i in range(len(shape))), tuple(shape))
            self.lw.temps[name] = out
            self.lw.ops.append(make(out))
            self.lw.memo[key] = out
        return sp.IndexedBase(self.lw.memo[key].name)
