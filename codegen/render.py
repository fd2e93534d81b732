"""Render a module plan with the jinja2 template `module.py.j2`: the template only lays out lines that
the plan (`codegen.graph.plan`) computed."""

from __future__ import annotations

from functools import cache
from math import prod

import jinja2

from derive.spec.loader import Spec

from .graph.plan import GraphPlan, plan_graph

_CONTROL = {ord(c): f"\\x{ord(c):02x}" for c in map(chr, range(32))}


def docstring_text(text: str) -> str:
    """Free text made safe inside a triple-quoted docstring (backslashes, quotes, control characters)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').translate(_CONTROL)


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("codegen", "templates"),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters["pyrepr"] = repr
    env.filters["docstring"] = docstring_text
    env.filters["torch_param"] = lambda key: f"self.{key}"
    return env


def render(plan: GraphPlan, template: str = "module.py.j2") -> str:
    return _environment().get_template(template).render(**_context(plan))


def _context(plan: GraphPlan) -> dict:
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
        "input_shape": tuple(spec.input_shape),
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
        "domains": [docstring_text(line) for line in plan.domains],
        # training.py.j2 (the optimisers and fit, shared with the dense module)
        "optimizer_defaults": plan.optimizer_defaults,
        "optimizer_call": plan.optimizer,
        "epochs": spec.train.epochs,
        "batch_size": spec.train.batch_size,
        "with_state": True,  # fit(..., state=None) for every graph module (DESIGN.md 10.2)
        "with_rng": plan.uses_rng,
        "rng": plan.uses_rng,
        "with_lm": plan.jacobian is not None,
        # array_api.py.j2: which functions read DTYPE and DEVICE
        "forward_text": "\n".join(plan.forward_lines),
        "backward_text": "\n".join(plan.backward),
        "loss_text": "\n".join(plan.loss_lines),
    }
    return context


BACKENDS = ("numpy", "array-api")
TARGETS = ("numpy", "torch")


def generate_torch(spec: Spec, dtype: str | None = None) -> str:
    """The source of the PyTorch module for `spec`: an autograd Function per layer with the derived backward."""
    from .backends.torch import plan_torch

    torch_plan = plan_torch(spec, dtype)
    context = _context(torch_plan.plan)
    u, y, du, dy = torch_plan.output_names
    context.update(
        layers=torch_plan.layers,
        out={"u": u, "y": y, "du": du, "dy": dy, "forward": torch_plan.output_forward,
             "saved": torch_plan.output_saved, "backward": torch_plan.output_backward},
        loss={"forward": torch_plan.loss_forward, "saved": torch_plan.loss_saved,
              "backward": torch_plan.loss_backward, "du": torch_plan.loss_du},
        helpers=torch_plan.helpers,
    )
    return _environment().get_template("torch.py.j2").render(**context)


def generate(spec: Spec, dtype: str | None = None, backend: str = "numpy") -> str:
    """The source of the training module for `spec` (deterministic: same spec, same text), for NumPy or for
    the array API standard (`backend="array-api"`)."""
    if backend == "array-api":
        from .backends.array_api import plan_array_api

        return render(plan_array_api(spec, dtype), "array_api.py.j2")
    return render(plan_graph(spec, dtype))


__all__ = ["BACKENDS", "docstring_text", "generate", "render"]
