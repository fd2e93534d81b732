"""Render a module plan with the jinja2 template: the template lays out lines that `model` computed."""

from __future__ import annotations

from functools import cache

import jinja2

from derive.spec.loader import Spec

from .model import ModulePlan, array, plan_module

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
    return env


def _tuple(names: list[str]) -> str:
    return f"({names[0]},)" if len(names) == 1 else ", ".join(names)


def render(plan: ModulePlan) -> str:
    spec = plan.spec
    divisor = []
    if spec.reduction == "mean":
        divisor.append("T.shape[0]")
    if spec.loss.mean_over_outputs:
        divisor.append(str(spec.sizes[-1]))
    layout = plan.param_layout
    context = {
        "plan": plan,
        "name": spec.name,
        "title": docstring_text(spec.title),
        "source": plan.source,
        "sizes": repr(tuple(spec.sizes)),
        "sizes_text": "-".join(map(str, spec.sizes)),
        "activations": repr(tuple(layer.activation.name for layer in spec.layers)),
        "activations_text": ", ".join(layer.activation.name for layer in spec.layers),
        "loss_name": spec.loss.name,
        "reduction": spec.reduction,
        "dtype": plan.dtype,
        "loss_comment": docstring_text(plan.loss_comment),
        "domains": [docstring_text(line) for line in plan.domains],
        "objective_text": ("the mean over samples" if spec.reduction == "mean" else "the sum over samples")
        + " of E = " + docstring_text(plan.loss_comment),
        "n_out": spec.sizes[-1],
        "cache": _tuple(plan.cache),
        "output_index": plan.cache.index(plan.output),
        "cache_args": ", ".join(plan.cache),
        "divisor": " * ".join(divisor) if len(divisor) < 2 else f"({' * '.join(divisor)})",
        "layout": [f"({name!r}, {shape!r}, {start}, {stop})" for name, shape, start, stop in layout],
        "size": layout[-1][3],
        # what training.py.j2 reads (see its header)
        "optimizer_defaults": plan.optimizer_defaults,
        "optimizer_call": plan.optimizer,
        "epochs": spec.train.epochs,
        "batch_size": spec.train.batch_size,
        "with_state": False,
        "with_rng": False,
    }
    return _environment().get_template("module.py.j2").render(**context)


def generate(spec: Spec, dtype: str | None = None) -> str:
    """The source of the training module for `spec` (deterministic: same spec, same text)."""
    return render(plan_module(spec, dtype))


__all__ = ["array", "docstring_text", "generate", "render"]
