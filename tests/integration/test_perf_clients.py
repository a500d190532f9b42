import subprocess
import sys

from mini_kafka.client import Admin, NewTopic
from mini_kafka.perf import clients


def test_perf_produce_and_consume_report_in_kafkas_formats(mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=3)
    with Admin(cluster.bootstrap) as admin:
        admin.create_topics([NewTopic("perf", 3, 3)])
    result = clients.produce(cluster.bootstrap, "perf", 3000, 100, acks="all")
    assert result.records == 3000 and result.errors == 0
    line = result.kafka_line()
    assert line.startswith("3000 records sent, ") and "ms 99.9th." in line
    many = subprocess.run([sys.executable, "-m", "mini_kafka.cli.main", "perf", "produce",
                           "--topic", "perf", "--num-records", "2500", "--record-size", "100",
                           "--records-per-send", "1000", "--bootstrap-server",
                           cluster.bootstrap], capture_output=True, text=True, timeout=120)
    assert many.returncode == 0, many.stderr
    assert many.stdout.strip().splitlines()[-1].startswith("2500 records sent, ")
    refused = subprocess.run([sys.executable, "-m", "mini_kafka.cli.main", "perf", "produce",
                              "--topic", "perf", "--num-records", "10", "--record-size", "1",
                              "--records-per-send", "0"], capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode != 0 and "--records-per-send must be at least 1" in refused.stderr
    out = subprocess.run([sys.executable, "-m", "mini_kafka.cli.main", "perf", "consume",
                          "--topic", "perf", "--messages", "5500", "--bootstrap-server",
                          cluster.bootstrap], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    header, values = out.stdout.strip().splitlines()
    assert header.startswith("start.time, end.time, data.consumed.in.MB, MB.sec")
    assert values.split(", ")[4] == "5500"


def perf(*args):
    return subprocess.run([sys.executable, "-m", "mini_kafka.cli.main", "perf", *args],
                          capture_output=True, text=True, timeout=120)


def test_perf_e2e_ceiling_and_group_consume(mini_kafka_cluster_factory):
    cluster = mini_kafka_cluster_factory(coordinators=1, brokers=3)
    b = ["--bootstrap-server", cluster.bootstrap]
    with Admin(cluster.bootstrap) as admin:
        admin.create_topics([NewTopic("lat", 3, 3)])
    e2e = perf("e2e", "--topic", "lat", "--throughput", "200", "--duration", "1s", *b)
    assert e2e.returncode == 0, e2e.stderr
    assert e2e.stdout.startswith("200 of 200 records received; end-to-end latency: avg ")
    assert "99.9th" in e2e.stdout
    refused = perf("e2e", "--topic", "lat", "--throughput", "0", *b)
    assert refused.returncode == 1 and "--throughput must be positive" in refused.stderr

    ceiling = perf("ceiling", "--repeats", "1")
    assert ceiling.returncode == 0, ceiling.stderr
    assert ceiling.stdout.startswith("raw ZeroMQ, 100-byte records in ") and \
        "records/s" in ceiling.stdout and "round trip 50th" in ceiling.stdout

    grouped = perf("consume", "--topic", "lat", "--messages", "200", "--group", "perf", *b)
    assert grouped.returncode == 0, grouped.stderr
    values = grouped.stdout.strip().splitlines()[1].split(", ")
    assert values[4] == "200" and int(values[6]) > 0, "joining the group takes time"
    with Admin(cluster.bootstrap) as admin:
        assert sum(admin.list_consumer_group_offsets("perf").values()) == 200


def test_the_benchmark_runs_every_scenario_and_prints_one_table(mini_kafka_cluster_factory):
    import io

    from launcher.ports import free_ports
    from mini_kafka.perf import bench

    settings = bench.BenchSettings(records=3000, large_records=600, e2e_rates=(300,),
                                   e2e_seconds=1, ceiling_seconds=0.2, ceiling_repeats=1,
                                   round_trips=50)
    log = io.StringIO()
    rows = bench.run(mini_kafka_cluster_factory, settings,
                     lambda: f"tcp://127.0.0.1:{free_ports('127.0.0.1', 1)[0]}", out=log)
    scenarios = [r.scenario for r in rows]
    assert scenarios == [
        "cluster up (6 nodes)", "one request's round trip (Metadata), p50",
        "1 producer, acks=1, 100 B", "1 producer, acks=all, 100 B",
        "1 consumer, 100 B", "3 producers, acks=1, 100 B",
        "end-to-end at 300 rec/s, p50 / p99", "1 producer, acks=1, 1 KiB",
        "broker RSS idle (max of brokers)", "broker RSS under load (peak)"]
    assert set(rows[1].figures) == {"mini-kafka", "confluent-kafka"}  # each door's
    for row in rows[2:8]:  # every client measured every scenario it can
        expected = {"mini-kafka", "confluent-kafka"}
        if "end-to-end" not in row.scenario:  # kcat cannot time send -> receive
            expected.add("kcat")
        if "producer" in row.scenario:  # send_many is a producer's path
            expected.add("mini-kafka-send-many")
        assert set(row.figures) == expected, row
    for row in rows:
        for figure in row.figures.values():
            assert float(figure.split()[0].replace(",", "")) > 0, row
        for ceiling in (row.zeromq, row.tcp):
            assert not ceiling or float(ceiling.split()[0].replace(",", "")) > 0, row
        if row.ratio:
            assert 0 < float(row.ratio) < 1, f"{row.scenario} beats raw TCP?"
    text = log.getvalue()
    assert "raw ZeroMQ, 100-byte" in text and "raw TCP, 100-byte" in text
    assert text.count("records sent") >= 3 * 4, "three producers per producing client"
    table = bench.format_table(rows).splitlines()
    assert [c.strip() for c in table[0].split("|")[1:6]] == [
        "scenario", "mini-kafka client", "mini-kafka send_many", "confluent-kafka", "kcat (C)"]
    assert len(table) == len(rows) + 2 and "786,980 rec/s" in table[4]
