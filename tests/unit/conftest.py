"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest

from tests.unit.producer_stub import stub_producer


@pytest.fixture
def stubbed():
    """stubbed(**config) -> (producer, its stand-in cluster view); every
    producer made is closed after the test."""
    made = []

    def make_producer(**config):
        producer, view = stub_producer(**config)
        made.append(producer)
        return producer, view

    yield make_producer
    for producer in made:
        producer.close(1)
