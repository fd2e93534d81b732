"""`codegen SPEC -o OUT.py [--dtype float32|float64]` and `codegen --gradcheck OUT.py`.

Bad input gives one line on stderr and exit 2, with no file written or clobbered.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from derive.errors import SpecError
from derive.io import check_writable, write_atomic
from derive.spec import DTYPES, load_spec

from .gradcheck import NotAModule, main_gradcheck
from .model import CodegenError
from .printer import UnprintableError
from .render import generate


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="codegen",
        description="Generate a vectorized NumPy training module from a network spec, or check one's gradients.",
    )
    p.add_argument("spec", nargs="?", help="network spec (TOML)")
    p.add_argument("-o", "--output", metavar="OUT.py", help="where to write the module")
    p.add_argument("--dtype", choices=DTYPES, help="floating-point type of the module (default: the spec's dtype)")
    p.add_argument("--gradcheck", metavar="MODULE.py", help="check a generated module's gradients by central differences")
    p.add_argument("--tol", type=float, default=1e-5, help="gradcheck: largest accepted relative error (default 1e-5)")
    p.add_argument("--seed", type=int, default=0, help="gradcheck: seed of the random parameters and data")
    return p


def _generate(args) -> int:
    if args.output is None:
        raise UsageError("missing -o OUT.py (where to write the module)")
    spec = load_spec(args.spec)
    out = check_writable(args.output, "-o")
    if out.exists() and out.resolve() == Path(args.spec).resolve():
        raise UsageError(f"-o: {out} is the spec itself")
    try:
        source = generate(spec, args.dtype)
    except (UnprintableError, CodegenError) as exc:
        raise UsageError(f"{args.spec}: cannot generate code: {exc}") from None
    write_atomic(out, source)
    sizes = "-".join(map(str, spec.sizes))
    acts = "/".join(layer.activation.name for layer in spec.layers)
    print(f"wrote {out}: {spec.name} {sizes} {acts}, {spec.loss.name} ({spec.reduction}), "
          f"{args.dtype or spec.dtype}, {len(source.splitlines())} lines")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if args.gradcheck is not None:
            if args.spec is not None or args.output is not None or args.dtype is not None:
                raise UsageError("--gradcheck takes only a generated module (and --tol, --seed)")
            if not args.tol > 0:
                raise UsageError(f"--tol: expected a positive number, got {args.tol}")
            return main_gradcheck(args.gradcheck, args.tol, args.seed)
        if args.spec is None:
            raise UsageError("expected a spec file: codegen SPEC -o OUT.py, or codegen --gradcheck OUT.py")
        return _generate(args)
    except (SpecError, NotAModule, UsageError, ValueError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"codegen: error: {message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"codegen: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
