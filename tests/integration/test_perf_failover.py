from mini_kafka.perf import failover


def test_failover_benchmark_measures_both_failovers_and_cleans_up():
    report = failover.run(kills=1, broker_kills=1)
    assert len(report.controller_ms) == 1 and len(report.broker_ms) == 1
    assert 0 < report.controller_ms[0] and 0 < report.broker_ms[0]
    text = report.format()
    assert "controller kill -> next committed write" in text and "median" in text
