"""A broker's held metadata poll is answered at most once an interval: the changes of a
burst go to it together, and the first change after a quiet spell goes at once."""

from mini_kafka.coordinator.poll_pacing import PollPacing


def test_the_first_answer_goes_at_once_and_the_next_waits_out_the_interval():
    pacing = PollPacing(100)
    assert pacing.delay_ms("broker-1", now_ms=5_000) == 0, "never answered: at once"
    pacing.answered("broker-1", now_ms=5_000)
    assert pacing.delay_ms("broker-1", now_ms=5_030) == 70
    assert pacing.delay_ms("broker-2", now_ms=5_030) == 0, "each broker has its own pace"
    assert pacing.delay_ms("broker-1", now_ms=5_100) == 0
    assert pacing.delay_ms("broker-1", now_ms=9_000) == 0, "after a quiet spell: at once"


def test_an_interval_of_zero_answers_every_change_at_once():
    pacing = PollPacing(0)
    pacing.answered("broker-1", now_ms=5_000)
    assert pacing.delay_ms("broker-1", now_ms=5_000) == 0
