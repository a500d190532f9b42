"""Reading the running cluster into a Snapshot — the console's shell over the launcher's
and the admin client's existing reads: launcher.Cluster (node status, committed
metadata, the process table), mini_kafka.client.Admin (offsets, groups) and the
launcher's chaos-event log. Blocking: the server runs it in a worker thread.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psutil

from launcher import Cluster, ClusterError
from launcher.chaos_log import ChaosLogReader
from launcher.state import state_path
from mini_kafka.client import Admin
from mini_kafka.config import ConfigError, load_config
from mini_kafka.console.snapshot import GroupReading, NodeReading, Snapshot
from mini_kafka.errors import KafkaError

READ_ERRORS = (KafkaError, ClusterError, ConfigError, OSError, RuntimeError, TimeoutError)
CONSOLE_ACTOR = "console"


class ClusterReader:
    """The cluster recorded under the config's data directory, found again whenever its
    state file changes (a restart from the CLI records new pids there)."""

    def __init__(self, config_path: str | Path):
        self.config_path = Path(config_path)
        self.config = load_config(self.config_path)
        self.chaos_log = ChaosLogReader(self.config.data_dir,
                                        self.config.console.chaos_log_tail_bytes)
        self.lock = threading.Lock()  # one change to the cluster at a time
        self._cluster: Cluster | None = None
        self._seen_state: tuple | None = None
        self._admin: Admin | None = None
        self._admin_bootstrap: str | None = None

    # -- the cluster --------------------------------------------------------------------

    def cluster(self) -> Cluster | None:
        path = state_path(self.config.data_dir)
        try:
            st = path.stat()
        except FileNotFoundError:
            self._cluster = self._seen_state = None
            return None
        seen = (st.st_mtime_ns, st.st_size, st.st_ino)
        if seen != self._seen_state:
            found = Cluster.attach(self.config_path)
            found.actor = CONSOLE_ACTOR
            if self._cluster is not None:  # keep our own children's handles, to reap them
                for name, node in found.nodes.items():
                    old = self._cluster.nodes.get(name)
                    if old is not None and old.popen is not None and old.pid == node.pid:
                        node.popen = old.popen
            self._cluster, self._seen_state = found, seen
        return self._cluster

    def admin(self, cluster: Cluster) -> Admin:
        if self._admin is None or self._admin_bootstrap != cluster.bootstrap:
            self.close_admin()
            self._admin = Admin(cluster.bootstrap, client_id="mini-kafka-console",
                                request_timeout_ms=cluster.config.timeouts.request_timeout_ms)
            self._admin_bootstrap = cluster.bootstrap
        return self._admin

    def close_admin(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None

    # -- one reading --------------------------------------------------------------------

    def read(self) -> Snapshot:
        at_ms = int(time.time() * 1000)
        chaos = self.chaos_log.read_new()
        try:
            cluster = self.cluster()
        except READ_ERRORS as e:
            return Snapshot(at_ms, False, chaos=chaos, errors={"cluster": str(e)})
        if cluster is None:
            return Snapshot(at_ms, False, chaos=chaos,
                            errors={"cluster": f"no cluster is running "
                                               f"({state_path(self.config.data_dir)} not found)"})
        snap = Snapshot(at_ms, True, chaos=chaos)
        snap.nodes = [_reading(cluster, s) for s in cluster.status()]
        try:
            snap.metadata = cluster.metadata()
        except READ_ERRORS as e:
            snap.errors["metadata"] = str(e)
        admin = self.admin(cluster)
        try:
            for t in admin.describe_topics():
                for p in t["partitions"]:
                    if p.get("high_watermark") is not None:
                        snap.offsets[f"{t['name']}/{p['partition']}"] = {
                            "high_watermark": p["high_watermark"],
                            "log_end_offset": p.get("log_end_offset")}
        except READ_ERRORS as e:
            snap.errors["offsets"] = str(e)
        try:
            snap.groups = _groups(admin)
        except READ_ERRORS as e:
            snap.errors["groups"] = str(e)
        return snap


def _reading(cluster: Cluster, status) -> NodeReading:
    reading = NodeReading(status.name, status.role, status.state, status.pid, status.endpoint,
                          status.info)
    node = cluster.nodes.get(status.name)
    proc = node.process() if node is not None and status.state != "dead" else None
    if proc is None:
        return reading
    try:
        with proc.oneshot():
            cpu = proc.cpu_times()
            reading.cpu_s = cpu.user + cpu.system
            reading.rss_bytes = proc.memory_info().rss
            reading.started_ms = int(proc.create_time() * 1000)
            if proc.status() == psutil.STATUS_STOPPED:
                reading.state = "paused"
    except psutil.Error:
        pass  # it exited between the status probe and now: the next reading says so
    return reading


def _groups(admin: Admin) -> list[GroupReading]:
    listed = admin.list_consumer_groups()
    if not listed:
        return []
    out = []
    for g in admin.describe_consumer_groups([g["group_id"] for g in listed]):
        committed = admin.list_consumer_group_offsets(g["group_id"])
        out.append(GroupReading(
            g["group_id"], g["state"], g.get("protocol") or "",
            [{"member_id": m["member_id"], "client_id": m["client_id"], "host": m["host"],
              "partitions": [list(tp) for tp in m["partitions"]]} for m in g["members"]],
            {f"{t}/{p}": o for (t, p), o in committed.items()}))
    return out
