"""`mini-kafka perf failover` as a user runs it: after `pip install .`, with no test
dependency installed."""

import subprocess
import sys

# pytest stands in for every test-only dependency: a module set to None cannot be imported.
WITHOUT_TEST_DEPENDENCIES = """
import sys
sys.modules["pytest"] = sys.modules["_pytest"] = None
from mini_kafka.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_failover_benchmark_measures_both_failovers_without_test_dependencies():
    out = subprocess.run([sys.executable, "-c", WITHOUT_TEST_DEPENDENCIES, "perf", "failover",
                          "--kills", "1", "--broker-kills", "1"],
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    for figure in ("controller kill -> next committed write",
                   "leader broker kill -> new leader", "leader broker kill -> next acked write"):
        [line] = [line for line in lines if line.startswith(figure)]
        assert "median" in line and "(n=1)" in line, line
