"""Blocking helpers to reach a cluster's coordinator ensemble: commit a metadata command,
read the committed metadata."""

from __future__ import annotations

import asyncio
from typing import Any

from mini_kafka.clock import SystemClock
from mini_kafka.config import ClusterConfig
from mini_kafka.coordinator.client import ControllerClient
from mini_kafka.metadata import MetadataImage
from mini_kafka.transport import Client


def _with_controller(config: ClusterConfig, work, timeout_ms: int | None):
    async def go():
        client = Client("launcher", retries_max=0)
        t = config.timeouts
        controller = ControllerClient(
            client, {s.name: s.endpoint for s in config.nodes if s.role == "coordinator"},
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
    return _with_controller(
        config, lambda c: c.read_metadata(endpoint=endpoint, linearizable=linearizable),
        timeout_ms)
