"""`codegen SPEC -o OUT.py [--dtype float32|float64]` and `codegen --gradcheck OUT.py`.

Bad input gives one line on stderr and exit 2, with no file written or clobbered.
"""

from __future__ import annotations

import sys

from derive.console import Parser, UsageError, add_budget, run_command
from derive.io import check_outputs, write_files
from derive.spec.loader import DTYPES, load_spec

from .forms import CodegenError
from .gradcheck import NotAModule, main_gradcheck
from .printer import UnprintableError
from .render import BACKENDS, TARGETS, generate, generate_torch


def _parser() -> Parser:
    p = Parser(
        prog="codegen",
        description="Generate a vectorized NumPy training module from a network spec, or check one's gradients.",
    )
    p.add_argument("spec", nargs="?", help="network spec (TOML)")
    p.add_argument("-o", "--output", metavar="OUT.py", help="where to write the module")
    p.add_argument("--dtype", choices=DTYPES, help="floating-point type of the module (default: the spec's dtype)")
    p.add_argument("--backend", choices=BACKENDS, default="numpy",
                   help="array library of the module: numpy (default), or array-api (NumPy, CuPy, PyTorch tensors)")
    p.add_argument("--target", choices=TARGETS, default="numpy",
                   help="numpy (default): a training module; torch: an nn.Module whose layers' backward is the derived one")
    p.add_argument("--gradcheck", metavar="MODULE.py", help="check a generated module's gradients by central differences")
    p.add_argument("--tol", type=float, default=1e-5, help="gradcheck: largest accepted relative error (default 1e-5)")
    p.add_argument("--seed", type=int, default=0, help="gradcheck: seed of the random parameters and data")
    add_budget(p)
    return p


def _generate(args) -> int:
    if args.output is None:
        raise UsageError("missing -o OUT.py (where to write the module)")
    out = check_outputs({"-o": args.output}, inputs=(args.spec,))["-o"]
    if args.target != "numpy" and args.backend != "numpy":
        raise UsageError(f"--target {args.target} prints its own array code: it takes no --backend")
    spec = load_spec(args.spec)
    try:
        if args.target == "torch":
            source = generate_torch(spec, args.dtype)
        else:
            source = generate(spec, args.dtype, args.backend)
    except (UnprintableError, CodegenError) as exc:
        raise UsageError(f"{args.spec}: cannot generate code: {exc}") from None
    write_files({out: source})
    acts = "/".join(layer.activation.name for layer in spec.layers)
    if spec.is_chain:
        shape = "-".join(map(str, spec.sizes))
    else:
        shape = f"graph of {spec.depth} layers ({', '.join(dict.fromkeys(l.kind.kind for l in spec.layers))})"
    backend = "".join(f", {name}" for name in (args.backend, args.target) if name != "numpy")
    print(f"wrote {out}: {spec.name} {shape} {acts}, {spec.loss.name} ({spec.reduction}), "
          f"{args.dtype or spec.dtype}{backend}, {len(source.splitlines())} lines")
    return 0


def _main(args) -> int:
    if args.gradcheck is not None:
        if args.spec is not None or args.output is not None or args.dtype is not None \
                or args.backend != "numpy" or args.target != "numpy":
            raise UsageError("--gradcheck takes only a generated module (and --tol, --seed)")
        if not args.tol > 0:
            raise UsageError(f"--tol: expected a positive number, got {args.tol}")
        try:
            return main_gradcheck(args.gradcheck, args.tol, args.seed)
        except NotAModule as exc:
            raise UsageError(str(exc).splitlines()[0]) from None
    if args.spec is None:
        raise UsageError("expected a spec file: codegen SPEC -o OUT.py, or codegen --gradcheck OUT.py")
    return _generate(args)


def main(argv: list[str] | None = None) -> int:
    return run_command("codegen", _parser(), argv, _main)


if __name__ == "__main__":
    sys.exit(main())
