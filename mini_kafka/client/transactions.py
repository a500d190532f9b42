"""A transactional producer's side of KIP-98: its producer id and epoch from the
transaction coordinator, the partitions and group offsets each transaction touches, and
ending it. Runs on the producer's event loop.

CONCURRENT_TRANSACTIONS (the last transaction's markers are still being written) is
waited out; PRODUCER_FENCED means a newer producer with the same transactional id has
started, and this one can only close.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mini_kafka.client.cluster import ClusterView
from mini_kafka.client.coordinator_link import GROUP, TRANSACTION, CoordinatorLink
from mini_kafka.errors import KafkaError, KafkaTimeoutError
from mini_kafka.protocol import ApiKey


class TransactionState:
    def __init__(self, view: ClusterView, transactional_id: str, timeout_ms: int,
                 request_timeout_ms: int, retry_backoff_ms: int):
        self.view, self.transactional_id, self.timeout_ms = view, transactional_id, timeout_ms
        self.request_timeout_ms, self.retry_backoff_ms = request_timeout_ms, retry_backoff_ms
        self.link = CoordinatorLink(view, transactional_id, request_timeout_ms,
                                    retry_backoff_ms, key_type=TRANSACTION)
        self.producer_id, self.producer_epoch = -1, -1
        self.in_transaction = False
        self.partitions: set[tuple[str, int]] = set()
        self.failed: BaseException | None = None  # a send in this transaction failed

    async def _call(self, api: int, body: dict[str, Any], link: CoordinatorLink | None = None
                    ) -> dict[str, Any]:
        """Ask until the answer is not CONCURRENT_TRANSACTIONS; raise its error if any."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.request_timeout_ms / 1000
        while True:
            answer = await (link or self.link).call(api, body)
            if answer["error"] != "CONCURRENT_TRANSACTIONS":
                break
            if loop.time() > deadline:
                raise KafkaTimeoutError(f"transaction of {self.transactional_id!r} still "
                                        f"ending after {self.request_timeout_ms} ms")
            await asyncio.sleep(self.retry_backoff_ms / 1000)
        if answer["error"] != "NONE":
            raise KafkaError(answer["error"], answer.get("message", "") or
                             f"transactional id {self.transactional_id!r}")
        return answer

    def _ids(self) -> dict[str, Any]:
        return {"transactional_id": self.transactional_id, "producer_id": self.producer_id,
                "producer_epoch": self.producer_epoch}

    async def init(self) -> None:
        """A producer id and a fresh epoch: fences older producers with this id and aborts
        whatever transaction they left open."""
        answer = await self._call(ApiKey.INIT_PRODUCER_ID, {
            "transactional_id": self.transactional_id,
            "transaction_timeout_ms": self.timeout_ms})
        self.producer_id, self.producer_epoch = answer["producer_id"], answer["producer_epoch"]

    async def add_partitions(self, tps: list[tuple[str, int]]) -> None:
        new = [tp for tp in tps if tp not in self.partitions]
        if new:
            await self._call(ApiKey.ADD_PARTITIONS_TO_TXN,
                             {**self._ids(), "partitions": [list(tp) for tp in new]})
            self.partitions.update(new)

    async def send_offsets(self, offsets: dict[tuple[str, int], tuple[int, str]],
                           group: dict[str, Any]) -> None:
        """Add the group's offsets to the transaction: committed only if it commits."""
        await self._call(ApiKey.ADD_OFFSETS_TO_TXN, {**self._ids(), "group_id": group["group_id"]})
        group_link = CoordinatorLink(self.view, group["group_id"], self.request_timeout_ms,
                                     self.retry_backoff_ms, key_type=GROUP)
        answer = await self._call(ApiKey.TXN_OFFSET_COMMIT, {
            **self._ids(), "group_id": group["group_id"],
            "member_id": group.get("member_id", ""), "generation": group.get("generation", -1),
            "offsets": [{"topic": t, "partition": p, "offset": o, "metadata": m}
                        for (t, p), (o, m) in sorted(offsets.items())]}, group_link)
        errors = sorted({r["error"] for r in answer.get("partitions", [])} - {"NONE"})
        if errors:
            raise KafkaError(errors[0], f"offsets of group {group['group_id']!r} in the "
                                        "transaction")

    async def end(self, commit: bool) -> None:
        await self._call(ApiKey.END_TXN, {**self._ids(), "commit": commit})
        self.in_transaction, self.partitions, self.failed = False, set(), None
