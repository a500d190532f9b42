"""RepeatLimitedLog as the transport uses it: one limiter shared by several modules,
counts kept for a node's status, tracebacks kept for the lines that get through."""

import logging

from mini_kafka.log_limit import RepeatLimitedLog


class FakeClock:
    def __init__(self):
        self.now_ms = 0

    def monotonic_ms(self):
        return self.now_ms


def test_each_kind_logs_once_per_interval_and_the_rest_are_counted(caplog):
    clock = FakeClock()
    repeats = RepeatLimitedLog(logging.getLogger("test.default"), 1000, clock)
    other = logging.getLogger("test.other")
    with caplog.at_level(logging.WARNING):
        for i in range(4):
            repeats.log(logging.WARNING, "malformed", "bad message %d", i, logger=other)
        repeats.log(logging.WARNING, "too large", "big message")  # a kind of its own
        clock.now_ms = 1000
        repeats.log(logging.WARNING, "malformed", "bad message %d", 9, logger=other)
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("test.other", "bad message 0"), ("test.default", "big message"),
        ("test.other", "bad message 9 (3 more like this since the last report)")]
    assert repeats.suppressed == {"malformed": 3}


def test_a_line_that_gets_through_keeps_its_traceback(caplog):
    repeats = RepeatLimitedLog(logging.getLogger("test.tb"), 1000, FakeClock())
    try:
        raise KeyError("boom")
    except KeyError:
        with caplog.at_level(logging.ERROR):
            assert repeats.log(logging.ERROR, "failed", "FETCH failed", exc_info=True)
            assert not repeats.log(logging.ERROR, "failed", "FETCH failed", exc_info=True)
    assert len(caplog.records) == 1 and caplog.records[0].exc_info[0] is KeyError
