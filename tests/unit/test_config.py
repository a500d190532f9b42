import re
from pathlib import Path

import pytest

from mini_kafka.config import ConfigError, config_from_dict, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_default_cluster_yaml_is_three_plus_three_with_kafka_retention():
    config = load_config(ROOT / "cluster.yaml")
    assert [n.name for n in config.nodes] == [
        "coordinator-1", "coordinator-2", "coordinator-3", "broker-1", "broker-2", "broker-3"]
    assert config.topics.retention_ms == 604_800_000
    assert config.data_dir == ROOT / "logs"
    assert config.node("broker-2").endpoint == "tcp://127.0.0.1:19093"


def test_every_section_and_key_is_optional():
    config = config_from_dict({})
    assert config.coordinators.count == 3 and config.brokers.count == 3


@pytest.mark.parametrize("raw, expected", [
    ({"coordinators": {"count": 4}}, "coordinators.count = 4: must be odd"),
    ({"coordinators": {"base_port": 20000}, "brokers": {"base_port": 20002}},
     "port ranges overlap: coordinators.base_port = 20000 gives 3 nodes ports 20000-20002 "
     "and brokers.base_port = 20002 gives 3 nodes ports 20002-20004; move one of them; "
     "e.g. brokers.base_port: 20100"),
    ({"coordinators": {"ports": [20000, 20001, 20002]}, "brokers": {"base_port": 20002}},
     "port clash: broker-1 and coordinator-3 both use port 20002"),
    ({"coordinators": {"count": 9}}, "coordinators.count = 9: must be between 1 and 7 (odd)"),
    ({"brokers": {"count": 201}}, "brokers.count = 201: must be between 1 and 200"),
    ({"brokers": {"ports": [20001, 20001, 20003]}},
     "port clash: broker-2 and broker-1 both use port 20001"),
    ({"topics": {"default_replication_factor": 4}},
     "topics.default_replication_factor = 4: exceeds brokers.count = 3 (allowed 1..3)"),
    ({"brokers": {"cout": 3}},
     "unknown key 'brokers.cout' (allowed: base_port, cluster_base_port, cluster_ports, "
     "count, kafka_base_port, kafka_ports, ports)"),
    ({"broker": {"count": 3}}, "unknown key 'broker' (allowed: brokers, cluster,"),
    ({"timeouts": {"request_timeout_ms": -5}},
     "timeouts.request_timeout_ms = -5: must be between 1 and 600000"),
    ({"timeouts": {"broker_session_timeout_ms": "9s"}},
     "timeouts.broker_session_timeout_ms = '9s': must be an integer between 2 and 600000"),
    ({"topics": {"unclean_leader_election_enable": "yes"}},
     "topics.unclean_leader_election_enable = 'yes': must be true or false"),
    ({"topics": {"cleanup_policy": "shred"}}, "must be 'delete' or 'compact'"),
    ({"topics": {"min_insync_replicas": 3, "default_replication_factor": 2}},
     "topics.min_insync_replicas = 3: exceeds topics.default_replication_factor = 2"),
    ({"brokers": {"count": 2, "ports": [20001]}},
     "brokers.ports has 1 entries but brokers.count = 2"),
    ({"brokers": {"base_port": 65534}}, "brokers.base_port = 65534: 3 nodes need ports up to"),
    ({"timeouts": {"raft_heartbeat_interval_ms": 500, "raft_election_timeout_ms": 300}},
     "timeouts.raft_heartbeat_interval_ms = 500: must be less than"),
    ({"limits": 5}, "limits must be a mapping"),
    ([1, 2], "the config must be a mapping of sections"),
])
def test_bad_config_is_refused_naming_key_value_and_allowed(raw, expected):
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert expected in str(info.value)


