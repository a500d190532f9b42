"""A hostile local process: floods an endpoint with garbage at a fixed rate and never
reads an answer. Run as `python -m tests.integration.flood ENDPOINT RATE SECONDS`; prints
how many messages it sent. Also: one raw request, for frames no client would send."""

from __future__ import annotations

import itertools
import struct
import sys
import time

import zmq

from mini_kafka.protocol import Message, decode

# A readable header (version 1, kind REQUEST, API, request id) and a sender name, so the
# server can answer; the bodies are what is wrong.
HEADER = struct.Struct(">BBHQ")


def garbage(i: int) -> list[bytes]:
    kind = i % 6
    header = HEADER.pack(1, 0, 1, i) + b"flood"
    if kind == 0:
        return [b"\xde\xad"]                      # not a message at all
    if kind == 1:
        return [header, b"\x00not json"]          # undecodable body
    if kind == 2:
        return [header, b"[" * 50_000]            # deeper than any parser goes
    if kind == 3:
        return [HEADER.pack(1, 0, 999, i) + b"flood", b"{}"]  # no such API
    if kind == 4:
        return [header, b'{"partitions": [{"topic": 7}]}']    # FETCH with bad fields
    return [header, b'{"partitions": [7]}']                   # ...that trip a handler


def main(endpoint: str, rate_per_s: int, seconds: float) -> int:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, 100_000)
    sock.connect(endpoint)
    began = time.monotonic()
    sent = 0
    for i in itertools.count():
        elapsed = time.monotonic() - began
        if elapsed >= seconds:
            break
        ahead_s = i / rate_per_s - elapsed
        if ahead_s > 0:
            time.sleep(ahead_s)
        try:
            sock.send_multipart(garbage(i), flags=zmq.NOBLOCK)
            sent += 1
        except zmq.Again:
            pass
    sock.close(0)
    return sent


def raw_request(endpoint: str, frames: list[bytes], timeout_ms: int = 10_000) -> Message:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, timeout_ms)
    sock.connect(endpoint)
    try:
        sock.send_multipart(frames)
        return decode(sock.recv_multipart())
    finally:
        sock.close(0)


if __name__ == "__main__":
    print(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])), flush=True)
