import random

import pytest

from mini_kafka.transport.faults import FaultRule, FaultRules


def test_no_rules_pass_everything():
    rules = FaultRules(random.Random(1))
    assert not rules.decide("in", "broker-1").drop
    assert rules.decide("out", "broker-1").delay_ms == 0


def test_a_cut_drops_only_the_named_peer_and_direction():
    rules = FaultRules(random.Random(1))
    rules.set([FaultRule(peer="broker-2", direction="out", drop_rate=1.0)])
    assert rules.decide("out", "broker-2").drop
    assert not rules.decide("in", "broker-2").drop
    assert not rules.decide("out", "broker-3").drop


def test_delays_add_up_and_jitter_is_bounded():
    rules = FaultRules(random.Random(1))
    rules.set([FaultRule(delay_ms=10), FaultRule(peer="b", delay_ms=5, jitter_ms=3)])
    delays = {rules.decide("in", "b").delay_ms for _ in range(200)}
    assert delays == {15, 16, 17, 18}
    assert rules.decide("in", "other").delay_ms == 10


def test_loss_rate_is_seeded_and_roughly_right():
    def pattern(seed):
        rules = FaultRules(random.Random(seed))
        rules.set([FaultRule(drop_rate=0.3)])
        return [rules.decide("out", "x").drop for _ in range(2000)]

    assert pattern(7) == pattern(7)
    assert 500 < sum(pattern(7)) < 700


def test_rules_travel_over_the_wire_and_bad_ones_are_named():
    rules = FaultRules()
    rules.set([FaultRule(peer="a", drop_rate=0.5)])
    assert FaultRules.rules_from_wire(rules.to_wire()) == list(rules.rules)
    with pytest.raises(ValueError, match="unknown rule field"):
        FaultRules.rules_from_wire([{"peer": "a", "dorp": 1}])
    with pytest.raises(ValueError, match="drop_rate 2"):
        FaultRules.rules_from_wire([{"drop_rate": 2}])
    with pytest.raises(ValueError, match="must be a list"):
        FaultRules.rules_from_wire({"peer": "a"})


def test_lifting_a_cut_names_the_peers_it_no_longer_drops():
    rules = FaultRules(random.Random(1))
    heard = []
    rules.on_lifted(heard.append)
    rules.set([FaultRule(peer="broker-2", drop_rate=1.0), FaultRule(peer="broker-3",
                                                                    drop_rate=1.0)])
    assert heard == [], "nothing was dropped before: nothing is lifted"
    rules.set([FaultRule(peer="broker-3", drop_rate=1.0)])
    [lifted] = heard
    assert lifted("broker-2") and not lifted("broker-3") and not lifted("broker-4")
    rules.set([FaultRule(drop_rate=0.5)])  # every peer lossy now: broker-3 still dropped
    assert not heard[-1]("broker-3")
    rules.clear()
    assert heard[-1]("broker-3") and heard[-1]("anyone")
    rules.set([FaultRule(delay_ms=10)])  # a delay drops nothing: nobody to tell
    rules.clear()
    assert len(heard) == 3


def test_a_forgotten_listener_hears_nothing():
    rules = FaultRules(random.Random(1))
    heard = []
    rules.on_lifted(heard.append)
    rules.forget(heard.append)
    rules.set([FaultRule(drop_rate=1.0)])
    rules.clear()
    assert heard == []