def test_a_hundred_brokers_on_the_default_ports_reach_the_coordinators_and_are_told_where_to_go(
        tmp_path):
    """cluster.yaml's brokers start at 19092 and its coordinators at 19191: 99 brokers fit,
    the 100th would take coordinator-1's port (and its cluster port, 19391, that of the
    100th broker's authenticated endpoint)."""
    text = (ROOT / "cluster.yaml").read_text()
    path = tmp_path / "cluster.yaml"
    brokers_count = re.compile(r"^(brokers:\n  count:) 3", re.M)
    path.write_text(brokers_count.sub(r"\1 100", text))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        "port ranges overlap: coordinators.base_port = 19191 gives 3 nodes ports 19191-19193 "
        "and brokers.base_port = 19092 gives 100 nodes ports 19092-19191; move one of them; "
        "e.g. coordinators.base_port: 19400")
    path.write_text(brokers_count.sub(r"\1 200", text).replace("base_port: 19191",
                                                                "base_port: 19500")
                    .replace("cluster_base_port: 19391", "cluster_base_port: 19600"))
    config = load_config(path)
    brokers = [s for s in config.nodes if s.role == "broker"]
    assert len(brokers) == 200 and brokers[-1].port == 19291 and brokers[-1].kafka_port == 9291


def test_bad_yaml_and_missing_file_are_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("brokers: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml")


def test_the_launchers_json_effective_config_reads_as_its_yaml_would(tmp_path):
    import json

    config = load_config(ROOT / "cluster.yaml")
    path = tmp_path / "cluster.effective.yaml"
    path.write_text(json.dumps(config.to_dict(), indent=2))
    assert load_config(path) == config_from_dict(config.to_dict())
    # A YAML flow mapping that is not JSON still reads as YAML; a broken one is named.
    path.write_text("{brokers: {count: 5}, topics: {num_partitions: 2}}\n")
    assert load_config(path).brokers.count == 5
    path.write_text("{brokers: {count: 5}\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(path)


def test_relative_data_dir_is_anchored_at_the_config_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("cluster: {data_dir: data}\n")
    assert load_config(path).data_dir == tmp_path / "data"


def test_port_zero_is_resolved_by_with_ports_and_survives_a_round_trip(tmp_path):
    config = config_from_dict({"coordinators": {"count": 1, "base_port": 0},
                               "brokers": {"count": 1, "base_port": 0},
                               "topics": {"default_replication_factor": 1,
                                          "min_insync_replicas": 1}})
    assert config.needs_ports
    assert config.with_ports([30001], [30002]).needs_ports  # the cluster ports are still 0
    resolved = config.with_ports([30001], [30002], coordinator_cluster_ports=[30003],
                                 broker_cluster_ports=[30004])
    assert not resolved.needs_ports
    again = config_from_dict(resolved.to_dict())
    assert [n.endpoint for n in again.nodes] == ["tcp://127.0.0.1:30001", "tcp://127.0.0.1:30002"]
    assert [n.cluster_endpoint for n in again.nodes] == ["tcp://127.0.0.1:30003",
                                                         "tcp://127.0.0.1:30004"]


def test_cluster_ports_are_validated_and_clash_checked_with_every_other_port():
    config = load_config(ROOT / "cluster.yaml")
    assert config.node("broker-2").cluster_endpoint == "tcp://127.0.0.1:19293"
    assert config.node("coordinator-1").cluster_endpoint == "tcp://127.0.0.1:19391"
    for raw, expected in [
        ({"brokers": {"base_port": 20000, "cluster_base_port": 20002}},
         "port ranges overlap: brokers.base_port = 20000 gives 3 nodes ports 20000-20002 "
         "and brokers.cluster_base_port = 20002 gives 3 nodes ports 20002-20004"),
        ({"coordinators": {"base_port": 20000, "cluster_ports": [20005, 20006, 20000]}},
         "port clash: coordinator-3 (cluster endpoint) and coordinator-1 both use port 20000"),
        ({"brokers": {"cluster_ports": [20001]}},
         "brokers.cluster_ports has 1 entries but brokers.count = 3"),
        ({"brokers": {"cluster_ports": [0, 1, 2]}}, "port 0 is not between 1 and 65535"),
        ({"coordinators": {"cluster_base_port": 65534}},
         "coordinators.cluster_base_port = 65534: 3 nodes need ports up to 65536"),
        ({"brokers": {"cluster_base_port": -1}}, "brokers.cluster_base_port = -1: must be"),
    ]:
        with pytest.raises(ConfigError) as info:
            config_from_dict(raw)
        assert expected in str(info.value), raw


def test_unknown_node_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown node 'broker-9'.*broker-3"):
        config_from_dict({}).node("broker-9")
