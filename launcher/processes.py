"""Spawning and stopping node processes, and telling live ones from dead ones.

A pid alone can be reused by the OS, so a node is identified by its pid and when it
started, counted from boot; a zombie (exited, not yet reaped) counts as dead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from launcher.forkserver import ForkedChild, ForkServer, ForkServerGone
from mini_kafka.config import NodeSpec

PROFILE_DIR_ENV = "MINI_KAFKA_PROFILE_DIR"


def started_s(pid: int) -> float:
    """When process `pid` started, in seconds since boot. Not psutil's create_time: that
    is wall-clock (boot time + this), and boot time as Linux reports it (btime in
    /proc/stat) is now minus uptime, so it moves whenever the wall clock steps or a VM
    is paused and resumed; a node compared by it would look gone while it runs, and
    `pause` or `stop` would leave it running. Raises psutil.NoSuchProcess."""
    if sys.platform.startswith("linux"):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except (FileNotFoundError, ProcessLookupError):
            raise psutil.NoSuchProcess(pid) from None
        # Field 22 (starttime, in clock ticks); the name before it, in parentheses, may
        # hold spaces or parentheses itself, so count from the last ')'.
        ticks = int(stat[stat.rindex(b")") + 2:].split()[19])
        return ticks / os.sysconf("SC_CLK_TCK")
    return psutil.Process(pid).create_time() - psutil.boot_time()


@dataclass
class NodeProcess:
    spec: NodeSpec
    pid: int
    started_s: float  # since boot (started_s())
    popen: subprocess.Popen | ForkedChild | None = field(default=None, repr=False)

    def process(self) -> psutil.Process | None:
        """The live process, or None if it exited (or the pid now belongs to another)."""
        if self.popen is not None and self.popen.poll() is not None:
            return None
        try:
            proc = psutil.Process(self.pid)
            if abs(started_s(self.pid) - self.started_s) > 0.001:
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
        return {"pid": self.pid, "started_s": self.started_s}

    @classmethod
    def from_json(cls, spec: NodeSpec, entry: dict) -> NodeProcess:
        if "started_s" in entry:
            return cls(spec, entry["pid"], entry["started_s"])
        # Written by a launcher before started_s: wall-clock create_time. Right unless
        # the boot time moved since, as it was before.
        return cls(spec, entry["pid"], entry["create_time"] - psutil.boot_time())


def log_path(data_dir: Path, name: str) -> Path:
    return data_dir / name / f"{name}.log"


def spawn(spec: NodeSpec, config_path: Path, data_dir: Path,
          forkserver: ForkServer | None = None,
          warn: Callable[[str], None] | None = None) -> NodeProcess:
    """Start the node: forked by `forkserver` when there is one (its imports done once
    for every node), else `python -m mini_kafka.<role>`. Either way a fresh process with
    no ZeroMQ context or socket from its parent, in its own session (a Ctrl-C in the
    launcher's terminal is the launcher's to handle, and SIGSTOP of one node stops only
    that node), stdout and stderr appended to its log."""
    node_dir = data_dir / spec.name
    node_dir.mkdir(parents=True, exist_ok=True)
    # MINI_KAFKA_PROFILE_DIR=DIR runs each node under cProfile, written to DIR/<node>.prof
    # when it stops cleanly: how the perf work finds where a broker's time goes.
    profile_dir = os.environ.get(PROFILE_DIR_ENV)
    if forkserver is not None and not profile_dir:
        try:
            child = forkserver.spawn(spec.role, spec.id, spec.name, config_path,
                                     log_path(data_dir, spec.name), dict(os.environ),
                                     os.getcwd())
            return _node_process(spec, child)
        except ForkServerGone as e:
            if warn is not None:
                warn(f"{spec.name} started without the fork server ({e})")
    out = open(log_path(data_dir, spec.name), "ab")  # crashes before logging starts land here
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
    return _node_process(spec, popen)


def _node_process(spec: NodeSpec, child: subprocess.Popen | ForkedChild) -> NodeProcess:
    try:
        started = started_s(child.pid)
    except psutil.NoSuchProcess:
        started = 0.0
    return NodeProcess(spec, child.pid, started, child)


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
