"""`mini-kafka chaos ...` from the command line: run and check, heal, pause."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import yaml

from launcher.chaos import rules_of
from launcher.configs import local_cluster_config
from launcher.ports import free_ports
from launcher.processes import started_s
from mini_kafka.access import member_names
from mini_kafka.config import load_config
from mini_kafka.transport import ensure_keys

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
    assert "kill,pause,partition,restart,kill-coordinator,down-up" in bad_kind.stderr
    too_many = cli("chaos", "run", "--config", str(config), "--topic-rf", "4")
    assert too_many.returncode == 1 and "--topic-rf 4: must be 1..3" in too_many.stderr
    bad_time = cli("chaos", "run", "--config", str(config), "--duration", "soon")
    assert bad_time.returncode == 1 and "duration 'soon'" in bad_time.stderr
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text('{"t": 0, "type": "send"}\nnot json\n')
    unreadable = cli("chaos", "check", str(garbage))
    assert unreadable.returncode == 1 and "garbage.jsonl:2: not a history event" in \
        unreadable.stderr


def test_heal_reaches_a_node_under_total_loss_and_pause_always_resumes(
        mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=1)
    where = ["--config", str(cluster.data_dir)]
    broker = psutil.Process(cluster.nodes["broker-1"].pid)

    assert cli("chaos", "loss", "broker-1", "--rate", "1", *where).returncode == 0
    assert rules_of(cluster, "broker-1")[0]["drop_rate"] == 1.0  # it still answers STATUS
    heal = cli("chaos", "heal", *where)
    assert heal.returncode == 0 and "healed: coordinator-1, broker-1" in heal.stdout, heal
    assert rules_of(cluster, "broker-1") == []

    instant = cli("chaos", "pause", "broker-1", "--for", "0", *where)
    assert instant.returncode == 0 and "broker-1 resumed" in instant.stdout, instant
    assert broker.status() != psutil.STATUS_STOPPED

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # Ctrl-C, kill, hang-up
        pausing = subprocess.Popen([sys.executable, "-m", "mini_kafka.cli.main", "chaos",
                                    "pause", "broker-1", "--for", "10m", *where],
                                   stdout=subprocess.PIPE, text=True)
        try:
            assert pausing.stdout.readline() == "broker-1 paused for 10m\n"
            assert broker.status() == psutil.STATUS_STOPPED
            pausing.send_signal(sig)
            assert pausing.wait(timeout=30) == 130, sig
            assert pausing.stdout.read() == "broker-1 resumed\n"
        finally:
            pausing.kill()
            pausing.wait()
            cluster.resume("broker-1")
        assert broker.status() != psutil.STATUS_STOPPED, sig


def test_heal_names_a_running_node_it_cannot_reach_and_exits_non_zero(tmp_path):
    """Two live processes recorded as the cluster's nodes that answer nothing (stand-ins
    for wedged nodes): heal asks each, reports both, and fails."""
    ports = free_ports("127.0.0.1", 2)
    config = local_cluster_config(tmp_path, 1, 1, {"coordinators": {"ports": ports[:1]},
                                                   "brokers": {"ports": ports[1:]}})
    config_path = tmp_path / "cluster.effective.yaml"
    config_path.write_text(yaml.safe_dump(config))
    loaded = load_config(config_path)  # the keys the launcher would have made
    ensure_keys(loaded.keys_dir, member_names(loaded))
    silent = {name: subprocess.Popen(["sleep", "120"]) for name in ("coordinator-1",
                                                                    "broker-1")}
    try:
        nodes = {name: {"pid": p.pid, "started_s": started_s(p.pid)}
                 for name, p in silent.items()}
        (tmp_path / "cluster.json").write_text(json.dumps(
            {"config_path": str(config_path), "bootstrap": f"127.0.0.1:{ports[1]}",
             "nodes": nodes}))
        heal = cli("chaos", "heal", "--config", str(tmp_path))
    finally:
        for p in silent.values():
            p.kill()
            p.wait()
    assert heal.returncode == 1, heal
    assert "healed: no running node" in heal.stdout
    assert "error: could not reach coordinator-1 (" in heal.stderr
    assert "; broker-1 (" in heal.stderr
