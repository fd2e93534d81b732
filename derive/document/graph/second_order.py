"""The chapter "second order" (DESIGN.md section 11, seed 004): Newton's step, the Jacobian of the outputs, the
Gauss-Newton curvature, the Levenberg-Marquardt step and the R-operator, each printed from its derivation
(`derive.calculus.jacobian`, `derive.calculus.second_order`); with a point, one Levenberg-Marquardt step in
numbers, solved at 40 digits. Used by the graph document and by the dense chain's, in the graph's names.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import sympy as sp

from derive.calculus.backward import GraphDerivation, gradient_base
from derive.calculus.graph_proof import DIGITS, Instance, elements_at
from derive.calculus.jacobian import (
    JacobianError,
    curvature,
    gauss_newton_matrix,
    output_jacobian,
    prove_gauss_newton,
    prove_jacobian,
)
from derive.calculus.second_order import r_operator
from derive.document.builder import FULL_BATCH_RULES, Equation, Para, Section, Table, escape, limit, number
from derive.document.example import fmt
from derive.network import indices as ix

MU = 1e-3  # the example's μ when the spec names none: trainlm's first
MAX_STEP_PARAMS = 60  # the LM step in numbers: a P×P system at 40 digits, for the notes' small nets


def wanted(spec) -> bool:
    """The chapter belongs to a document whose spec trains with a full-batch (second-order or line-search) method."""
    return spec.train is not None and spec.train.optimizer.full_batch


def chain_instance(graph, ex) -> Instance:
    """The dense chain's worked example (one sample: x, t, W, b) as a point of the graph's instance."""
    sizes = {**{s: v for s, v in graph.sizes.items() if s != ix.BATCH}, ix.BATCH: 1}
    point = {graph.tensors["x"].base[1, j]: sp.Float(v, DIGITS) for j, v in enumerate(ex.x, 1)}
    point.update({graph.tensors["t"].base[1, k]: sp.Float(v, DIGITS) for k, v in enumerate(ex.t, 1)})
    for l in range(1, ex.depth + 1):
        point.update({sp.IndexedBase(f"W{l}")[j, k]: sp.Float(v, DIGITS)
                      for j, row in enumerate(ex.W[l], 1) for k, v in enumerate(row, 1)})
        if ex.b[l] is not None:
            point.update({sp.IndexedBase(f"b{l}")[k]: sp.Float(v, DIGITS) for k, v in enumerate(ex.b[l], 1)})
    return Instance(graph, sizes, point)


def second_order_section(doc, derivation: GraphDerivation, instance: Instance | None = None) -> Section:
    """`doc` gives the phrases (t) and the graph's LaTeX printer (tex); `instance`, a point for one LM step."""
    s = Section(doc.t("so"), "sec:second")
    s.flow.append(Para(doc.t("so_intro")))
    where = r"H = \frac{\partial^{2} J}{\partial \theta^{2}}, \ g = \frac{\partial J}{\partial \theta}"
    s.flow.append(Equation([(r"\theta", r"\leftarrow \theta - H^{-1} g", where)], "eq:newton", kind="relations"))
    try:
        jac = output_jacobian(derivation)
    except JacobianError as exc:
        s.flow.append(Para(doc.t("so_coupled", why=escape(str(exc).split(":")[0]))))
        s.subsections.append(_r_operator(doc, derivation))
        return s
    s.subsections += [_jacobian(doc, jac), _gauss_newton(doc, jac), _r_operator(doc, derivation)]
    if instance is not None:
        s.subsections.append(_lm_step(doc, jac, instance))
    return s


def _jacobian(doc, jac) -> Section:
    s = Section(doc.t("so_jacobian"), "sec:jacobian")
    out = jac.graph.layers[-1]
    s.flow.append(Para(doc.t("so_jacobian_intro", L=out.l)))
    lines = [(doc.tex(step.tensor.base[step.tensor.indices]), doc.tex(step.formula), "") for step in jac.steps
             if step.of == out.pre.name or step.tensor.role == "node" and jac.graph.tensors[step.of].role == "param"]
    s.flow.append(Equation(lines, "eq:jacobian"))
    s.flow.append(Para(doc.t("so_jacobian_after")))
    s.flow.append(Para(r"\textbf{%s}" % escape(prove_jacobian(jac).summary())))
    return s


