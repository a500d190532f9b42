"""The client side: one DEALER per peer endpoint, many requests in flight on each.

Requests carry ids; a reader task matches replies to waiting futures. Each request has
its own timeout and a bounded number of retries with backoff. A connection that has
answered nothing since a timed-out request was sent is presumed dead and replaced (the
"Lazy Pirate" pattern): its other in-flight requests fail with NETWORK_EXCEPTION at once
and retry on the new socket instead of waiting out their own timeouts.

Retrying is only safe for requests the server can see twice; callers that must not
repeat a request pass retries=0 (produce relies on idempotent sequence numbers instead).

A client holding the cluster's keys reaches the members' authenticated endpoints with
CURVE (its own keypair, the member's public key as the server key); every other
endpoint, a broker's open one for instance, is reached without authentication.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from mini_kafka.clock import SystemClock
from mini_kafka.errors import NETWORK_EXCEPTION, KafkaError, KafkaTimeoutError
from mini_kafka.log_limit import RepeatLimitedLog
from mini_kafka.protocol import Kind, Message, ProtocolError, api_name, decode, encode
from mini_kafka.transport.faults import FaultRules
from mini_kafka.transport.keys import ClusterKeys

log = logging.getLogger("mini_kafka.transport.client")


_HANDSHAKE_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                     | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)


class _Connection:
    def __init__(self, endpoint: str, peer: str, faults: FaultRules, queue_messages_max: int,
                 repeats: RepeatLimitedLog, curve: tuple[ClusterKeys, bytes] | None = None):
        self.endpoint = endpoint
        self.peer = peer
        self._faults = faults
        self._repeats = repeats
        self.pending: dict[int, asyncio.Future] = {}
        self.last_reply_at = 0.0
        self.opened_at = time.monotonic()  # the clock of loop.time()
        self.sock = zmq.asyncio.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SNDHWM, queue_messages_max)
        self.sock.setsockopt(zmq.RCVHWM, queue_messages_max)
        # Queue only on a live connection: otherwise messages for a peer that is down pile
        # up and reach it, stale, when it returns (a request long given up on, Raft
        # appends from minutes ago). Senders bound their wait instead.
        self.sock.setsockopt(zmq.IMMEDIATE, 1)
        if curve is not None:
            keys, server_key = curve
            self.sock.setsockopt(zmq.CURVE_SERVERKEY, server_key)
            self.sock.setsockopt(zmq.CURVE_PUBLICKEY, keys.public)
            self.sock.setsockopt(zmq.CURVE_SECRETKEY, keys.secret)
        # A peer that dies closes its TCP connection: fail what waits on it at once, as
        # Kafka's clients do, instead of letting each request run out its timeout.
        # A peer that is not listening at all refuses the connection: zmq retries it
        # silently, so a request to a dead broker we never reached would wait out its
        # whole timeout. Treat a refused connect like a dropped one.
        # A handshake that fails (a key the server does not admit, or no CURVE where it
        # wants CURVE) is also a connection that will never carry a request: say why.
        self._monitor = self.sock.get_monitor_socket(
            zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECT_RETRIED
            | _HANDSHAKE_FAILED)
        self.down = False  # True from a dropped or refused connection until it is made
        self.down_reason = ""
        self.refused_handshake = False
        self.closed = False
        self.sock.connect(endpoint)
        self._reader = asyncio.ensure_future(self._read_replies())
        self._watcher = asyncio.ensure_future(self._watch_disconnects())

    async def send(self, frames: list[Any], reply: asyncio.Future) -> None:
        """Send, waiting while the peer is unreachable (the caller bounds the wait).

        The wait also ends when `reply` fails first: the connection dropped or was
        refused, and the request will never go out on this socket."""
        if await self._faulted():
            return
        # pyzmq sends at once when it can and hands back a settled future.
        sending = self.sock.send_multipart(frames, copy=False)
        if not sending.done():
            try:
                await asyncio.wait([sending, reply], return_when=asyncio.FIRST_COMPLETED)
            finally:  # given up on (reply failed, or the caller's timeout): never send late
                if not sending.done():
                    sending.cancel()
            if sending.cancelled():
                return
        sending.result()

    async def send_now_or_drop(self, frames: list[Any]) -> bool:
        """Send only if the peer can take it now; for messages a protocol may lose."""
        if await self._faulted():
            return False
        sending = self.sock.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
        if not sending.done():  # queued behind other sends; it goes out, or is dropped
            sending.add_done_callback(lambda f: f.cancelled() or f.exception())
            return True
        if isinstance(sending.exception(), zmq.Again):
            return False
        sending.result()
        return True

    async def _faulted(self) -> bool:
        decision = self._faults.decide("out", self.peer)
        if decision.delay_ms and not decision.drop:
            await asyncio.sleep(decision.delay_ms / 1000)
        return decision.drop

    async def _read_replies(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            frames = await self.sock.recv_multipart(copy=False)
            try:
                reply = decode([f.buffer for f in frames])
            except ProtocolError as e:
                self._repeats.log(logging.WARNING, "malformed reply",
                                  "malformed reply from %s: %s", self.peer, e, logger=log)
                continue
            if self._faults.decide("in", self.peer).drop:
                continue
            self.last_reply_at = loop.time()
            future = self.pending.pop(reply.request_id, None)
            if future is not None and not future.done():
                future.set_result(reply)

    async def _watch_disconnects(self) -> None:
        while True:
            event = parse_monitor_message(await self._monitor.recv_multipart())
            if event["event"] & _HANDSHAKE_FAILED:
                self._went_down(f"{self.peer} refused the handshake: not a cluster member's "
                                "key, or not the endpoint this key is for")
                self.refused_handshake = True
            elif event["event"] == zmq.EVENT_DISCONNECTED:
                if not self.refused_handshake:  # (the drop that follows; keep the why)
                    self._went_down(f"the connection to {self.peer} dropped")
            elif event["event"] == zmq.EVENT_CONNECT_RETRIED and not self.down:
                self._went_down(f"{self.peer} refused the connection")
            elif event["event"] == zmq.EVENT_CONNECTED:
                self.down = self.refused_handshake = False

    def _went_down(self, reason: str) -> None:
        self.down, self.down_reason = True, reason
        self.fail_pending(reason)

    def fail_pending(self, reason: str) -> None:
        for future in self.pending.values():
            if not future.done():
                future.set_exception(KafkaError(NETWORK_EXCEPTION, reason))
                future.exception()  # whoever awaits it still gets it; nobody else logs it
        self.pending.clear()

    def close(self, reason: str) -> None:
        """Idempotent: requests timing out together may each try to recycle it."""
        if self.closed:
            return
        self.closed = True
        self._reader.cancel()
        self._watcher.cancel()
        self.sock.disable_monitor()
        self._monitor.close(0)
        self.sock.close(0)
        self.fail_pending(reason)


class Client:
    def __init__(self, name: str, *, faults: FaultRules | None = None,
                 request_timeout_ms: int = 5_000, retries_max: int = 3,
                 retry_backoff_ms: int = 50, queue_messages_max: int = 10_000,
                 peer_names: dict[str, str] | None = None, keys: ClusterKeys | None = None,
                 member_endpoints: dict[str, str] | None = None,
                 repeats: RepeatLimitedLog | None = None):
        """keys: this member's keys, for member_endpoints (endpoint -> member name), which
        are reached with CURVE. A member's messages carry its own name (the servers
        check it against its key), so `name` must be the keys' identity."""
        if keys is not None and name != keys.identity:
            raise ValueError(f"a client holding {keys.identity!r}'s key must be named so, "
                             f"not {name!r}")
        self.name = name
        self._keys = keys
        self._member_endpoints = dict(member_endpoints or {}) if keys else {}
        self._repeats = repeats or RepeatLimitedLog(log, 10_000, SystemClock())
        self.faults = faults or FaultRules()
        self.request_timeout_ms = request_timeout_ms
        self.retries_max = retries_max
        self.retry_backoff_ms = retry_backoff_ms
        self._queue_messages_max = queue_messages_max
        self._peer_names = dict(peer_names or {})
        self._conns: dict[str, _Connection] = {}
        self._ids = itertools.count(1)
        self.faults.on_lifted(self._after_lifted_fault)

    def peer_name(self, endpoint: str) -> str:
        return self._peer_names.get(endpoint, endpoint)

    def _conn(self, endpoint: str) -> _Connection:
        conn = self._conns.get(endpoint)
        if conn is None:
            member = self._member_endpoints.get(endpoint)
            curve = (self._keys, self._keys.members[member]) if member else None
            conn = _Connection(endpoint, self.peer_name(endpoint), self.faults,
                               self._queue_messages_max, self._repeats, curve)
            self._conns[endpoint] = conn
        return conn

    def connect(self, endpoint: str) -> None:
        """Open the connection now rather than at the first message: a message that may
        be dropped (send_oneway) is, while its connection is still being made."""
        self._conn(endpoint)

    def _recycle(self, conn: _Connection, reason: str) -> None:
        if self._conns.get(conn.endpoint) is conn:
            del self._conns[conn.endpoint]
        conn.close(reason)

    async def request(self, endpoint: str, api: int, body: dict[str, Any] | None = None,
                      payloads: list[Any] | None = None, *, timeout_ms: int | None = None,
                      retries: int | None = None) -> Message:
        """Send a request and return the reply (which may carry an error for the caller).

        Raises KafkaTimeoutError when no reply came within timeout_ms on any attempt."""
        timeout_s = (timeout_ms or self.request_timeout_ms) / 1000
        attempts = 1 + (self.retries_max if retries is None else retries)
        loop = asyncio.get_running_loop()
        last_problem = "no reply"
        last_error: KafkaError | None = None
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self.retry_backoff_ms / 1000 * attempt)
            conn = self._conn(endpoint)
            if conn.down:  # fail fast; the caller backs off and may look elsewhere
                last_problem = f"not connected: {conn.down_reason}"
                last_error = KafkaError(NETWORK_EXCEPTION, last_problem)
                continue
            request_id = next(self._ids)
            future = loop.create_future()
            conn.pending[request_id] = future
            sent_at = loop.time()
            msg = Message(Kind.REQUEST, api, request_id, self.name, body or {}, payloads or [])
            try:
                async with asyncio.timeout(timeout_s):
                    await conn.send(encode(msg), future)
                    return await future
            except asyncio.CancelledError:
                conn.pending.pop(request_id, None)  # its reply, if any, goes nowhere
                raise
            except TimeoutError:
                conn.pending.pop(request_id, None)
                last_problem = f"no reply within {timeout_s * 1000:.0f} ms"
                # Presumed dead only once silent for a whole request timeout: on a host
                # so busy that a peer answers late, replacing its connection (a CURVE
                # handshake each) on every short timeout fed the overload (a 5 + 100
                # cluster made ~80 new connections a broker a minute).
                silent_s = loop.time() - max(conn.last_reply_at, conn.opened_at)
                if conn.last_reply_at < sent_at and \
                        silent_s >= self.request_timeout_ms / 1000:
                    self._recycle(conn, f"{conn.peer} did not answer; reconnecting")
            except KafkaError as e:  # the connection dropped or was recycled under us
                last_problem, last_error = e.message, e
        if last_error is not None:
            raise KafkaError(last_error.error, f"{api_name(api)} to {self.peer_name(endpoint)} "
                                               f"({endpoint}): {last_problem}")
        raise KafkaTimeoutError(
            f"{api_name(api)} to {self.peer_name(endpoint)} ({endpoint}): {last_problem} "
            f"after {attempts} attempt(s)"
        )

    async def send_oneway(self, endpoint: str, api: int, body: dict[str, Any] | None = None,
                          payloads: list[Any] | None = None) -> bool:
        """Fire and forget: dropped (False) when the peer is not connected right now."""
        msg = Message(Kind.ONEWAY, api, 0, self.name, body or {}, payloads or [])
        return await self._conn(endpoint).send_now_or_drop(encode(msg))

    def _after_lifted_fault(self, lifted) -> None:
        """A cut to a peer healed: what waits on it was sent or answered through the cut
        and may be lost. Fail it as a dropped connection would, so that callers ask
        again now instead of waiting out their timeouts (a follower cut off for 3 s
        fetched again 13 s later, unless its session had run out and fenced it)."""
        for conn in self._conns.values():
            if conn.pending and lifted(conn.peer):
                conn.fail_pending(f"the fault cutting {conn.peer} off was lifted; this "
                                  "request may have been lost to it")

    def close(self) -> None:
        self.faults.forget(self._after_lifted_fault)
        for conn in list(self._conns.values()):
            conn.close("client closed")
        self._conns.clear()
