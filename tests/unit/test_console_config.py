"""The `console` section of cluster.yaml: defaults, ranges, and the effective-config round
trip the nodes read."""

from pathlib import Path

import pytest

from mini_kafka.config import ConfigError, config_from_dict, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_console_defaults_to_loopback_port_8080():
    console = config_from_dict({}).console
    assert (console.host, console.port) == ("127.0.0.1", 8080)
    assert load_config(ROOT / "cluster.yaml").console.port == 8080


@pytest.mark.parametrize("raw, expected", [
    ({"port": 70000}, "console.port = 70000: must be between 0 and 65535 (0 picks a free port)"),
    ({"port": "8080"}, "console.port = '8080': must be an integer"),
    ({"host": ""}, "console.host = '': must be a non-empty string"),
    ({"refresh_interval_ms": 5}, "console.refresh_interval_ms = 5: must be between 100"),
    ({"refresh": 5}, "unknown key 'console.refresh' (allowed: browse_records_max,"),
])
def test_bad_console_values_are_refused_by_name(raw, expected):
    with pytest.raises(ConfigError) as info:
        config_from_dict({"console": raw})
    assert expected in str(info.value)


def test_console_section_survives_the_effective_config_round_trip(tmp_path):
    config = config_from_dict({"console": {"port": 0, "refresh_interval_ms": 250}},
                              base_dir=tmp_path)
    again = config_from_dict(config.to_dict())
    assert again.console == config.console
