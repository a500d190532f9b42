"""pytest fixtures for integration tests against a real mini-kafka cluster.

Installed as a pytest plugin with the package, so any project's tests can use them:

    def test_my_app(mini_kafka_cluster):
        app = MyApp(bootstrap_servers=mini_kafka_cluster.kafka_bootstrap)  # any Kafka client

Clusters use free ports and a temporary data directory, and are always stopped, even
when the test fails.
"""

from __future__ import annotations

from typing import Any

import pytest

from launcher.cluster import Cluster
from launcher.configs import local_cluster_config

test_cluster_config = local_cluster_config  # the name tests have always used
test_cluster_config.__test__ = False  # a helper, not a test, despite its name


@pytest.fixture
def mini_kafka_cluster_factory(tmp_path):
    """Call it to start a cluster: factory(coordinators=1, brokers=3, overrides={...})."""
    started: list[Cluster] = []

    def make(coordinators: int = 3, brokers: int = 3,
             overrides: dict[str, Any] | None = None, start: bool = True) -> Cluster:
        data_dir = tmp_path / f"cluster-{len(started) + 1}"
        cluster = Cluster(local_cluster_config(data_dir, coordinators, brokers, overrides))
        started.append(cluster)
        return cluster.start() if start else cluster

    yield make
    for cluster in started:
        cluster.stop()


@pytest.fixture
def mini_kafka_cluster(mini_kafka_cluster_factory) -> Cluster:
    """A running 3-coordinator, 3-broker cluster."""
    return mini_kafka_cluster_factory()
