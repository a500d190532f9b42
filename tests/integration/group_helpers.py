"""Helpers for consumer-group tests: members polling on threads or in their own
processes (so they can be killed with -9), and what they consumed."""

from __future__ import annotations

import subprocess
import sys
import threading

from mini_kafka.client import Consumer

FAST_GROUP = {"session_timeout_ms": 1500, "heartbeat_interval_ms": 300,
              "auto_commit_interval_ms": 100}


class ThreadMember:
    """A group member polling on its own thread; keeps every record it got and its
    current assignment (through on_assign / on_revoke, as an application would)."""

    def __init__(self, bootstrap: str, group: str, topic: str, **config):
        self.config = {"auto_offset_reset": "earliest", **FAST_GROUP, **config}
        self.bootstrap, self.group, self.topic = bootstrap, group, topic
        self.records = []
        self.assignment: set = set()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> ThreadMember:
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            consumer = Consumer(bootstrap_servers=self.bootstrap, group_id=self.group,
                                **self.config)
        except BaseException as e:
            self.error = e
            return
        try:
            consumer.subscribe([self.topic], on_assign=self.assignment.update,
                               on_revoke=self.assignment.difference_update)
            while not self._stop.is_set():
                for recs in consumer.poll(100).values():
                    with self._lock:
                        self.records.extend(recs)
        except BaseException as e:  # surfaced by stop()
            self.error = e
        finally:
            consumer.close()

    def consumed(self) -> list:
        with self._lock:
            return list(self.records)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive(), "a member did not stop"
        if self.error:
            raise self.error


class ProcessMember:
    """`mini-kafka consume --group` in its own process; `seen` holds the value of each
    record it printed; kill() is kill -9."""

    def __init__(self, bootstrap: str, group: str, topic: str):
        props = [f"--consumer-property={k.replace('_', '.')}={v}"
                 for k, v in FAST_GROUP.items()]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mini_kafka.cli.main", "consume", topic, "--group", group,
             "--from-beginning", *props,
             "--bootstrap-server", bootstrap],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.seen: list[bytes] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.seen.append(line.rstrip("\n").encode())

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.reader.join(10)
