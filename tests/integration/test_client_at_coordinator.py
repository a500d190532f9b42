"""A client pointed at a coordinator instead of a broker is told so, with the brokers'
addresses, by every client and by the CLI — not a KeyError from deep inside."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mini_kafka.client import Admin, Consumer, NewTopic, Producer
from mini_kafka.errors import KafkaError


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from launcher.cluster import Cluster
    from launcher.pytest_plugin import test_cluster_config

    config = test_cluster_config(tmp_path_factory.mktemp("cluster"), coordinators=1,
                                 brokers=2)
    with Cluster(config) as c:
        with Admin(c.bootstrap) as admin:
            admin.create_topics([NewTopic("t", 1, 1, {"min.insync.replicas": "1"})])
        yield c


def coordinator_address(cluster) -> str:
    spec = cluster.config.node("coordinator-1")
    return f"{spec.host}:{spec.port}"


def expected_message(cluster) -> str:
    return f"{coordinator_address(cluster)} is coordinator-1, not a broker; brokers are " \
           f"{cluster.bootstrap.replace(',', ', ')}"


def test_each_client_names_the_problem_and_the_brokers(cluster):
    wrong = coordinator_address(cluster)
    with Admin(wrong, request_timeout_ms=2000) as admin, \
            pytest.raises(KafkaError, match="INVALID_REQUEST") as raised:
        admin.list_topics()
    assert expected_message(cluster) in str(raised.value)
    with Producer(wrong, request_timeout_ms=2000) as producer, \
            pytest.raises(KafkaError) as raised:
        producer.send("t", b"v")
    assert expected_message(cluster) in str(raised.value)
    with pytest.raises(KafkaError) as raised:
        Consumer("t", bootstrap_servers=wrong, request_timeout_ms=2000)
    assert expected_message(cluster) in str(raised.value)


def test_a_coordinator_among_the_bootstrap_servers_is_skipped(cluster):
    mixed = f"{coordinator_address(cluster)},{cluster.bootstrap}"
    with Producer(mixed, request_timeout_ms=2000) as producer:
        assert producer.send("t", b"v").get(10).offset >= 0


def test_the_cli_prints_the_problem_without_a_traceback(cluster):
    done = subprocess.run([sys.executable, "-m", "mini_kafka.cli.main", "topic", "list",
                           "--bootstrap-server", coordinator_address(cluster)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert expected_message(cluster) in done.stderr
    assert "Traceback" not in done.stderr
