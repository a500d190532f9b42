"""Durable Raft state: what was persisted comes back; a torn tail never does."""

import os

import pytest

from mini_kafka.coordinator.raft_storage import RaftStorage
from mini_kafka.raft.messages import Entry, Ready, Snapshot


def entries(first, last, term=1):
    return [Entry(term, i, {"op": "x", "i": i}) for i in range(first, last + 1)]


def test_hard_state_entries_and_truncation_survive_reopening(tmp_path):
    s = RaftStorage(tmp_path)
    s.persist(Ready(hard_state=(3, 2), entries=entries(1, 10)))
    s.persist(Ready(truncate_from=8, entries=entries(8, 9, term=3)))
    s.close()
    back = RaftStorage(tmp_path)
    assert (back.term, back.voted_for) == (3, 2)
    assert back.entries == entries(1, 7) + entries(8, 9, term=3)


def test_a_torn_last_record_is_cut_at_every_byte(tmp_path):
    s = RaftStorage(tmp_path / "src")
    s.persist(Ready(entries=entries(1, 5)))
    s.close()
    data = (tmp_path / "src" / "log").read_bytes()
    last_start = len(data) - (len(data) // 5)  # records here are all the same length
    for cut in range(last_start, len(data)):
        work = tmp_path / f"cut{cut}"
        work.mkdir()
        (work / "log").write_bytes(data[:cut])
        back = RaftStorage(work)
        assert back.entries == entries(1, 4), cut
        assert (work / "log").stat().st_size == last_start
        back.persist(Ready(entries=entries(5, 5, term=2)))  # appends cleanly after the cut
        back.close()
        assert RaftStorage(work).entries == entries(1, 4) + entries(5, 5, term=2)


def test_a_flipped_byte_in_the_last_record_is_detected(tmp_path):
    s = RaftStorage(tmp_path)
    s.persist(Ready(entries=entries(1, 3)))
    s.close()
    path = tmp_path / "log"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x20
    path.write_bytes(bytes(data))
    assert RaftStorage(tmp_path).entries == entries(1, 2)


def test_snapshots_replace_the_log_prefix(tmp_path):
    s = RaftStorage(tmp_path)
    s.persist(Ready(entries=entries(1, 10)))
    s.save_snapshot(Snapshot(6, 1, {"state": 6}))
    s.persist(Ready(entries=entries(11, 12)))
    s.close()
    back = RaftStorage(tmp_path)
    assert back.snapshot == Snapshot(6, 1, {"state": 6})
    assert back.entries == entries(7, 12)


def test_an_installed_snapshot_that_conflicts_discards_the_log(tmp_path):
    s = RaftStorage(tmp_path)
    s.persist(Ready(entries=entries(1, 4)))
    s.persist(Ready(snapshot=Snapshot(9, 5, {"from": "leader"}), truncate_from=10))
    s.persist(Ready(entries=entries(10, 11, term=5)))
    s.close()
    back = RaftStorage(tmp_path)
    assert back.snapshot.index == 9 and back.entries == entries(10, 11, term=5)


@pytest.mark.parametrize("leftover", ["hardstate.tmp", "snapshot.tmp", "log.tmp"])
def test_half_written_replacements_are_ignored(tmp_path, leftover):
    s = RaftStorage(tmp_path)
    s.persist(Ready(hard_state=(2, 1), entries=entries(1, 2)))
    s.close()
    (tmp_path / leftover).write_bytes(b"{half")
    back = RaftStorage(tmp_path)
    assert (back.term, back.entries) == (2, entries(1, 2))
    os.remove(tmp_path / leftover)
