from mini_kafka.coordinator.sessions import BrokerSessions


def test_a_silent_broker_expires_after_the_session_timeout():
    s = BrokerSessions(1500)
    s.heartbeat(1, 10, now_ms=0)
    s.heartbeat(2, 11, now_ms=0)
    s.heartbeat(2, 11, now_ms=1000)
    assert s.expired(1500) == []
    assert s.expired(1501) == [(1, 10)]
    assert s.expired(2501) == [(1, 10), (2, 11)]
    s.forget(1)
    assert s.expired(2501) == [(2, 11)]


def test_a_new_controller_grants_everyone_a_fresh_grace_period():
    s = BrokerSessions(1500)
    s.heartbeat(1, 10, now_ms=0)
    s.grant_grace({1: 10, 2: 11}, now_ms=5000)
    assert s.expired(6000) == []
    assert s.expired(6501) == [(1, 10), (2, 11)]


def test_the_controller_can_sleep_until_the_first_session_runs_out():
    s = BrokerSessions(1500)
    assert s.next_expiry_ms() is None  # nothing to watch: no wake-up for sessions
    s.heartbeat(1, 10, now_ms=0)
    s.heartbeat(2, 11, now_ms=400)
    due = s.next_expiry_ms()
    assert s.expired(due - 1) == [] and s.expired(due) == [(1, 10)]
    s.heartbeat(1, 10, now_ms=1000)
    assert s.next_expiry_ms() == 400 + 1500 + 1


def test_a_stall_of_the_controllers_own_does_not_count_against_sessions():
    s = BrokerSessions(1500)
    s.heartbeat(1, 7, now_ms=1_000)
    s.heartbeat(2, 8, now_ms=1_400)
    s.credit(2_000)  # its loop woke 2 s late: heartbeats may wait unread
    assert s.expired(now_ms=3_600) == []
    assert s.next_expiry_ms() == 1_000 + 2_000 + 1_500 + 1
    assert s.expired(now_ms=4_501) == [(1, 7)], "a silent broker still runs out, later"