def _gauss_newton(doc, jac) -> Section:
    derivation = jac.derivation
    s = Section(doc.t("so_gn"), "sec:gn")
    curv = curvature(derivation)
    out = derivation.graph.layers[-1]
    a = (out.pre if curv.at == "u" else out.output).base
    n, k, r = ix.n, ix.k, ix.r
    s.flow.append(Para(doc.t("so_gn_intro")))
    s.flow.append(Equation([
        ("H", (r"= \sum_{n} J_n^{\top} H_n J_n + \sum_{n} \sum_{o} \frac{\partial E_n}{\partial y_{no}} "
               r"\frac{\partial^{2} y_{no}}{\partial \theta^{2}}"), ""),
        ("G", r"= \sum_{n} J_n^{\top} H_n J_n", "")], "eq:gn", kind="relations"))
    lhs = r"\left(H_n\right)_{kr} = \frac{\partial^{2} E_n}{\partial %s \partial %s}" % (doc.tex(a[n, k]),
                                                                                         doc.tex(a[n, r]))
    s.flow.append(Para(doc.t("so_gn_u" if curv.at == "u" else "so_gn_y")))
    s.flow.append(Equation([(lhs, "= " + doc.tex(curv.hessian), "")], "eq:hy", kind="relations"))
    s.flow.append(Para(r"\textbf{%s}" % escape(prove_gauss_newton(jac).summary())))
    s.flow.append(Para(doc.t("so_lm")))
    s.flow.append(Equation(FULL_BATCH_RULES["lm"], "eq:lm", kind="relations"))
    return s


def _r_operator(doc, derivation) -> Section:
    s = Section(doc.t("so_r"), "sec:rop")
    s.flow.append(Para(doc.t("so_r_intro")))
    rop = r_operator(derivation)
    forward = [(r"\mathcal{R}\left\{%s\right\}" % doc.tex(step.tensor.element), doc.tex(step.formula), "")
               for step in rop.forward]
    s.flow.append(Equation(forward, "eq:rfw"))
    s.flow.append(Para(doc.t("so_r_backward")))
    names = {p.name for p in derivation.graph.params}
    backward = [(r"\mathcal{R}\left\{%s\right\}" % doc.tex(gradient_base(step.tensor.name)[step.tensor.indices]),
                 doc.tex(step.formula), "") for step in rop.backward if step.tensor.name in names]
    s.flow.append(Equation(backward, "eq:rbw"))
    return s


@dataclass
class LMStep:
    params: list  # the parameter elements, in the graph's order
    value: list
    gradient: list  # of the sum over samples
    delta: list
    before: sp.Float  # J at the point and after the step
    after: sp.Float
    rows: int  # of the Jacobian: samples × outputs


def lm_step(jac, instance: Instance, mu) -> LMStep:
    """One LM step at the instance: G = Σ_n J_nᵀ H_n J_n and g of the sum over samples, (G + μI)Δθ = -g, every
    number from the derived formulas (the Jacobian's steps, the curvature, the sweep), solved at 40 digits."""
    graph = jac.graph
    params, G = gauss_newton_matrix(jac, instance)
    scale = instance.sizes[ix.BATCH] if graph.spec.reduction == "mean" else 1
    gradients = instance.gradients(jac.derivation)
    with mpmath.workdps(DIGITS):
        g = mpmath.matrix([mpmath.mpf(str(gradients[gradient_base(e.base.label.name)[e.indices]])) * scale
                           for e in params])
        delta = [sp.Float(v, DIGITS) for v in mpmath.cholesky_solve(G + mpmath.mpf(mu) * mpmath.eye(len(params)), -g)]
        g = [sp.Float(v, DIGITS) for v in g]
    rows = len(list(elements_at(graph.output, instance.sizes)))
    new_point = dict(instance.point)
    for e, step in zip(params, delta):
        new_point[e] = instance.point[e] + step
    return LMStep(params, [instance.point[e] for e in params], g, delta, instance.objective(),
                  Instance(graph, instance.sizes, new_point).objective(), rows)


def _lm_step(doc, jac, instance: Instance) -> Section:
    graph = jac.graph
    s = Section(doc.t("so_lm_example"), "sec:ex:lm")
    spec = graph.spec
    count = sum(1 for p in graph.params for _ in elements_at(p, instance.sizes))
    if count > MAX_STEP_PARAMS:
        s.flow.append(Para(doc.t("so_lm_example_large", P=count, limit=MAX_STEP_PARAMS)))
        return s
    mu = dict(spec.train.optimizer.params).get("mu", MU) if spec.train else MU
    step = lm_step(jac, instance, mu)
    s.flow.append(Para(doc.t("so_lm_example_intro", mu=number(float(mu)), rows=step.rows, P=len(step.params))))
    table = [["$%s$" % doc.tex(e), "$%s$" % fmt(v), "$%s$" % fmt(g), "$%s$" % fmt(d), "$%s$" % fmt(v + d)]
             for e, v, g, d in zip(step.params, step.value, step.gradient, step.delta)]
    s.flow.append(Table([doc.t("col_element"), doc.t("col_value"), "$g$", r"$\Delta\theta$", doc.t("col_updated")],
                        limit(table, doc), "lrrrr"))
    s.flow.append(Equation([(r"J(\theta)", fmt(step.before), ""), (r"J(\theta + \Delta\theta)", fmt(step.after), "")]))
    return s
