"""Render a graph plan with the jinja2 template `graph_module.py.j2` (the template only lays out lines)."""

from __future__ import annotations

from math import prod

from codegen.render import _environment, docstring_text
from derive.spec.loader import Spec

from .plan import GraphPlan, plan_graph


def render_graph(plan: GraphPlan) -> str:
    spec = plan.spec
    offsets, offset = [], 0
    for p in plan.params:
        size = prod(p.shape)
        offsets.append((p.key, offset, offset + size, p.shape))
        offset += size
    context = {
        "plan": plan,
        "name": spec.name,
        "title": docstring_text(spec.title),
        "source": plan.source,
        "summary": [docstring_text(line) for line in plan.summary],
        "sizes": repr(tuple(spec.sizes)),
        "activations": repr(tuple(layer.activation.name for layer in spec.layers)),
        "kinds": repr(tuple(layer.kind.kind for layer in spec.layers)),
        "names": repr(tuple(layer.name for layer in spec.layers)),
        "loss_name": spec.loss.name,
        "reduction": spec.reduction,
        "dtype": plan.dtype,
        "loss_comment": docstring_text(plan.loss_comment),
        "param_keys": repr(tuple(plan.param_keys)),
        "param_count": offset,
        "offsets": offsets,
        "state_keys": repr(tuple(s.key for s in plan.state)),
        "cache": ", ".join(plan.cache) + ("," if len(plan.cache) == 1 else ""),
        "cache_args": ", ".join(plan.cache),
        "loss_call": ", ".join(f"cache[{plan.cache.index(a)}]" for a in plan.loss_args),
        "stat_index": {s.key: plan.cache.index(s.array) for s in plan.state},
        "grads": plan.grads,
        # training.py.j2 (the optimisers and fit, shared with the dense module)
        "optimizer_defaults": plan.optimizer_defaults,
        "optimizer_call": plan.optimizer,
        "epochs": spec.train.epochs,
        "batch_size": spec.train.batch_size,
        "with_state": True,  # fit(..., state=None) for every graph module (DESIGN.md 10.2)
        "with_rng": False,
    }
    return _environment().get_template("graph_module.py.j2").render(**context)


def generate_graph(spec: Spec, dtype: str | None = None) -> str:
    """The source of the training module for a graph spec (deterministic: same spec, same text)."""
    return render_graph(plan_graph(spec, dtype))
