"""A broker gives up the coordinator it polls for metadata only when that one stays
behind an offset the controller reported for the whole lag bound."""

from mini_kafka.broker.reader_watch import ReaderWatch

LAG_MAX_MS = 1500


def test_a_reader_that_stays_behind_for_the_bound_is_given_up_once():
    watch = ReaderWatch(LAG_MAX_MS)
    assert not watch.heartbeat(10, 8, now_ms=0)
    assert not watch.heartbeat(11, 8, now_ms=LAG_MAX_MS - 1)
    assert watch.heartbeat(11, 8, now_ms=LAG_MAX_MS)
    assert not watch.heartbeat(11, 8, now_ms=LAG_MAX_MS + 1)  # a fresh window on the next


def test_a_reader_that_lags_but_keeps_up_is_kept():
    watch = ReaderWatch(LAG_MAX_MS)
    # Always a little behind a controller that writes all the time, but what it was
    # behind on arrives: it follows.
    for step in range(20):
        now = step * 500
        assert not watch.heartbeat(controller_offset=step + 2, own_offset=step + 1,
                                   now_ms=now)


def test_caught_up_ends_the_window():
    watch = ReaderWatch(LAG_MAX_MS)
    assert not watch.heartbeat(10, 8, now_ms=0)
    assert not watch.heartbeat(10, 10, now_ms=1000)
    assert not watch.heartbeat(12, 10, now_ms=2000)
    assert not watch.heartbeat(12, 10, now_ms=2000 + LAG_MAX_MS - 1)
    assert watch.heartbeat(12, 10, now_ms=2000 + LAG_MAX_MS)
