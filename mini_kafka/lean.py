"""What a node process keeps out of its memory: modules its dependencies import only in
case someone wants them, which a node never does. Called first thing in a node's
__main__, before anything imports them; measured on an idle broker (`python -X
importtime`, /proc/PID/status), where together they were a third of its RSS.

- hypothesis: kio imports it, when installed (it is one of our test tools), only to
  register test strategies for its types: 0.7 s of start-up and ~9 MiB in every broker.
- ssl: asyncio imports it (with libssl and libcrypto, ~5 MB) in case a connection
  wants TLS; no node speaks TLS (ZeroMQ's CURVE secures the cluster's traffic, and the
  Kafka listener is plaintext). asyncio runs without it, as on a Python built without.
- crc32c's package init: for its `__version__` and its command line it imports
  importlib.metadata, email, zipfile, csv, argparse and more, ~1.8 MB; nodes use only
  its C function, taken here from the extension module alone.
"""

from __future__ import annotations

import importlib.util
import sys
import types

UNUSED_BY_NODES = ("hypothesis", "ssl")


def keep_unused_modules_out() -> None:
    """An import of any of them now fails as if it were not installed; their importers
    (kio, asyncio) are written for that."""
    for name in UNUSED_BY_NODES:
        sys.modules.setdefault(name, None)
    _crc32c_without_its_package_init()


def _crc32c_without_its_package_init() -> None:
    """`from crc32c import crc32c` then finds a bare package holding only the function;
    should crc32c's layout change, the normal import stands."""
    if "crc32c" in sys.modules:
        return
    spec = importlib.util.find_spec("crc32c")  # locates it without running its init
    if spec is None or not spec.submodule_search_locations:
        return
    package = types.ModuleType("crc32c")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["crc32c"] = package
    try:
        from crc32c._crc32c import crc32c
    except ImportError:
        del sys.modules["crc32c"]
        return
    package.crc32c = crc32c
