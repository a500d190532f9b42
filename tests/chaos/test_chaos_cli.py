"""`mini-kafka chaos run` and `chaos check` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.chaos

ROOT = Path(__file__).resolve().parents[2]


def cli(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "mini_kafka.cli.main", *args],
                          capture_output=True, text=True, timeout=timeout)


def config_in(tmp_path) -> Path:
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    config["cluster"]["data_dir"] = str(tmp_path / "logs")
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_chaos_run_reports_a_verdict_and_check_rejudges_the_history(tmp_path):
    config = config_in(tmp_path)
    run = cli("chaos", "run", "--config", str(config), "--duration", "10s", "--seed", "5",
              "--faults", "pause,kill", "--hold", "2s", "--interval", "1s", "--rate", "50",
              "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    assert report["seed"] == 5 and report["valid"] and report["anomalies"] == []
    assert report["figures"]["acknowledged"] > 0 and report["figures"]["faults"]
    history = tmp_path / "logs" / "chaos-5.jsonl"
    assert report["history"] == str(history) and history.exists()
    assert not list((tmp_path / "logs" / "chaos-5").glob("cluster.json")), "cluster stopped"

    again = cli("chaos", "check", str(history))
    assert again.returncode == 0, again.stderr
    assert "verdict: VALID" in again.stdout and "seed 5" in again.stdout
    assert "acks per second:" in again.stdout and "recovery" in again.stdout


def test_bad_chaos_arguments_are_refused_with_the_reason(tmp_path):
    config = config_in(tmp_path)
    bad_kind = cli("chaos", "run", "--config", str(config), "--faults", "explode")
    assert bad_kind.returncode == 1 and "explode" in bad_kind.stderr
    assert "kill,pause,partition,kill-coordinator" in bad_kind.stderr
    too_many = cli("chaos", "run", "--config", str(config), "--topic-rf", "4")
    assert too_many.returncode == 1 and "--topic-rf 4: must be 1..3" in too_many.stderr
    bad_time = cli("chaos", "run", "--config", str(config), "--duration", "soon")
    assert bad_time.returncode == 1 and "duration 'soon'" in bad_time.stderr
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text('{"t": 0, "type": "send"}\nnot json\n')
    unreadable = cli("chaos", "check", str(garbage))
    assert unreadable.returncode == 1 and "garbage.jsonl:2: not a history event" in \
        unreadable.stderr
