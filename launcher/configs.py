"""Cluster configs for throwaway clusters (tests, benchmarks): OS-assigned ports, data
under a given directory. No test-only imports, so the benchmarks run after a plain
`pip install .`."""

from __future__ import annotations

import copy
from typing import Any


def local_cluster_config(data_dir, coordinators: int = 3, brokers: int = 3,
                         overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A cluster config dict: OS-assigned ports, data under `data_dir`."""
    rf = min(3, brokers)
    config: dict[str, Any] = {
        "cluster": {"data_dir": str(data_dir)},
        "coordinators": {"count": coordinators, "base_port": 0},
        "brokers": {"count": brokers, "base_port": 0, "kafka_base_port": 0},
        "topics": {"default_replication_factor": rf, "min_insync_replicas": min(2, rf)},
    }
    for section, values in (overrides or {}).items():
        config.setdefault(section, {}).update(copy.deepcopy(values))
    return config
