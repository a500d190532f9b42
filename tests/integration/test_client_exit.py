"""Clients in real processes that exit without close(): a producer delivers what it
buffered (within exit_timeout_ms, else says what it lost), a consumer leaves its group
at once and commits what it consumed, an admin exits quietly — and none prints
`Task was destroyed but it is pending!` or hangs the interpreter."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mini_kafka.client import Admin, Consumer, NewTopic, Producer, TopicPartition
from tests.helpers import wait_until

EXIT_S = 60  # a hung interpreter fails the test instead of the run


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from launcher.cluster import Cluster
    from launcher.pytest_plugin import test_cluster_config

    config = test_cluster_config(tmp_path_factory.mktemp("cluster"), coordinators=1,
                                 brokers=1)
    with Cluster(config) as c:
        yield c


@pytest.fixture
def topic(cluster):
    with Admin(cluster.bootstrap) as admin:
        if "exit" in admin.list_topics():
            admin.delete_topics(["exit"])
            wait_until(lambda: "exit" not in admin.list_topics(), what="the old topic gone")
        admin.create_topics([NewTopic("exit", 1, 1)])
    return "exit"


def run_worker(cluster, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tests.integration.exit_worker", args[0],
                           cluster.bootstrap, *args[1:]], input=stdin, capture_output=True,
                          text=True, timeout=EXIT_S)


def values_in(cluster, topic: str) -> list[bytes]:
    with Consumer(bootstrap_servers=cluster.bootstrap, auto_offset_reset="earliest") as c:
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        end = c.end_offsets([tp])[tp]
        out = []
        while c.position(tp) < end:
            out += [r.value for r in c.poll(1000).get(tp, [])]
        return out


def assert_quiet(done: subprocess.CompletedProcess) -> None:
    assert "Task was destroyed" not in done.stderr, done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr


@pytest.mark.parametrize("kind", ["produce", "produce-raise"])
def test_a_producer_that_exits_without_close_delivers_its_records(cluster, topic, kind):
    done = run_worker(cluster, kind, "1000")
    assert done.stdout.strip() == "ready", done.stderr
    assert done.returncode == (0 if kind == "produce" else 1), done.stderr
    assert_quiet(done)
    assert sorted(values_in(cluster, topic)) == sorted(b"%d" % i for i in range(1000))


def test_a_producer_that_cannot_deliver_at_exit_exits_in_time_and_says_so(cluster, topic):
    worker = subprocess.Popen([sys.executable, "-m", "tests.integration.exit_worker",
                               "produce-stuck", cluster.bootstrap, "100"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert worker.stdout.readline().strip() == "ready"
        cluster.pause("broker-1")  # every request now goes unanswered
        _, stderr = worker.communicate("go\n", timeout=EXIT_S)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        cluster.resume("broker-1")
    assert worker.returncode == 0, stderr
    assert "closed by interpreter exit (it was never closed; exit_timeout_ms=1000) with 100 " \
           "record(s) not acknowledged" in stderr, stderr
    assert "Task was destroyed" not in stderr, stderr


def test_a_consumer_that_exits_without_close_leaves_its_group_and_commits(cluster, topic):
    with Producer(cluster.bootstrap) as producer:
        for i in range(10):
            producer.send(topic, b"%d" % i)
    done = run_worker(cluster, "consume", "leavers")
    assert done.stdout.strip() == "ready", done.stderr
    assert done.returncode == 0, done.stderr
    assert_quiet(done)
    with Admin(cluster.bootstrap) as admin:
        # Its session is 60 s: only a LeaveGroup empties the group this soon.
        wait_until(lambda: admin.describe_consumer_groups(["leavers"])[0]["members"] == [],
                   timeout_s=15, what="the exited member to leave")
        assert admin.list_consumer_group_offsets("leavers") == {(topic, 0): 10}


def test_an_admin_that_exits_without_close_exits_quietly(cluster, topic):
    done = run_worker(cluster, "admin")
    assert (done.stdout.strip(), done.returncode) == ("ready", 0), done.stderr
    assert_quiet(done)
    assert done.stderr == ""
