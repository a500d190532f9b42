"""The process shell every node shares: config, logging, the two server endpoints, the
node administration requests (status, fault rules), and a clean shutdown on SIGTERM.

A node listens twice: on its open endpoint (`port`) for clients and tools without the
cluster's keys, which may call the client APIs only, and on its authenticated endpoint
(`cluster_port`, CURVE) for the cluster's members — the other nodes and the launcher —
which carries all of the cluster's own traffic (mini_kafka.access says who may ask what).

A role (coordinator or broker) plugs in its own request handlers and start/stop work,
and runs every background task through the node's supervisor (supervisor.py), which
crashes the node loudly when one fails instead of leaving it half alive.
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
from mini_kafka.access import (
    LAUNCHER,
    member_names,
    refusal_from_member,
    refusal_on_open_endpoint,
)
from mini_kafka.broker.log.disk import INJECTED_FULL_MARKER, Disk
from mini_kafka.clock import SystemClock
from mini_kafka.config import ClusterConfig, ConfigError, NodeSpec, load_config
from mini_kafka.errors import KafkaError
from mini_kafka.log_limit import RepeatLimitedLog
from mini_kafka.protocol import ApiKey, Bounds, Message, api_name
from mini_kafka.supervisor import EXIT_CRASHED, NodeCrashed, Supervisor
from mini_kafka.transport import (
    AddressInUse,
    Client,
    FaultRules,
    KeysError,
    Server,
    ZapHandler,
    load_keys,
)
from mini_kafka.transport.faults import CONTROL_APIS
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
        # The log layer's write seam: chaos can make it "full", also across restarts.
        self.disk = Disk(full=(config.node_dir(spec.name) / INJECTED_FULL_MARKER).exists())
        limits, timeouts = config.limits, config.timeouts
        # What peers can provoke (bad messages, failed handlers), once per kind per interval.
        self.repeats = RepeatLimitedLog(log, limits.log_repeat_interval_ms, self.clock)
        self.keys = load_keys(config.keys_dir, self.name, member_names(config))
        self.client = Client(
            self.name, faults=self.faults, request_timeout_ms=timeouts.request_timeout_ms,
            retries_max=limits.request_retries_max, retry_backoff_ms=limits.retry_backoff_ms,
            queue_messages_max=limits.socket_queue_messages_max,
            peer_names={**{s.endpoint: s.name for s in config.nodes},
                        **{s.cluster_endpoint: s.name for s in config.nodes}},
            keys=self.keys, member_endpoints={s.cluster_endpoint: s.name for s in config.nodes},
            repeats=self.repeats,
        )
        self.started_ms = self.clock.monotonic_ms()
        self.supervisor = Supervisor(self.name)
        self.role: Role | None = None

    @property
    def data_dir(self):
        return self.config.node_dir(self.name)

    async def dispatch_open(self, request: Message) -> Message | None:
        """The open endpoint: anyone, client APIs only."""
        problem = refusal_on_open_endpoint(request)
        if problem:
            raise KafkaError("CLUSTER_AUTHORIZATION_FAILED", f"{self.name}: {problem}")
        return await self.dispatch(request)

    async def dispatch_member(self, request: Message) -> Message | None:
        """The authenticated endpoint: the sender is the member its key says it is."""
        problem = refusal_from_member(request)
        if problem:
            raise KafkaError("CLUSTER_AUTHORIZATION_FAILED", f"{self.name}: {problem}")
        return await self.dispatch(request)

    async def dispatch(self, request: Message) -> Message | None:
        if request.api == ApiKey.STATUS:
            return request.reply(self.status(), sender=self.name)
        if request.api == ApiKey.SET_FAULTS:
            return self._set_faults(request)
        handler = self.role.handlers.get(request.api) if self.role else None
        if handler is None:
            return self._not_served(request)
        return await handler(request)

    def _not_served(self, request: Message) -> Message:
        """An API this node does not serve: the reply says what the node is (`role`), and
        a role that knows better adds where to go (a coordinator names the brokers)."""
        reply = request.error_reply(
            "INVALID_REQUEST", f"{self.name} is a {self.spec.role} and does not serve "
                               f"{api_name(request.api)}", sender=self.name)
        reply.body["role"] = self.spec.role
        directions = getattr(self.role, "directions", None)
        if directions is not None:
            reply.body.update(directions(reply.body["message"]))
        return reply

    def status(self) -> dict[str, Any]:
        out = {
            "name": self.name, "id": self.spec.id, "role": self.spec.role, "pid": os.getpid(),
            "uptime_ms": self.clock.monotonic_ms() - self.started_ms, "version": __version__,
            "endpoint": self.spec.endpoint, "cluster_endpoint": self.spec.cluster_endpoint,
            "faults": self.faults.to_wire(), "ready": False, "disk_full": self.disk.full,
            "log_lines_suppressed": {str(k): n for k, n in self.repeats.suppressed.items()},
        }
        if self.role is not None:
            out.update(self.role.status())
        return out

    def _set_faults(self, request: Message) -> Message:
        """Network rules ("rules": replaces them all) and/or "disk_full" (true: every
        write to a partition log fails with ENOSPC); either may be left out."""
        body = request.body
        disk_full = body.get("disk_full")
        if disk_full is not None and not isinstance(disk_full, bool):
            raise KafkaError("INVALID_REQUEST", "disk_full must be true or false")
        if "rules" in body or disk_full is None:
            try:
                rules = FaultRules.rules_from_wire(body.get("rules"))
            except (TypeError, ValueError) as e:
                raise KafkaError("INVALID_REQUEST", f"bad fault rules: {e}") from None
            self.faults.set(rules)
            log.warning("fault rules now: %s", self.faults.to_wire() or "none")
        if disk_full is not None and disk_full != self.disk.full:
            self.disk.full = disk_full
            log.warning("disk fault: %s", "every write to a partition log now fails with "
                        "ENOSPC" if disk_full else "none (writes work again)")
        return request.reply({"rules": self.faults.to_wire(), "disk_full": self.disk.full},
                             sender=self.name)

    async def run(self, make_role: Callable[[Node], Role]) -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        loop.add_signal_handler(signal.SIGUSR1, dump_tasks)
        limits = self.config.limits
        bounds = Bounds(limits.message_bytes_max, limits.message_frames_max,
                        limits.message_nesting_levels_max)
        common = dict(faults=self.faults, bounds=bounds, repeats=self.repeats,
                      inflight_requests_max=limits.server_inflight_requests_max,
                      queue_messages_max=limits.socket_queue_messages_max,
                      reply_wait_ms=self.config.timeouts.request_timeout_ms)
        zap = ZapHandler(self.keys, self.repeats)  # before the endpoint it guards opens
        servers = []
        try:
            servers.append(Server(
                self.name, self.spec.cluster_endpoint, self.dispatch_member, members=zap,
                fault_exempt=_launcher_control, **common))
            servers.append(Server(
                self.name, self.spec.endpoint, self.dispatch_open,
                peer_inflight_requests_max=limits.peer_inflight_requests_max,
                peer_queued_requests_max=limits.peer_queued_requests_max, **common))
        except BaseException:
            for server in servers:
                server.close()
            zap.close()
            raise
        log.info("%s (pid %d, version %s) listening on %s (open) and %s (cluster members)",
                 self.name, os.getpid(), __version__, self.spec.endpoint,
                 self.spec.cluster_endpoint)
        serving = self.supervisor.spawn(_serve_all(servers), "serving requests", forever=True)
        crashed = asyncio.ensure_future(self.supervisor.wait_crashed())
        stop_wait = asyncio.ensure_future(stopping.wait())
        try:
            try:
                self.role = make_role(self)
                await self.role.start()
            except Exception as e:
                self.supervisor.crash("starting the role failed", e)
                raise NodeCrashed(self.supervisor.failure) from e
            await asyncio.wait({crashed, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if crashed.done():  # no clean shutdown: what it would write is suspect
                raise NodeCrashed(crashed.result())
            log.info("%s shutting down", self.name)
            self.supervisor.stopping = True
            await self.role.stop()
        finally:
            stop_wait.cancel()
            crashed.cancel()
            serving.cancel()
            for server in servers:
                server.close()
            zap.close()
            self.client.close()
        log.info("%s stopped cleanly", self.name)


async def _serve_all(servers: list[Server]) -> None:
    await asyncio.gather(*(s.run() for s in servers))


def _launcher_control(request: Message) -> bool:
    """The launcher's status probes and fault rules pass every fault rule: chaos must
    never cut the path that heals it (only reachable on the authenticated endpoint,
    where the sender is proven)."""
    return request.sender == LAUNCHER and request.api in CONTROL_APIS


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
    if spec.port == 0 or spec.cluster_port == 0:
        print(f"error: {spec.name} has no port (base_port and cluster_base_port 0 are "
              "resolved by the launcher)", file=sys.stderr)
        return 2
    setup_logging(config.node_dir(spec.name) / f"{spec.name}.log")
    try:
        asyncio.run(Node(config, spec).run(make_role))
    except KeysError as e:
        log.error("cannot start: %s", e)
        print(f"error: {e}", file=sys.stderr)
        return 2
    except AddressInUse as e:
        log.error("cannot start: %s", e)
        print(f"error: {e}", file=sys.stderr)
        return 3
    except NodeCrashed as e:
        print(f"error: {spec.name} crashed: {e} (see {spec.name}.log)", file=sys.stderr)
        return EXIT_CRASHED
    return 0
