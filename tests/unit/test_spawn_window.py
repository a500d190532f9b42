"""A cluster's nodes are spawned a window at a time: the next once one is past its
imports, so a hundred interpreters never share two cores at once (launcher/startup.py)."""

from __future__ import annotations

import pytest

from launcher.startup import SpawnWindow
from mini_kafka.config import config_from_dict


def names(specs):
    return [s.name for s in specs]


def test_the_window_spawns_in_order_and_refills_as_nodes_answer():
    nodes = config_from_dict({"coordinators": {"count": 3}, "brokers": {"count": 5}}).nodes
    window = SpawnWindow(nodes, 4)
    first = window.take()
    assert names(first) == [n.name for n in nodes[:4]]
    assert window.take() == [] and not window.has_room, "full until one answers"
    window.answered(first[1].name)
    window.answered(first[1].name)  # asked again: still one slot
    assert window.has_room
    assert names(window.take()) == [nodes[4].name]
    for spec in first:
        window.answered(spec.name)
    assert names(window.take()) == [n.name for n in nodes[5:8]]
    assert not window.has_room and window.take() == []  # nothing left to spawn


def test_a_small_cluster_starts_all_at_once_and_a_window_of_none_is_refused():
    nodes = config_from_dict({"coordinators": {"count": 3}, "brokers": {"count": 3}}).nodes
    assert names(SpawnWindow(nodes, 6).take()) == names(nodes)
    with pytest.raises(AssertionError):
        SpawnWindow(nodes, 0)
