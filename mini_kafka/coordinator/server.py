"""The coordinator process: the Raft core over the transport, durable under
logs/coordinator-N/raft/, applying committed commands to the metadata state machine.

The Raft leader is the active controller: it takes metadata writes, tracks broker
sessions and fences brokers whose sessions expire. Every coordinator, leader or not,
serves committed metadata to brokers (a long-poll that returns as soon as something
newer is applied). Each Ready is handled in Raft's order: persist (fsync), send, apply.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from mini_kafka.coordinator.raft_storage import RaftStorage
from mini_kafka.coordinator.sessions import BrokerSessions
from mini_kafka.coordinator.state import MetadataState, check_command
from mini_kafka.errors import KafkaError
from mini_kafka.node import Node
from mini_kafka.protocol import ApiKey, Message
from mini_kafka.raft import LEADER, Msg, NotLeader, RaftConfig, RaftNode

log = logging.getLogger("mini_kafka.coordinator")


class CoordinatorRole:
    def __init__(self, node: Node):
        self.node = node
        config = node.config
        self.config = config
        self.ensemble = {s.id: s for s in config.nodes if s.role == "coordinator"}
        self.storage = RaftStorage(node.data_dir / "raft")
        self.state = MetadataState(config, config.limits.metadata_history_entries_max)
        if self.storage.snapshot.data is not None:
            self.state.restore(self.storage.snapshot.data)
        t = config.timeouts
        self.tick_ms = t.raft_heartbeat_interval_ms
        raft_config = RaftConfig(
            election_ticks=max(2, math.ceil(t.raft_election_timeout_ms / self.tick_ms)),
            heartbeat_ticks=1,
            max_entries_per_append=config.limits.raft_entries_per_append_max)
        self.raft = RaftNode(node.spec.id, sorted(self.ensemble), raft_config, node.rng,
                             term=self.storage.term, voted_for=self.storage.voted_for,
                             snapshot=self.storage.snapshot, entries=self.storage.entries)
        self.sessions = BrokerSessions(t.broker_session_timeout_ms)
        self._proposals: dict[int, tuple[int, asyncio.Future]] = {}  # index -> (term, result)
        self._applied = asyncio.Event()
        self._was_leader = False
        self._tasks: list[asyncio.Task] = []
        self._fence_in_flight: set[int] = set()
        self._last_rebalance_ms = 0
        self.handlers = {
            ApiKey.RAFT: self._on_raft,
            ApiKey.CONTROLLER_WRITE: self._on_write,
            ApiKey.METADATA_POLL: self._on_poll,
            ApiKey.BROKER_REGISTRATION: self._on_broker_registration,
            ApiKey.BROKER_HEARTBEAT: self._on_broker_heartbeat,
        }

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks.append(asyncio.ensure_future(self._tick_loop()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._fail_proposals("coordinator shutting down")
        self.storage.close()

    def status(self) -> dict[str, Any]:
        leader = self.ensemble.get(self.raft.leader)
        return {"ready": leader is not None, "raft_role": self.raft.role,
                "term": self.raft.term, "commit_index": self.raft.commit,
                "leader": leader.name if leader else None,
                "metadata_offset": self.state.offset}

    # -- driving the core -----------------------------------------------------------------

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_ms / 1000)
            self.raft.tick()
            self._drive()
            if self.raft.role == LEADER:
                self._controller_duties()

    def _drive(self) -> None:
        """Handle the core's outputs: persist, send, apply (Raft's required order)."""
        rd = self.raft.ready()
        if rd:
            self.storage.persist(rd)
            for msg in rd.messages:
                peer = self.ensemble[msg.dst]
                asyncio.ensure_future(self.node.client.send_oneway(
                    peer.endpoint, ApiKey.RAFT, msg.to_wire()))
            if rd.snapshot is not None:
                self.state.restore(rd.snapshot.data)
                log.info("installed snapshot at %d from the leader", rd.snapshot.index)
            for entry in rd.committed:
                result = self.state.apply(entry.index, entry.data)
                self._resolve(entry.index, entry.term, result)
            for request, _index in rd.read_states:
                if not request.done():
                    request.set_result(None)
            if rd.committed or rd.snapshot is not None:
                self._applied.set()
                self._applied = asyncio.Event()
                self._maybe_snapshot()
        self._notice_role_change()

    def _notice_role_change(self) -> None:
        is_leader = self.raft.role == LEADER
        if is_leader and not self._was_leader:
            log.info("became the active controller in term %d", self.raft.term)
            unfenced = {b: info["epoch"] for b, info in self.state.image.brokers.items()
                        if not info["fenced"]}
            self.sessions.grant_grace(unfenced, self.node.clock.monotonic_ms())
        elif self._was_leader and not is_leader:
            log.info("no longer the controller (term %d)", self.raft.term)
            self._fail_proposals("leadership lost before the write committed")
        self._was_leader = is_leader

    def _resolve(self, index: int, term: int, result: dict[str, Any]) -> None:
        pending = self._proposals.pop(index, None)
        if pending is None:
            return
        proposed_term, future = pending
        if future.done():
            return
        if proposed_term == term:
            future.set_result(result)
        else:  # another leader's entry took this index: ours was lost
            future.set_exception(KafkaError("NOT_CONTROLLER", "the write was superseded"))

    def _fail_proposals(self, why: str) -> None:
        for _, future in self._proposals.values():
            if not future.done():
                future.set_exception(KafkaError("NOT_CONTROLLER", why))
        self._proposals.clear()

    def _maybe_snapshot(self) -> None:
        if self.raft.applied - self.raft.snapshot.index < \
                self.config.limits.raft_snapshot_interval_entries:
            return
        self.raft.compact(self.raft.applied, self.state.to_snapshot())
        self.storage.save_snapshot(self.raft.snapshot)
        log.info("snapshot at metadata offset %d", self.raft.snapshot.index)

    async def propose(self, command: dict[str, Any]) -> dict[str, Any]:
        problem = check_command(command)
        if problem:
            raise KafkaError("INVALID_REQUEST", problem)
        index, term = self.raft.propose(command)  # raises NotLeader
        future = asyncio.get_running_loop().create_future()
        self._proposals[index] = (term, future)
        self._drive()
        try:
            return await asyncio.wait_for(future, self.config.timeouts.request_timeout_ms / 1000)
        except TimeoutError:
            raise KafkaError("REQUEST_TIMED_OUT", "the write did not commit in time") from None

    # -- controller duties (leader only) --------------------------------------------------

    def _controller_duties(self) -> None:
        now = self.node.clock.monotonic_ms()
        for broker_id, epoch in self.sessions.expired(now):
            self.sessions.forget(broker_id)
            broker = self.state.image.brokers.get(broker_id)
            if broker and not broker["fenced"] and broker["epoch"] == epoch:
                log.warning("broker-%d missed its session (%d ms): fencing it", broker_id,
                            self.sessions.session_timeout_ms)
                self._background(self.propose(
                    {"op": "fence_broker", "broker_id": broker_id, "broker_epoch": epoch}))
        interval = self.config.timeouts.leader_imbalance_check_interval_ms
        if self.config.topics.auto_leader_rebalance_enable and \
                now - self._last_rebalance_ms >= interval:
            self._last_rebalance_ms = now
            if self._leaders_imbalanced():
                self._background(self.propose({"op": "elect_preferred_leaders"}))

    def _leaders_imbalanced(self) -> bool:
        unfenced = set(self.state.image.unfenced_broker_ids())
        return any(p["leader"] != p["replicas"][0] and p["replicas"][0] in p["isr"]
                   and p["replicas"][0] in unfenced
                   for p in self.state.image.partitions.values())

    def _background(self, coro) -> None:
        async def run():
            try:
                await coro
            except (KafkaError, NotLeader) as e:
                log.info("controller write not done: %s", e)
        asyncio.ensure_future(run())

    # -- request handlers -----------------------------------------------------------------

    def _not_controller(self, request: Message) -> Message:
        leader = self.ensemble.get(self.raft.leader)
        body = {"error": "NOT_CONTROLLER", "message": f"{self.node.name} is not the controller",
                "leader": leader.name if leader else None,
                "leader_endpoint": leader.endpoint if leader else None}
        return Message(request.kind, request.api, request.request_id, self.node.name, body)

    async def _on_raft(self, request: Message) -> None:
        try:
            msg = Msg.from_wire(request.body)
        except (KeyError, TypeError, ValueError) as e:
            log.warning("malformed raft message from %s: %s", request.sender, e)
            return None
        self.raft.step(msg)
        self._drive()
        return None

    async def _on_write(self, request: Message) -> Message:
        if self.raft.role != LEADER:
            return self._not_controller(request)
        try:
            result = await self.propose(request.body.get("command"))
        except NotLeader:
            return self._not_controller(request)
        return request.reply(result, sender=self.node.name)

    async def _on_poll(self, request: Message) -> Message:
        try:
            after = int(request.body["after_offset"])
            wait_ms = min(int(request.body.get("max_wait_ms", 0)),
                          self.config.timeouts.metadata_poll_max_wait_ms)
        except (KeyError, TypeError, ValueError):
            raise KafkaError("INVALID_REQUEST", "after_offset and max_wait_ms must be "
                                                "integers") from None
        if request.body.get("linearizable"):
            # Read-index: the answer reflects every write committed before the request.
            if self.raft.role != LEADER:
                return self._not_controller(request)
            confirmed = asyncio.get_running_loop().create_future()
            self.raft.read_index(confirmed)
            self._drive()
            try:
                await asyncio.wait_for(confirmed, self.config.timeouts.request_timeout_ms / 1000)
            except TimeoutError:
                raise KafkaError("REQUEST_TIMED_OUT", "leadership not confirmed") from None
        elif self.state.offset <= after and wait_ms > 0:
            try:
                await asyncio.wait_for(self._applied.wait(), wait_ms / 1000)
            except TimeoutError:
                pass
        changes = self.state.changes_after(after)
        body: dict[str, Any] = {"offset": self.state.offset}
        if changes is None:
            body["snapshot"] = self.state.image.to_snapshot()
        else:
            body["changes"] = [[o, records] for o, records in changes]
        return request.reply(body, sender=self.node.name)

    async def _on_broker_registration(self, request: Message) -> Message:
        if self.raft.role != LEADER:
            return self._not_controller(request)
        b = request.body
        command = {"op": "register_broker", "broker_id": b.get("broker_id"),
                   "endpoint": b.get("endpoint"), "incarnation": b.get("incarnation")}
        try:
            result = await self.propose(command)
        except NotLeader:
            return self._not_controller(request)
        if result["error"] == "NONE":
            self.sessions.heartbeat(command["broker_id"], result["broker_epoch"],
                                    self.node.clock.monotonic_ms())
        return request.reply(result, sender=self.node.name)

    async def _on_broker_heartbeat(self, request: Message) -> Message:
        if self.raft.role != LEADER:
            return self._not_controller(request)
        b = request.body
        broker = self.state.image.brokers.get(b.get("broker_id"))
        if broker is None or broker["epoch"] != b.get("broker_epoch"):
            raise KafkaError("STALE_BROKER_EPOCH",
                             f"broker {b.get('broker_id')} epoch {b.get('broker_epoch')} is not "
                             "registered; register again")
        self.sessions.heartbeat(broker["id"], broker["epoch"], self.node.clock.monotonic_ms())
        caught_up = int(b.get("metadata_offset", -1)) >= broker["epoch"]
        if broker["fenced"] and caught_up and not b.get("want_fence", False):
            try:
                await self.propose({"op": "unfence_broker", "broker_id": broker["id"],
                                    "broker_epoch": broker["epoch"]})
            except NotLeader:
                return self._not_controller(request)
        fenced = self.state.image.brokers[broker["id"]]["fenced"]
        return request.reply({"fenced": fenced, "metadata_offset": self.state.offset},
                             sender=self.node.name)


def make_role(node: Node) -> CoordinatorRole:
    return CoordinatorRole(node)
