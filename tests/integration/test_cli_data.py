"""`mini-kafka topic/produce/consume` end to end, as a user types them."""

import subprocess
import sys


def run(*args, stdin=None, check=True):
    out = subprocess.run([sys.executable, "-m", "mini_kafka.cli.main", *args], input=stdin,
                         capture_output=True, text=True, timeout=120)
    if check and out.returncode != 0:
        raise AssertionError(f"{args} failed ({out.returncode}):\n{out.stdout}{out.stderr}")
    return out


def test_create_produce_consume_describe_delete(mini_kafka_cluster):
    b = ["--bootstrap-server", mini_kafka_cluster.bootstrap]
    assert "Created topic orders." in run("topic", "create", "orders", "--partitions", "3",
                                          "--replication-factor", "3", "--config",
                                          "retention.ms=86400000", *b).stdout
    lines = "".join(f"user-{i % 4}\tevent-{i}\n" for i in range(40))
    run("produce", "orders", "--key-separator", "\t", *b, stdin=lines)
    out = run("consume", "orders", "--from-beginning", "--max-messages", "40", "--print-key",
              "--print-partition", "--print-offset", *b)
    rows = [line.split("\t") for line in out.stdout.splitlines()]
    assert len(rows) == 40 and "Processed a total of 40 messages" in out.stderr
    partition_of = {}
    for partition, _offset, key, _value in rows:
        assert partition_of.setdefault(key, partition) == partition  # one key, one partition
    per_key = {}
    for _partition, _offset, key, value in sorted(rows, key=lambda r: (r[0], int(r[1][7:]))):
        per_key.setdefault(key, []).append(int(value.split("-")[1]))
    assert all(v == sorted(v) for v in per_key.values())

    one = run("consume", "orders", "--partition", partition_of["user-1"].split(":")[1],
              "--offset", "1",
              "--max-messages", "1", *b).stdout.splitlines()
    assert len(one) == 1
    described = run("topic", "describe", "orders", *b).stdout
    assert "PartitionCount: 3" in described and "retention.ms=86400000" in described
    assert described.count("Isr: ") == 3 and "HighWatermark:" in described
    assert run("topic", "describe", "--under-replicated", *b).stdout == ""
    assert run("topic", "list", *b).stdout.split() == ["orders"]
    from mini_kafka.client import Admin
    with Admin(mini_kafka_cluster.bootstrap) as admin:
        cluster = admin.describe_cluster()
    assert [broker["id"] for broker in cluster["brokers"]] == [1, 2, 3]
    assert cluster["metadata_offset"] > 0
    run("topic", "delete", "orders", *b)
    assert run("topic", "list", *b).stdout.split() == []


def test_errors_name_the_problem_and_exit_non_zero(mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=1)
    b = ["--bootstrap-server", cluster.bootstrap]
    cases = [
        (("consume", "nope", "--max-messages", "1", *b), "UNKNOWN_TOPIC_OR_PARTITION"),
        (("topic", "create", "t", "--config", "retention.mss=1", *b), "unknown topic config"),
        (("topic", "create", "t", "--replication-factor", "2", *b),
         "INVALID_REPLICATION_FACTOR"),
        (("topic", "create", "t", "--config", "min.insync.replicas=2", *b),
         "INVALID_CONFIG: t: min.insync.replicas 2 exceeds the replication factor 1"),
        (("produce", "t", "--producer-property", "lingerms=5", *b),
         "unknown producer property 'lingerms'"),
        (("produce", "t", "--producer-property", "rng=5", *b),  # injected, not a property
         "unknown producer property 'rng'"),
        (("produce", "t", "--producer-property", "linger.ms=abc", *b),
         "error: producer property linger.ms='abc': must be an integer"),
        (("consume", "t", "--consumer-property", "enable.auto.commit=maybe", *b),
         "error: consumer property enable.auto.commit='maybe': must be true or false"),
        (("consume", "t", "--offset", "3", *b), "--offset needs --partition"),
        (("topic", "list", "--bootstrap-server", "nohost"), "bad bootstrap server 'nohost'"),
    ]
    for args, message in cases:
        out = run(*args, check=False, stdin="")
        assert out.returncode != 0 and message in out.stderr, (args, out.stderr)
        assert "Traceback" not in out.stderr, (args, out.stderr)
    bad_flag = run("topic", "create", "--partitons", "3", check=False)
    assert bad_flag.returncode == 2 and "unrecognized arguments" in bad_flag.stderr
