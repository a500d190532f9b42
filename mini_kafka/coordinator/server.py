"""The coordinator process: the Raft core over the transport, durable under
logs/coordinator-N/raft/, applying committed commands to the metadata state machine.

The Raft leader is the active controller: it takes metadata writes, tracks broker
sessions and fences brokers whose sessions expire, or whose process it saw die: every
coordinator keeps an idle connection to each peer coordinator and registered broker
(transport/watch.py), and a connection that drops means the process is gone. A paused
or cut-off broker keeps its connection and is judged by its session alone.

Every coordinator, leader or not, serves committed metadata to brokers (a long-poll that
returns as soon as something newer is applied). Each Ready is handled in Raft's order:
persist (fsync, on a thread of its own: coordinator/raft_writer.py), send, apply.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mini_kafka.coordinator.commands import check_command, stamped
from mini_kafka.coordinator.fencing import FenceBatcher
from mini_kafka.coordinator.raft_storage import RaftStorage
from mini_kafka.coordinator.raft_writer import RaftWriter
from mini_kafka.coordinator.sessions import BrokerSessions
from mini_kafka.coordinator.state import MetadataState
from mini_kafka.errors import KafkaError
from mini_kafka.node import Node
from mini_kafka.protocol import ApiKey, Message
from mini_kafka.raft import LEADER, Msg, NotLeader, RaftNode, Ready
from mini_kafka.raft.timer import RaftTimer, raft_config
from mini_kafka.transport.watch import PeerWatch

log = logging.getLogger("mini_kafka.coordinator")


class CoordinatorRole:
    def __init__(self, node: Node):
        self.node = node
        config = node.config
        self.config = config
        self.ensemble = {s.id: s for s in config.nodes if s.role == "coordinator"}
        self.storage = RaftStorage(node.data_dir / "raft")
        self.writer = RaftWriter(self.storage, self._take_effect, node.supervisor)
        self.state = MetadataState(config, config.limits.metadata_history_entries_max)
        if self.storage.snapshot.data is not None:
            self.state.restore(self.storage.snapshot.data)
        t = config.timeouts
        self.tick_ms = t.raft_tick_interval_ms
        self.raft = RaftNode(node.spec.id, sorted(self.ensemble),
                             raft_config(t, config.limits.raft_entries_per_append_max), node.rng,
                             term=self.storage.term, voted_for=self.storage.voted_for,
                             snapshot=self.storage.snapshot, entries=self.storage.entries)
        self.timer = RaftTimer(self.raft, self.tick_ms, node.clock.monotonic_ms())
        self._woken = asyncio.Event()  # something is due sooner than the ticks sleep for
        self._sleeping_until_ms = 0
        self.sessions = BrokerSessions(t.broker_session_timeout_ms)
        self._proposals: dict[int, tuple[int, asyncio.Future]] = {}  # index -> (term, result)
        self._applied = asyncio.Event()
        self._was_leader = False
        self._tasks: list[asyncio.Task] = []
        self._fences = FenceBatcher()
        self._fences_scheduled = False
        self._registering: dict[tuple, asyncio.Future] = {}  # (broker, incarnation) -> write
        self._last_rebalance_ms = 0
        self.watch: PeerWatch | None = None
        self.handlers = {
            ApiKey.RAFT: self._on_raft,
            ApiKey.CONTROLLER_WRITE: self._on_write,
            ApiKey.METADATA_POLL: self._on_poll,
            ApiKey.BROKER_REGISTRATION: self._on_broker_registration,
            ApiKey.BROKER_HEARTBEAT: self._on_broker_heartbeat,
        }

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self.watch = PeerWatch(self._peer_lost)
        for peer in self.ensemble.values():
            if peer.id != self.node.spec.id:
                self.watch.watch(peer.endpoint)
                # Raft's messages are dropped while a connection is being made: a
                # coordinator that just started must not lose its first vote request.
                self.node.client.connect(peer.cluster_endpoint)
        self._watch_brokers()
        self._tasks.append(self.node.supervisor.spawn(self._tick_loop(), "Raft ticks",
                                                      forever=True))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.watch is not None:
            self.watch.close()
        self._fail_proposals("coordinator shutting down")
        self.writer.close()
        self.storage.close()

    def status(self) -> dict[str, Any]:
        leader = self.ensemble.get(self.raft.leader)
        return {"ready": leader is not None, "raft_role": self.raft.role,
                "term": self.raft.term, "commit_index": self.raft.commit,
                "leader": leader.name if leader else None,
                "metadata_offset": self.state.offset}

    def directions(self, message: str) -> dict[str, Any]:
        """For a client that asked this coordinator for what brokers serve: the brokers
        to ask instead (registered and unfenced; else every configured one)."""
        image = self.state.image.brokers
        brokers = [{"id": b["id"], "endpoint": b["endpoint"]}
                   for _, b in sorted(image.items()) if not b["fenced"]] or \
            [{"id": s.id, "endpoint": s.endpoint} for s in self.config.nodes
             if s.role == "broker"]
        where = ", ".join(b["endpoint"].removeprefix("tcp://") for b in brokers)
        return {"brokers": brokers,
                "message": f"{message}; brokers are {where or 'not configured'}"}

    # -- driving the core -----------------------------------------------------------------

    async def _tick_loop(self) -> None:
        """Wake only when a timer is due (raft/timer.py): a heartbeat to send, an
        election to start, a broker session to expire, a leader balance to check."""
        while True:
            self._sleeping_until_ms = self._next_due_ms()
            delay_ms = self._sleeping_until_ms - self.node.clock.monotonic_ms()
            if delay_ms > 0:
                self._woken.clear()
                try:
                    async with asyncio.timeout(delay_ms / 1000):
                        await self._woken.wait()
                except TimeoutError:
                    pass
            # Woken late, this loop could not listen: brokers' heartbeats may be waiting
            # unread in its socket (a Raft fsync stuck behind a busy disk, a saturated
            # host). That time does not count against their sessions.
            late_ms = self.node.clock.monotonic_ms() - self._sleeping_until_ms
            if late_ms > 0:
                self.sessions.credit(late_ms)
            self._catch_up()
            self._drive()
            if self.raft.role == LEADER:
                self._controller_duties()

    def _next_due_ms(self) -> int:
        due = self.timer.next_due_ms()
        if self.raft.role == LEADER:
            expiry = self.sessions.next_expiry_ms(self.raft.term)
            if expiry is not None:
                due = min(due, expiry)
            if self.config.topics.auto_leader_rebalance_enable:
                due = min(due, self._last_rebalance_ms +
                          self.config.timeouts.leader_imbalance_check_interval_ms)
        return due

    def _catch_up(self) -> None:
        """The ticks passed since the last input: due before the core takes the next."""
        self.timer.catch_up(self.node.clock.monotonic_ms())

    def _wake_if_sooner(self) -> None:
        if self._next_due_ms() < self._sleeping_until_ms:
            self._woken.set()

    def _drive(self) -> None:
        """Handle the core's outputs: persist, send, apply (Raft's required order). An
        entry taken from the core and not applied would be a hole in this coordinator's
        state machine: any failure here crashes the node."""
        with self.node.supervisor.fatal("driving the Raft core"):
            self._drive_unsupervised()

    def _drive_unsupervised(self) -> None:
        rd = self.raft.ready()
        if rd:
            self.writer.submit(rd)  # takes effect once durable (coordinator/raft_writer.py)
        if not self.writer.pending:
            self._notice_role_change()
        self._wake_if_sooner()

    def _take_effect(self, rd: Ready) -> None:
        """A durable Ready's effects, in Raft's order: send its messages, then apply."""
        with self.node.supervisor.fatal("applying the Raft core's output"):
            for msg in rd.messages:
                peer = self.ensemble[msg.dst]
                self.node.supervisor.spawn(self.node.client.send_oneway(
                    peer.cluster_endpoint, ApiKey.RAFT, msg.to_wire()),
                    f"Raft message to {peer.name}")
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
                self._watch_brokers()
            # After the entries it committed were applied: a write that committed just
            # before leadership moved is answered with its result, not failed.
            self._notice_role_change()

    def _watch_brokers(self) -> None:
        """Watch every registered broker's endpoint (followers too: a coordinator that
        becomes the controller must already be connected to notice a death)."""
        if self.watch is None:
            return
        coordinators = {p.endpoint for p in self.ensemble.values()}
        registered = {b["endpoint"] for b in self.state.image.brokers.values()}
        for endpoint in registered - self.watch.watching():
            self.watch.watch(endpoint)
        for endpoint in self.watch.watching() - registered - coordinators:
            self.watch.unwatch(endpoint)  # its broker moved to another endpoint

    def _peer_lost(self, endpoint: str) -> None:
        """A peer's process died (transport/watch.py): a coordinator, or a broker."""
        peer = next((p for p in self.ensemble.values() if p.endpoint == endpoint), None)
        if peer is None:
            self._broker_lost(endpoint)
            return
        # If it led us, campaign in our turn (see RaftNode.peer_lost).
        self._catch_up()
        turn = self.raft.peer_lost(peer.id)
        if turn is None:
            return
        self._drive()  # it may have answered a vote request its lease had hidden
        pause_s = (turn + self.node.rng.uniform(0, 0.5)) * self.tick_ms / 1000
        log.info("the leader %s is gone (its connection dropped): campaigning in %.0f ms",
                 peer.name, pause_s * 1000)
        asyncio.get_running_loop().call_later(pause_s, self._campaign)

    def _campaign(self) -> None:
        self._catch_up()
        self.raft.campaign()
        self._drive()

    def _broker_lost(self, endpoint: str) -> None:
        """A broker's process died: fence it now rather than at the end of its session.
        The epoch is the one registered when the drop is seen; a registration runs
        catch_up first, so a drop from before a restart is never blamed on the next
        incarnation (its fence then carries a stale epoch and changes nothing)."""
        if self.raft.role != LEADER:
            return
        broker = next((b for b in self.state.image.brokers.values()
                       if b["endpoint"] == endpoint), None)
        if broker is None or broker["fenced"]:
            return
        log.warning("broker-%d's connection dropped (its process is gone): fencing it",
                    broker["id"])
        self._fence(broker["id"], broker["epoch"])

    def _notice_role_change(self) -> None:
        is_leader = self.raft.role == LEADER
        # A term of its own it has not noticed yet (leadership lost and won again
        # while a write was pending) is a new controllership all the same.
        if is_leader and (not self._was_leader or self.sessions.term != self.raft.term):
            log.info("became the active controller in term %d", self.raft.term)
            unfenced = {b: info["epoch"] for b, info in self.state.image.brokers.items()
                        if not info["fenced"]}
            self.sessions.grant_grace(unfenced, self.node.clock.monotonic_ms(),
                                      self.raft.term)
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
        # At what the state has applied, not at raft.applied: the core hands out committed
        # entries before their Ready takes effect (coordinator/raft_writer.py), so it may
        # be ahead, and a snapshot there would claim entries the state does not hold.
        applied = self.state.offset
        if applied - self.raft.snapshot.index < \
                self.config.limits.raft_snapshot_interval_entries:
            return
        self.raft.compact(applied, self.state.to_snapshot())
        self.writer.save_snapshot(self.raft.snapshot)
        log.info("snapshot at metadata offset %d", self.raft.snapshot.index)

    async def propose(self, command: dict[str, Any]) -> dict[str, Any]:
        problem = check_command(command)
        if problem:
            raise KafkaError("INVALID_REQUEST", problem)
        command = stamped(command)
        refused = self.state.check_proposal(command)
        if refused:
            return refused
        self._catch_up()
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
        for broker_id, epoch in self.sessions.expired(now, self.raft.term):
            self.sessions.forget(broker_id)
            broker = self.state.image.brokers.get(broker_id)
            if broker and not broker["fenced"] and broker["epoch"] == epoch:
                log.warning("broker-%d missed its session (%d ms): fencing it", broker_id,
                            self.sessions.session_timeout_ms)
                self._fence(broker_id, epoch)
        interval = self.config.timeouts.leader_imbalance_check_interval_ms
        if self.config.topics.auto_leader_rebalance_enable and \
                now - self._last_rebalance_ms >= interval:
            self._last_rebalance_ms = now
            if self._leaders_imbalanced():
                self._background(self.propose({"op": "elect_preferred_leaders"}))

    def _fence(self, broker_id: int, epoch: int) -> None:
        """Fence the broker in the next fence write (fencing.py). The write is proposed
        fence_linger_ms later, so the other drops of a mass kill, and the other sessions
        that expire meanwhile, go in the same write."""
        if self._fences.add(broker_id, epoch) and not self._fences_scheduled:
            self._fences_scheduled = True
            asyncio.get_running_loop().call_later(
                self.config.timeouts.fence_linger_ms / 1000, self._propose_fences)

    def _propose_fences(self) -> None:
        self._fences_scheduled = False
        batch = self._fences.take()
        if batch is None:
            return  # the write in flight proposes the next when it is done

        async def fence():
            try:
                result = await self.propose({"op": "fence_brokers", "brokers": batch})
                if result.get("fenced"):
                    log.info("fenced %d broker(s) in one write: %s", len(result["fenced"]),
                             ", ".join(f"broker-{b}" for b in result["fenced"]))
            finally:
                self._fences.done()
                if self._fences.waiting and not self._fences_scheduled:
                    self._fences_scheduled = True
                    asyncio.get_running_loop().call_soon(self._propose_fences)
        self._background(fence())

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
        self.node.supervisor.spawn(run(), "controller write")

    # -- request handlers -----------------------------------------------------------------

    def _not_controller(self, request: Message) -> Message:
        leader = self.ensemble.get(self.raft.leader)
        body = {"error": "NOT_CONTROLLER", "message": f"{self.node.name} is not the controller",
                "leader": leader.name if leader else None,
                "leader_endpoint": leader.cluster_endpoint if leader else None}
        return Message(request.kind, request.api, request.request_id, self.node.name, body)

    async def _on_raft(self, request: Message) -> None:
        try:
            msg = Msg.from_wire(request.body)
        except (KeyError, TypeError, ValueError) as e:
            log.warning("malformed raft message from %s: %s", request.sender, e)
            return None
        self._catch_up()
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
        # Applied here by now: a writer that must see its change (a broker answering a
        # create) reads from this offset without a read-index round.
        return request.reply({**result, "metadata_offset": self.state.offset},
                             sender=self.node.name)

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
            self._catch_up()
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
        # The changes go pre-encoded in a payload frame (coordinator/history.py).
        changes = self.state.changes.encoded_after(after)
        body: dict[str, Any] = {"offset": self.state.offset}
        if changes is None:
            body["snapshot"] = self.state.image.to_snapshot()
            return request.reply(body, sender=self.node.name)
        return request.reply(body, [changes], sender=self.node.name)

    async def _on_broker_registration(self, request: Message) -> Message:
        if self.raft.role != LEADER:
            return self._not_controller(request)
        b = request.body
        command = {"op": "register_broker", "broker_id": b.get("broker_id"),
                   "endpoint": b.get("endpoint"), "kafka_endpoint": b.get("kafka_endpoint"),
                   "incarnation": b.get("incarnation")}
        # A drop still queued is the previous incarnation's: let it name that one's epoch
        # before this registration gives the endpoint a new one.
        if self.watch is not None:
            self.watch.catch_up()
        try:
            result = await self._register(command)
        except NotLeader:
            return self._not_controller(request)
        if result["error"] == "NONE":
            self.sessions.heartbeat(command["broker_id"], result["broker_epoch"],
                                    self.node.clock.monotonic_ms())
        return request.reply(result, sender=self.node.name)

    async def _register(self, command: dict[str, Any]) -> dict[str, Any]:
        """One proposal per broker incarnation at a time: its retries, sent while the
        first is still committing, wait for that one instead of each adding an entry."""
        key = (command["broker_id"], command["incarnation"])
        if not isinstance(key[0], int) or not isinstance(key[1], str):
            return await self.propose(command)  # malformed: propose says why
        proposal = self._registering.get(key)
        if proposal is None:
            proposal = asyncio.ensure_future(self.propose(command))
            self._registering[key] = proposal

            def done(f: asyncio.Future, key=key) -> None:
                self._registering.pop(key, None)
                if not f.cancelled():
                    f.exception()  # retrieved here, whoever still waits for it
            proposal.add_done_callback(done)
        return await asyncio.shield(proposal)

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
        offline, damaged = self._reported(broker, b)
        command = None
        if broker["fenced"] and caught_up and not b.get("want_fence", False):
            command = {"op": "unfence_broker", "broker_id": broker["id"],
                       "broker_epoch": broker["epoch"], "offline_replicas": offline,
                       "damaged_replicas": damaged}
        elif not broker["fenced"] and (offline != broker.get("offline", []) or
                                       set(damaged) - set(broker.get("damaged", []))):
            command = {"op": "report_replicas", "broker_id": broker["id"],
                       "broker_epoch": broker["epoch"], "offline_replicas": offline,
                       "damaged_replicas": damaged}
        if command is not None:
            try:
                await self.propose(command)
            except NotLeader:
                return self._not_controller(request)
        fenced = self.state.image.brokers[broker["id"]]["fenced"]
        return request.reply({"fenced": fenced, "metadata_offset": self.state.offset},
                             sender=self.node.name)

    def _reported(self, broker: dict, body: dict) -> tuple[list, list]:
        """The offline and damaged replicas a heartbeat names, as far as they are this
        broker's: a stale name (a deleted topic) must not ask for a write every beat."""
        hosted = None  # every heartbeat names none, usually: no walk over all partitions
        lists = []
        for name in ("offline_replicas", "damaged_replicas"):
            value = body.get(name) or []
            if not isinstance(value, list):
                raise KafkaError("INVALID_REQUEST", f"{name} must be a list")
            if value and hosted is None:
                hosted = {k for k, p in self.state.image.partitions.items()
                          if broker["id"] in p["replicas"]}
            lists.append(sorted({k for k in value if isinstance(k, str)} & hosted)
                         if value else [])
        return lists[0], lists[1]


def make_role(node: Node) -> CoordinatorRole:
    return CoordinatorRole(node)
