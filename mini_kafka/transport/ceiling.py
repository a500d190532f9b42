"""What this machine's transport allows: raw ZeroMQ, DEALER -> ROUTER, between two
processes, with no broker logic — the ceiling every `perf` figure is a ratio to.

The sink (`python -m mini_kafka.transport.ceiling ENDPOINT`, a child process) answers
each message with a tiny acknowledgement, as a broker answers a produce request. The
pusher keeps a window of messages in flight, as a producer does, and times the whole
transfer; a ping-pong of small messages gives the round-trip floor for latency.
"""

from __future__ import annotations

import sys
import time

import zmq

from mini_kafka.errors import KafkaTimeoutError

STOP = b"stop"
ACK = b"ok"


def sink(endpoint: str) -> None:
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(endpoint)
    try:
        while True:
            identity, body = sock.recv_multipart(copy=False)
            sock.send_multipart([identity, ACK])
            if body.bytes == STOP:
                return
    finally:
        sock.close(0)


class Pusher:
    def __init__(self, endpoint: str, timeout_ms: int = 10_000):
        self._sock = zmq.Context.instance().socket(zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.RCVTIMEO, timeout_ms)
        self._sock.connect(endpoint)

    def push(self, payload: bytes, count: int, window: int) -> float:
        """Seconds to send `count` copies of payload with `window` unanswered at most."""
        began = time.perf_counter()
        sent = answered = 0
        while answered < count:
            while sent < count and sent - answered < window:
                self._sock.send(payload, copy=len(payload) < 64 * 1024)
                sent += 1
            self._recv()
            answered += 1
        return time.perf_counter() - began

    def round_trips_ms(self, payload: bytes, count: int) -> list[float]:
        out = []
        for _ in range(count):
            began = time.perf_counter()
            self._sock.send(payload)
            self._recv()
            out.append((time.perf_counter() - began) * 1000)
        return out

    def stop_sink(self) -> None:
        self._sock.send(STOP)
        self._recv()

    def _recv(self) -> None:
        try:
            self._sock.recv()
        except zmq.Again:
            raise KafkaTimeoutError("the ceiling's sink process stopped answering") from None

    def close(self) -> None:
        self._sock.close(0)


if __name__ == "__main__":
    sink(sys.argv[1])
