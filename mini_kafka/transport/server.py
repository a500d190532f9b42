"""The server endpoint: one ROUTER socket, serving requests concurrently.

Each request runs as its own task so a long-poll (a Fetch waiting for data, a metadata
watch) never blocks the socket; a semaphore bounds how many are in flight, and once it is
exhausted the loop stops reading, so back-pressure reaches senders through ZeroMQ's queues.

What a bad peer can cost is bounded here, before any handler runs:
- a message past its bounds (frames, total bytes, nesting) or malformed is answered
  (MESSAGE_TOO_LARGE, INVALID_REQUEST) from the receive loop itself: no task, no wait on
  a slow reader (the answer is dropped if the sender's queue is full), a rate-limited log;
- one peer (one connection) gets at most `peer_inflight_requests_max` requests served at
  once and `peer_queued_requests_max` more waiting their turn; past that,
  THROTTLING_QUOTA_EXCEEDED at once, so no single peer can take every slot;
- the loop yields after every message, so a flood cannot keep a node's own heartbeats
  and replication from running;
- replies never wait on one another: a reply to a peer whose queue is full waits in
  that peer's own outbox (in order, for at most `reply_wait_ms`), while replies to every
  other peer go out at once. (A blocking send on a ROUTER would queue every later reply
  behind one peer that reads nothing.)

An authenticated server (`members`, a running ZapHandler) is a CURVE server: only a
cluster member's key gets a connection, and a message whose sender is not the member
its connection authenticated as is refused (CLUSTER_AUTHORIZATION_FAILED).
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import zmq
import zmq.asyncio

from mini_kafka.clock import SystemClock
from mini_kafka.errors import KafkaError
from mini_kafka.log_limit import RepeatLimitedLog
from mini_kafka.protocol import (
    Bounds,
    Kind,
    Message,
    ProtocolError,
    api_name,
    decode,
    encode,
    peek_request_id,
)
from mini_kafka.transport.faults import FaultRules
from mini_kafka.transport.zap import DOMAIN, ZapHandler

log = logging.getLogger("mini_kafka.transport.server")

Handler = Callable[[Message], Awaitable[Message | None]]


class AddressInUse(OSError):
    """The endpoint's port is taken by another process."""


@dataclass
class _Peer:
    running: int = 0
    waiting: deque = field(default_factory=deque)


