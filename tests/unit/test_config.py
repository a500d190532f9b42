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
     "port clash: broker-1 and coordinator-3 both use port 20002"),
    ({"brokers": {"ports": [20001, 20001, 20003]}},
     "port clash: broker-2 and broker-1 both use port 20001"),
    ({"topics": {"default_replication_factor": 4}},
     "topics.default_replication_factor = 4: exceeds brokers.count = 3 (allowed 1..3)"),
    ({"brokers": {"cout": 3}}, "unknown key 'brokers.cout' (allowed: base_port, count, ports)"),
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


def test_bad_yaml_and_missing_file_are_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("brokers: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml")


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
    resolved = config.with_ports([30001], [30002])
    assert not resolved.needs_ports
    again = config_from_dict(resolved.to_dict())
    assert [n.endpoint for n in again.nodes] == ["tcp://127.0.0.1:30001", "tcp://127.0.0.1:30002"]


def test_unknown_node_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown node 'broker-9'.*broker-3"):
        config_from_dict({}).node("broker-9")
