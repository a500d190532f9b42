"""The length guard in front of kio's reader: it walks every well-formed flexible body to
its exact end, and a frame whose compact array declares more elements than it holds is
malformed instead of an allocation that aborts the broker (kio 0.6 sizes the array first).
"""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kio.serial import entity_writer

import mini_kafka.broker.kafka_listener  # noqa: F401 (registers every adapter)
from mini_kafka.kafka_protocol.api import ADAPTERS
from mini_kafka.kafka_protocol.codec import request_class
from mini_kafka.kafka_protocol.length_guard import LengthOutOfBounds, check_flexible_body

FLEXIBLE = [(k, v) for k, a in sorted(ADAPTERS.items())
            for v in range(a.min_version, a.max_version + 1)
            if request_class(k, v).__flexible__]


def drawn_body(data) -> tuple[type, bytes]:
    """A flexible request class the listener serves, and a kio-encoded body of it."""
    cls = request_class(*data.draw(st.sampled_from(FLEXIBLE)))
    body = io.BytesIO()
    entity_writer(cls)(body, data.draw(st.from_type(cls)))
    return cls, body.getvalue()


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_every_well_formed_flexible_body_is_walked_to_its_end(data):
    cls, body = drawn_body(data)
    encoded = b"xyz" + body  # a body that starts after a header
    assert check_flexible_body(cls, encoded, 3) == len(encoded)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_a_truncated_flexible_body_never_walks_past_its_end(data):
    cls, body = drawn_body(data)
    cut = body[:data.draw(st.integers(0, max(0, len(body) - 1)))]
    try:
        assert check_flexible_body(cls, cut, 0) <= len(cut)
    except LengthOutOfBounds:
        pass


# Frames that made kio ask for 32 GiB and abort the process (found 2026-12-02, after a
# fuzz run of the listener died with SIGABRT): decoded in a child process, so that
# without the guard this test fails instead of taking pytest down with it.
ABORTING = {
    "Metadata v9 with 4294967294 topics": (3, 9, bytes.fromhex("ffffffff0f")),
    "Produce v9 with 4294967294 partitions in a topic":
        (0, 9, bytes.fromhex("0000010000") + bytes.fromhex("03e8020274ffffffff0f")),
}


@pytest.mark.parametrize("name", sorted(ABORTING))
def test_a_huge_compact_array_length_is_malformed_not_an_abort(name):
    key, version, body = ABORTING[name]
    script = (
        "import struct, sys\n"
        "from mini_kafka.kafka_protocol.codec import MalformedRequest, read_request\n"
        f"frame = struct.pack('>hhih', {key}, {version}, 1, 1) + b'c\\x00' + {body!r}\n"
        "try:\n"
        "    read_request(frame)\n"
        "except MalformedRequest as e:\n"
        "    print(e)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "overruns the frame" in done.stdout, done.stdout
