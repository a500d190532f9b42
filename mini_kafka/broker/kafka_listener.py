"""The broker's Kafka front door: plain TCP speaking Kafka's binary protocol, for
unchanged Kafka clients and tools (librdkafka, kafka-python, aiokafka, kafkajs, kcat).

A thin shell: frames come off the socket (framing.py), each request is decoded and
handed to its adapter (mini_kafka.kafka_protocol), which calls the same handlers the
cluster's own RPC uses; the response goes back on the same connection. Requests may be
pipelined: each starts at once, in arrival order (so appends from one connection keep
their order: a handler never awaits before it appends), and responses are written in
request order. An acks=0 produce gets no response. A connection that breaks the
protocol — bad framing, an API or version we do not serve, a body that does not decode
— is closed, and the reason logged at a bounded rate; the broker carries on.

Only client APIs have adapters: the cluster's internal APIs (replication, controller,
transaction markers, fault rules) never come through here.
"""

from __future__ import annotations

import asyncio
import collections
import logging

from mini_kafka.errors import KafkaError
from mini_kafka.kafka_protocol import (  # noqa: F401 (each module registers its adapters)
    admin,
    fetch,
    groups,
    metadata,
    produce,
    txn,
    versions,
)
from mini_kafka.kafka_protocol.api import ADAPTERS, CloseConnection, Context, supported
from mini_kafka.kafka_protocol.codec import (
    API_VERSIONS_KEY,
    MalformedRequest,
    peek_header,
    read_request,
    write_response,
)
from mini_kafka.kafka_protocol.framing import FrameError, FrameSplitter, frame
from mini_kafka.log_limit import RateLimitedLog
from mini_kafka.protocol import Kind, Message

log = logging.getLogger("mini_kafka.broker.kafka")


class KafkaListener:
    def __init__(self, role):
        self.role = role
        spec = role.node.spec
        self.host, self.port = spec.host, spec.kafka_port
        limits = role.config.limits
        self.frame_bytes_max = limits.kafka_request_bytes_max
        self.inflight_max = limits.kafka_inflight_requests_per_connection_max
        self.connections_max = limits.kafka_connections_max
        self.bad_input = RateLimitedLog(log, role.node.clock)
        self.connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), self.host,
                                                self.port, reuse_address=True)
        log.info("Kafka listener on %s:%d", self.host, self.port)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.abort()

    # -- what adapters see of the broker ----------------------------------------------------

    def listeners(self) -> dict[int, tuple[str, int]]:
        out = {}
        for b in self.role.image.brokers.values():
            endpoint = b.get("kafka_endpoint")
            if endpoint and not b["fenced"]:
                host, _, port = endpoint.rpartition(":")
                out[b["id"]] = (host, int(port))
        return out

    async def call(self, sender: str, correlation_id: int, api: int, body: dict,
                   payloads: list | None = None, expect_reply: bool = True):
        """One protocol-neutral handler call; a refusal comes back as an error reply."""
        kind = Kind.REQUEST if expect_reply else Kind.ONEWAY
        request = Message(kind, api, correlation_id, sender, body, payloads or [])
        me = self.role.node.name
        try:
            return await self.role.handlers[api](request)
        except KafkaError as e:
            return request.error_reply(e.error.name, e.message, sender=me)
        except AssertionError:
            raise
        except Exception as e:  # a bug must not take the broker down: answer and log
            log.exception("%s from %s failed", api, sender)
            return request.error_reply("UNKNOWN_SERVER_ERROR", f"{type(e).__name__}: {e}",
                                       sender=me)


class _Connection(asyncio.Protocol):
    def __init__(self, listener: KafkaListener):
        self.listener = listener
        self.splitter = FrameSplitter(listener.frame_bytes_max)
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.pending: collections.deque[asyncio.Task] = collections.deque()
        self.reading_paused = False
        self.writing_paused = False
        self.closed = False

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        if len(self.listener.connections) >= self.listener.connections_max:
            self.listener.bad_input.warning("Kafka listener: refusing %s: %d connections open",
                                            self.peer, len(self.listener.connections))
            transport.abort()
            self.closed = True
            return
        self.listener.connections.add(self)

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.listener.connections.discard(self)
        for task in self.pending:
            task.cancel()
        self.pending.clear()

    def data_received(self, data) -> None:
        if self.closed:
            return
        try:
            frames = self.splitter.feed(data)
        except FrameError as e:
            return self._violation(f"bad framing: {e}")
        for f in frames:
            self._start(f)
            if self.closed:
                return
        self._pace_reading()

    def pause_writing(self) -> None:  # the client reads slower than we answer
        self.writing_paused = True
        self._pace_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._pace_reading()

    # -- requests ---------------------------------------------------------------------------

    def _start(self, raw: bytes) -> None:
        try:
            api_key, version, correlation_id = peek_header(raw)
        except MalformedRequest as e:
            return self._violation(str(e))
        if not supported(api_key, version):
            if api_key == API_VERSIONS_KEY:
                return self._queue(self._unsupported_api_versions(correlation_id))
            return self._violation(f"API {api_key} version {version} is not served here")
        try:
            header, request = read_request(raw)
        except MalformedRequest as e:
            return self._violation(str(e))
        self._queue(self._serve(header, request))

    def _queue(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self.pending.append(task)
        task.add_done_callback(self._answered)

    async def _unsupported_api_versions(self, correlation_id: int) -> bytes:
        return write_response(correlation_id, versions.unsupported_version_response())

    async def _serve(self, header, request) -> bytes | None:
        listener = self.listener
        role = listener.role
        sender = header.client_id or "kafka-client"
        ctx = Context(
            header=header, broker_id=role.broker_id,
            cluster_id=role.cluster_id, client_host=self.peer.rsplit(":", 1)[0],
            call=lambda api, body, payloads=None, expect_reply=True: listener.call(
                sender, header.correlation_id, api, body, payloads, expect_reply),
            listeners=listener.listeners, image=lambda: role.image)
        response = await ADAPTERS[header.api_key].handle(ctx, request)
        return None if response is None else write_response(header.correlation_id, response)

    def _answered(self, _task) -> None:
        """Write every finished response at the head of the queue, in request order."""
        while self.pending and self.pending[0].done():
            task = self.pending.popleft()
            if task.cancelled() or self.closed:
                continue
            error = task.exception()
            if error is not None:
                if isinstance(error, CloseConnection):
                    self._violation(str(error))
                elif isinstance(error, AssertionError):
                    log.critical("Kafka request handling broke an invariant", exc_info=error)
                else:
                    log.error("Kafka request from %s failed", self.peer, exc_info=error)
                self.abort()
                return
            body = task.result()
            if body is not None:
                self.transport.writelines(frame([body]))
        self._pace_reading()

    def _pace_reading(self) -> None:
        """Stop reading while too many requests wait or the client is not reading."""
        if self.closed:
            return
        busy = len(self.pending) >= self.listener.inflight_max or self.writing_paused
        if busy and not self.reading_paused:
            self.transport.pause_reading()
            self.reading_paused = True
        elif not busy and self.reading_paused:
            self.transport.resume_reading()
            self.reading_paused = False

    def _violation(self, why: str) -> None:
        self.listener.bad_input.warning("Kafka listener: closing the connection from %s: %s",
                                        self.peer, why)
        self.abort()

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.abort()
