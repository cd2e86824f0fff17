"""Waiting on a condition with a deadline, never for a fixed time: a slow machine waits longer,
a fast one not at all, and a condition that never comes fails with what was awaited.

The one place tests wait: :func:`wait_until` (a condition becomes true), :func:`wait_quiet` (a busy
signal stays off for a while) and :func:`rerun_until` (a Streamlit ``AppTest`` rerun until its page
shows something, as a fragment's timer would rerun it).
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, what: str | Callable[[], str] = "the condition",
               poll: float = 0.005) -> T:
    """``condition()``'s first truthy value, polled until ``timeout`` seconds pass; AssertionError
    naming ``what`` otherwise (a callable ``what`` is asked then, to say the state it ended in).
    An exception from ``condition`` ends the wait at once."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what() if callable(what) else what} did not happen within {timeout} s")
        time.sleep(poll)


def wait_quiet(busy: Callable[[], bool], quiet: float, timeout: float, what: str = "quiet",
               poll: float = 0.1) -> None:
    """Return once ``busy()`` has been false for ``quiet`` seconds in a row; AssertionError naming
    ``what`` when that has not happened within ``timeout`` seconds."""
    since: list[float | None] = [None]

    def settled() -> bool:
        if busy():
            since[0] = None
            return False
        if since[0] is None:
            since[0] = time.monotonic()
        return time.monotonic() - since[0] > quiet

    wait_until(settled, timeout, what, poll)


def rerun_until(at, done: Callable[[], object], timeout: float = 120.0, pause: float = 0.3,
                what: str | Callable[[], str] = "the page showing what was awaited") -> object:
    """Rerun the ``AppTest`` ``at`` every ``pause`` seconds until ``done()`` is truthy (checked
    before each rerun); a rerun that raises fails at once with the page's exceptions. Returns ``at``."""

    def shown():
        if done():
            return True
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return False

    wait_until(shown, timeout, what, pause)
    return at
