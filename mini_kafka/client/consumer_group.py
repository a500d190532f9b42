"""The Consumer's group side: rejoining at poll, revoking and assigning, committing.

A mixin over the Consumer's state (its GroupMember, assignment, positions and runtime),
kept apart so the fetch path and the group protocol each read as one idea.
"""

from __future__ import annotations

import logging

from mini_kafka.client import arguments
from mini_kafka.client.assignors import COOPERATIVE
from mini_kafka.client.types import OffsetAndMetadata, TopicPartition
from mini_kafka.errors import KafkaError

log = logging.getLogger("mini_kafka.client.consumer")


class GroupConsumer:
    def _poll_group(self) -> None:
        g = self._group
        g.last_poll_ms = self.clock.monotonic_ms()
        if self.enable_auto_commit and g.last_poll_ms >= self._next_auto_commit_ms:
            self._next_auto_commit_ms = g.last_poll_ms + self.auto_commit_interval_ms
            self._commit_quietly()
        while g.needs_rejoin:
            cooperative = set(g.assignors) <= COOPERATIVE
            if not cooperative:  # eager: give everything up before joining
                self._revoke(list(self._assigned))
            owned = [tuple(tp) for tp in self._assigned]
            new = [TopicPartition(*tp) for tp in
                   self._runtime.run(g.join(self._subscription, owned))]
            lost = [tp for tp in self._assigned if tp not in new]
            if lost:  # cooperative: give these up, then rejoin so others may take them
                self._revoke(lost)
                g.needs_rejoin = True
            added = [tp for tp in new if tp not in self._assigned]
            self._set_assignment(new)
            committed = self._runtime.run(g.committed([tuple(tp) for tp in added])) \
                if added else {}
            for tp in added:
                if tuple(tp) in committed:
                    self._positions[tp] = committed[tuple(tp)][0]
            if added and self._on_assign:
                self._on_assign(added)

    def _revoke(self, partitions: list[TopicPartition]) -> None:
        if not partitions:
            return
        if self.enable_auto_commit:
            self._commit_quietly(partitions)
        if self._on_revoke:
            self._on_revoke(partitions)
        self._set_assignment([tp for tp in self._assigned if tp not in partitions])

    def _commit_quietly(self, partitions=None) -> None:
        try:
            self.commit(self._consumed(partitions))
        except KafkaError as e:  # auto-commit failures are not the caller's error
            log.warning("auto-commit to group %s failed: %s", self.group_id, e)

    def _consumed(self, partitions=None) -> dict[TopicPartition, OffsetAndMetadata]:
        wanted = self._assigned if partitions is None else partitions
        return {tp: OffsetAndMetadata(self._positions[tp]) for tp in wanted
                if tp in self._positions}

    def commit(self, offsets=None) -> None:
        """Commit offsets (default: the position of every assigned partition, i.e. what
        poll has returned) and wait until the coordinator has them replicated."""
        self._runtime.run(self._commit(None if offsets is None else arguments.offsets(offsets)))

    def commit_async(self, offsets=None, callback=None):
        """Commit without waiting; returns a Future. callback(offsets, error_or_None)."""
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        checked = None if offsets is None else arguments.offsets(offsets)
        future = self._runtime.submit(self._commit(checked))
        if callback is not None:
            future.add_done_callback(lambda f: callback(offsets, f.exception()))
        return future

    async def _commit(self, offsets) -> None:
        if self._group is None:
            raise KafkaError("INVALID_GROUP_ID", "commit() needs a group_id")
        await self._group.commit(arguments.offsets(self._consumed()) if offsets is None
                                 else offsets)

    def group_metadata(self) -> dict:
        """What a transactional producer needs to commit this member's offsets (and be
        fenced if the member has been replaced): send_offsets_to_transaction(o, this)."""
        if self._group is None:
            raise KafkaError("INVALID_GROUP_ID", "group_metadata() needs a group_id")
        return {"group_id": self.group_id, "member_id": self._group.member_id,
                "generation": self._group.generation}

    def committed(self, tp: TopicPartition) -> int | None:
        """The group's committed offset for a partition, or None."""
        if self._group is None:
            raise KafkaError("INVALID_GROUP_ID", "committed() needs a group_id")
        tp = arguments.topic_partition(tp)
        found = self._runtime.run(self._group.committed([tuple(tp)]))
        return found[tuple(tp)][0] if tuple(tp) in found else None
