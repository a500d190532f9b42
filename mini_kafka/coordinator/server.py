"""The coordinator process's role: for now it serves node status only; the Raft ensemble
and the metadata state machine plug in here."""

from __future__ import annotations

from typing import Any

from mini_kafka.node import Node


class CoordinatorRole:
    def __init__(self, node: Node):
        self.node = node
        self.handlers = {}

    async def start(self) -> None:
        self.node.data_dir.mkdir(parents=True, exist_ok=True)

    async def stop(self) -> None:
        pass

    def status(self) -> dict[str, Any]:
        return {"ready": True}


def make_role(node: Node) -> CoordinatorRole:
    return CoordinatorRole(node)
