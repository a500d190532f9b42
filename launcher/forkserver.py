"""The launcher's end of the fork server (mini_kafka/forkserver.py): one process that
has imported the node code forks each node, instead of each node starting an
interpreter and importing it again.

A forked node is the server's child, not the launcher's, so the server reports each
exit and `ForkedChild` answers `poll()` and `wait()` from those reports, as a `Popen`
would. Should the server be gone, its children were handed to init: a child is then
judged by whether its pid still runs (NodeProcess.process checks the pid's start time).
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

LOG_FILE = "forkserver.log"  # in the cluster's data_dir: why the server could not start
EXIT_REPORT_WAIT_S = 1.0  # a reaped child's code is a pipe write away; this is generous
_GONE = object()  # the reply queue's end: the server closed its stdout


class ForkServerGone(RuntimeError):
    """The fork server exited or did not answer; spawn the node the ordinary way."""


class ForkedChild:
    """A node the fork server started: the part of `subprocess.Popen` the launcher uses."""

    def __init__(self, pid: int, server: ForkServer):
        self.pid = pid
        self.returncode: int | None = None
        self._server = server

    def poll(self) -> int | None:
        """The exit code, or None while it runs. A child that has just exited is reaped
        by the server and its code is already on the way: waited for, as Popen's poll
        reaps it, so a caller that saw the process end also sees its code."""
        if self.returncode is None and not _runs(self.pid):
            try:
                return self.wait(EXIT_REPORT_WAIT_S)
            except subprocess.TimeoutExpired:
                return None
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code once the server reports it; None if the server went away and
        the pid is gone (its code was init's to collect)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._server.exits:
            while self.returncode is None:
                if not self._server.running:
                    return self._wait_orphan(deadline)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise subprocess.TimeoutExpired(f"node pid {self.pid}", timeout)
                self._server.exits.wait(left)
        return self.returncode

    def _wait_orphan(self, deadline: float | None) -> None:
        while _runs(self.pid):
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"node pid {self.pid}", 0)
            self._server.exits.wait(0.01)
        return None


class ForkServer:
    def __init__(self, data_dir: Path, reply_timeout_s: float):
        self._reply_timeout_s = reply_timeout_s
        self._replies: queue.Queue = queue.Queue()
        self._children: dict[int, ForkedChild] = {}
        self._lock = threading.Lock()  # one request at a time: replies come in order
        self.exits = threading.Condition()
        self.running = True
        self.log_path = data_dir / LOG_FILE
        with open(self.log_path, "ab") as log:
            # Its own session: a Ctrl-C in the launcher's terminal is the launcher's.
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "mini_kafka.forkserver"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, start_new_session=True, close_fds=True)
        self._reader = threading.Thread(target=self._read, name="forkserver replies",
                                        daemon=True)
        self._reader.start()

    def spawn(self, role: str, node_id: int, name: str, config_path: Path, log_path: Path,
              env: dict[str, str], cwd: str) -> ForkedChild:
        request = {"role": role, "id": node_id, "name": name, "config": str(config_path),
                   "log": str(log_path), "env": env, "cwd": cwd}
        with self._lock:
            try:
                self._proc.stdin.write((json.dumps(request) + "\n").encode())
                self._proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                raise ForkServerGone(self._why_gone()) from None
            try:
                reply = self._replies.get(timeout=self._reply_timeout_s)
            except queue.Empty:
                self.close(0)
                raise ForkServerGone(f"no answer within {self._reply_timeout_s} s") from None
        if reply is _GONE:
            raise ForkServerGone(self._why_gone())
        if isinstance(reply, str):
            raise ForkServerGone(reply)
        return reply

    def close(self, timeout_s: float) -> None:
        """Stop the server (closing its stdin); the nodes it started keep running."""
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout=timeout_s or None)

    def _read(self) -> None:
        for line in self._proc.stdout:
            message = json.loads(line)
            if "exited" in message:
                with self.exits:
                    child = self._children.pop(message["exited"], None)
                    if child is not None:
                        child.returncode = message["code"]
                    self.exits.notify_all()
            elif "pid" in message:
                # Registered here, before the reply is handed on: the child's exit can
                # be the very next line.
                child = ForkedChild(message["pid"], self)
                with self.exits:
                    self._children[child.pid] = child
                self._replies.put(child)
            else:
                self._replies.put(f"the fork server refused: {message.get('error')}")
        with self.exits:
            self.running = False
            self.exits.notify_all()
        self._replies.put(_GONE)

    def _why_gone(self) -> str:
        try:
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-5:]
        except OSError:
            tail = []
        return "the fork server exited" + (": " + " / ".join(tail) if tail else "")


def _runs(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
