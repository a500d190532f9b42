"""The Kafka listener's ceiling on this machine: raw TCP over loopback between two
processes, Kafka's framing (int32 size + bytes), no broker logic — what `perf bench`
divides the Kafka clients' figures by, as it divides mini-kafka's own by raw ZeroMQ's.

The sink (`python -m mini_kafka.perf.tcp_ceiling PORT`, a child process) answers each
frame with a small framed acknowledgement, as a broker answers a produce request; the
pusher keeps a window of frames in flight, as a producer does (librdkafka's
max.in.flight is 5 with idempotence), and times the whole transfer; a ping-pong of
small frames gives the round-trip floor.
"""

from __future__ import annotations

import socket
import statistics
import struct
import subprocess
import sys
import time

from mini_kafka.perf.ceiling import WINDOW_MESSAGES, Ceiling, sample_batch

SIZE = struct.Struct(">i")
ACK = SIZE.pack(4) + b"ack!"
STOP = b"stop"
CONNECT_TIMEOUT_S = 10.0


def _read_exactly(sock: socket.socket, n: int, buf: bytearray) -> None:
    buf.clear()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise ConnectionError("the peer closed the connection")
        buf += chunk


def sink(port: int) -> None:
    server = socket.create_server(("127.0.0.1", port))
    conn, _ = server.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray()
    try:
        while True:
            _read_exactly(conn, SIZE.size, buf)
            (size,) = SIZE.unpack(buf)
            _read_exactly(conn, size, buf)
            conn.sendall(ACK)
            if bytes(buf) == STOP:
                return
    finally:
        conn.close()
        server.close()


class Pusher:
    def __init__(self, port: int):
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)  # the sink process is still starting
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = bytearray()

    def _ack(self) -> None:
        _read_exactly(self.sock, len(ACK), self._buf)

    def push(self, payload: bytes, count: int, window: int) -> float:
        framed = SIZE.pack(len(payload)) + payload
        began = time.perf_counter()
        sent = answered = 0
        while answered < count:
            while sent < count and sent - answered < window:
                self.sock.sendall(framed)
                sent += 1
            self._ack()
            answered += 1
        return time.perf_counter() - began

    def round_trips_ms(self, count: int) -> list[float]:
        out = []
        ping = SIZE.pack(1) + b"p"
        for _ in range(count):
            began = time.perf_counter()
            self.sock.sendall(ping)
            self._ack()
            out.append((time.perf_counter() - began) * 1000)
        return out

    def stop_sink(self) -> None:
        self.sock.sendall(SIZE.pack(len(STOP)) + STOP)
        self._ack()

    def close(self) -> None:
        self.sock.close()


def measure(port: int, record_size: int, batch_bytes_max: int = 16384,
            seconds: float = 2.0, round_trips: int = 2000) -> Ceiling:
    batch, count = sample_batch(record_size, batch_bytes_max)
    sink_proc = subprocess.Popen([sys.executable, "-m", "mini_kafka.perf.tcp_ceiling",
                                  str(port)])
    pusher = None
    try:
        pusher = Pusher(port)
        pusher.push(batch, 100, WINDOW_MESSAGES)  # connected and warm
        n = 200
        while (took := pusher.push(batch, n, WINDOW_MESSAGES)) < seconds / 4:
            n *= 2
        took = pusher.push(batch, n * 4, WINDOW_MESSAGES)
        rtt = statistics.median(pusher.round_trips_ms(round_trips))
        pusher.stop_sink()
        sink_proc.wait(timeout=CONNECT_TIMEOUT_S)
    finally:
        if pusher is not None:
            pusher.close()
        if sink_proc.poll() is None:
            sink_proc.kill()
            sink_proc.wait()
    return Ceiling(record_size, count, len(batch), n * 4 / took, rtt, transport="raw TCP")


def median_of(port_for, record_size: int, batch_bytes_max: int, repeats: int,
              seconds: float = 2.0) -> Ceiling:
    """The median run of `repeats` (by throughput): the machine is shared and noisy."""
    runs = sorted((measure(port_for(), record_size, batch_bytes_max, seconds)
                   for _ in range(repeats)), key=lambda c: c.batches_per_s)
    return runs[len(runs) // 2]


if __name__ == "__main__":
    sink(int(sys.argv[1]))
