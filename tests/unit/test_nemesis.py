"""The nemesis's schedule: a seed names one schedule, faults never overlap, all healed
before the run ends, and a bad request is refused with the reason."""

from __future__ import annotations

import pytest

from launcher.nemesis import FAULT_KINDS, NemesisSettings, ScheduleError, plan

pytestmark = pytest.mark.unit

BROKERS = ["broker-1", "broker-2", "broker-3"]
COORDINATORS = ["coordinator-1", "coordinator-2", "coordinator-3"]
SETTINGS = NemesisSettings(duration_s=60, interval_s=3, hold_s=3, kinds=FAULT_KINDS)


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another():
    first = plan(42, SETTINGS, BROKERS, COORDINATORS)
    assert first == plan(42, SETTINGS, BROKERS, COORDINATORS)
    assert first != plan(43, SETTINGS, BROKERS, COORDINATORS)


@pytest.mark.parametrize("seed", range(20))
def test_faults_never_overlap_and_are_healed_before_the_end(seed):
    faults = plan(seed, SETTINGS, BROKERS, COORDINATORS)
    assert faults, "a minute holds several faults"
    for a, b in zip(faults, faults[1:], strict=False):
        assert a.at_s + a.hold_s < b.at_s, f"{a} still holds when {b} starts"
    assert faults[-1].at_s + faults[-1].hold_s <= SETTINGS.duration_s
    assert [f.id for f in faults] == list(range(1, len(faults) + 1))
    for f in faults:
        pool = {"kill-coordinator": COORDINATORS, "down-up": ["cluster"]}.get(f.kind, BROKERS)
        assert f.target in pool and 1.5 <= f.hold_s <= 4.5


def test_only_the_asked_kinds_and_a_long_run_uses_them_all():
    faults = plan(1, NemesisSettings(600, 1, 2, ("pause",)), BROKERS, COORDINATORS)
    assert {f.kind for f in faults} == {"pause"}
    every = plan(1, NemesisSettings(600, 1, 2, FAULT_KINDS), BROKERS, COORDINATORS)
    assert {f.kind for f in every} == set(FAULT_KINDS)
    for kind in ("kill", "restart"):
        assert {f.target for f in every if f.kind == kind} == set(BROKERS)
    assert {f.target for f in every if f.kind == "down-up"} == {"cluster"}


@pytest.mark.parametrize("settings, coordinators, message", [
    (NemesisSettings(60, 3, 3, ("explode",)), COORDINATORS, "explode"),
    (NemesisSettings(60, 3, 3, ()), COORDINATORS, "choose from"),
    (NemesisSettings(60, 3, 0, ("kill",)), COORDINATORS, "positive"),
    (NemesisSettings(60, -1, 3, ("kill",)), COORDINATORS, "not negative"),
    (NemesisSettings(60, 3, 3, ("kill-coordinator",)), ["coordinator-1"], "majority"),
])
def test_a_bad_request_is_refused_with_the_reason(settings, coordinators, message):
    with pytest.raises(ScheduleError, match=message):
        plan(1, settings, BROKERS, coordinators)
