"""`mini-kafka perf scale` end to end at a small size, as a user runs it: after `pip
install .`, with no test dependency installed, from a directory with no cluster.yaml."""

import subprocess
import sys

from tests.integration.test_perf_failover import WITHOUT_TEST_DEPENDENCIES

ROWS = ("cluster up", "idle CPU, no topics", "broker RSS", "coordinator RSS",
        "create a topic, 12 partitions, RF=3", "... every leader in a client's metadata",
        "leader spread", "... every ISR whole (before the kill)",
        "SIGKILL 1 brokers -> every partition led by a live broker",
        "... an acks=all write to every partition", "restart the 1 -> registered again",
        "... every ISR whole again", "... every partition led by its preferred replica",
        "... leader spread after the election", "idle CPU, with the topic", "cluster down",
        "node processes left after down")


def test_perf_scale_measures_every_row_and_leaves_no_process(tmp_path):
    out = subprocess.run([sys.executable, "-c", WITHOUT_TEST_DEPENDENCIES, "perf", "scale",
                          "--coordinators", "1", "--brokers", "4", "--partitions", "12",
                          "--kill", "1", "--settle", "0", "--idle-window", "0.5",
                          "--timeout", "30", "--keep-dir", "kept"],
                         capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    table = [line for line in out.stdout.splitlines() if line.startswith("| ")]
    cells = {row.split("|")[1].strip(): row.split("|")[2].strip() for row in table[2:]}
    for row in ROWS:
        [figure] = [f for name, f in cells.items() if name.startswith(row)]
        assert figure and not figure.startswith("not within"), (row, out.stdout)
    assert cells["node processes left after down"] == "0"
    assert "met" not in table[0]  # not the sizes: not judged against its targets
    assert "1 coordinators + 4 brokers" in out.stdout
    # --keep-dir (relative: to where the command ran) leaves every node's log behind.
    logs = sorted(p.name for p in (tmp_path / "kept" / "cluster").glob("*/*.log"))
    assert logs == ["broker-1.log", "broker-2.log", "broker-3.log", "broker-4.log",
                    "coordinator-1.log"], logs


def test_perf_scale_that_cannot_go_on_prints_what_it_measured_and_why(tmp_path):
    # With 4 brokers and RF=3 any three of them hold all of some partition's replicas:
    # they cannot die at once and leave it writable.
    out = subprocess.run([sys.executable, "-m", "mini_kafka.cli.main", "perf", "scale",
                          "--coordinators", "1", "--brokers", "4", "--partitions", "4",
                          "--kill", "3", "--settle", "0", "--idle-window", "0.2"],
                         capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "| ... then an acks=all write to every partition" in out.stdout
    assert "- failed: cannot kill 3 brokers at once without a partition losing more than " \
           "2 of its replicas; this placement allows 2" in out.stdout
    assert "| node processes left after down" in out.stdout
    assert "Traceback" not in out.stderr
