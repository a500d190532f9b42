"""python -m mini_kafka.forkserver: one interpreter that imports the node code once and
forks a node process per request, so a cluster's nodes do not each pay for the imports.

Measured on a 2-core host: a node's interpreter start and imports are ~0.3 s of CPU,
most of what a broker costs until it is up; 5 coordinators + 100 brokers spent ~30 s of
CPU importing the same modules a hundred times. A fork of an interpreter that has them
is a few milliseconds and shares their memory.

Forking a process is safe only while it has one thread and no ZeroMQ context or event
loop: this process imports, and never runs, the node code; a node makes its context and
loop after the fork, as a freshly started one does (the server refuses to start if an
import left a thread running).

The launcher (launcher/forkserver.py) speaks JSON lines: on stdin, one request a line,
{"role", "id", "config", "log", "env", "cwd", "name"}; on stdout, the reply to each
({"pid": N} or {"error": "..."}) and, whenever a node exits, {"exited": pid, "code": c}
with the code as subprocess reports it (negative: killed by that signal). A node's exit
is reported only after its spawn reply: children are reaped in the loop, never in a
signal handler. Closing stdin stops the server; the nodes it started keep running.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import threading

from mini_kafka.lean import keep_unused_modules_out

keep_unused_modules_out()  # as a node's own __main__ does, before the imports below

import gc  # noqa: E402

import mini_kafka.broker.server  # noqa: E402,F401  (the code every node would import)
import mini_kafka.coordinator.server  # noqa: E402,F401
from mini_kafka import node  # noqa: E402

ROLES = {"broker": mini_kafka.broker.server.make_role,
         "coordinator": mini_kafka.coordinator.server.make_role}
REQUEST_BYTES_MAX = 1 << 20  # a request is a config path and an environment


class Job:
    """What a forked child runs once it is out of the server's loop."""

    def __init__(self, role: str, argv: list[str]):
        self.role, self.argv = role, argv

    def run(self) -> int:
        sys.argv = [f"mini_kafka.{self.role}", *self.argv]
        return node.main(self.role, ROLES[self.role], self.argv)


def serve() -> Job | None:
    """Answer requests until stdin closes (None), or, in a forked child, return its job."""
    if threading.active_count() != 1:
        raise SystemExit(f"forkserver: an import started a thread "
                         f"({[t.name for t in threading.enumerate()]}); forking is unsafe")
    gc.collect()
    gc.freeze()  # what the imports built is shared with each child, not copied on first gc
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the select below
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the launcher decides when nodes stop
    pending = b""
    while True:
        ready, _, _ = select.select([0, wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
        _report_exits()
        if 0 not in ready:
            continue
        chunk = os.read(0, 65536)
        if not chunk:
            return None
        pending += chunk
        if len(pending) > REQUEST_BYTES_MAX and b"\n" not in pending:
            _reply({"error": f"request longer than {REQUEST_BYTES_MAX} bytes"})
            pending = b""
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            job = _spawn(line)
            if job is not None:
                return job


def _spawn(line: bytes) -> Job | None:
    try:
        request = json.loads(line)
        role, argv = request["role"], ["--id", str(int(request["id"])),
                                       "--config", str(request["config"])]
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except (ValueError, KeyError, TypeError, OSError) as e:
        _reply({"error": f"bad request: {e}"})
        return None
    pid = os.fork()
    if pid == 0:
        _become_node(request, log)
        return Job(role, argv)
    os.close(log)
    _reply({"pid": pid})
    return None


def _become_node(request: dict, log: int) -> None:
    """In the child: what `subprocess.Popen(..., start_new_session=True, close_fds=True)`
    with stdout and stderr to the log would have given it."""
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the log, the wake-up pipe, anything else
    os.environ.clear()
    os.environ.update(request.get("env") or {})
    if request.get("cwd"):
        os.chdir(request["cwd"])
    _name_process(str(request.get("name", "")))
    # The imported modules stay frozen: they live as long as the node, and a collection
    # that walked them would copy every page they share with the server.


def _name_process(name: str) -> None:
    """`ps -o comm`, top and pkill show the node's name rather than every node being
    "python"; the full command line stays the server's (ps -f shows that)."""
    if name:
        try:
            with open("/proc/self/comm", "w") as comm:
                comm.write(name[:15])
        except OSError:
            pass  # not Linux: a cosmetic loss


def _report_exits() -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _reply({"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def _reply(message: dict) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(1, data):]


if __name__ == "__main__":
    job = serve()
    sys.exit(job.run() if job is not None else 0)
