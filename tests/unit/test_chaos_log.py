"""The chaos-event log: appended by launcher.Cluster, followed by the console."""

import json

from launcher import chaos_log
from launcher.chaos_log import CHAOS_LOG_FILE, ChaosLogReader


def write(tmp_path, op, at_ms, bytes_max=1 << 20, **details):
    chaos_log.record(tmp_path, op, ["broker-2"], by="test", at_ms=at_ms, bytes_max=bytes_max,
                     **details)


def test_reader_follows_appends_and_waits_for_a_line_being_written(tmp_path):
    reader = ChaosLogReader(tmp_path, tail_bytes=1 << 20)
    assert reader.read_new() == []  # no file yet
    write(tmp_path, "kill", 1, signal="SIGKILL")
    assert reader.read_new() == [{"at_ms": 1, "op": "kill", "nodes": ["broker-2"], "by": "test",
                                  "signal": "SIGKILL"}]
    with open(tmp_path / CHAOS_LOG_FILE, "a") as f:
        f.write('{"at_ms": 2, "op": "pau')  # another process mid-write
    assert reader.read_new() == []
    with open(tmp_path / CHAOS_LOG_FILE, "a") as f:
        f.write('se", "nodes": []}\n')
    assert [e["op"] for e in reader.read_new()] == ["pause"]
    assert reader.read_new() == []


def test_first_read_starts_in_the_tail_on_a_line_boundary(tmp_path):
    for i in range(100):
        write(tmp_path, "pause", i)
    line_bytes = len(json.dumps({"at_ms": 99, "by": "test", "nodes": ["broker-2"],
                                 "op": "pause"}, sort_keys=True)) + 1
    reader = ChaosLogReader(tmp_path, tail_bytes=3 * line_bytes)
    assert [e["at_ms"] for e in reader.read_new()] == [97, 98, 99]
    reader = ChaosLogReader(tmp_path, tail_bytes=3 * line_bytes + 5)  # mid-line: skip it
    assert [e["at_ms"] for e in reader.read_new()] == [97, 98, 99]


def test_rotation_keeps_one_old_file_and_the_reader_notices(tmp_path):
    reader = ChaosLogReader(tmp_path, tail_bytes=1 << 20)
    write(tmp_path, "kill", 1, bytes_max=150)
    assert len(reader.read_new()) == 1
    write(tmp_path, "restart", 2, bytes_max=150)
    write(tmp_path, "heal", 3, bytes_max=150)  # past 150 bytes: rotated first
    assert (tmp_path / (CHAOS_LOG_FILE + ".1")).exists()
    assert [e["op"] for e in reader.read_new()] == ["heal"]


def test_lines_that_are_not_events_are_skipped_and_counted(tmp_path):
    (tmp_path / CHAOS_LOG_FILE).write_text('garbage\n[1, 2]\n{"op": "kill"}\n'
                                           '{"at_ms": 5, "op": "heal", "nodes": []}\n')
    reader = ChaosLogReader(tmp_path, tail_bytes=1 << 20)
    assert [e["op"] for e in reader.read_new()] == ["heal"]
    assert reader.skipped_lines == 3


def test_an_unwritable_log_never_fails_the_fault(tmp_path, caplog):
    missing = tmp_path / "gone"
    chaos_log.record(missing, "kill", ["broker-1"], by="test", bytes_max=1 << 20)
    assert "could not record the kill fault" in caplog.text
