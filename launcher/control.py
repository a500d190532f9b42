"""Blocking helpers to reach a cluster as one of its members: the launcher's identity
and key (the CLI's cluster, chaos and status commands act as the launcher), on each
node's authenticated endpoint. Commit a metadata command, read the committed metadata,
ask one node for its status or change its fault rules."""

from __future__ import annotations

import asyncio
from typing import Any

from mini_kafka.access import LAUNCHER, member_names
from mini_kafka.clock import SystemClock
from mini_kafka.config import ClusterConfig, NodeSpec
from mini_kafka.coordinator.client import ControllerClient
from mini_kafka.metadata import MetadataImage
from mini_kafka.protocol import ApiKey, Message
from mini_kafka.transport import Client, ClusterKeys, call, load_keys


def launcher_keys(config: ClusterConfig) -> ClusterKeys:
    """Raises KeysError (naming the file and the fix) if they are missing or exposed."""
    return load_keys(config.keys_dir, LAUNCHER, member_names(config))


def member_client(config: ClusterConfig, **options) -> Client:
    """A transport client (on the caller's event loop) that reaches every node's
    authenticated endpoint as the launcher."""
    return Client(LAUNCHER, keys=launcher_keys(config),
                  member_endpoints={s.cluster_endpoint: s.name for s in config.nodes},
                  peer_names={s.cluster_endpoint: s.name for s in config.nodes}, **options)


def call_node(config: ClusterConfig, name: str, api: int, body: dict[str, Any] | None = None,
              *, timeout_ms: int, retries: int = 0) -> Message:
    """One request to node `name` on its authenticated endpoint."""
    return call(config.node(name).cluster_endpoint, api, body, timeout_ms=timeout_ms,
                retries=retries, keys=launcher_keys(config), member=name)


def _with_controller(config: ClusterConfig, work, timeout_ms: int | None):
    async def go():
        client = member_client(config, retries_max=0)
        t = config.timeouts
        controller = ControllerClient(
            client, {s.name: s.cluster_endpoint for s in config.nodes if s.role == "coordinator"},
            timeout_ms=timeout_ms or t.request_timeout_ms,
            attempt_timeout_ms=t.controller_attempt_timeout_ms,
            retry_backoff_ms=config.limits.retry_backoff_ms, clock=SystemClock())
        try:
            return await work(controller)
        finally:
            client.close()

    return asyncio.run(go())


def write(config: ClusterConfig, command: dict[str, Any],
          timeout_ms: int | None = None) -> dict[str, Any]:
    """Commit a metadata command through the controller; raises KafkaError on an error."""
    return _with_controller(config, lambda c: c.write(command), timeout_ms)


def read_metadata(config: ClusterConfig, endpoint: str | None = None,
                  linearizable: bool = False, timeout_ms: int | None = None) -> MetadataImage:
    """From coordinator `endpoint` (its authenticated one), or any that answers."""
    return _with_controller(
        config, lambda c: c.read_metadata(endpoint=endpoint, linearizable=linearizable),
        timeout_ms)


class StatusProber:
    """Status requests to many nodes, round after round, on one client and event loop:
    each node is connected to (a CURVE handshake) once, not once a round. With a fresh
    client per round the launcher used about a fifth of a core while 40 brokers
    started on this 2-core host."""

    def __init__(self, config: ClusterConfig):
        self._config = config
        self._runner = asyncio.Runner()
        self._client = None

    def __enter__(self) -> StatusProber:
        return self

    def __exit__(self, *exc) -> None:
        async def close():
            if self._client is not None:
                self._client.close()
        try:
            self._runner.run(close())
        finally:
            self._runner.close()

    def __call__(self, specs: list[NodeSpec], timeout_ms: int
                 ) -> dict[str, dict[str, Any] | None]:
        return self._runner.run(self._ask(specs, timeout_ms)) if specs else {}

    async def _ask(self, specs: list[NodeSpec], timeout_ms: int):
        if self._client is None:
            self._client = member_client(self._config, retries_max=0)
        replies = await asyncio.gather(
            *(self._client.request(s.cluster_endpoint, ApiKey.STATUS, timeout_ms=timeout_ms)
              for s in specs), return_exceptions=True)
        return {s.name: (r.body if isinstance(r, Message) else None)
                for s, r in zip(specs, replies, strict=True)}
