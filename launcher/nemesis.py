"""The chaos nemesis's schedule — pure: a seed in, the same list of faults out, always.

Faults are concrete (`kill broker-2 at 7.3 s for 2.1 s`) so that a seed names one run's
schedule exactly; what a fault hits at run time (which partitions broker-2 leads) is for
the runner to record. Generated faults never overlap: one node is down at a time, which
with a replication factor of 3 keeps an in-sync replica of every partition alive (a
down-up stops them all, cleanly, and starts them all again).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

# kill: SIGKILL, restarted after the hold. pause: SIGSTOP, SIGCONT after the hold.
# partition: cut off from every other node, healed after the hold.
# restart: a clean stop (SIGTERM: leaderships handed over first), started after the hold.
# kill-coordinator: SIGKILL a coordinator (the ensemble keeps a majority), restarted.
# down-up: the whole cluster stopped cleanly (`cluster down`), started after the hold.
BROKER_FAULTS = ("kill", "pause", "partition", "restart")
WHOLE_CLUSTER = "cluster"  # the target of a down-up
FAULT_KINDS = BROKER_FAULTS + ("kill-coordinator", "down-up")


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True)
class Fault:
    id: int
    at_s: float
    kind: str
    target: str
    hold_s: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class NemesisSettings:
    duration_s: float
    interval_s: float          # quiet time between one fault's heal and the next fault
    hold_s: float              # how long a fault lasts, +-50% at random
    kinds: tuple[str, ...]
    first_fault_s: float = 2.0  # let the workload get going first


def plan(seed: int, settings: NemesisSettings, brokers: list[str],
         coordinators: list[str]) -> list[Fault]:
    """The faults for one run, in time order, all healed before `duration_s`."""
    unknown = [k for k in settings.kinds if k not in FAULT_KINDS]
    if unknown or not settings.kinds:
        raise ScheduleError(f"faults {','.join(unknown) or '(none)'}: choose from "
                            f"{','.join(FAULT_KINDS)}")
    if settings.interval_s < 0 or settings.hold_s <= 0 or settings.duration_s <= 0:
        raise ScheduleError("duration and hold must be positive, interval not negative")
    if "kill-coordinator" in settings.kinds and len(coordinators) < 3:
        raise ScheduleError("kill-coordinator needs at least 3 coordinators (a majority "
                            "must survive)")
    rng = random.Random(seed)
    faults: list[Fault] = []
    at = settings.first_fault_s
    while True:
        kind = rng.choice(settings.kinds)
        target = WHOLE_CLUSTER if kind == "down-up" else \
            rng.choice(coordinators if kind == "kill-coordinator" else brokers)
        hold = round(settings.hold_s * rng.uniform(0.5, 1.5), 3)
        if at + hold > settings.duration_s:
            return faults
        faults.append(Fault(len(faults) + 1, round(at, 3), kind, target, hold))
        at += hold + settings.interval_s * rng.uniform(0.5, 1.5)
