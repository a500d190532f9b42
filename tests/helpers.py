"""Helpers shared by the test tiers."""

from __future__ import annotations

import time


def wait_until(predicate, timeout_s: float = 10.0, interval_s: float = 0.02, what: str = ""):
    """Poll `predicate` until it returns a truthy value, or fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what or predicate}")
        time.sleep(interval_s)
