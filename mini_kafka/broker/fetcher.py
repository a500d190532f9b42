"""Followers pull from leaders: one fetch loop per leader broker, covering every
partition this broker follows there (Kafka's replica fetcher threads).

Each fetch carries the follower's log end offset and the epoch of its last batch; the
leader answers with records, or with where our logs diverge, or with an error. A
response is applied only if the partition still follows the same leader in the same
epoch as when the fetch was sent.

A partition that starts following a leader joins the next fetch at once: a fetch
already waiting at that leader (a long poll of up to replica_fetch_wait_max_ms) is abandoned
and sent again with it, so a new leader's followers (and its acks=all writes) do not
wait out a poll that could not have answered for it. A fetch is sent again the same way
when the leader says it has none of ours waiting (a FETCH_NUDGE, fetch_nudges.py) and
ours went out longer ago than replica_fetch_silence_ms: it, or its answer, was lost.

The leader's answer names only the partitions this broker learns something from
(records, an error, a divergence, a higher high watermark: long_poll.news_only); one
it leaves out stays as it is and goes in the next fetch as before.

An answer that only newer metadata can change (an error), or a divergence that cut
nothing, is not asked again at once: the loop backs off, and a stalled divergence is
logged (once per interval) — a follower that cannot converge is a bug to see, not a
loop to burn a core in.
"""

from __future__ import annotations

import asyncio
import logging

from mini_kafka.broker.partition import FETCH_AGAIN, FOLLOWER, STALLED, Partition
from mini_kafka.errors import KafkaError
from mini_kafka.log_limit import RepeatLimitedLog
from mini_kafka.protocol import ApiKey

log = logging.getLogger("mini_kafka.broker.fetcher")

FETCH_MAX_BYTES = 8 * 1024 * 1024
PARTITION_MAX_BYTES = 1024 * 1024


