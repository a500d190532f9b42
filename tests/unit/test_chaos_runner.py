"""The chaos runner's schedule keeping, on a stand-in cluster that never gets back in
sync: waiting for replicas makes faults late, but the run still ends on time."""

from __future__ import annotations

from types import SimpleNamespace

from launcher.chaos_runner import ChaosRun, RunSettings
from launcher.history import History
from launcher.nemesis import Fault, NemesisSettings
from mini_kafka.metadata import MetadataImage


class NeverInSync:
    """One broker that the metadata never shows unfenced; nothing else is touched."""

    config = SimpleNamespace(nodes=[SimpleNamespace(id=1, role="broker", name="broker-1")])

    def metadata(self, *args, **kwargs):
        return MetadataImage()


def test_faults_left_when_the_duration_is_over_are_skipped_without_waiting():
    settings = RunSettings(seed=0, nemesis=NemesisSettings(1.0, 1, 1, ("kill",)),
                           in_sync_wait_s=30)
    history = History()
    faults = [Fault(i, 0.0, "kill", "broker-1", 1.0) for i in (1, 2, 3)]
    run = ChaosRun(NeverInSync(), settings, history, schedule=faults)
    for fault in faults:
        run.execute(fault)
    skipped = [(e["id"], e["reason"]) for e in history.events if e.get("phase") == "skipped"]
    assert [i for i, _ in skipped] == [1, 2, 3]
    assert skipped[0][1].startswith("replicas not back in sync")  # waited what was left
    assert all(reason.startswith("the run's duration is over") for _, reason in skipped[1:])
