"""Waiting on a condition with a deadline, never for a fixed time: a slow machine waits longer,
a fast one not at all, and a condition that never comes fails with what was awaited."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, what: str = "the condition", poll: float = 0.005) -> T:
    """``condition()``'s first truthy value, polled until ``timeout`` seconds pass; AssertionError
    naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(poll)