class FetcherManager:
    def __init__(self, manager):
        self.manager = manager
        self.follows: dict[int, dict[tuple[str, int], Partition]] = {}  # leader -> parts
        self.endpoints: dict[int, str] = {}
        self.tasks: dict[int, asyncio.Task] = {}
        # leader -> set when the fetch out there is to go again (a partition joined, or
        # the leader never got it), and when that fetch went out
        self._ask_again: dict[int, asyncio.Future] = {}
        self._sent_ms: dict[int, int] = {}
        self.stalls = RepeatLimitedLog(log, manager.config.limits.log_repeat_interval_ms,
                                       manager.clock)

    def assign(self, part: Partition, leader: int, endpoint: str) -> None:
        """`endpoint` is the leader's registered (open, client) one; followers fetch on
        its authenticated endpoint instead, as replicas must."""
        key = (part.topic, part.partition)
        for other, parts in self.follows.items():
            if other != leader:
                parts.pop(key, None)
        parts = self.follows.setdefault(leader, {})
        joined = key not in parts
        parts[key] = part
        # (A broker this config lacks has no authenticated endpoint to fetch from; its
        # open one refuses replicas, and the partition stays out of sync.)
        self.endpoints[leader] = self.manager.config.cluster_endpoint_of(f"broker-{leader}") \
            or endpoint
        waiting = self._ask_again.get(leader)
        if joined and waiting is not None and not waiting.done():
            waiting.set_result(None)
        if leader not in self.tasks or self.tasks[leader].done():
            self.tasks[leader] = self.manager.node.supervisor.spawn(
                self._run(leader), f"fetching from broker {leader}")

    def remove(self, part: Partition) -> None:
        for parts in self.follows.values():
            parts.pop((part.topic, part.partition), None)

    def close(self) -> None:
        for task in self.tasks.values():
            task.cancel()

    def nudged(self, leader: int) -> bool:
        """`leader` has no fetch of ours waiting and got none for a while. If the one out
        there went out longer ago than that, it or its answer was lost: send it again
        now. True if it goes again; False if none is out, or it went out since (it is on
        its way, or the nudge was late)."""
        waiting, sent = self._ask_again.get(leader), self._sent_ms.get(leader)
        if waiting is None or waiting.done() or sent is None:
            return False
        age_ms = self.manager.clock.monotonic_ms() - sent
        if age_ms < self.manager.config.timeouts.replica_fetch_silence_ms:
            return False
        log.info("broker %d has no fetch of ours waiting; ours went out %d ms ago: it or "
                 "its answer was lost, sending it again", leader, age_ms)
        waiting.set_result(None)
        return True

    async def _fetch_unless_joined(self, leader: int, body: dict):
        """The leader's reply, or None when the fetch is to go again first."""
        joined = self._ask_again[leader] = asyncio.get_running_loop().create_future()
        self._sent_ms[leader] = self.manager.clock.monotonic_ms()
        fetch = asyncio.ensure_future(self.manager.node.client.request(
            self.endpoints[leader], ApiKey.FETCH, body, retries=0,
            timeout_ms=body["max_wait_ms"] + self.manager.config.timeouts.request_timeout_ms))
        try:
            await asyncio.wait([fetch, joined], return_when=asyncio.FIRST_COMPLETED)
            return fetch.result() if fetch.done() else None
        finally:
            if not fetch.done():  # abandoned; its late reply is dropped by the client
                fetch.cancel()
            if self._ask_again.get(leader) is joined:
                del self._ask_again[leader]
                del self._sent_ms[leader]

    async def _run(self, leader: int) -> None:
        backoff_s = self.manager.config.limits.retry_backoff_ms / 1000
        while self.follows.get(leader):
            parts = list(self.follows[leader].values())
            sent = {(p.topic, p.partition): (p.leader_epoch, p.log.log_end_offset)
                    for p in parts}
            body = {"replica_id": self.manager.broker_id,
                    "max_wait_ms": self.manager.config.timeouts.replica_fetch_wait_max_ms,
                    "min_bytes": 1, "max_bytes": FETCH_MAX_BYTES,
                    "partitions": [{"topic": p.topic, "partition": p.partition,
                                    "fetch_offset": p.log.log_end_offset,
                                    "last_fetched_epoch": p.log.epochs.latest_epoch,
                                    "current_leader_epoch": p.leader_epoch,
                                    "high_watermark": p.hw,  # the leader answers if it moved
                                    "partition_max_bytes": PARTITION_MAX_BYTES}
                                   for p in parts]}
            try:
                reply = await self._fetch_unless_joined(leader, body)
            except KafkaError as e:
                log.info("fetch from broker %d: %s", leader, e)
                await asyncio.sleep(backoff_s)
                continue
            if reply is None:  # a partition joined, or the fetch was lost: ask again
                continue
            if reply.error != "NONE":
                await asyncio.sleep(backoff_s)
                continue
            back_off = False
            for result in reply.body.get("partitions", []):
                key = (result["topic"], result["partition"])
                part = self.follows.get(leader, {}).get(key)
                epoch, fetch_offset = sent.get(key, (None, None))
                if part is None or part.role != FOLLOWER or part.leader != leader \
                        or part.leader_epoch != epoch:
                    continue  # the partition moved on while the fetch was in flight
                index = result.get("records")
                data = reply.payloads[index] if index is not None else b""
                outcome = self.manager.apply_fetch(part, fetch_offset, result, data)
                if outcome == STALLED:
                    self.stalls.log(
                        logging.WARNING, key, "%s: the leader (broker %d) says our log "
                        "diverges after its epoch %s (ending at %s), and cutting to that "
                        "changed nothing (log end %d, latest epoch %d): backing off",
                        part.name, leader, result["diverging_epoch"]["epoch"],
                        result["diverging_epoch"]["end_offset"], part.log.log_end_offset,
                        part.log.epochs.latest_epoch)
                elif outcome == FETCH_AGAIN:
                    self.stalls.forget(key)
                back_off |= outcome != FETCH_AGAIN
            if back_off:
                await asyncio.sleep(backoff_s)
