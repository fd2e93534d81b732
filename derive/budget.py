"""Budgets: every command finishes in bounded time and size, or refuses with one line.

`time_limit` stops a SymPy search that runs away. It nests: an inner limit never outlives, nor
cancels, the limit around it, and the outermost one (the command's budget) cannot be caught by a
search that catches its own time-outs, so the budget holds however deep the search.
"""

from __future__ import annotations

import gc
import signal
import threading
import time
from contextlib import contextmanager

from derive.errors import SpecError

COMMAND_SECONDS = 120  # default budget of one `derive`, `derive check` or `codegen` run


_deadlines: list[float] = []  # the deadlines in force, outermost first


class _BudgetSpent(BaseException):
    """The outermost limit ran out: not a TimeoutError, so a search that catches its own time-outs
    (`except TimeoutError: try something else`) cannot swallow it; the outermost block turns it back
    into TimeoutError."""


def _in_gc_callback(frame) -> bool:
    """Whether the alarm interrupted a gc callback, where an exception is swallowed (printed as "unraisable")."""
    codes = {getattr(callback, "__code__", None) for callback in gc.callbacks} - {None}
    while codes and frame is not None:
        if frame.f_code in codes:
            return True
        frame = frame.f_back
    return False


def _stop(_signal=None, frame=None):
    now = time.monotonic()
    if not _deadlines:  # a late alarm after the last block: nothing to stop
        return
    if _in_gc_callback(frame):  # the alarm repeats: the next one lands outside the callback
        return
    if now >= _deadlines[0] - 1e-3:
        raise _BudgetSpent
    if now >= _deadlines[-1] - 1e-3:
        raise TimeoutError


def _arm() -> None:
    """The timer for the innermost deadline; it repeats, so an alarm swallowed (say, inside a gc
    callback) comes again until its block is left."""
    if _deadlines:
        signal.setitimer(signal.ITIMER_REAL, max(_deadlines[-1] - time.monotonic(), 1e-3), 0.05)
    else:
        signal.setitimer(signal.ITIMER_REAL, 0)


@contextmanager
def time_limit(seconds: float):
    """Raise TimeoutError inside the block after `seconds` (main thread only; elsewhere no limit)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    deadline = time.monotonic() + seconds
    alarm = {signal.SIGALRM}
    signal.pthread_sigmask(signal.SIG_BLOCK, alarm)  # the bookkeeping is never cut short by the alarm
    signal.signal(signal.SIGALRM, _stop)  # stays installed: a late alarm finds no deadline and returns
    _deadlines.append(min(deadline, _deadlines[-1]) if _deadlines else deadline)
    _arm()
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, alarm)
        yield
    except _BudgetSpent:
        if len(_deadlines) > 1:
            raise
        raise TimeoutError from None
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, alarm)
        _deadlines.pop()
        _arm()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, alarm)


MAX_EXAMPLE_PARAMETERS = 20_000  # the worked example computes (and tabulates) every weight in 50 digits


def check_example_size(spec) -> None:
    """Refuse a worked example that cannot finish: it is computed weight by weight, in 50-digit arithmetic."""
    if spec.is_chain:
        count = sum(n_in * n_out + n_out for n_in, n_out in zip(spec.sizes, spec.sizes[1:]))
    else:
        import sympy as sp

        from derive.network.graph import Graph

        graph = Graph(spec)
        count = sum(int(sp.prod([sp.sympify(s).xreplace(graph.sizes) for s in p.shape])) for p in graph.params)
    if count > MAX_EXAMPLE_PARAMETERS:
        raise SpecError(f"--example: the worked example computes every one of the network's {count:,} parameters "
                        f"in 50-digit arithmetic; it is made for nets of up to {MAX_EXAMPLE_PARAMETERS:,} "
                        "(the derivation itself holds for any width: drop --example)")
