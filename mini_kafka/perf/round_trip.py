"""What one request costs through each of a broker's front doors: the same Metadata
request (one topic), one at a time, over the Kafka listener (raw socket, Kafka framing)
and over the ZeroMQ endpoint (mini-kafka's own RPC client) — the fixed cost every hop of
every other figure pays."""

from __future__ import annotations

import asyncio
import socket
import statistics
import struct
import time
from dataclasses import dataclass

from mini_kafka.protocol import ApiKey
from mini_kafka.transport import Client

_SIZE = struct.Struct(">i")


@dataclass
class RoundTrips:
    door: str
    samples_ms: list[float]

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p99_ms(self) -> float:
        ordered = sorted(self.samples_ms)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]

    def line(self) -> str:
        return (f"{self.door}: Metadata round trip 50th {self.p50_ms:.3f} ms, 99th "
                f"{self.p99_ms:.3f} ms ({len(self.samples_ms)} requests, one at a time)")


def _metadata_v1(topic: str, correlation_id: int) -> bytes:
    name = topic.encode()
    body = struct.pack(">hhih", 3, 1, correlation_id, 4) + b"perf" + \
        struct.pack(">ih", 1, len(name)) + name
    return _SIZE.pack(len(body)) + body


def kafka_listener(address: str, topic: str, count: int) -> RoundTrips:
    host, _, port = address.rpartition(":")
    samples = []
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(count + 50):
            request = _metadata_v1(topic, i)
            began = time.perf_counter()
            sock.sendall(request)
            (size,) = _SIZE.unpack(_exactly(sock, _SIZE.size))
            _exactly(sock, size)
            if i >= 50:  # the first ones warm the connection and the broker's caches
                samples.append((time.perf_counter() - began) * 1000)
    return RoundTrips("Kafka listener (TCP)", samples)


def zeromq(endpoint: str, topic: str, count: int) -> RoundTrips:
    async def measure() -> list[float]:
        client = Client("perf-round-trip", retries_max=0)
        try:
            samples = []
            for i in range(count + 50):
                began = time.perf_counter()
                reply = await client.request(endpoint, ApiKey.METADATA, {"topics": [topic]})
                if reply.error != "NONE":
                    raise RuntimeError(f"metadata: {reply.error}")
                if i >= 50:
                    samples.append((time.perf_counter() - began) * 1000)
            return samples
        finally:
            client.close()

    return RoundTrips("ZeroMQ endpoint", asyncio.run(measure()))


def _exactly(sock: socket.socket, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        out += chunk
    return bytes(out)
