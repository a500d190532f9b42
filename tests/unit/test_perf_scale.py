"""`mini-kafka perf scale`'s pure parts: flags, leader spread, which brokers may die
together, and the table."""

import pytest

from mini_kafka.cli.main import main
from mini_kafka.perf.scale_figures import (
    ScaleError,
    ScaleReport,
    ScaleSettings,
    choose_victims,
    isr_whole,
    leader_spread,
    led_by,
    preferred_led,
)


def ring(brokers: int, partitions: int, rf: int = 3, start: int = 0) -> list[dict]:
    """Placed as the controller places them: partition p on brokers start+p, +1, +2."""
    ids = list(range(1, brokers + 1))
    out = []
    for p in range(partitions):
        replicas = [ids[(start + p + j) % brokers] for j in range(rf)]
        out.append({"topic": "t", "partition": p, "replicas": replicas,
                    "leader": replicas[0], "isr": list(replicas)})
    return out


@pytest.mark.parametrize("flags, named", [
    ({"coordinators": 4}, "--coordinators 4"), ({"coordinators": 9}, "--coordinators 9"),
    ({"brokers": 2}, "--brokers 2"), ({"brokers": 201}, "--brokers 201"),
    ({"partitions": 0}, "--partitions 0"), ({"partitions": 10_001}, "--partitions 10001"),
    ({"kill": -1}, "--kill -1"), ({"brokers": 5, "kill": 5}, "--kill 5"),
    ({"settle_s": -1}, "--settle -1"), ({"idle_window_s": 0}, "--idle-window 0"),
    ({"timeout_s": 0}, "--timeout 0"), ({"timeout_s": float("nan")}, "--timeout nan"),
])
def test_a_flag_out_of_range_is_named(flags, named):
    with pytest.raises(ScaleError, match=f"^{named}: "):
        ScaleSettings(**flags).check()


def test_the_defaults_are_the_issues_sizes_and_valid():
    settings = ScaleSettings()
    settings.check()
    assert settings.issue_sized
    assert (settings.coordinators, settings.brokers, settings.partitions, settings.kill) == \
        (5, 100, 1000, 10)
    assert not ScaleSettings(brokers=12).issue_sized


def test_the_command_line_refuses_bad_flags_before_starting_anything(capsys):
    assert main(["perf", "scale", "--brokers", "2"]) == 1
    assert "error: --brokers 2: from 3" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["perf", "scale", "--partitions", "many"])
    assert "invalid int value: 'many'" in capsys.readouterr().err


def test_keep_dir_must_be_new_or_empty(tmp_path):
    ScaleSettings(keep_dir=str(tmp_path / "new")).check()
    ScaleSettings(keep_dir=str(tmp_path)).check()
    (tmp_path / "cluster").mkdir()  # a run's leftovers: reusing them would mix two runs
    with pytest.raises(ScaleError, match=f"^--keep-dir {tmp_path}: not a new or empty"):
        ScaleSettings(keep_dir=str(tmp_path)).check()
    (tmp_path / "file").write_text("")  # a file is no directory to run in either
    with pytest.raises(ScaleError, match="file: not a new or empty directory"):
        ScaleSettings(keep_dir=str(tmp_path / "file")).check()


def test_leader_spread_is_the_busiest_broker_over_the_average():
    assert leader_spread(ring(12, 60), list(range(1, 13))) == 1.0
    parts = ring(4, 8)
    for p in parts[1:3]:
        p["leader"] = 1  # broker 1 now leads 4 of 8: twice the average of 2
    assert leader_spread(parts, [1, 2, 3, 4]) == 2.0
    # A broker that leads nothing still counts in the average.
    assert leader_spread(ring(4, 8), [1, 2, 3, 4, 5, 6, 7, 8]) == 2.0


def test_victims_leave_every_partition_all_but_one_replica():
    parts = ring(12, 60, start=5)
    victims = choose_victims(parts, list(range(1, 13)), 3, may_lose=1)
    assert len(victims) == 3
    assert all(len(set(p["replicas"]) & set(victims)) <= 1 for p in parts)
    live = set(range(1, 13)) - set(victims)
    assert all(set(p["replicas"]) & live for p in parts)


