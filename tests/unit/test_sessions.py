from mini_kafka.coordinator.sessions import BrokerSessions

TERM = 3


def sessions(timeout_ms: int) -> BrokerSessions:
    s = BrokerSessions(timeout_ms)
    s.grant_grace({}, now_ms=0, term=TERM)
    return s


def test_a_silent_broker_expires_after_the_session_timeout():
    s = sessions(1500)
    s.heartbeat(1, 10, now_ms=0)
    s.heartbeat(2, 11, now_ms=0)
    s.heartbeat(2, 11, now_ms=1000)
    assert s.expired(1500, TERM) == []
    assert s.expired(1501, TERM) == [(1, 10)]
    assert s.expired(2501, TERM) == [(1, 10), (2, 11)]
    s.forget(1)
    assert s.expired(2501, TERM) == [(2, 11)]


def test_a_new_controller_grants_everyone_a_fresh_grace_period():
    s = sessions(1500)
    s.heartbeat(1, 10, now_ms=0)
    s.grant_grace({1: 10, 2: 11}, now_ms=5000, term=TERM)
    assert s.expired(6000, TERM) == []
    assert s.expired(6501, TERM) == [(1, 10), (2, 11)]


def test_the_controller_can_sleep_until_the_first_session_runs_out():
    s = sessions(1500)
    assert s.next_expiry_ms(TERM) is None  # nothing to watch: no wake-up for sessions
    s.heartbeat(1, 10, now_ms=0)
    s.heartbeat(2, 11, now_ms=400)
    due = s.next_expiry_ms(TERM)
    assert s.expired(due - 1, TERM) == [] and s.expired(due, TERM) == [(1, 10)]
    s.heartbeat(1, 10, now_ms=1000)
    assert s.next_expiry_ms(TERM) == 400 + 1500 + 1


def test_a_stall_of_the_controllers_own_does_not_count_against_sessions():
    s = sessions(1500)
    s.heartbeat(1, 7, now_ms=1_000)
    s.heartbeat(2, 8, now_ms=1_400)
    s.credit(2_000)  # its loop woke 2 s late: heartbeats may wait unread
    assert s.expired(now_ms=3_600, term=TERM) == []
    assert s.next_expiry_ms(TERM) == 1_000 + 2_000 + 1_500 + 1
    assert s.expired(now_ms=4_501, term=TERM) == [(1, 7)], "a silent broker still runs out, later"


def test_sessions_of_an_earlier_term_expire_no_one():
    # This coordinator was the controller in term 1 and is again in term 5: until term
    # 5's grace is granted, term 1's 30 s old records must fence no one.
    s = BrokerSessions(1500)
    s.grant_grace({1: 10, 2: 11}, now_ms=0, term=1)
    assert s.expired(30_000, term=1) == [(1, 10), (2, 11)]
    assert s.expired(30_000, term=5) == []
    assert s.next_expiry_ms(term=5) is None, "nothing to wake for either"
    s.grant_grace({1: 10, 2: 11}, now_ms=30_000, term=5)
    assert s.expired(31_000, term=5) == []
    assert s.expired(31_501, term=5) == [(1, 10), (2, 11)]
