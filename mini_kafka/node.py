"""The process shell every node shares: config, logging, the server socket, the node
administration requests (status, fault rules), and a clean shutdown on SIGTERM.

A role (coordinator or broker) plugs in its own request handlers and start/stop work.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import signal
import sys
from collections.abc import Callable
from typing import Any, Protocol

from mini_kafka import __version__
from mini_kafka.clock import SystemClock
from mini_kafka.config import ClusterConfig, ConfigError, NodeSpec, load_config
from mini_kafka.errors import KafkaError
from mini_kafka.protocol import ApiKey, Message
from mini_kafka.transport import AddressInUse, Client, FaultRules, Server
from mini_kafka.transport.server import Handler

log = logging.getLogger("mini_kafka.node")


class Role(Protocol):
    handlers: dict[int, Handler]

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def status(self) -> dict[str, Any]:
        """Role-specific status fields; must include "ready" (bool)."""
        ...


class Node:
    """What a role gets from its process: identity, config, clock, faults, a client."""

    def __init__(self, config: ClusterConfig, spec: NodeSpec):
        self.config = config
        self.spec = spec
        self.name = spec.name
        self.clock = SystemClock()
        self.rng = random.Random()
        self.faults = FaultRules(random.Random())
        limits, timeouts = config.limits, config.timeouts
        self.client = Client(
            self.name, faults=self.faults, request_timeout_ms=timeouts.request_timeout_ms,
            retries_max=limits.request_retries_max, retry_backoff_ms=limits.retry_backoff_ms,
            queue_messages_max=limits.socket_queue_messages_max,
            peer_names={s.endpoint: s.name for s in config.nodes},
        )
        self.started_ms = self.clock.monotonic_ms()
        self.role: Role | None = None

    @property
    def data_dir(self):
        return self.config.node_dir(self.name)

    async def dispatch(self, request: Message) -> Message | None:
        if request.api == ApiKey.STATUS:
            return request.reply(self.status(), sender=self.name)
        if request.api == ApiKey.SET_FAULTS:
            return self._set_faults(request)
        handler = self.role.handlers.get(request.api) if self.role else None
        if handler is None:
            raise KafkaError("INVALID_REQUEST", f"{self.name} does not serve API {request.api}")
        return await handler(request)

    def status(self) -> dict[str, Any]:
        out = {
            "name": self.name, "id": self.spec.id, "role": self.spec.role, "pid": os.getpid(),
            "uptime_ms": self.clock.monotonic_ms() - self.started_ms, "version": __version__,
            "endpoint": self.spec.endpoint, "faults": self.faults.to_wire(), "ready": False,
        }
        if self.role is not None:
            out.update(self.role.status())
        return out

    def _set_faults(self, request: Message) -> Message:
        try:
            rules = FaultRules.rules_from_wire(request.body.get("rules"))
        except (TypeError, ValueError) as e:
            raise KafkaError("INVALID_REQUEST", f"bad fault rules: {e}") from None
        self.faults.set(rules)
        log.warning("fault rules now: %s", self.faults.to_wire() or "none")
        return request.reply({"rules": self.faults.to_wire()}, sender=self.name)

    async def run(self, make_role: Callable[[Node], Role]) -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        loop.add_signal_handler(signal.SIGUSR1, dump_tasks)
        limits = self.config.limits
        server = Server(self.name, self.spec.endpoint, self.dispatch, faults=self.faults,
                        inflight_requests_max=limits.server_inflight_requests_max,
                        queue_messages_max=limits.socket_queue_messages_max,
                        message_bytes_max=limits.message_bytes_max)
        log.info("%s (pid %d, version %s) listening on %s", self.name, os.getpid(),
                 __version__, self.spec.endpoint)
        serving = asyncio.ensure_future(server.run())
        try:
            self.role = make_role(self)
            await self.role.start()
            stop_wait = asyncio.ensure_future(stopping.wait())
            await asyncio.wait({serving, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            stop_wait.cancel()
            if serving.done():
                serving.result()  # an invariant broke: crash loudly
            log.info("%s shutting down", self.name)
            await self.role.stop()
        finally:
            serving.cancel()
            server.close()
            self.client.close()
        log.info("%s stopped cleanly", self.name)


def dump_tasks() -> None:
    """`kill -USR1 <pid>` writes every asyncio task's stack to the node's log: what a
    stuck node is waiting for (py-spy shows threads, not coroutines)."""
    tasks = asyncio.all_tasks()
    log.warning("SIGUSR1: %d asyncio tasks", len(tasks))
    for task in tasks:
        log.warning("task %s: %s", task.get_name(), " -> ".join(_awaiting(task.get_coro())))


def _awaiting(coro) -> list[str]:
    """The chain of coroutines a task is suspended in, outermost first (a task's own
    get_stack() stops at its first frame)."""
    chain = []
    while coro is not None and hasattr(coro, "cr_frame"):
        frame = coro.cr_frame
        chain.append(f"{coro.__qualname__}:{frame.f_lineno}" if frame else coro.__qualname__)
        coro = coro.cr_await
    if coro is not None:  # a future or a generator-based awaitable at the bottom
        chain.append(type(coro).__name__)
    return chain or ["(not started)"]


def setup_logging(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)  # append mode: the launcher's stderr capture shares it
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def main(role: str, make_role: Callable[[Node], Role], argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m mini_kafka.{role}",
                                     description=f"Run one mini-kafka {role} process.")
    parser.add_argument("--id", type=int, required=True, help=f"this {role}'s id (1-based)")
    parser.add_argument("--config", default="cluster.yaml", help="cluster config file")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        spec = config.node(f"{role}-{args.id}")
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if spec.port == 0:
        print(f"error: {spec.name} has no port (base_port 0 is resolved by the launcher)",
              file=sys.stderr)
        return 2
    setup_logging(config.node_dir(spec.name) / f"{spec.name}.log")
    try:
        asyncio.run(Node(config, spec).run(make_role))
    except AddressInUse as e:
        log.error("cannot start: %s", e)
        print(f"error: {e}", file=sys.stderr)
        return 3
    return 0
