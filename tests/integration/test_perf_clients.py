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
    out = subprocess.run([sys.executable, "-m", "mini_kafka.cli.main", "perf", "consume",
                          "--topic", "perf", "--messages", "3000", "--bootstrap-server",
                          cluster.bootstrap], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    header, values = out.stdout.strip().splitlines()
    assert header.startswith("start.time, end.time, data.consumed.in.MB, MB.sec")
    assert values.split(", ")[4] == "3000"
