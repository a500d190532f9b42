"""ZAP (ZeroMQ's authentication protocol, RFC 27) for a node's authenticated endpoint.

libzmq asks this handler, over inproc in the same context, about every connection
attempt on a CURVE server socket: it admits a client whose public key belongs to a
cluster member, under that member's name — the User-Id libzmq then stamps on every
message from that connection, which the server compares with the message's sender. Any
other key is refused; the refused client never gets a message through.

Our own handler rather than zmq.auth's: the decision is a lookup in the cluster's keys,
the User-Id is the member's name, and refusals are counted and logged (rate-limited).
libzmq lets a CURVE socket in a context with no ZAP handler accept any client, so
`Server` refuses to open an authenticated endpoint without a running handler, and checks
each message's User-Id besides.
"""

from __future__ import annotations

import asyncio
import logging

import zmq
import zmq.asyncio

from mini_kafka.log_limit import RepeatLimitedLog
from mini_kafka.transport.keys import ClusterKeys

log = logging.getLogger("mini_kafka.transport.zap")

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
DOMAIN = b"mini-kafka"
_VERSION = b"1.0"


class ZapHandler:
    def __init__(self, keys: ClusterKeys, repeats: RepeatLimitedLog):
        self.keys = keys
        self._repeats = repeats
        self.refused = 0
        self._sock = zmq.asyncio.Context.instance().socket(zmq.REP)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind(ZAP_ENDPOINT)  # before any CURVE socket of ours can take a client
        self._task = asyncio.ensure_future(self._serve())

    @property
    def running(self) -> bool:
        return not self._task.done()

    async def _serve(self) -> None:
        while True:
            request = await self._sock.recv_multipart()
            await self._sock.send_multipart(self._answer(request))

    def _answer(self, request: list[bytes]) -> list[bytes]:
        if len(request) < 6:
            request_id = request[1] if len(request) > 1 else b""
            return [_VERSION, request_id, b"400", b"malformed ZAP request", b"", b""]
        version, request_id, domain, address, _, mechanism, *credentials = request
        member = None
        if version == _VERSION and domain == DOMAIN and mechanism == b"CURVE" \
                and len(credentials) == 1:
            member = self.keys.member_of(credentials[0])
        if member is None:
            self.refused += 1
            self._repeats.log(logging.WARNING, "refused connection",
                              "refused a %s connection from %s: not a cluster member's key",
                              mechanism.decode(errors="replace"),
                              address.decode(errors="replace"), logger=log)
            return [_VERSION, request_id, b"400", b"not a cluster member", b"", b""]
        return [_VERSION, request_id, b"200", b"OK", member.encode(), b""]

    def close(self) -> None:
        self._task.cancel()
        self._sock.close(0)
