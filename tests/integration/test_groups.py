"""Consumer groups on a real cluster: exclusive partitions, rebalancing when members come,
go and die, committed offsets that survive members and coordinators."""

from __future__ import annotations

import subprocess
import sys

from mini_kafka.broker.offsets_topic import OFFSETS_TOPIC, partition_for
from mini_kafka.client import Admin, Consumer, NewTopic, Producer, TopicPartition
from tests.helpers import wait_until
from tests.integration.dataplane_helpers import BackgroundProducer
from tests.integration.group_helpers import FAST_GROUP, ProcessMember, ThreadMember


def create(cluster, name, partitions=6):
    with Admin(cluster.bootstrap) as admin:
        admin.create_topics([NewTopic(name, partitions, 3)])


def fill(cluster, topic, per_partition, partitions=6):
    with Producer(cluster.bootstrap, acks="all") as producer:
        for i in range(per_partition * partitions):
            producer.send(topic, b"v-%d" % i, partition=i % partitions)
        producer.flush()


def sizes(members):
    return sorted(len(m.assignment) for m in members)


def exclusive_and_complete(members, partitions=6):
    owned = [tp for m in members for tp in m.assignment]
    return len(owned) == len(set(owned)) == partitions


def run(*args):
    return subprocess.run([sys.executable, "-m", "mini_kafka.cli.main", *args],
                          capture_output=True, text=True, timeout=60)


def test_members_share_partitions_exclusively_and_extras_sit_idle(mini_kafka_cluster):
    create(mini_kafka_cluster, "shared")
    members = [ThreadMember(mini_kafka_cluster.bootstrap, "g", "shared").start()
               for _ in range(3)]
    try:
        wait_until(lambda: sizes(members) == [2, 2, 2] and exclusive_and_complete(members),
                   timeout_s=30, what="3 members with 2 partitions each")
        members += [ThreadMember(mini_kafka_cluster.bootstrap, "g", "shared").start()
                    for _ in range(4)]
        wait_until(lambda: sizes(members) == [0, 1, 1, 1, 1, 1, 1]
                   and exclusive_and_complete(members), timeout_s=30,
                   what="7 members on 6 partitions, one idle")
    finally:
        for m in members:
            m.stop()


def test_killed_members_partitions_move_and_nothing_committed_is_skipped(mini_kafka_cluster):
    """At-least-once under consumer kills: two members die by kill -9 mid-stream; the
    survivors take their partitions after the session timeout and, starting from the
    group's commits, every acknowledged record is processed at least once."""
    cluster = mini_kafka_cluster
    create(cluster, "work")
    survivors = [ThreadMember(cluster.bootstrap, "workers", "work").start() for _ in range(2)]
    job = BackgroundProducer(cluster.bootstrap, "work", 12_000, rate_per_s=1000, acks="all")
    victims = []
    try:
        job.start()
        for _ in range(2):
            victim = ProcessMember(cluster.bootstrap, "workers", "work")
            victims.append(victim)
            wait_until(lambda v=victim: len(v.seen) >= 50, timeout_s=30,
                       what="the victim consuming")
            victim.kill()
            wait_until(lambda: sizes(survivors) == [3, 3] and exclusive_and_complete(survivors),
                       timeout_s=30, what="the survivors owning every partition")
        job.join()
        acked = {v for _, v, _ in job.acknowledged()}
        assert len(acked) == 12_000

        def processed():
            return {r.value for m in survivors for r in m.consumed()} | {
                x for v in victims for x in v.seen}
        wait_until(lambda: processed() >= acked, timeout_s=60, what="every record processed")
    finally:
        for v in victims:
            v.kill()
        for m in survivors:
            m.stop()
    with Admin(cluster.bootstrap) as admin:
        committed = admin.list_consumer_group_offsets("workers")
        ends = admin.end_offsets(list(committed))
    assert len(committed) == 6 and committed == ends, "the survivors' last commits"


def test_a_restarted_consumer_resumes_after_its_last_commit(mini_kafka_cluster):
    cluster = mini_kafka_cluster
    create(cluster, "resume", partitions=1)
    fill(cluster, "resume", per_partition=100, partitions=1)
    config = dict(group_id="resumers", auto_offset_reset="earliest",
                  enable_auto_commit=False, **FAST_GROUP)
    tp = TopicPartition("resume", 0)
    with Consumer("resume", bootstrap_servers=cluster.bootstrap, **config) as first:
        got = []
        while len(got) < 30:
            for recs in first.poll(500, max_records=30 - len(got)).values():
                got.extend(recs)
        first.commit()
        assert first.committed(tp) == 30
        first.poll(0, max_records=5)  # polled but never committed: read again below
    with Consumer("resume", bootstrap_servers=cluster.bootstrap, **config) as second:
        recs = wait_until(lambda: second.poll(500).get(tp), timeout_s=30, what="records")
        assert recs[0].offset == 30 and recs[0].value == b"v-30"