def test_victims_that_the_placement_cannot_spare_are_refused():
    # On a ring of 12 with RF=3, brokers three apart share no partition: four at most.
    parts = ring(12, 60)
    assert len(choose_victims(parts, list(range(1, 13)), 4, may_lose=1)) == 4
    with pytest.raises(ScaleError, match="cannot kill 5 brokers .* this placement allows 4"):
        choose_victims(parts, list(range(1, 13)), 5, may_lose=1)


def test_victims_are_the_brokers_that_lead_most():
    parts = ring(9, 9)
    for p in parts:
        if p["leader"] == 2:
            p["leader"] = 8  # broker 8 leads two partitions, broker 2 none
    assert choose_victims(parts, list(range(1, 10)), 1, may_lose=1) == [8]


def test_partition_conditions():
    parts = ring(5, 5)
    assert isr_whole(parts) and preferred_led(parts) and led_by(parts, {1, 2, 3, 4, 5})
    parts[0]["isr"] = parts[0]["replicas"][1:]
    parts[1]["leader"] = parts[1]["replicas"][1]
    assert not isr_whole(parts) and not preferred_led(parts)
    # Leaders are now 1, 3, 3, 4, 5: broker 2 leads nothing.
    assert led_by(parts, {1, 3, 4, 5})
    assert not led_by(parts, {1, 2, 4, 5})


def test_the_table_judges_targets_only_at_the_issues_sizes():
    full = ScaleReport(ScaleSettings())
    full.add("cluster up", "12.0 s", "up", 12.0)
    full.add("idle CPU", "0.450 core", "idle", 0.45)
    full.timed_out("SIGKILL -> led", "led")
    full.add("coordinator RSS", "40 / 41 MB")
    full.notes.append("killed brokers 1, 4")
    lines = full.format().splitlines()
    assert lines[0].split("|")[-2].strip() == "met"
    verdicts = [line.split("|")[-2].strip() for line in lines[2:6]]
    assert verdicts == ["yes", "no", "no", ""]
    assert "not within 60 s" in lines[4]
    assert lines[-1] == "- killed brokers 1, 4"
    assert full.failed

    small = ScaleReport(ScaleSettings(brokers=12))
    small.add("cluster up", "6.0 s", "up", 6.0)
    assert "met" not in small.format().splitlines()[0]
    assert "< 20 s" in small.format()
    assert not small.failed
    small.problems.append("an acks=all write failed: NOT_ENOUGH_REPLICAS")
    assert small.failed and small.format().endswith("- failed: an acks=all write failed: "
                                                    "NOT_ENOUGH_REPLICAS")


class _BusyCoordinators:
    """A cluster whose linearizable reads fail with `errors` first, then answer."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.reads = 0

    def metadata(self, linearizable=False):
        assert linearizable, "the table reads what the controller committed"
        self.reads += 1
        if self.errors:
            raise self.errors.pop(0)
        return type("Image", (), {"partitions": {("t", 0): {"partition": 0}}})()


def test_a_coordinator_too_busy_to_answer_is_asked_again_until_the_timeout():
    from mini_kafka.errors import KafkaError, KafkaTimeoutError
    from mini_kafka.perf import scale

    busy = _BusyCoordinators(KafkaTimeoutError("no controller within 5000 ms"),
                             KafkaTimeoutError("no controller within 5000 ms"))
    assert scale._partitions(busy, timeout_s=10) == [{"partition": 0}]
    assert busy.reads == 3
    # Without time to wait, or for an error that asking again cannot mend, it raises.
    with pytest.raises(KafkaTimeoutError):
        scale._partitions(_BusyCoordinators(KafkaTimeoutError("late")), timeout_s=0)
    refused = _BusyCoordinators(KafkaError("INVALID_REQUEST", "bad"))
    with pytest.raises(KafkaError, match="INVALID_REQUEST"):
        scale._partitions(refused, timeout_s=10)
    assert refused.reads == 1
