"""The `mini-kafka` command as a shell sees it: help when no command is named, quiet
exits into a closed pipe, errors instead of tracebacks. No cluster needed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mini_kafka.cli.main", *args],
                          capture_output=True, text=True, timeout=60, cwd=cwd)


def into_closed_pipe(*args, buffered: bool):
    """Run with stdout a pipe nobody reads any more, as `mini-kafka ... | head` leaves it
    once head has exited: the first write (or flush, when buffered) fails with EPIPE."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen([sys.executable, "-m", "mini_kafka.cli.main", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    return proc.wait(timeout=60), stderr


def test_mini_kafka_alone_lists_its_commands():
    out = cli()
    assert out.returncode == 2
    for name in ("cluster", "topic", "produce", "consume", "group", "chaos", "perf"):
        assert f"    {name} " in out.stdout, out.stdout
    assert "mini-kafka COMMAND --help" in out.stdout


def test_a_command_group_alone_lists_its_actions():
    out = cli("topic")
    assert out.returncode == 2
    for action in ("create", "list", "describe", "delete"):
        assert f"    {action} " in out.stdout, out.stdout
    chaos = cli("chaos")
    assert chaos.returncode == 2 and "    heal " in chaos.stdout and "    run " in chaos.stdout
    # A leaf command still needs its arguments, and says which.
    missing = cli("topic", "create")
    assert missing.returncode == 2 and "required: name" in missing.stderr


def test_output_into_a_closed_pipe_stops_quietly_as_unix_tools_do(tmp_path):
    history = tmp_path / "chaos-1.jsonl"
    history.write_text(json.dumps({"t": 0, "type": "run", "phase": "start", "seed": 1,
                                   "schedule": [], "settings": {}}) + "\n")
    for args in (("chaos", "check", str(history)), ("topic",), ()):
        for buffered in (True, False):
            code, stderr = into_closed_pipe(*args, buffered=buffered)
            assert code == 128 + signal.SIGPIPE, (args, buffered, code, stderr)
            assert stderr == "", (args, buffered, stderr)
