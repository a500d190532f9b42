from mini_kafka.perf import failover


def test_failover_benchmark_measures_both_failovers_and_cleans_up():
    report = failover.run(kills=1, broker_kills=1)
    assert len(report.controller_ms) == len(report.broker_ms) == len(report.write_ms) == 1
    assert min(report.controller_ms + report.broker_ms + report.write_ms) > 0
    text = report.format()
    assert "controller kill -> next committed write" in text and "median" in text
