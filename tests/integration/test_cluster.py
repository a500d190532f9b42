"""The launcher and `mini-kafka cluster` on real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading

import psutil
import pytest
import yaml

from launcher import Cluster, ClusterError
from launcher.pytest_plugin import test_cluster_config
from tests.helpers import wait_until


def cli(*args, check=True, timeout=60, cwd=None, env=None, stdin=None):
    out = subprocess.run([sys.executable, "-m", "mini_kafka.cli.main", *args],
                         capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env,
                         input=stdin)
    if check and out.returncode != 0:
        raise AssertionError(f"mini-kafka {' '.join(args)} failed:\n{out.stdout}{out.stderr}")
    return out


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(test_cluster_config(tmp_path / "logs")))
    yield path
    # Whatever a test left running is stopped, even when it failed.
    state = tmp_path / "logs" / "cluster.json"
    if state.exists():
        pids = [entry["pid"] for entry in json.loads(state.read_text())["nodes"].values()]
        cli("cluster", "down", "--config", str(path), check=False)
        for pid in pids:
            if psutil.pid_exists(pid):
                psutil.Process(pid).kill()


def status_states(config_file) -> dict[str, str]:
    rows = json.loads(cli("cluster", "status", "--json", "--config", str(config_file)).stdout)
    return {row["name"]: row["state"] for row in rows}


def test_up_status_kill_restart_down_from_separate_shells(config_file):
    up = cli("cluster", "up", "--config", str(config_file))
    state = json.loads((config_file.parent / "logs" / "cluster.json").read_text())
    assert f"Kafka clients and tools (bootstrap.servers): {state['kafka_bootstrap']}" \
        in up.stdout
    assert f"mini_kafka.client (bootstrap_servers):       {state['bootstrap']}" in up.stdout
    assert [state["nodes"][f"broker-{i}"]["kafka_address"] for i in (1, 2, 3)] == \
        state["kafka_bootstrap"].split(",")
    rows = [line.split() for line in up.stdout.splitlines()
            if line.startswith(("broker-", "coordinator-"))]
    assert [row[4] for row in rows] == ["up"] * 6

    assert set(status_states(config_file).values()) == {"up"}
    assert state["kafka_bootstrap"] in cli("cluster", "status", "--config",
                                           str(config_file)).stdout
    pids = [entry["pid"] for entry in state["nodes"].values()]
    assert len(pids) == 6

    victim = state["nodes"]["broker-2"]["pid"]
    psutil.Process(victim).send_signal(signal.SIGKILL)
    wait_until(lambda: status_states(config_file)["broker-2"] == "dead", what="broker-2 dead")
    assert sum(s == "up" for s in status_states(config_file).values()) == 5

    def broker_2_row():
        text = cli("cluster", "status", "--config", str(config_file)).stdout
        return next(line for line in text.splitlines() if line.startswith("broker-2"))

    # NODE ROLE PID ENDPOINT STATE UPTIME DETAIL...: the detail starts "fenced," or "unfenced,"
    row = wait_until(lambda: (r := broker_2_row().split())[6] == "fenced," and r,
                     timeout_s=15, what="the controller to fence broker-2")
    assert row[4] == "dead"
    text = cli("cluster", "status", "--config", str(config_file)).stdout
    assert "raft leader" in text
    first = text.splitlines()[0]  # the summary line, before the table
    assert first.startswith("3 coordinators: 3 up, controller coordinator-")
    assert "; 3 brokers: 2 up, 1 dead (broker-2); " in first and "under-replicated" in first
    down = cli("cluster", "status", "--down", "--config", str(config_file)).stdout
    assert [line.split()[0] for line in down.splitlines()[2:] if line.startswith(
        ("broker-", "coordinator-"))] == ["broker-2"]
    assert cli("cluster", "status", "--summary", "--config", str(config_file)
               ).stdout.strip() == first

    again = cli("cluster", "up", "--config", str(config_file), check=False)
    assert again.returncode == 1 and "already running" in again.stderr

    restarted = cli("cluster", "restart", "broker-2", "--config", str(config_file))
    assert "broker-2 restarted" in restarted.stdout
    assert set(status_states(config_file).values()) == {"up"}

    down = cli("cluster", "down", "--config", str(config_file))
    assert "6 node(s) stopped" in down.stdout
    alive = [p for p in pids if psutil.pid_exists(p)
             and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    logs = config_file.parent / "logs"
    assert (logs / "broker-1" / "broker-1.log").exists(), "down keeps the node logs"
    assert "stopped cleanly" in (logs / "broker-1" / "broker-1.log").read_text()

    gone = cli("cluster", "status", "--config", str(config_file), check=False)
    assert gone.returncode == 1 and "no cluster is running" in gone.stderr


def test_every_command_finds_the_running_cluster_from_another_directory(tmp_path):
    """The README's "from any other shell": a shell somewhere below the project, or
    anywhere with MINI_KAFKA_CLUSTER set, reaches the cluster without --config."""
    project = tmp_path / "project"
    deep = project / "src" / "app"
    deep.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (project / "cluster.yaml").write_text(yaml.safe_dump(test_cluster_config("logs", 1, 1)))
    env = {k: v for k, v in os.environ.items() if k != "MINI_KAFKA_CLUSTER"}
    try:
        up = cli("cluster", "up", cwd=project / "src", env=env)  # the nearest cluster.yaml
        assert f"state in {project / 'logs' / 'cluster.json'}" in up.stdout
        for args, stdin, expected in [
            (("cluster", "status"), None, "broker-1"),
            (("topic", "create", "t", "--partitions", "1"), None, "Created topic t."),
            (("produce", "t"), "hello\n", ""),
            (("consume", "t", "--from-beginning", "--max-messages", "1"), None, "hello"),
            (("group", "list"), None, ""),
            (("perf", "produce", "--topic", "t", "--num-records", "10", "--record-size",
              "10"), None, "10 records sent"),
            (("chaos", "heal"), None, "healed: coordinator-1, broker-1"),
        ]:
            out = cli(*args, cwd=deep, env=env, stdin=stdin)
            assert expected in out.stdout, (args, out.stdout)
        for where in (project / "logs", project / "logs" / "cluster.json", project,
                      project / "cluster.yaml"):
            listed = cli("topic", "list", cwd=elsewhere, env={**env, "MINI_KAFKA_CLUSTER":
                                                              str(where)})
            assert listed.stdout.split() == ["t"], where
            status = cli("cluster", "status", "--config", str(where), cwd=elsewhere, env=env)
            assert "broker-1" in status.stdout, where
        wrong = cli("topic", "list", cwd=elsewhere, check=False,
                    env={**env, "MINI_KAFKA_CLUSTER": str(elsewhere)})
        assert wrong.returncode == 1 and f"$MINI_KAFKA_CLUSTER={elsewhere}: {elsewhere} " \
            "holds neither cluster.json" in wrong.stderr
        down = cli("cluster", "down", cwd=deep, env=env)
        assert "1 node(s) stopped" not in down.stdout and "2 node(s) stopped" in down.stdout
        gone = cli("cluster", "status", cwd=deep, env=env, check=False)
        assert gone.returncode == 1 and "no cluster is running for " \
            f"{project / 'cluster.yaml'} (the nearest cluster.yaml, walking up from {deep})" \
            in gone.stderr
    finally:
        cli("cluster", "down", "--config", str(project / "cluster.yaml"), check=False)


def test_python_dash_m_launcher_is_the_same_command(config_file):
    out = subprocess.run([sys.executable, "-m", "launcher", "status", "--config",
                          str(config_file)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "no cluster is running" in out.stderr


def test_busy_port_is_refused_before_anything_starts(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        config = test_cluster_config(tmp_path, 1, 1, {"brokers": {"ports": [port]}})
        cluster = Cluster(config)
        with pytest.raises(ClusterError, match=f"broker-1 needs 127.0.0.1:{port} "
                                               r"\(in use by another process\)"):
            cluster.start()
        assert cluster.nodes == {}


@pytest.mark.parametrize("host, allow, reason", [
    ("::1", False, "cluster.host = '::1': IPv6 addresses are not supported"),
    ("no-such-host.invalid", False, "cluster.host = 'no-such-host.invalid' does not resolve"),
    ("192.0.2.1", False, "192.0.2.1 (192.0.2.1) is not a loopback address"),
    ("0.0.0.0", False, "0.0.0.0 listens on every interface of this machine"),
    ("192.0.2.1", True, "cannot pick free ports on 192.0.2.1"),
])
def test_an_unusable_or_exposed_host_is_refused_with_the_real_reason(tmp_path, host, allow,
                                                                      reason):
    """Not "port already in use": the host itself is the problem, or it would let other
    hosts reach an unauthenticated cluster without the config saying so."""
    path = tmp_path / "cluster.yaml"
    section = {"host": host, **({"allow_remote_access": True} if allow else {})}
    path.write_text(yaml.safe_dump(test_cluster_config(tmp_path / "logs", 1, 1,
                                                       {"cluster": section})))
    out = cli("cluster", "up", "--config", str(path), check=False)
    if out.returncode == 0:  # accepted after all: stop it before failing
        cli("cluster", "down", "--config", str(path), check=False)
    assert out.returncode == 1 and reason in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and "in use" not in out.stderr
    if reason.endswith(("loopback address", "every interface of this machine")):
        assert "set cluster.allow_remote_access: true" in out.stderr
    if allow:
        assert "192.0.2.1 is not an address of this machine" in out.stderr
    assert not (tmp_path / "logs" / "cluster.json").exists()


def test_an_exposed_host_allowed_by_the_config_starts_with_a_warning(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(test_cluster_config(
        tmp_path / "logs", 1, 1, {"cluster": {"host": "0.0.0.0", "allow_remote_access": True}})))
    try:
        up = cli("cluster", "up", "--config", str(path))
        assert "warning: the cluster is reachable from other hosts: 0.0.0.0 listens on every " \
               "interface" in up.stderr
        assert "does not authenticate clients" in up.stderr
    finally:
        cli("cluster", "down", "--config", str(path), check=False)


def test_an_unwritable_data_dir_is_refused_naming_the_path(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a data_dir below a file can never be created, even by root
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(test_cluster_config(blocker / "logs", 1, 1)))
    out = cli("cluster", "up", "--config", str(path), check=False)
    assert out.returncode == 1, out.stderr
    assert f"error: cluster.data_dir {blocker / 'logs'} is not a directory this user can " \
           "write (Not a directory" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_node_that_dies_at_start_shows_its_log_tail(tmp_path, monkeypatch):
    # Pretend the port check passed, then hold the port: the broker exits at bind.
    monkeypatch.setattr("launcher.ports.bind_problem", lambda host, port: None)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        cluster = Cluster(test_cluster_config(tmp_path, 1, 1, {"brokers": {"ports": [port]}}))
        with pytest.raises(ClusterError) as info:
            cluster.start()
    message = str(info.value)
    assert "broker-1 exited during start (exit code 3)" in message
    assert "already in use" in message
    assert not any(node.alive() for node in cluster.nodes.values())


def test_fixture_cluster_kill_pause_resume_restart(mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=2)
    assert cluster.bootstrap.count(",") == 1
    assert sorted(cluster.nodes) == ["broker-1", "broker-2", "coordinator-1"]

    cluster.pause("broker-1")
    states = {s.name: s.state for s in cluster.status()}
    assert states["broker-1"] == "unresponsive"
    cluster.resume("broker-1")
    assert {s.name: s.state for s in cluster.status()}["broker-1"] == "up"

    old_pid = cluster.nodes["broker-2"].pid
    cluster.kill("broker-2")
    assert not psutil.pid_exists(old_pid) or \
        psutil.Process(old_pid).status() == psutil.STATUS_ZOMBIE
    assert {s.name: s.state for s in cluster.status()}["broker-2"] == "dead"
    with pytest.raises(ClusterError, match="not running"):
        cluster.kill("broker-2")
    cluster.restart("broker-2")
    assert {s.name: s.state for s in cluster.status()}["broker-2"] == "up"
    with pytest.raises(ClusterError, match="unknown node 'broker-7'"):
        cluster.kill("broker-7")


def test_sigterm_shuts_a_node_down_cleanly(mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=1)
    node = cluster.nodes["broker-1"]
    cluster.kill("broker-1", signal.SIGTERM)
    assert node.popen.returncode == 0
    log = (cluster.data_dir / "broker-1" / "broker-1.log").read_text()
    assert "broker-1 stopped cleanly" in log


def test_fault_rules_are_set_at_runtime_on_a_live_node(mini_kafka_cluster_factory):
    from launcher.control import call_node
    from mini_kafka.errors import KafkaTimeoutError
    from mini_kafka.protocol import ApiKey
    from mini_kafka.transport import call

    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=1)
    config, endpoint = cluster.config, cluster.config.node("broker-1").endpoint

    def as_launcher(api, body=None):
        return call_node(config, "broker-1", api, body, timeout_ms=1000)

    bad = as_launcher(ApiKey.SET_FAULTS, {"rules": [{"peer": "x", "drop_rate": 7}]})
    assert bad.error == "INVALID_REQUEST" and "drop_rate 7" in bad.body["message"]
    rules = [{"peer": "cli", "direction": "in", "drop_rate": 1.0}]
    assert as_launcher(ApiKey.SET_FAULTS, {"rules": rules}).body["rules"][0]["peer"] == "cli"
    with pytest.raises(KafkaTimeoutError):  # everything from "cli" is now dropped
        call(endpoint, ApiKey.METADATA, {"topics": []}, timeout_ms=300, sender="cli")
    assert call(endpoint, ApiKey.METADATA, {"topics": []}, sender="other").error == "NONE"
    assert as_launcher(ApiKey.STATUS).body["faults"][0]["peer"] == "cli"
    # Even a rule that drops everything leaves the launcher's control path open.
    as_launcher(ApiKey.SET_FAULTS, {"rules": [{"peer": "*", "drop_rate": 1.0}]})
    assert as_launcher(ApiKey.STATUS).body["faults"][0]["peer"] == "*"
    as_launcher(ApiKey.SET_FAULTS, {"rules": []})
    assert call(endpoint, ApiKey.METADATA, {"topics": []}, sender="cli").error == "NONE"


def test_chaos_commands_from_another_shell(config_file):
    c = ["--config", str(config_file)]
    cli("cluster", "up", *c)
    controller = wait_until(lambda: next((s["name"] for s in json.loads(
        cli("cluster", "status", "--json", *c).stdout)
        if s["info"].get("raft_role") == "leader"), None), what="a controller")
    killed = cli("chaos", "kill", "controller", *c)
    assert f"{controller} killed (SIGKILL)" in killed.stdout
    paused = cli("chaos", "pause", "broker-1", "--for", "200ms", *c)
    assert "broker-1 paused for 200ms" in paused.stdout and "broker-1 resumed" in paused.stdout
    assert "cut" in cli("chaos", "partition", "broker-1", *c).stdout
    assert "broker-2: everything it sends is delayed 10 ms" in \
        cli("chaos", "delay", "broker-2", "--ms", "10", *c).stdout
    healed = cli("chaos", "heal", *c).stdout
    assert "broker-1" in healed and f"not running (nothing to heal): {controller}" in healed
    bad = cli("chaos", "pause", "broker-1", "--for", "soon", *c, check=False)
    assert bad.returncode == 1 and "duration 'soon'" in bad.stderr
    unknown = cli("chaos", "kill", "leader-of", "nope/0", *c, check=False)
    assert unknown.returncode == 1 and "no partition nope/0" in unknown.stderr


def test_foreground_up_stops_everything_on_ctrl_c_even_with_a_node_dead(config_file):
    proc = subprocess.Popen([sys.executable, "-m", "mini_kafka.cli.main", "cluster", "up",
                             "--foreground", "--config", str(config_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []  # what the user sees, read as it comes
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        # Ctrl-C once it says it is running, as a user would.
        wait_until(lambda: any("running in the foreground" in line for line in lines),
                   timeout_s=30, what="the foreground cluster to come up")
        state = config_file.parent / "logs" / "cluster.json"
        pids = [e["pid"] for e in json.loads(state.read_text())["nodes"].values()]
        victim = json.loads(state.read_text())["nodes"]["broker-3"]["pid"]
        psutil.Process(victim).kill()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = "".join(lines)
    assert proc.returncode == 0, out
    assert "cluster down" in out
    assert not [p for p in pids if psutil.pid_exists(p)
                and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_foreground_ctrl_c_while_the_status_table_is_gathered_stops_the_cluster(
        config_file, monkeypatch):
    """Ctrl-C between the nodes coming up and the first line on screen (the status table
    asks every node) is the foreground cluster's stop too, not an exit 130."""
    import mini_kafka.cli.cluster as cli_cluster

    real_table = cli_cluster._status_table
    pids: list[int] = []

    def interrupted_while_gathering(cluster, *args):
        pids.extend(node.pid for node in cluster.nodes.values())
        os.kill(os.getpid(), signal.SIGINT)
        return real_table(cluster, *args)

    monkeypatch.setattr(cli_cluster, "_status_table", interrupted_while_gathering)
    from mini_kafka.cli.main import main
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM,
                                                       signal.SIGHUP)}
    try:
        assert main(["cluster", "up", "--foreground", "--config", str(config_file)]) == 0
    finally:
        for sig, handler in handlers.items():  # the command set its own: give pytest back
            signal.signal(sig, handler)
    assert len(pids) == 6
    assert not [p for p in pids if psutil.pid_exists(p)
                and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_nodes_run_under_cprofile_when_asked(mini_kafka_cluster_factory, tmp_path, monkeypatch):
    from launcher.processes import PROFILE_DIR_ENV

    monkeypatch.setenv(PROFILE_DIR_ENV, str(tmp_path / "profiles"))
    (tmp_path / "profiles").mkdir()
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=1)
    cluster.stop()  # a clean stop writes each node's profile
    assert sorted(p.name for p in (tmp_path / "profiles").iterdir()) == \
        ["broker-1.prof", "coordinator-1.prof"]


def test_sigusr1_writes_every_asyncio_task_of_a_node_to_its_log(mini_kafka_cluster_factory):
    import signal

    from launcher.processes import log_path

    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=1)
    cluster.nodes["broker-1"].signal(signal.SIGUSR1)
    path = log_path(cluster.data_dir, "broker-1")
    wait_until(lambda: "_follow_metadata" in path.read_text(), timeout_s=10,
               what="the task dump in broker-1's log")
    assert "asyncio tasks" in path.read_text()


def test_start_reports_how_many_nodes_of_each_role_are_ready_while_it_waits(
        mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=2, start=False)
    seen = []
    cluster.start(progress=seen.append)
    assert seen[-1] == {"coordinator": (1, 1), "broker": (2, 2)}
    assert all(counts["coordinator"][1] == 1 and counts["broker"][1] == 2 for counts in seen)
