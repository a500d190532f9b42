"""A node process does not load what it never uses (mini_kafka/lean.py): test tools that
kio would register strategies with, TLS, OpenSSL's hashes, crc32c's package init (package
metadata and its command line), PyYAML (the launcher's effective config is JSON), and
the compression codecs before the first compressed batch. Each is megabytes of every
broker's RSS."""

from __future__ import annotations

import subprocess
import sys

import pytest

# The node's __main__ up to its argument parsing (--help exits there), then what loaded.
PROBE = """
import runpy, sys
sys.argv = ["node", "--help"]
try:
    runpy.run_module("mini_kafka.{role}", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
print("LOADED:", *sorted(n for n in {names!r} if sys.modules.get(n) is not None))
from crc32c import crc32c
print("CHECK:", crc32c(b"123456789"))
"""


@pytest.mark.parametrize("role", ["broker", "coordinator"])
def test_a_node_process_leaves_out_modules_it_never_uses(role):
    names = ("hypothesis", "ssl", "cramjam", "_hashlib", "importlib.metadata", "email",
             "zipfile", "yaml")
    out = subprocess.run([sys.executable, "-c", PROBE.format(role=role, names=names)],
                         capture_output=True, text=True, timeout=60, check=True)
    report = dict(line.split(":", 1) for line in out.stdout.splitlines()[-2:])
    assert report["LOADED"].split() == [], f"{role} loaded {report['LOADED']}"
    # The CRC-32C check value: the function a node uses is crc32c's own.
    assert report["CHECK"].split() == [str(0xE3069283)]


def test_compression_still_works_once_asked_for():
    from mini_kafka import compression
    data = b"idle" * 100
    for codec in (compression.GZIP, compression.SNAPPY, compression.LZ4, compression.ZSTD):
        assert compression.decompress(codec, compression.compress(codec, data)) == data
