"""Kafka's framing: every request is `int32 size` then `size` bytes — pure.

`FrameSplitter` takes bytes as they arrive and hands back whole frames. A size that is
negative or larger than the configured bound is a protocol violation: the connection is
closed (Kafka's InvalidReceiveException), since nothing after it can be trusted.
"""

from __future__ import annotations

import struct

SIZE = struct.Struct(">i")


class FrameError(ValueError):
    """The byte stream is not Kafka framing (or a frame is over the size bound)."""


class FrameSplitter:
    def __init__(self, frame_bytes_max: int):
        self.frame_bytes_max = frame_bytes_max
        self._buffer = bytearray()
        self._need: int | None = None  # size of the frame being read, once known

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data) -> list[bytes]:
        """Append `data`; return every frame now complete, in order."""
        buf = self._buffer
        buf += data
        frames = []
        pos = 0
        while True:
            if self._need is None:
                if len(buf) - pos < SIZE.size:
                    break
                (size,) = SIZE.unpack_from(buf, pos)
                if size < 0 or size > self.frame_bytes_max:
                    raise FrameError(f"frame of {size} bytes (allowed 0..{self.frame_bytes_max})")
                self._need = size
                pos += SIZE.size
            if len(buf) - pos < self._need:
                break
            frames.append(bytes(buf[pos:pos + self._need]))
            pos += self._need
            self._need = None
        if pos:
            del buf[:pos]
        return frames


def frame(parts: list) -> list:
    """`parts` of one response, with the size prefix in front (for writelines)."""
    return [SIZE.pack(sum(len(p) for p in parts)), *parts]
