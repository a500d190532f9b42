"""Shared test helpers. Tier markers are applied from the folder a test lives in."""

from __future__ import annotations

from pathlib import Path

import pytest

TIERS = ("unit", "sim", "integration", "chaos")


def pytest_collection_modifyitems(items):
    for item in items:
        tier = Path(item.fspath).parent.name
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
