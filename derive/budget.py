"""Budgets: every command finishes in bounded time and size, or refuses with one line.

`time_limit` stops a SymPy search that runs away. It nests: an inner limit never outlives, nor
cancels, the limit around it, and the outermost one (the command's budget) cannot be caught by a
search that catches its own time-outs, so the budget holds however deep the search.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager

COMMAND_SECONDS = 120  # default budget of one `derive`, `derive check` or `codegen` run


_deadlines: list[float] = []  # the deadlines in force, outermost first


class _BudgetSpent(BaseException):
    """The outermost limit ran out: not a TimeoutError, so a search that catches its own time-outs
    (`except TimeoutError: try something else`) cannot swallow it; the outermost block turns it back
    into TimeoutError."""


def _stop(*_):
    if _deadlines and time.monotonic() >= _deadlines[0] - 1e-3:
        raise _BudgetSpent
    raise TimeoutError


@contextmanager
def time_limit(seconds: float):
    """Raise TimeoutError inside the block after `seconds` (main thread only; elsewhere no limit)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    now = time.monotonic()
    deadline = now + seconds
    outer = _deadlines[-1] if _deadlines else None
    inner_is_earlier = outer is None or deadline < outer
    previous = signal.signal(signal.SIGALRM, _stop) if not _deadlines else None
    _deadlines.append(min(deadline, outer) if outer is not None else deadline)
    if inner_is_earlier:
        signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))
    try:
        yield
    except _BudgetSpent:
        if outer is not None:
            raise
        raise TimeoutError from None
    finally:
        _deadlines.pop()
        if _deadlines:
            remaining = _deadlines[-1] - time.monotonic()
            signal.setitimer(signal.ITIMER_REAL, max(remaining, 1e-3))
        else:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


MAX_EXAMPLE_PARAMETERS = 20_000  # the worked example computes (and tabulates) every weight in 50 digits


def check_example_size(spec) -> None:
    """Refuse a worked example that cannot finish: it is computed weight by weight, in 50-digit arithmetic."""
    from .errors import SpecError

    count = sum(n_in * n_out + n_out for n_in, n_out in zip(spec.sizes, spec.sizes[1:]))
    if count > MAX_EXAMPLE_PARAMETERS:
        raise SpecError(f"--example: the worked example computes every one of the network's {count:,} parameters "
                        f"in 50-digit arithmetic; it is made for nets of up to {MAX_EXAMPLE_PARAMETERS:,} "
                        "(the derivation itself holds for any width: drop --example)")
