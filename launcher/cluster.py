"""`launcher.Cluster`: start, inspect, disturb and stop a mini-kafka cluster from Python.

    with Cluster("cluster.yaml") as cluster:          # or a dict, or a ClusterConfig
        print(cluster.bootstrap)                       # "127.0.0.1:19092,..."
        cluster.kill("broker-2")                       # SIGKILL
        cluster.restart("broker-2")

Coordinators are spawned first and brokers right after them; a broker keeps asking for
the controller until the coordinators have elected one. Each node is ready when its
status says so; the launcher waits for that with a deadline and, if a node dies or stays
silent, shows the tail of its log.
"""

from __future__ import annotations

import asyncio
import atexit
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import yaml

from launcher import chaos, control, ports, state
from launcher.processes import NodeProcess, log_tail, spawn, stop_all
from mini_kafka.config import ClusterConfig, ConfigError, NodeSpec, config_from_dict, load_config
from mini_kafka.metadata import MetadataImage
from mini_kafka.protocol import ApiKey, Message
from mini_kafka.transport import Client

PROBE_INTERVAL_MS = 250


class ClusterError(RuntimeError):
    """The cluster cannot be started, found or changed as asked."""


@dataclass(frozen=True)
class NodeStatus:
    name: str
    role: str
    pid: int | None
    endpoint: str
    state: str  # "up", "starting", "unresponsive" (alive but silent: paused?), "dead"
    info: dict[str, Any]


def probe(specs: list[NodeSpec], timeout_ms: int) -> dict[str, dict[str, Any] | None]:
    """Ask every node for its status at once; None for a node that did not answer."""

    async def ask_all():
        client = Client("launcher", request_timeout_ms=timeout_ms, retries_max=0)
        try:
            replies = await asyncio.gather(
                *(client.request(s.endpoint, ApiKey.STATUS) for s in specs),
                return_exceptions=True)
        finally:
            client.close()
        return {s.name: (r.body if isinstance(r, Message) else None)
                for s, r in zip(specs, replies, strict=True)}

    if not specs:
        return {}
    return asyncio.run(ask_all())


def _load(config: ClusterConfig | dict | str | Path) -> ClusterConfig:
    if isinstance(config, ClusterConfig):
        return config
    if isinstance(config, dict):
        return config_from_dict(config, base_dir=Path.cwd())
    return load_config(config)