class Server:
    def __init__(self, name: str, endpoint: str, handler: Handler, *, faults: FaultRules,
                 inflight_requests_max: int, queue_messages_max: int, bounds: Bounds,
                 peer_inflight_requests_max: int | None = None,
                 peer_queued_requests_max: int = 0, repeats: RepeatLimitedLog | None = None,
                 members: ZapHandler | None = None,
                 fault_exempt: Callable[[Message], bool] | None = None,
                 reply_wait_ms: int = 30_000):
        self.name = name
        self.endpoint = endpoint
        self._handler = handler
        self._faults = faults
        self._bounds = bounds
        self._inflight = asyncio.Semaphore(inflight_requests_max)
        self._peer_running_max = peer_inflight_requests_max
        self._peer_waiting_max = peer_queued_requests_max
        self._peers: dict[bytes, _Peer] = {}
        self._repeats = repeats or RepeatLimitedLog(log, 10_000, SystemClock())
        self._members = members
        self._fault_exempt = fault_exempt or (lambda request: False)
        self._reply_wait_s = reply_wait_ms / 1000
        self._outboxes: dict[bytes, deque] = {}
        self._closed = False
        self._tasks: set[asyncio.Task] = set()
        self._fatal: asyncio.Future = asyncio.get_running_loop().create_future()
        self._sock = zmq.asyncio.Context.instance().socket(zmq.ROUTER)
        # Without ROUTER_MANDATORY a reply to a vanished client is dropped silently;
        # with it we see EHOSTUNREACH and can log it.
        self._sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.SNDHWM, queue_messages_max)
        self._sock.setsockopt(zmq.RCVHWM, queue_messages_max)
        if bounds.message_bytes_max is not None:  # ZeroMQ bounds each frame; we the sum
            self._sock.setsockopt(zmq.MAXMSGSIZE, bounds.message_bytes_max)
        if members is not None:
            # libzmq lets any CURVE client in when no ZAP handler answers: never open an
            # authenticated endpoint without ours running.
            assert members.running, "an authenticated endpoint needs a running ZAP handler"
            self._sock.setsockopt(zmq.CURVE_SERVER, 1)
            self._sock.setsockopt(zmq.CURVE_PUBLICKEY, members.keys.public)
            self._sock.setsockopt(zmq.CURVE_SECRETKEY, members.keys.secret)
            self._sock.setsockopt(zmq.ZAP_DOMAIN, DOMAIN)
        try:
            self._sock.bind(endpoint)
        except zmq.ZMQError as e:
            self._sock.close(0)
            if e.errno == errno.EADDRINUSE:
                raise AddressInUse(f"{endpoint} is already in use by another process") from e
            raise

    async def run(self) -> None:
        """Serve until cancelled; re-raises an invariant violation from a handler."""
        receiver = asyncio.ensure_future(self._receive_loop())
        try:
            done, _ = await asyncio.wait({receiver, self._fatal},
                                         return_when=asyncio.FIRST_COMPLETED)
            for fut in done:
                fut.result()
        finally:
            receiver.cancel()

    async def _receive_loop(self) -> None:
        while True:
            await self._inflight.acquire()
            try:
                frames = await self._sock.recv_multipart(copy=False)
            except BaseException:
                self._inflight.release()
                raise
            if not self._admit(frames):
                self._inflight.release()
            # A ready message completes recv without suspending; without this, a flood
            # would hold the loop and starve every other task of this node.
            await asyncio.sleep(0)

    def _admit(self, frames: list[zmq.Frame]) -> bool:
        """Start serving a request, park it behind its peer's, or refuse it at once.
        True when a task now holds the in-flight slot taken for it."""
        identity, parts = frames[0].bytes, [f.buffer for f in frames[1:]]
        try:
            request = decode(parts, self._bounds)
        except ProtocolError as e:
            self._refuse_malformed(identity, parts, e)
            return False
        if self._members is not None:
            problem = self._not_its_own(frames[1], request)
            if problem:
                self._refuse(identity, request, "CLUSTER_AUTHORIZATION_FAILED", problem)
                return False
        if self._peer_running_max is None:
            self._start(identity, None, request)
            return True
        peer = self._peers.setdefault(identity, _Peer())
        if peer.running < self._peer_running_max:
            peer.running += 1
            self._start(identity, peer, request)
            return True
        if len(peer.waiting) < self._peer_waiting_max:
            peer.waiting.append(request)  # served when one of its own requests is done
            return False
        self._refuse(identity, request, "THROTTLING_QUOTA_EXCEEDED",
                     f"{peer.running} requests of this connection in progress and "
                     f"{len(peer.waiting)} waiting: wait for answers before sending more")
        return False

    def _not_its_own(self, first: zmq.Frame, request: Message) -> str | None:
        try:
            member = first.get("User-Id")
        except zmq.ZMQError:  # no ZAP verdict on this message
            member = None
        if not member or member not in self._members.keys.members:
            return "the connection is not authenticated as a cluster member"
        if request.sender != member:
            return f"sender {request.sender!r} is authenticated as {member!r}"
        return None

    def _start(self, identity: bytes, peer: _Peer | None, request: Message) -> None:
        self._spawn(self._serve_one(identity, peer, request))

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve_one(self, identity: bytes, peer: _Peer | None, request: Message) -> None:
        try:
            exempt = self._fault_exempt(request)
            decision = self._faults.decide("in", request.sender)
            if decision.drop and not exempt:
                return
            if decision.delay_ms and not exempt:
                await asyncio.sleep(decision.delay_ms / 1000)
            reply = await self._dispatch(request)
            if reply is not None and request.kind == Kind.REQUEST:
                await self._send(identity, request.sender, reply, exempt)
        except AssertionError as e:
            log.critical("invariant violated while serving a request", exc_info=True)
            if not self._fatal.done():
                self._fatal.set_exception(e)
        finally:
            self._done(identity, peer)

    def _done(self, identity: bytes, peer: _Peer | None) -> None:
        if self._closed:
            return
        if peer is not None and peer.waiting:  # its slot passes to the peer's next request
            self._start(identity, peer, peer.waiting.popleft())
            return
        if peer is not None:
            peer.running -= 1
            if not peer.running:
                self._peers.pop(identity, None)
        self._inflight.release()

    def _refuse_malformed(self, identity: bytes, parts: list, error: ProtocolError) -> None:
        """Answer when the request id is readable, so the sender need not wait for its
        timeout; otherwise there is no one to answer, so log and drop."""
        request_id = peek_request_id(parts)
        self._repeats.log(logging.WARNING, error.error,
                          "%s from %r (request id %s): %s", error.error, identity,
                          request_id, error, logger=log)
        if request_id is not None:
            self._send_now(identity, Message(Kind.REPLY, 0, request_id, self.name,
                                             {"error": error.error, "message": str(error)}))

    def _refuse(self, identity: bytes, request: Message, error: str, why: str) -> None:
        self._repeats.log(logging.WARNING, error, "%s: %s from %r (%r): %s", error,
                          api_name(request.api), request.sender, identity, why, logger=log)
        if request.kind == Kind.REQUEST:
            self._send_now(identity, request.error_reply(error, why, sender=self.name))

    def _send_now(self, identity: bytes, reply: Message) -> None:
        """Answer a refused message if its sender can take the answer now, else drop it:
        a sender of garbage that reads nothing must not hold anything of ours."""
        if identity not in self._outboxes:
            self._try_send([identity, *encode(reply)])

    def _try_send(self, frames: list) -> str:
        """"sent", "full" (the peer's queue is) or "gone" (no such peer any more).

        Every send is non-blocking, so pyzmq never queues one behind another and each
        completes here, at once."""
        sending = self._sock.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
        assert sending.done(), "a server send was queued: every send must be non-blocking"
        error = sending.exception()
        if error is None:
            return "sent"
        if isinstance(error, zmq.Again):
            return "full"
        if isinstance(error, zmq.ZMQError) and error.errno == zmq.EHOSTUNREACH:
            return "gone"
        raise error

    async def _dispatch(self, request: Message) -> Message | None:
        try:
            return await self._handler(request)
        except KafkaError as e:
            return request.error_reply(e.error.name, e.message, sender=self.name)
        except AssertionError:
            raise
        except Exception as e:  # bad input from a peer is an error reply, never a crash
            self._repeats.log(logging.ERROR, f"{api_name(request.api)} failed",
                              "%s from %s failed", api_name(request.api), request.sender,
                              logger=log, exc_info=True)
            return request.error_reply("UNKNOWN_SERVER_ERROR", f"{type(e).__name__}: {e}",
                                       sender=self.name)

    async def _send(self, identity: bytes, peer: str, reply: Message, exempt: bool) -> None:
        """Returns once the reply is out (or given up on): the request keeps its in-flight
        slot meanwhile, so a peer that reads nothing runs out of slots, not we."""
        decision = self._faults.decide("out", peer)
        if decision.drop and not exempt:
            return
        if decision.delay_ms and not exempt:
            await asyncio.sleep(decision.delay_ms / 1000)
        frames = [identity, *encode(reply)]
        outbox = self._outboxes.get(identity)
        if outbox is None:
            outcome = self._try_send(frames)
            if outcome != "full":
                if outcome == "gone":
                    log.debug("reply to %s dropped: the client is gone", peer)
                return
            outbox = self._outboxes[identity] = deque()
            self._spawn(self._drain(identity, peer, outbox))
        sent = asyncio.get_running_loop().create_future()
        outbox.append((frames, sent))
        await sent

    async def _drain(self, identity: bytes, peer: str, outbox: deque) -> None:
        """Send a slow reader's replies in order as its queue makes room; a reply it has
        not taken within reply_wait_ms is dropped (its requester has given up by then)."""
        loop = asyncio.get_running_loop()
        try:
            while outbox:
                deadline, pause_s = loop.time() + self._reply_wait_s, 0.001
                frames, sent = outbox[0]
                while (outcome := self._try_send(frames)) == "full" and \
                        loop.time() < deadline:
                    await asyncio.sleep(pause_s)  # ZeroMQ cannot say when one peer has room
                    pause_s = min(2 * pause_s, 0.05)
                if outcome == "full":
                    self._repeats.log(logging.WARNING, "reply not taken",
                                      "reply to %s dropped: not taken within %.0f ms", peer,
                                      self._reply_wait_s * 1000, logger=log)
                for _ in range(len(outbox) if outcome == "gone" else 1):
                    _, done = outbox.popleft()
                    if not done.done():
                        done.set_result(None)
        finally:
            self._outboxes.pop(identity, None)
            for _, done in outbox:
                if not done.done():
                    done.set_result(None)

    def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        self._sock.close(0)
