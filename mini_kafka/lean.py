"""What a node process keeps out of its memory: modules its dependencies import only in
case someone wants them, which a node never does. Called first thing in a node's
__main__, before anything imports them; measured on an idle broker (`python -X
importtime`, /proc/PID/status), where together they were a third of its RSS.

- hypothesis: kio imports it, when installed (it is one of our test tools), only to
  register test strategies for its types: 0.7 s of start-up and ~9 MiB in every broker.
- ssl: asyncio imports it (with libssl and libcrypto, ~5 MB) in case a connection
  wants TLS; no node speaks TLS (ZeroMQ's CURVE secures the cluster's traffic, and the
  Kafka listener is plaintext). asyncio runs without it, as on a Python built without.
"""

from __future__ import annotations

import sys

UNUSED_BY_NODES = ("hypothesis", "ssl")


def keep_unused_modules_out() -> None:
    """An import of any of them now fails as if it were not installed; their importers
    (kio, asyncio) are written for that."""
    for name in UNUSED_BY_NODES:
        sys.modules.setdefault(name, None)
