"""The broker process: registers with the controller, heartbeats to keep its session,
follows the committed cluster metadata (long-polling any coordinator), and serves its
partitions (replica_manager.py, api.py).

On SIGTERM it shuts down under control, as Kafka's brokers do: it asks the controller to
move its leaderships to other in-sync replicas and leave the ISRs, waits until the
metadata says so, and only then stops — so clients see a leader change, not an outage.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

from mini_kafka.broker.api import BrokerApi
from mini_kafka.broker.group_coordinator import GroupManager
from mini_kafka.broker.kafka_listener import KafkaListener
from mini_kafka.broker.reader_watch import ReaderWatch
from mini_kafka.broker.replica_manager import ReplicaManager
from mini_kafka.broker.txn_coordinator import TxnManager
from mini_kafka.coordinator.client import ControllerClient
from mini_kafka.coordinator.history import decode_changes
from mini_kafka.errors import KafkaError
from mini_kafka.metadata import MetadataImage
from mini_kafka.node import Node
from mini_kafka.protocol import ApiKey, Message

CLUSTER_ID_FILE = "cluster-id"  # written by launcher.state.ensure_cluster_id

log = logging.getLogger("mini_kafka.broker")


class BrokerRole:
    def __init__(self, node: Node):
        self.node = node
        self.config = node.config
        self.broker_id = node.spec.id
        t = self.config.timeouts
        self.controller = ControllerClient(
            node.client, {s.name: s.cluster_endpoint for s in self.config.nodes
                          if s.role == "coordinator"},
            timeout_ms=t.request_timeout_ms, attempt_timeout_ms=t.controller_attempt_timeout_ms,
            retry_backoff_ms=self.config.limits.retry_backoff_ms, clock=node.clock,
            reader_index=self.broker_id)
        # A new incarnation per process start: the controller tells a restart from a retry.
        self.incarnation = f"{node.rng.getrandbits(64):016x}"
        self.broker_epoch: int | None = None
        self.image = MetadataImage()
        # The offset whose partitions are all taken on (the image may be ahead of it
        # while a large change is applied in slices): what heartbeats report, so a
        # broker is unfenced only once it has opened and checked every replica.
        self.applied_offset = self.image.offset
        self._reported_offset = -1  # the metadata offset the last heartbeat carried
        self._applying = asyncio.Lock()
        self.metadata_changed = asyncio.Event()
        self._session_task: asyncio.Task | None = None
        self._metadata_task: asyncio.Task | None = None
        self._poll: asyncio.Future | None = None  # the metadata poll under way
        self._reader_watch = ReaderWatch(t.metadata_reader_lag_max_ms)
        self.node.data_dir.mkdir(parents=True, exist_ok=True)
        self.replicas = ReplicaManager(self)
        self.groups = GroupManager(self)
        self.txns = TxnManager(self)
        self.api = BrokerApi(self)
        self.handlers = {**self.api.handlers, **self.groups.handlers,
                         **self.txns.handlers}
        self.cluster_id = read_cluster_id(self.config)
        self.kafka = KafkaListener(self) if node.spec.kafka_port else None

    async def start(self) -> None:
        self.replicas.start()
        self.groups.start()
        self.txns.start()
        if self.kafka is not None:
            await self.kafka.start()
        spawn = self.node.supervisor.spawn
        self._session_task = spawn(self._keep_session(), "controller session", forever=True)
        self._metadata_task = spawn(self._follow_metadata(), "following metadata",
                                    forever=True)

    async def stop(self) -> None:
        self._session_task.cancel()  # no heartbeat may unfence us while we leave
        try:
            await self._controlled_shutdown()
        finally:
            self._metadata_task.cancel()
            if self.kafka is not None:
                self.kafka.close()
            self.groups.close()
            self.txns.close()
            self.replicas.close()

    async def _controlled_shutdown(self) -> None:
        if self.broker_epoch is None or self.fenced:
            return
        grace_ms = self.config.timeouts.node_shutdown_grace_ms
        deadline = self.node.clock.monotonic_ms() + grace_ms // 2
        try:
            await asyncio.wait_for(self.controller.write(
                {"op": "fence_broker", "broker_id": self.broker_id,
                 "broker_epoch": self.broker_epoch}), grace_ms / 2000)
        except (KafkaError, TimeoutError) as e:
            log.warning("controlled shutdown not confirmed (%s): stopping anyway", e)
            return
        while self._leads_anything() and self.node.clock.monotonic_ms() < deadline:
            try:
                await asyncio.wait_for(self.metadata_changed.wait(), 0.2)
            except TimeoutError:
                pass
        log.info("controlled shutdown done: leaderships handed over")

    def _leads_anything(self) -> bool:
        return any(p["leader"] == self.broker_id for p in self.image.partitions.values())

    @property
    def fenced(self) -> bool:
        me = self.image.brokers.get(self.broker_id)
        return me is None or me["epoch"] != self.broker_epoch or me["fenced"]

    def status(self) -> dict[str, Any]:
        return {"ready": self.broker_epoch is not None and not self.fenced,
                "broker_epoch": self.broker_epoch, "fenced": self.fenced,
                "metadata_offset": self.image.offset,
                # For the console: client traffic so far, and each hosted replica's size.
                "traffic": self.api.traffic.to_status(),
                "log_bytes": {f"{t}/{p}": part.log.size_bytes
                              for (t, p), part in self.replicas.partitions.items()},
                **self.replicas.storage.report(self.image, self.broker_epoch)}

    # -- session --------------------------------------------------------------------------

    async def _keep_session(self) -> None:
        interval_s = self.config.timeouts.broker_heartbeat_interval_ms / 1000
        while True:
            try:
                if self.broker_epoch is None:
                    await self._register()
                await self._heartbeat()
            except KafkaError as e:
                log.warning("session with the controller: %s", e)
            except AssertionError:
                raise
            except Exception:  # a bug in one step must not silently end the session
                log.exception("session with the controller: unexpected error")
            await self._until_next_heartbeat(interval_s)

    async def _until_next_heartbeat(self, interval_s: float) -> None:
        """One interval, cut short when the controller has news to hear at once: a
        replica went offline or lost data (it must stop counting on it before anything
        else happens), or a fenced broker's metadata caught up with its registration
        (the heartbeat that unfences it, and lets `cluster up` return)."""
        if self._caught_up_unreported():
            return  # it caught up while the last heartbeat was out: say so now
        loop = asyncio.get_running_loop()
        deadline = loop.time() + interval_s
        news = self.replicas.storage.news
        behind = self._behind_registration()
        while not news.is_set():
            waits = [asyncio.ensure_future(news.wait())]
            if behind:
                waits.append(asyncio.ensure_future(self.metadata_changed.wait()))
            done, pending = await asyncio.wait(waits, timeout=max(0.0, deadline - loop.time()),
                                               return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                waiter.cancel()
            if not done or (behind and not self._behind_registration()):
                return

    def _caught_up_unreported(self) -> bool:
        """Fenced, with metadata caught up to its registration since the heartbeat that
        said otherwise went out. Waiting for the next turn then cost a whole interval:
        3 + 3 came up in 0.8 s or 2.9 s, by that race, at 2 s heartbeats."""
        return self.broker_epoch is not None and self.fenced and \
            self._reported_offset < self.broker_epoch <= self.applied_offset

    def _behind_registration(self) -> bool:
        return self.broker_epoch is not None and self.fenced and \
            self.applied_offset < self.broker_epoch

    async def _register(self) -> None:
        reply = await self.controller.call_controller(ApiKey.BROKER_REGISTRATION, {
            "broker_id": self.broker_id, "endpoint": self.node.spec.endpoint,
            "kafka_endpoint": self.node.spec.kafka_address, "incarnation": self.incarnation})
        if reply.error != "NONE":
            raise KafkaError(reply.error, reply.body.get("message", ""))
        self.broker_epoch = reply.body["broker_epoch"]
        log.info("registered as broker %d with epoch %d", self.broker_id, self.broker_epoch)

    async def _heartbeat(self) -> None:
        # Replicas it cannot serve or no longer wholly holds: the controller must not
        # count on them (Kafka's brokers report offline log directories the same way).
        self.replicas.storage.news.clear()  # what changes from here goes in the next one
        self._reported_offset = self.applied_offset
        reply = await self.controller.call_controller(ApiKey.BROKER_HEARTBEAT, {
            "broker_id": self.broker_id, "broker_epoch": self.broker_epoch,
            "metadata_offset": self.applied_offset,
            **self.replicas.storage.report(self.image, self.broker_epoch)})
        if reply.error == "STALE_BROKER_EPOCH":
            log.warning("the controller no longer knows epoch %s: registering again",
                        self.broker_epoch)
            self.broker_epoch = None
        elif reply.error != "NONE":
            raise KafkaError(reply.error, reply.body.get("message", ""))
        elif self._reader_watch.heartbeat(int(reply.body.get("metadata_offset", -1)),
                                          self.image.offset, self.node.clock.monotonic_ms()):
            log.warning("metadata at offset %d, the controller's at %s for %d ms: the "
                        "coordinator polled is not following; reading from the next",
                        self.image.offset, reply.body.get("metadata_offset"),
                        self._reader_watch.lag_max_ms)
            self.controller.skip_reader()
            if self._poll is not None:
                self._poll.cancel()

    # -- metadata -------------------------------------------------------------------------

    async def _follow_metadata(self) -> None:
        t = self.config.timeouts
        while True:
            self._poll = asyncio.ensure_future(self.controller.poll_metadata(
                self.image.offset, t.metadata_poll_max_wait_ms))
            try:
                reply = await self._poll
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():
                    raise  # the broker is stopping
                continue  # given up by the heartbeat: poll the next coordinator
            except KafkaError as e:
                log.info("metadata poll: %s", e)
                await asyncio.sleep(self.config.limits.retry_backoff_ms / 1000)
                continue
            except AssertionError:
                raise
            except Exception:  # never stop following metadata: a stale broker is a zombie
                log.exception("metadata poll: unexpected error")
                await asyncio.sleep(self.config.limits.retry_backoff_ms / 1000)
                continue
            if reply.error != "NONE":
                await asyncio.sleep(self.config.limits.retry_backoff_ms / 1000)
                continue
            await self._apply_metadata(reply)

    async def catch_up_metadata(self, image_only: bool = False,
                                committed: int | None = None) -> None:
        """Bring the image up to everything the controller committed before now (a
        read-index read), so "unknown topic" never comes from a broker that merely lags
        behind a create another client already saw succeed. Best effort: without a
        controller the local image stands.

        `committed`: the metadata offset a controller write of ours answered with; the
        image is brought up to it from the controller (which applied it before
        answering) without the read-index round, which a controller starved by a
        hundred busy brokers took 0.3-1.6 s to confirm.

        `image_only`: return once the image has it, while this broker's own replicas
        are still being taken on (as Kafka's brokers publish metadata before their
        replica manager applies it; a produce meanwhile gets NOT_LEADER_OR_FOLLOWER and
        is retried)."""
        if committed is not None and self.image.offset >= committed and image_only:
            return
        bound_s = 2 * self.config.timeouts.controller_attempt_timeout_ms / 1000
        body = {"after_offset": self.image.offset, "max_wait_ms": 0,
                "linearizable": committed is None}
        try:
            reply = await asyncio.wait_for(self.controller.call_controller(
                ApiKey.METADATA_POLL, body), bound_s)
        except (KafkaError, TimeoutError) as e:
            log.info("metadata catch-up: %s", e)
            return
        if reply.error != "NONE":
            return
        if committed is not None and reply.body.get("offset", -1) < committed:
            # A controller elected since may not have applied it yet: read-index then.
            await self.catch_up_metadata(image_only)
            return
        if not image_only:
            await self._apply_metadata(reply)
            return
        if reply.body.get("offset", -1) <= self.image.offset:
            return  # the metadata follower has it already (and may be taking it on)
        # Its own task: a request given up must not stop an apply half way.
        image_applied = asyncio.get_running_loop().create_future()
        applying = self.node.supervisor.spawn(self._apply_metadata(reply, image_applied),
                                              "applying caught-up metadata")
        await asyncio.wait([image_applied, applying], return_when=asyncio.FIRST_COMPLETED)

    async def _apply_metadata(self, reply: Message,
                              image_applied: asyncio.Future | None = None) -> None:
        # Half applied, the image and the partitions would disagree for good: a failure
        # here crashes the broker (a storage error stays inside its partition).
        # One apply at a time (the metadata follower's and a catch-up's): the image
        # holds still while its partitions are taken on in slices, with requests and
        # heartbeats served between them. `image_applied` is set once the image is.
        async with self._applying:
            with self.node.supervisor.fatal("applying committed metadata"):
                try:
                    moved, changed = self._apply_image(reply)
                finally:
                    if image_applied is not None and not image_applied.done():
                        image_applied.set_result(None)
                if not moved:
                    return
                await self.replicas.on_metadata_in_slices(
                    self.image, changed, self.config.limits.metadata_apply_slice_ms)
                self.groups.on_metadata(self.image)
                self.txns.on_metadata(self.image)
                self.applied_offset = self.image.offset
                self.metadata_changed.set()
                self.metadata_changed = asyncio.Event()

    def _apply_image(self, reply: Message) -> tuple[bool, set[tuple[str, int]] | None]:
        """Apply `reply`'s changes to the image: whether it moved, and the partitions
        they changed when they changed nothing else (None: they may have changed any)."""
        before = self.image.offset
        body = reply.body
        snapshot = body.get("snapshot")
        # The partitions this reply changed, if it changed nothing else (None: look at all).
        changed: set[tuple[str, int]] | None = set()
        if snapshot is not None:
            changed = None
            if snapshot["offset"] > self.image.offset:
                self.image = MetadataImage.from_snapshot(snapshot)
        else:
            if not reply.payloads:
                raise RuntimeError(f"{reply.sender} answered a metadata poll without its "
                                   "changes frame: is it another version of mini-kafka?")
            for offset, records in decode_changes(reply.payloads[0]):
                if offset > self.image.offset:  # a lagging coordinator may repeat old ones
                    self.image.apply(offset, records)
                    changed = _partitions_changed(changed, records)
            # Entries that change nothing (a new leader's no-op, a producer id) are not in
            # the changes; the image is nonetheless current up to the coordinator's offset.
            # Without this the next poll finds "something newer" at once, forever: a spin.
            if body.get("offset", -1) > self.image.offset:
                self.image.apply(body["offset"], [])
        return self.image.offset != before, changed


def _partitions_changed(changed: set[tuple[str, int]] | None,
                        records: list[dict]) -> set[tuple[str, int]] | None:
    """`changed` plus the partitions in `records`; None once a record is anything else
    (a broker, a topic: those can change what every partition does)."""
    if changed is None:
        return None
    for r in records:
        if r["type"] != "partition":
            return None
        changed.add((r["topic"], r["partition"]))
    return changed


def read_cluster_id(config) -> str:
    """The id the launcher keeps with the cluster's data (Kafka's cluster.id); a node
    started by hand without one gets an id derived from the cluster's name."""
    try:
        return (config.data_dir / CLUSTER_ID_FILE).read_text().strip()
    except OSError:
        import hashlib  # here only: it maps OpenSSL's libcrypto, ~5 MB of every broker

        digest = hashlib.sha256(config.cluster.name.encode()).digest()[:16]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def make_role(node: Node) -> BrokerRole:
    return BrokerRole(node)
