"""The steps of a graph derivation as lines of the document, one printer method per rule.

`StepPrinter.doprint(obj)` dispatches on the class name, as SymPy's printers do: `_print_Contribution`
(the chain rule through one edge of the graph, the `sympy.diff` result with its Kronecker deltas, every
delta elimination, the result), `_print_Step` (one elimination: substitute a summed index, solve an affine
index map, or keep a delta between two free indices), `_print_Gradient` (the parts of a gradient that
reaches its tensor along several edges, added), and the output layer's rules of the notes (`LossRule`,
`ActivationRule`, `SoftmaxRule`, `DeltaRule`, `SoftmaxDeltaRule`). Each returns flow items (paragraphs
and equations) for the template; words come from the phrases, formulas from `GraphLatexPrinter`.
"""

from __future__ import annotations

import sympy as sp

from derive.calculus import deltas
from derive.calculus.backward import Contribution, Gradient, gradient_base
from derive.calculus.rules import ActivationRule, DeltaRule, LossRule, SoftmaxDeltaRule, SoftmaxRule, d
from derive.document.builder import Equation, Para, act_tex, act_word
from derive.document.graph.printer import GraphLatexPrinter, gradient_of
from derive.network.graph import Tensor

SAMPLE_LETTERS = "mpq"  # for a summed sample index that would look like a free one
FEATURE_LETTERS = "rsqjiabcvz"


def note(text: str) -> str:
    return r"\text{\footnotesize(%s)}" % text


def bound_dummies(expr: sp.Expr) -> set:
    found = set()
    for e in sp.preorder_traversal(expr):
        if isinstance(e, sp.Sum):
            found.update(v for v in e.variables if isinstance(v, sp.Dummy))
    return found


