"""The server endpoint: one ROUTER socket per node, serving requests concurrently.

Each request runs as its own task so a long-poll (a Fetch waiting for data, a metadata
watch) never blocks the socket; a semaphore bounds how many are in flight, and once it is
exhausted the loop stops reading, so back-pressure reaches senders through ZeroMQ's queues.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Awaitable, Callable

import zmq
import zmq.asyncio

from mini_kafka.errors import KafkaError
from mini_kafka.protocol import (
    Kind,
    Message,
    ProtocolError,
    api_name,
    decode,
    encode,
    peek_request_id,
)
from mini_kafka.transport.faults import FaultRules

log = logging.getLogger("mini_kafka.transport.server")

Handler = Callable[[Message], Awaitable[Message | None]]


class AddressInUse(OSError):
    """The endpoint's port is taken by another process."""


class Server:
    def __init__(self, name: str, endpoint: str, handler: Handler, *, faults: FaultRules,
                 inflight_requests_max: int, queue_messages_max: int, message_bytes_max: int):
        self.name = name
        self.endpoint = endpoint
        self._handler = handler
        self._faults = faults
        self._inflight = asyncio.Semaphore(inflight_requests_max)
        self._tasks: set[asyncio.Task] = set()
        self._fatal: asyncio.Future = asyncio.get_running_loop().create_future()
        self._sock = zmq.asyncio.Context.instance().socket(zmq.ROUTER)
        # Without ROUTER_MANDATORY a reply to a vanished client is dropped silently;
        # with it we see EHOSTUNREACH and can log it.
        self._sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.SNDHWM, queue_messages_max)
        self._sock.setsockopt(zmq.RCVHWM, queue_messages_max)
        self._sock.setsockopt(zmq.MAXMSGSIZE, message_bytes_max)
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
            task = asyncio.ensure_future(self._serve_one(frames))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve_one(self, frames: list[zmq.Frame]) -> None:
        try:
            identity, parts = frames[0].bytes, [f.buffer for f in frames[1:]]
            try:
                request = decode(parts)
            except ProtocolError as e:
                await self._refuse_malformed(identity, parts, e)
                return
            decision = self._faults.decide("in", request.sender)
            if decision.drop:
                return
            if decision.delay_ms:
                await asyncio.sleep(decision.delay_ms / 1000)
            reply = await self._dispatch(request)
            if reply is not None and request.kind == Kind.REQUEST:
                await self._send(identity, request.sender, reply)
        except AssertionError as e:
            log.critical("invariant violated while serving a request", exc_info=True)
            if not self._fatal.done():
                self._fatal.set_exception(e)
        finally:
            self._inflight.release()

    async def _refuse_malformed(self, identity: bytes, parts: list, error: ProtocolError) -> None:
        """Answer INVALID_REQUEST when the request id is readable, so the sender need not
        wait for its timeout; otherwise there is no one to answer, so log and drop."""
        request_id = peek_request_id(parts)
        log.warning("malformed message from %r (request id %s): %s", identity, request_id, error)
        if request_id is not None:
            reply = Message(Kind.REPLY, 0, request_id, self.name,
                            {"error": "INVALID_REQUEST", "message": str(error)})
            await self._send(identity, "", reply)

    async def _dispatch(self, request: Message) -> Message | None:
        try:
            return await self._handler(request)
        except KafkaError as e:
            return request.error_reply(e.error.name, e.message, sender=self.name)
        except AssertionError:
            raise
        except Exception as e:  # bad input from a peer is an error reply, never a crash
            log.exception("%s from %s failed", api_name(request.api), request.sender)
            return request.error_reply("UNKNOWN_SERVER_ERROR", f"{type(e).__name__}: {e}",
                                       sender=self.name)

    async def _send(self, identity: bytes, peer: str, reply: Message) -> None:
        decision = self._faults.decide("out", peer)
        if decision.drop:
            return
        if decision.delay_ms:
            await asyncio.sleep(decision.delay_ms / 1000)
        try:
            await self._sock.send_multipart([identity, *encode(reply)], copy=False)
        except zmq.ZMQError as e:
            if e.errno != zmq.EHOSTUNREACH:
                raise
            log.debug("reply to %s dropped: the client is gone", peer)

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._sock.close(0)
