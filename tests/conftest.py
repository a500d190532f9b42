"""Shared test helpers. Tier markers are applied from the folder a test lives in."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import strategies as st
from kio.static.primitive import Records

# kio's record-batch bytes have no strategy of their own; every property test that draws
# a request with st.from_type needs one, whichever test file happens to run first.
st.register_type_strategy(Records, st.binary(max_size=64).map(Records))

TIERS = ("unit", "sim", "integration", "chaos")


def pytest_collection_modifyitems(items):
    for item in items:
        tier = Path(item.fspath).parent.name
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
