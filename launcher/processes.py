"""Spawning and stopping node processes, and telling live ones from dead ones.

A pid alone can be reused by the OS, so a node is identified by (pid, create_time); a
zombie (exited, not yet reaped) counts as dead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from mini_kafka.config import NodeSpec

PROFILE_DIR_ENV = "MINI_KAFKA_PROFILE_DIR"


@dataclass
class NodeProcess:
    spec: NodeSpec
    pid: int
    create_time: float
    popen: subprocess.Popen | None = field(default=None, repr=False)

    def process(self) -> psutil.Process | None:
        """The live process, or None if it exited (or the pid now belongs to another)."""
        if self.popen is not None and self.popen.poll() is not None:
            return None
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > 0.01:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except psutil.NoSuchProcess:
            return None

    def alive(self) -> bool:
        return self.process() is not None

    def returncode(self) -> int | None:
        return self.popen.poll() if self.popen is not None else None

    def signal(self, sig: int) -> bool:
        proc = self.process()
        if proc is None:
            return False
        try:
            proc.send_signal(sig)
            return True
        except psutil.NoSuchProcess:
            return False

    def to_json(self) -> dict:
        return {"pid": self.pid, "create_time": self.create_time}


def log_path(data_dir: Path, name: str) -> Path:
    return data_dir / name / f"{name}.log"


def spawn(spec: NodeSpec, config_path: Path, data_dir: Path) -> NodeProcess:
    """Start `python -m mini_kafka.<role>`: a fresh interpreter, so no ZeroMQ context or
    socket crosses a fork. Its own session: a Ctrl-C in the launcher's terminal is the
    launcher's to handle, and SIGSTOP of one node stops only that node."""
    node_dir = data_dir / spec.name
    node_dir.mkdir(parents=True, exist_ok=True)
    out = open(log_path(data_dir, spec.name), "ab")  # crashes before logging starts land here
    # MINI_KAFKA_PROFILE_DIR=DIR runs each node under cProfile, written to DIR/<node>.prof
    # when it stops cleanly: how the perf work finds where a broker's time goes.
    profile_dir = os.environ.get(PROFILE_DIR_ENV)
    profiler = ["-m", "cProfile", "-o", str(Path(profile_dir) / f"{spec.name}.prof")] \
        if profile_dir else []
    try:
        popen = subprocess.Popen(
            [sys.executable, *profiler, "-m", f"mini_kafka.{spec.role}", "--id", str(spec.id),
             "--config", str(config_path)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True,
        )
    finally:
        out.close()
    try:
        create_time = psutil.Process(popen.pid).create_time()
    except psutil.NoSuchProcess:
        create_time = 0.0
    return NodeProcess(spec, popen.pid, create_time, popen)


def stop_all(nodes: list[NodeProcess], grace_s: float) -> None:
    """SIGTERM (plus SIGCONT, so a paused node can act on it), then SIGKILL whatever is
    still running after the grace period. Reaps our own children."""
    procs = []
    for node in nodes:
        proc = node.process()
        if proc is None:
            continue
        try:
            proc.send_signal(signal.SIGTERM)
            proc.send_signal(signal.SIGCONT)
            procs.append(proc)
        except psutil.NoSuchProcess:
            pass
    _, remaining = psutil.wait_procs(procs, timeout=grace_s)
    for proc in remaining:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(remaining, timeout=5)
    for node in nodes:
        if node.popen is not None:
            try:
                node.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"{node.spec.name} survived SIGKILL") from None


def log_tail(data_dir: Path, name: str, lines: int) -> str:
    try:
        text = log_path(data_dir, name).read_text(errors="replace")
    except OSError:
        return "(no log file)"
    return "\n".join(text.splitlines()[-lines:]) if lines else ""
