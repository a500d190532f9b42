"""The console's JSON endpoints against a real cluster (the page uses these, and so can
scripts): what they report, browsing by offset and by time, the live stream, faults from
the CLI on the timeline, and refusals that leave the cluster untouched."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from mini_kafka.client import Admin, Consumer, NewTopic, Producer
from mini_kafka.console.security import TOKEN_HEADER
from tests.helpers import wait_until
from tests.integration.console_fixtures import cluster_with_console

LIVE_S = 15


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with cluster_with_console(tmp_path_factory.mktemp("console-api")) as (cluster, console):
        with Admin(cluster.bootstrap) as admin:
            admin.create_topics([NewTopic("events", 2, 3)])
        yield cluster, console


def call(console, path, *, method="GET", body=None, headers=None):
    req = urllib.request.Request(f"{console.url}{path}", method=method, headers=headers or {},
                                 data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        assert "Traceback" not in text
        return e.code, json.loads(text)


def get(console, path):
    status, body = call(console, path)
    assert status == 200, body
    return body


def test_cluster_reports_every_node_the_controller_and_raft(env):
    cluster, console = env
    body = wait_until(lambda: (b := get(console, "/api/cluster"))["running"] and all(
        n["state"] == "up" and n["rss_bytes"] for n in b["nodes"]) and b, LIVE_S)
    assert [n["name"] for n in body["nodes"]] == [s.name for s in cluster.config.nodes]
    assert body["controller"] == cluster.controller()
    assert body["raft"]["term"] >= 1 and body["raft"]["commit_index"] >= 1
    assert body["fenced_brokers"] == []
    assert {n["pid"] for n in body["nodes"]} == {n.pid for n in cluster.nodes.values()}


def test_topics_groups_rates_and_sizes_follow_the_traffic(env):
    cluster, console = env
    with Producer(cluster.bootstrap) as producer:
        for i in range(40):
            producer.send("events", f"e{i}".encode(), partition=i % 2)
    with Consumer(bootstrap_servers=cluster.bootstrap, group_id="audit",
                  auto_offset_reset="earliest", enable_auto_commit=False) as consumer:
        consumer.subscribe(["events"])
        got = []
        wait_until(lambda: got.extend(r for rs in consumer.poll(200).values() for r in rs)
                   or len(got) >= 30, LIVE_S)
        consumer.commit()

        def events_topic():
            topics = {t["name"]: t for t in get(console, "/api/topics")["topics"]}
            parts = topics.get("events", {}).get("partitions", [])
            return parts if parts and all(p["high_watermark"] == 20 and p["size_bytes"]
                                          for p in parts) else None
        parts = wait_until(events_topic, LIVE_S, what="events with 20 records a partition")
        assert all(len(p["replica_bytes"]) == 3 for p in parts)  # every replica's size
        assert all(p["log_end_offset"] == 20 and not p["under_replicated"] for p in parts)

        def audit():
            groups = {g["group_id"]: g for g in get(console, "/api/groups")["groups"]}
            g = groups.get("audit")
            return g if g and g["total_lag"] == 40 - len(got) and g["members"] else None
        group = wait_until(audit, LIVE_S, what="group audit with its lag")
        assert group["state"] == "Stable"
        assert {(p["topic"], p["partition"]) for p in group["partitions"]} == {
            ("events", 0), ("events", 1)}
    rates = wait_until(lambda: (r := get(console, "/api/timeline")["rates"]) and any(
        v > 0 for _, v in r["produced_records"]) and any(
        v > 0 for _, v in r["fetched_records"]) and r, LIVE_S, what="produce and fetch rates")
    assert set(rates) == {"produced_records", "produced_bytes", "fetched_records",
                          "fetched_bytes"}


def test_messages_by_offset_and_by_time(env):
    cluster, console = env
    before_ms = int(time.time() * 1000)
    with Producer(cluster.bootstrap) as producer:
        producer.send("events", b'{"late": true}', key=b"k", partition=1,
                      timestamp_ms=before_ms + 60_000).get(timeout=10)
    page = get(console, "/api/messages?topic=events&partition=0&offset=3&limit=2")
    assert [r["offset"] for r in page["records"]] == [3, 4]
    assert page["records"][0]["value"]["size"] == 2 and page["notes"] == []
    late = get(console, f"/api/messages?topic=events&partition=1&timestamp_ms={before_ms + 1}")
    assert [r["key"]["base64"] for r in late["records"]] == ["aw=="]  # b"k"
    assert late["from_offset"] == late["high_watermark"] - 1
    status, body = call(console, "/api/messages?topic=nope&partition=0")
    assert status == 400 and "UNKNOWN_TOPIC_OR_PARTITION" in body["error"]


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_batches_are_browsed_like_any_other(env, codec):
    """Kafka clients compress; the page shows what they wrote, whatever the codec."""
    cluster, console = env
    topic = f"compressed-{codec}"
    with Admin(cluster.bootstrap) as admin:
        admin.create_topics([NewTopic(topic, 1, 3)])
    with Producer(cluster.bootstrap, compression_type=codec, linger_ms=50) as producer:
        for i in range(20):
            producer.send(topic, f'{{"n": {i}}}'.encode(), key=b"k%d" % i)
    page = wait_until(lambda: (p := get(
        console, f"/api/messages?topic={topic}&partition=0&offset=0&limit=20"))["records"]
        and len(p["records"]) == 20 and p, LIVE_S, what=f"20 {codec} records")
    assert page["notes"] == []
    assert [r["offset"] for r in page["records"]] == list(range(20))
    assert [r["key"]["base64"] for r in page["records"]] == [
        base64.b64encode(b"k%d" % i).decode() for i in range(20)]


def test_the_live_stream_sends_the_state(env):
    cluster, console = env
    with urllib.request.urlopen(f"{console.url}/api/events", timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert resp.readline() == b"event: state\n"
        data = resp.readline()
    state = json.loads(data.removeprefix(b"data: "))
    assert state["running"] and len(state["cluster"]["nodes"]) == 6


def test_changes_are_refused_without_the_token_or_from_another_origin(env):
    cluster, console = env
    pid = cluster.nodes["broker-1"].pid
    for headers in ({}, {TOKEN_HEADER: "wrong"},
                    {TOKEN_HEADER: console.token, "Origin": "http://evil.example"}):
        status, body = call(console, "/api/chaos/kill", method="POST",
                            body={"node": "broker-1"}, headers=headers)
        assert status == 403, body
    status, body = call(console, "/api/chaos/kill", method="POST", body={"node": "broker-9"},
                        headers={TOKEN_HEADER: console.token})
    assert status == 400 and "unknown node 'broker-9'" in body["error"]
    status, body = call(console, "/api/chaos/explode", method="POST", body={"node": "broker-1"},
                        headers={TOKEN_HEADER: console.token})
    assert status == 400 and "unknown operation 'explode'" in body["error"]
    assert cluster.nodes["broker-1"].alive() and cluster.nodes["broker-1"].pid == pid


def test_a_pause_from_the_api_and_one_from_the_cli_are_faults_on_the_timeline(env):
    cluster, console = env
    own = {TOKEN_HEADER: console.token, "Origin": console.url}
    assert call(console, "/api/chaos/pause", method="POST", body={"node": "broker-2"},
                headers=own) == (200, {"op": "pause", "node": "broker-2"})
    wait_until(lambda: any(f["node"] == "broker-2" and f["kind"] == "paused"
                           for f in get(console, "/api/faults")["faults"]), LIVE_S)
    status, body = call(console, "/api/chaos/resume", method="POST", body={"node": "broker-2"},
                        headers=own)
    assert status == 200
    config = str(cluster.data_dir / "cluster.effective.yaml")
    for action in ("pause", "resume"):
        subprocess.run([sys.executable, "-m", "mini_kafka.cli.main", "chaos", action,
                        "broker-1", "--config", config], check=True, capture_output=True,
                       timeout=30)

    def chaos_events():
        events = [e for e in get(console, "/api/timeline")["events"] if e["kind"] == "chaos"]
        return events if len(events) >= 4 else None
    events = wait_until(chaos_events, LIVE_S, what="four chaos events")
    assert [(e["text"], e["by"].split(" ")[0]) for e in events[-4:]] == [
        ("chaos: broker-2 paused", "console"), ("chaos: broker-2 resumed", "console"),
        ("chaos: broker-1 paused", "main.py"), ("chaos: broker-1 resumed", "main.py")]


def test_stopping_a_cluster_stops_nodes_another_process_restarted(mini_kafka_cluster_factory):
    """The console (or the CLI) restarts a node through its own Cluster object; the owner's
    stop() must still take the new process down, not leave it running."""
    from launcher import Cluster

    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=1)
    other = Cluster.attach(cluster.data_dir / "cluster.effective.yaml")
    other.restart("broker-1")
    restarted = other.nodes["broker-1"]
    assert restarted.pid != cluster.nodes["broker-1"].pid and restarted.alive()
    cluster.stop()
    assert not restarted.alive()


def test_cluster_up_with_console_serves_it_and_leaves_the_cluster_up(tmp_path):
    import signal

    import yaml

    from launcher import Cluster, ClusterError
    from launcher.pytest_plugin import test_cluster_config

    config = tmp_path / "cluster.yaml"
    config.write_text(yaml.safe_dump(test_cluster_config(tmp_path / "data", 1, 1)))
    proc = subprocess.Popen([sys.executable, "-m", "mini_kafka.cli.main", "cluster", "up",
                             "--config", str(config), "--console", "--console-port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        wait_until(lambda: lines.append(proc.stdout.readline()) or
                   lines[-1].startswith("mini-kafka console:") or proc.poll() is not None,
                   60, what="the console's banner")
        assert lines[-1].startswith("mini-kafka console:"), "".join(lines)
        url = lines[-1].split()[2].split("/?token=")[0]
        with urllib.request.urlopen(f"{url}/api/state", timeout=10) as resp:
            assert json.loads(resp.read())["at_ms"] >= 0
        proc.send_signal(signal.SIGTERM)  # stops the console, not the cluster
        assert proc.wait(timeout=30) == 130
        assert {s.state for s in Cluster.attach(config).status()} == {"up"}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        try:
            Cluster.attach(config).stop()
        except ClusterError:  # never started: nothing to stop
            pass
