"""Every background task of a node, watched: none may fail unseen.

A node whose metadata loop or Raft ticks died still answers status requests and looks
alive — a zombie, `starting, fenced` for minutes with nothing in its log. So here:
- a task that must run as long as the node does (`forever`) and ends, or any supervised
  task that raises, crashes the node;
- so does an exception inside a `fatal` section: code that applies committed state,
  where a step half done leaves the node wrong however it goes on.
Crashing is one CRITICAL line with the traceback, then the node stops at once (no clean
shutdown: its state is suspect) and the process exits with EXIT_CRASHED, so whoever
runs it sees it and can restart it. Cancellation (shutdown) is not a failure. Failures a
task expects (a peer that does not answer, a storage error) it handles itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager

log = logging.getLogger("mini_kafka.node")

EXIT_CRASHED = 70  # EX_SOFTWARE: an internal error, not bad input


class NodeCrashed(Exception):
    """The node stopped on a failure its supervisor saw (see the CRITICAL log line)."""


class Supervisor:
    def __init__(self, node_name: str):
        self.node_name = node_name
        self.tasks: set[asyncio.Task] = set()
        self.failure: str | None = None
        self._error: BaseException | None = None
        self.stopping = False  # a clean shutdown is under way: failures are only logged
        self._crashed = asyncio.Event()

    def spawn(self, coro: Coroutine, name: str, *, forever: bool = False) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self.tasks.add(task)
        task.add_done_callback(lambda t: self._done(t, forever))
        return task

    def _done(self, task: asyncio.Task, forever: bool) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self.crash(f"task {task.get_name()!r} failed", error)
        elif forever:
            self.crash(f"task {task.get_name()!r} ended; it must run as long as the node")

    @contextmanager
    def fatal(self, what: str) -> Iterator[None]:
        """Any exception inside crashes the node (and is re-raised)."""
        try:
            yield
        except Exception as e:
            self.crash(f"{what} failed", e)
            raise

    def crash(self, what: str, error: BaseException | None = None) -> None:
        if self.stopping:
            log.error("%s: %s while shutting down", self.node_name, what, exc_info=error)
            return
        if self.failure is not None:
            if error is None or error is not self._error:  # not the same failure, re-raised
                log.error("%s: also %s", self.node_name, what, exc_info=error)
            return
        self.failure = what if error is None else f"{what}: {type(error).__name__}: {error}"
        self._error = error
        log.critical("%s: %s; crashing, so it can be restarted", self.node_name, what,
                     exc_info=error)
        self._crashed.set()

    async def wait_crashed(self) -> str:
        await self._crashed.wait()
        return self.failure
