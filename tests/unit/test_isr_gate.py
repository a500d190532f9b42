"""One ISR change write in flight per broker, and a doubling backoff after writes no
controller answered."""

from mini_kafka.broker.isr_gate import IsrGate


def test_one_write_in_flight_then_the_next_at_once_after_success():
    gate = IsrGate(backoff_ms=50, backoff_max_ms=3000)
    assert gate.may_send(0)
    gate.sent()
    assert not gate.may_send(10_000), "changes due meanwhile wait for the write in flight"
    gate.done(failed=False, now_ms=100)
    assert gate.may_send(100)


def test_failed_writes_back_off_doubling_up_to_the_bound_and_success_resets():
    gate = IsrGate(backoff_ms=50, backoff_max_ms=300)
    now = 0
    for wait in (50, 100, 200, 300, 300):
        gate.sent()
        gate.done(failed=True, now_ms=now)
        assert not gate.may_send(now + wait - 1) and gate.may_send(now + wait)
        now += wait
    gate.sent()
    gate.done(failed=False, now_ms=now)
    gate.sent()
    gate.done(failed=True, now_ms=now)
    assert gate.may_send(now + 50)