class StepPrinter:
    def __init__(self, printer: GraphLatexPrinter, phrases: dict):
        self.p = printer
        self.T = phrases

    def t(self, key: str, **fields) -> str:
        text = self.T[key]
        return text % fields if fields else text

    def doprint(self, obj, **options) -> list:
        return getattr(self, f"_print_{type(obj).__name__}")(obj, **options)

    # -- one edge of the graph -------------------------------------------------------------------
    def letters(self, c: Contribution) -> dict:
        """Print names for the indices of one contribution: the target's free indices (the chain rule's
        marks) keep their letters; a summed index of the same letter gets another one, the same in every
        line (the source's own indices in the chain rule and their Dummies in the eliminations alike)."""
        exprs = [c.local, *(e for s in c.steps for e in (s.before, s.after))]
        marks = {s for e in exprs for s in e.free_symbols if isinstance(s, sp.Dummy)}
        taken = {s.name for e in exprs for s in e.atoms(sp.Symbol)} | {i.name for i in c.target.indices}
        mark_names = {m.name for m in marks} | {i.name for i in c.target.indices}
        renamed: dict[str, str] = {}

        def letter(name: str) -> str:
            if name not in mark_names:
                return name
            if name not in renamed:
                pool = SAMPLE_LETTERS if name in ("n", "m") else FEATURE_LETTERS
                renamed[name] = next(ch for ch in pool + FEATURE_LETTERS if ch not in taken)
                taken.add(renamed[name])
            return renamed[name]

        names: dict = {m: m.name for m in marks}
        for e in sp.preorder_traversal(c.local):  # sums of the node's own definition, in plain letters
            if isinstance(e, sp.Sum):
                names.update({v: letter(v.name) for v in e.variables if not isinstance(v, sp.Dummy)})
        for e in exprs:
            for dummy in sorted(bound_dummies(e), key=lambda s: s.name):
                names[dummy] = letter(dummy.name)
        for i in c.source.indices:  # the source's summed indices, as plain symbols in the chain rule
            names[i] = letter(i.name)
        return names

    def _print_Contribution(self, c: Contribution, part: bool = False) -> list:
        """∂J/∂x_a (its part through z) = Σ ∂J/∂z ∂z/∂x_a = … each delta removed … = result."""
        names = self.letters(c)
        source, target = c.source, c.target
        by_name = {s.name: s for s in c.local.free_symbols if isinstance(s, sp.Dummy)}
        mark_index = tuple(by_name.get(i.name) or sp.Dummy(i.name, integer=True, positive=True)
                           for i in target.indices)
        names.update({m: m.name for m in mark_index})
        p = self.p.with_names(names)
        upstream = gradient_base(source.name)[source.indices]
        lhs = gradient_of(p, target, mark_index)
        final = gradient_of(self.p, target)
        if part:
            through = self.p.doprint(source.base)
            lhs, final = (r"\left.%s\right|_{%s}" % (side, through) for side in (lhs, final))
        limits = [(i, 1, size) for i, size in zip(source.indices, source.shape)]
        chain = sp.Sum(sp.Mul(upstream, sp.Derivative(source.element, target.base[mark_index]), evaluate=False),
                       *limits)
        lines = [(lhs, p.doprint(chain), note(self.t("note_chain"))),
                 ("", p.doprint(_chained(upstream, c.local, limits)), note(self.t("note_diff")))]
        groups = self.chains(c.steps)
        if len(groups) == 1:
            lines += [("", p.doprint(step.after), note(self.step_note(step, p))) for step in groups[0]]
        flow = [Equation(lines)]
        if len(groups) > 1:
            flow.append(Para(self.t("terms", count=len(groups))))
            for group in groups:
                term = [("", p.doprint(group[0].before), note(self.t("note_term")))]
                term += [("", p.doprint(s.after), note(self.step_note(s, p))) for s in group]
                flow.append(Equation(term))
        if c.activation is not None:
            flow += self.doprint(c.activation)
        result = self.p.doprint(c.result)
        shown = p.doprint(groups[0][-1].after) if len(groups) == 1 else None
        if result != shown or c.activation is not None:
            flow.append(Equation([(final, result, note(self.t("note_result")))]))
        return flow

    @staticmethod
    def chains(steps: list[deltas.Step]) -> list[list[deltas.Step]]:
        """The steps grouped by the term they work on (each term of a sum is eliminated on its own)."""
        groups: list[list[deltas.Step]] = []
        for step in steps:
            if groups and groups[-1][-1].after == step.before:
                groups[-1].append(step)
            else:
                groups.append([step])
        return groups

    def step_note(self, step: deltas.Step, p: GraphLatexPrinter) -> str:
        return self.t(f"step_{step.rule}", delta=p.doprint(step.delta), index=p.doprint(step.index)
                      if step.index is not None else "", value=p.doprint(step.value) if step.value is not None else "",
                      guard=p.doprint(step.guard) if step.guard is not None else "") + (
            self.t("step_guard", guard=p.doprint(step.guard)) if step.guard is not None and step.rule != "strided"
            else "")  # a stride's guard is long, and the formula beside it shows it

    def _print_Step(self, step: deltas.Step) -> list:
        return [Equation([("", self.p.doprint(step.after), note(self.step_note(step, self.p)))])]

    # -- a gradient reached along several edges ----------------------------------------------------
    def _print_Gradient(self, g: Gradient, where: list[str] | None = None) -> list:
        lhs = gradient_of(self.p, g.tensor)
        if not g.summed:
            return [Equation([(lhs, self.p.doprint(g.expr), "")])]
        parts = [r"\left.%s\right|_{%s}" % (lhs, self.p.doprint(c.source.base)) for c in g.contributions]
        text = self.t("summed", tensor=self.p.element(g.tensor, g.tensor.indices), count=len(g.contributions),
                      through=", ".join(where or []))
        return [Para(text), Equation([(lhs, " + ".join(parts), ""), ("", self.p.doprint(g.expr), "")])]

    # -- the output layer: the rules of the notes -----------------------------------------------
    def _print_LossRule(self, rule: LossRule) -> list:
        p = self.p
        return [Para(self.t("head_loss", y=p.doprint(rule.y))),
                Equation([("E", p.doprint(rule.total), ""), (p.doprint(rule.lhs), p.doprint(rule.rhs), "")])]

    def _print_ActivationRule(self, rule: ActivationRule) -> list:
        p = self.p
        act = rule.activation
        lines = [(p.doprint(d(rule.y, rule.u)), r"%s'\left(%s\right)" % (act_tex(act), p.doprint(rule.u)), "")]
        if rule.in_u != rule.rhs:
            lines.append(("", p.doprint(rule.in_u), ""))
        lines.append(("", p.doprint(rule.rhs), note(self.t("note_output_form")) if rule.in_u != rule.rhs else ""))
        if len(lines) == 3 and lines[1][1] == lines[0][1]:
            del lines[1]
        if lines[-1][1] == lines[0][1]:
            lines = lines[:1]
        return [Para(self.t("head_activation", name=act_word(act))), Equation(lines)]

    def _print_DeltaRule(self, rule: DeltaRule) -> list:
        p = self.p
        lhs = p.doprint(rule.lhs)
        product = sp.Mul(rule.dEdy, rule.dydu, evaluate=False) if rule.dydu != 1 else rule.dEdy
        lines = [(lhs, p.doprint(product), "")]
        if p.doprint(rule.rhs) != lines[0][1]:
            lines.append(("", p.doprint(rule.rhs), ""))
        return [Para(self.t("head_delta", delta=lhs)), Equation(lines)]

    def _print_SoftmaxRule(self, rule: SoftmaxRule) -> list:
        p = self.p
        same, other = rule.cases
        r, k = p.doprint(rule.r), p.doprint(rule.k)
        cases = r"\begin{cases} %s & \text{if } %s = %s \\ %s & \text{if } %s \ne %s \end{cases}" % (
            p.doprint(same), r, k, p.doprint(other), r, k)
        return [Para(self.t("head_softmax")),
                Equation([(p.doprint(rule.lhs), cases, ""), ("", p.doprint(rule.rhs), "")])]

    def _print_SoftmaxDeltaRule(self, rule: SoftmaxDeltaRule) -> list:
        p = self.p
        summand = sp.Mul(rule.dEdy, rule.jacobian, evaluate=False)
        lines = [(p.doprint(rule.lhs), p.doprint(sp.Sum(summand, rule.over)), ""), ("", p.doprint(rule.summed), "")]
        flow = [Para(self.t("head_softmax_delta")), Equation(lines)]
        if rule.uses_target_sum:
            flow.append(Para(self.t("head_targets", sum=p.doprint(rule.target_sum))))
        flow.append(Equation([(p.doprint(rule.lhs), p.doprint(rule.rhs), "")]))
        return flow


def tensor_word(phrases: dict, tensor: Tensor) -> str:
    return phrases["what"].get(tensor.what, tensor.what)


def _chained(upstream: sp.Expr, local: sp.Expr, limits) -> sp.Expr:
    """Σ_limits upstream · local; where the local derivative has a range guard inside a sum, that sum taken into
    the outer one (SymPy's Sum would fold the guard out of the inner sum, across the inner sum's own letter)."""
    if not local.has(sp.Piecewise):
        return sp.Sum(upstream * local, *limits)
    terms = []
    for term in sp.Add.make_args(local):
        if isinstance(term, sp.Sum):
            terms.append(sp.Sum(upstream * term.function, *term.limits, *limits))
        else:
            terms.append(sp.Sum(upstream * term, *limits))
    return sp.Add(*terms)
