"""Brokers follow metadata from the coordinator their id picks first, so a hundred
brokers' long polls are spread over the ensemble instead of all held by one."""

from __future__ import annotations

from collections import Counter

from mini_kafka.clock import ManualClock
from mini_kafka.coordinator.client import ControllerClient

ENSEMBLE = {f"coordinator-{i}": f"tcp://127.0.0.1:{19190 + i}" for i in range(1, 6)}


def first_reader(broker_id: int) -> str:
    return ControllerClient(None, ENSEMBLE, timeout_ms=5000, attempt_timeout_ms=1000,
                            retry_backoff_ms=50, clock=ManualClock(),
                            reader_index=broker_id)._reader


def test_a_hundred_brokers_start_reading_from_every_coordinator_evenly():
    counts = Counter(first_reader(b) for b in range(1, 101))
    assert set(counts) == set(ENSEMBLE.values())
    assert set(counts.values()) == {20}
