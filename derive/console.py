"""What every command does at its edges: one-line errors, exit codes, a time budget, closed pipes.

`derive`, `derive check` and `codegen` all run through `run_command`, so a bad input gives the same
`PROG: error: ...` line and exit code 2 everywhere, and no input gives a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from derive.budget import COMMAND_SECONDS, time_limit
from derive.errors import ExpressionError, SpecError
from derive.io import OutputError


class UsageError(Exception):
    """A bad option or combination of options."""


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad option as one line (UsageError) instead of a usage block."""

    def error(self, message):
        raise UsageError(message)


def add_budget(parser: argparse.ArgumentParser, seconds: float = COMMAND_SECONDS) -> None:
    parser.add_argument("--time-limit", type=float, default=seconds, metavar="SECONDS",
                        help=f"give up with one line after this many seconds (default {seconds:g})")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def run_command(prog: str, parser: argparse.ArgumentParser, argv: list[str] | None,
                body: Callable[[argparse.Namespace], int],
                on_error: Callable[[str], None] | None = None) -> int:
    """Parse `argv`, run `body(args)` within the time budget, and turn every failure into one line."""

    def fail(message: str) -> int:
        print(f"{prog}: error: {message}", file=sys.stderr)
        if on_error is not None:
            on_error(message)
        return 2

    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        return fail(_one_line(exc))
    except SystemExit as exc:  # --help
        return 0 if exc.code in (0, None) else 2
    seconds = getattr(args, "time_limit", COMMAND_SECONDS)
    if not 0 < seconds < float("inf"):
        return fail(f"--time-limit: expected a positive number of seconds, got {seconds}")
    try:
        with time_limit(seconds):
            return body(args)
    except TimeoutError:
        return fail(f"gave up after {seconds:g} s: this input is too expensive to finish in the time limit "
                    "(simplify it, or raise --time-limit)")
    except (SpecError, ExpressionError, UsageError, OutputError) as exc:
        return fail(_one_line(exc))
    except (OverflowError, MemoryError, RecursionError) as exc:
        return fail(f"numbers or expressions too large to evaluate ({type(exc).__name__}: {_one_line(exc)[:80]})")
    except BrokenPipeError:  # `derive SPEC | head`: the reader left; nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