class Cluster:
    def __init__(self, config: ClusterConfig | dict | str | Path = "cluster.yaml"):
        self.config = _load(config)
        self.data_dir = self.config.data_dir
        self.nodes: dict[str, NodeProcess] = {}
        self.startup_s: float | None = None
        self._config_path: Path | None = None  # the config the nodes were started with
        self._owned = False  # processes this object spawned (stopped at interpreter exit)

    @classmethod
    def copy_on_free_ports(cls, config: ClusterConfig | dict | str | Path,
                           data_dir: Path) -> Cluster:
        """The same cluster (sizes, timeouts, defaults) on free ports with its data under
        `data_dir`: for runs that must not collide with a cluster already up."""
        copy = _load(config).to_dict()
        copy["cluster"]["data_dir"] = str(data_dir)
        copy["coordinators"]["base_port"] = copy["brokers"]["base_port"] = 0
        return cls(copy)

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Cluster:
        running = self._running_nodes()
        if running:
            names = ", ".join(f"{n.spec.name} (pid {n.pid})" for n in running)
            raise ClusterError(
                f"a cluster is already running from {state.state_path(self.data_dir)}: "
                f"{names}. Use `mini-kafka cluster status` or `mini-kafka cluster down`.")
        self.config = self._with_ports_resolved()
        self._refuse_busy_ports()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config_path = self.data_dir / state.EFFECTIVE_CONFIG_FILE
        config_path.write_text(yaml.safe_dump(self.config.to_dict(), sort_keys=False))
        self._config_path = config_path
        began = time.monotonic()
        self._owned = True
        atexit.register(self._stop_at_exit)
        try:
            # Coordinators first, but brokers without waiting for them: a broker keeps
            # asking for the controller until one is elected, so its interpreter start
            # overlaps the election instead of following it.
            specs = sorted(self.config.nodes, key=lambda s: s.role != "coordinator")
            for spec in specs:
                self.nodes[spec.name] = spawn(spec, config_path, self.data_dir)
            self._write_state()
            self._wait_ready(specs)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Brokers first (they may hand off work to the coordinators), then coordinators."""
        grace_s = self.config.timeouts.node_shutdown_grace_ms / 1000
        for role in ("broker", "coordinator"):
            stop_all([n for n in self.nodes.values() if n.spec.role == role], grace_s)
        state.remove_state(self.data_dir)
        self._owned = False

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def detach(self) -> None:
        """Leave the nodes running when this interpreter exits (`cluster up` without
        --foreground); by default a Cluster stops what it started, even on a crash."""
        self._owned = False

    def _stop_at_exit(self) -> None:
        if self._owned:
            self.stop()

    @classmethod
    def attach(cls, config: ClusterConfig | dict | str | Path = "cluster.yaml") -> Cluster:
        """The cluster recorded in <data_dir>/cluster.json, started by another process."""
        base = _load(config)
        recorded = state.read_state(base.data_dir)
        if recorded is None:
            raise ClusterError(f"no cluster is running here ({state.state_path(base.data_dir)} "
                               "not found); start one with `mini-kafka cluster up`")
        cluster = cls(load_config(recorded["config_path"]))
        cluster._config_path = Path(recorded["config_path"])
        for name, entry in recorded["nodes"].items():
            cluster.nodes[name] = NodeProcess(cluster.config.node(name), entry["pid"],
                                              entry["create_time"])
        return cluster

    # -- what it is ---------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{s.host}:{s.port}" for s in self.config.nodes if s.role == "broker")

    @property
    def state_file(self) -> Path:
        return state.state_path(self.data_dir)

    def status(self) -> list[NodeStatus]:
        specs = self.config.nodes
        answers = probe([s for s in specs if self._alive(s.name)],
                        self.config.timeouts.status_timeout_ms)
        out = []
        for spec in specs:
            node = self.nodes.get(spec.name)
            info = answers.get(spec.name)
            if node is None or not node.alive():
                st = "dead"
            elif info is None:
                st = "unresponsive"
            else:
                st = "up" if info.get("ready") else "starting"
            out.append(NodeStatus(spec.name, spec.role, node.pid if node else None,
                                  spec.endpoint, st, info or {}))
        return out

    def controller(self) -> str | None:
        """The coordinator that is the Raft leader (the active controller), if any."""
        leaders = [s for s in self.status()
                   if s.role == "coordinator" and s.info.get("raft_role") == "leader"]
        return max(leaders, key=lambda s: s.info["term"]).name if leaders else None

    def metadata(self, node: str | None = None, linearizable: bool = False) -> MetadataImage:
        """Committed cluster metadata, from coordinator `node` or any that answers."""
        endpoint = self.config.node(node).endpoint if node else None
        return control.read_metadata(self.config, endpoint, linearizable)

    def write_metadata(self, command: dict[str, Any], timeout_ms: int | None = None) -> dict:
        """Commit a metadata command (e.g. create_topic) through the controller."""
        return control.write(self.config, command, timeout_ms)

    # -- disturbing it ------------------------------------------------------------------

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        node = self._node(name)
        if not node.signal(sig):
            raise ClusterError(f"{name} is not running")
        if sig in (signal.SIGKILL, signal.SIGTERM):
            if sig == signal.SIGTERM:
                node.signal(signal.SIGCONT)
            self._wait_dead(node)

    def pause(self, name: str) -> None:
        if not self._node(name).signal(signal.SIGSTOP):
            raise ClusterError(f"{name} is not running")

    def resume(self, name: str) -> None:
        if not self._node(name).signal(signal.SIGCONT):
            raise ClusterError(f"{name} is not running")

    def partition(self, *groups: list[str], one_way_from: list[str] | None = None) -> list:
        """Cut links between groups of nodes (see launcher.chaos.partition)."""
        return chaos.partition(self, [list(g) for g in groups], one_way_from)

    def delay(self, name: str, ms: int, jitter_ms: int = 0) -> None:
        chaos.delay(self, chaos.resolve(self, name), ms, jitter_ms)

    def loss(self, name: str, rate: float) -> None:
        chaos.loss(self, chaos.resolve(self, name), rate)

    def heal(self) -> list[str]:
        return chaos.heal(self)

    def resolve(self, spec: str) -> str:
        """broker-2, coordinator-1, 'controller' or 'leader-of TOPIC/PARTITION'."""
        return chaos.resolve(self, spec)

    def restart(self, name: str) -> None:
        """Stop the node (SIGTERM, then SIGKILL after the grace period) if it runs, start it
        again with the same identity and data, and wait until it is ready."""
        node = self._node(name)
        stop_all([node], self.config.timeouts.node_shutdown_grace_ms / 1000)
        self.start_node(name)

    def start_node(self, name: str) -> None:
        spec = self.config.node(name)
        node = self.nodes.get(name)
        if node is not None and node.alive():
            raise ClusterError(f"{name} is already running (pid {node.pid})")
        if self._config_path is None:
            raise ClusterError("the cluster was never started; call start() first")
        self.nodes[name] = spawn(spec, self._config_path, self.data_dir)
        self._write_state()
        self._wait_ready([spec])

    # -- helpers ------------------------------------------------------------------------

    def _node(self, name: str) -> NodeProcess:
        try:
            self.config.node(name)
        except ConfigError as e:
            raise ClusterError(str(e)) from None
        node = self.nodes.get(name)
        if node is None:
            raise ClusterError(f"{name} was never started")
        return node

    def _alive(self, name: str) -> bool:
        node = self.nodes.get(name)
        return node is not None and node.alive()

    def _running_nodes(self) -> list[NodeProcess]:
        try:
            other = Cluster.attach(self.config)
        except (ClusterError, ConfigError, OSError, KeyError):
            return []
        return [n for n in other.nodes.values() if n.alive()]

    def _with_ports_resolved(self) -> ClusterConfig:
        if not self.config.needs_ports:
            return self.config
        c = self.config
        picked = iter(ports.free_ports(c.cluster.host, len(c.nodes)))
        chosen = {s.name: s.port or next(picked) for s in c.nodes}
        by_role = {role: [chosen[s.name] for s in c.nodes if s.role == role]
                   for role in ("coordinator", "broker")}
        return c.with_ports(by_role["coordinator"], by_role["broker"])

    def _refuse_busy_ports(self) -> None:
        busy = [s for s in self.config.nodes if not ports.port_is_free(s.host, s.port)]
        if busy:
            names = ", ".join(f"{s.name} needs {s.host}:{s.port}" for s in busy)
            raise ClusterError(f"port already in use by another process: {names}. Stop that "
                               "process or change base_port in the config.")

    def _write_state(self) -> None:
        state.write_state(self.data_dir, {
            "config_path": str(self._config_path),
            "bootstrap": self.bootstrap,
            "nodes": {name: {**n.to_json(), "role": n.spec.role, "endpoint": n.spec.endpoint}
                      for name, n in self.nodes.items()},
        })

    def _wait_ready(self, specs: list[NodeSpec]) -> None:
        timeout_ms = self.config.timeouts.node_startup_timeout_ms
        deadline = time.monotonic() + timeout_ms / 1000
        pending = {s.name: s for s in specs}
        while pending:
            for name in list(pending):
                node = self.nodes[name]
                if not node.alive():
                    raise ClusterError(
                        f"{name} exited during start (exit code {node.returncode()}); "
                        f"last lines of its log:\n{self._tail(name)}")
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                names = ", ".join(pending)
                tails = "\n".join(f"--- {n}:\n{self._tail(n)}" for n in pending)
                raise ClusterError(f"not ready within {timeout_ms} ms: {names}\n{tails}")
            answers = probe(list(pending.values()), min(PROBE_INTERVAL_MS, left_ms))
            for name, info in answers.items():
                if info is not None and info.get("ready"):
                    del pending[name]

    def _wait_dead(self, node: NodeProcess) -> None:
        proc = node.process()
        if proc is not None:
            try:
                proc.wait(timeout=self.config.timeouts.node_shutdown_grace_ms / 1000)
            except psutil.TimeoutExpired:
                raise ClusterError(f"{node.spec.name} (pid {node.pid}) did not exit") from None
        if node.popen is not None:
            node.popen.poll()  # reap, so the pid is not left a zombie

    def _tail(self, name: str) -> str:
        return log_tail(self.data_dir, name, self.config.limits.log_tail_lines)