def test_the_group_survives_the_death_of_its_coordinator(mini_kafka_cluster):
    cluster = mini_kafka_cluster
    create(cluster, "steady")
    job = BackgroundProducer(cluster.bootstrap, "steady", 6000, rate_per_s=1500, acks="all")
    members = [ThreadMember(cluster.bootstrap, "steady-group", "steady").start()
               for _ in range(2)]
    job.start()
    try:
        wait_until(lambda: sum(len(m.consumed()) for m in members) > 500, timeout_s=30,
                   what="consumption under way")
        with Admin(cluster.bootstrap) as admin:
            before = admin.list_consumer_group_offsets("steady-group")
        p = partition_for("steady-group", 12)
        coordinator = cluster.metadata().partition(OFFSETS_TOPIC, p)["leader"]
        cluster.kill(f"broker-{coordinator}")
        job.join()
        acked = {v for _, v, _ in job.acknowledged()}
        wait_until(lambda: {r.value for m in members for r in m.consumed()} >= acked,
                   timeout_s=60, what="every acknowledged record consumed")
        assert cluster.metadata().partition(OFFSETS_TOPIC, p)["leader"] != coordinator
        with Admin(cluster.bootstrap) as admin:
            after = wait_until(lambda: admin.list_consumer_group_offsets("steady-group"),
                               timeout_s=30, what="offsets from the new coordinator")
        assert all(after[tp] >= offset for tp, offset in before.items()), (before, after)
    finally:
        for m in members:
            m.stop()


def test_group_describe_shows_lag_and_reset_offsets_waits_for_an_idle_group(
        mini_kafka_cluster):
    cluster = mini_kafka_cluster
    b = ["--bootstrap-server", cluster.bootstrap]
    create(cluster, "lagging", partitions=1)
    fill(cluster, "lagging", per_partition=100, partitions=1)
    consumer = Consumer("lagging", bootstrap_servers=cluster.bootstrap, group_id="slow",
                        auto_offset_reset="earliest", enable_auto_commit=False, **FAST_GROUP)
    try:
        got = 0
        while got < 40:
            got += sum(len(r) for r in consumer.poll(500, max_records=40 - got).values())
        consumer.commit()

        def row():
            out = run("group", "describe", "slow", *b)
            assert out.returncode == 0, out.stderr
            header, line = out.stdout.splitlines()[-2:]
            return dict(zip(header.split(), line.split(), strict=True))
        first = row()
        assert (first["CURRENT-OFFSET"], first["LOG-END-OFFSET"], first["LAG"]) == \
            ("40", "100", "60")
        assert first["CONSUMER-ID"].startswith(consumer.client_id)
        fill(cluster, "lagging", per_partition=50, partitions=1)  # the producer runs ahead
        assert row()["LAG"] == "110"
        members = run("group", "describe", "slow", "--members", *b).stdout
        assert "lagging(0)" in members
        assert "Stable" in run("group", "describe", "slow", "--state", *b).stdout
        assert "slow" in run("group", "list", *b).stdout.split()
        refused = run("group", "reset-offsets", "slow", "--topic", "lagging", "--to-earliest",
                      "--execute", *b)
        assert refused.returncode == 1 and "is active" in refused.stderr
    finally:
        consumer.close()
    dry = run("group", "reset-offsets", "slow", "--topic", "lagging", "--to-offset", "7", *b)
    assert "7" in dry.stdout and "dry run" in dry.stdout
    assert row()["CURRENT-OFFSET"] == "40", "a dry run changes nothing"
    run("group", "reset-offsets", "slow", "--topic", "lagging", "--to-offset", "7",
        "--execute", *b)
    after = row()
    assert (after["CURRENT-OFFSET"], after["LAG"], after["CONSUMER-ID"]) == ("7", "143", "-")
    unknown = run("group", "describe", "nobody", *b)
    assert unknown.returncode == 1 and "does not exist" in unknown.stderr


def test_a_console_consumer_stopped_with_sigterm_commits_and_leaves_its_group(
        mini_kafka_cluster):
    cluster = mini_kafka_cluster
    b = ["--bootstrap-server", cluster.bootstrap]
    create(cluster, "console", partitions=2)
    fill(cluster, "console", per_partition=5, partitions=2)
    consumer = subprocess.Popen(
        [sys.executable, "-m", "mini_kafka.cli.main", "consume", "console", "--group", "cli",
         "--from-beginning", *b], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: "Stable" in run("group", "describe", "cli", "--state", *b).stdout,
                   timeout_s=30, what="the console consumer in a stable group")
        consumer.terminate()
        out, err = consumer.communicate(timeout=30)
    finally:
        consumer.kill()
        consumer.wait()
    assert consumer.returncode == 0, err
    assert len(out.split()) == 10 and "Processed a total of 10 messages" in err
    # Gone at once, not after its session timeout, and everything it read is committed.
    assert "Empty" in run("group", "describe", "cli", "--state", *b).stdout
    lag = [line for line in run("group", "describe", "cli", *b).stdout.splitlines()
           if line.startswith("cli ")]
    assert [line.split()[3:6] for line in lag] == [["5", "5", "0"]] * 2
