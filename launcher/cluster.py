"""`launcher.Cluster`: start, inspect, disturb and stop a mini-kafka cluster from Python.

    with Cluster("cluster.yaml") as cluster:          # or a dict, or a ClusterConfig
        print(cluster.bootstrap)                       # "127.0.0.1:19092,..."
        cluster.kill("broker-2")                       # SIGKILL
        cluster.restart("broker-2")

Coordinators are spawned first and brokers right after them; a broker keeps asking for
the controller until the coordinators have elected one. Each node is ready when its
status says so; the launcher waits for that with a deadline and, if a node dies or stays
silent, shows the tail of its log.

Before the first start the launcher makes the cluster's keys (<data_dir>/keys/, one
CURVE keypair per node and one for itself); every later start, restart and CLI command
uses the same keys. Its own requests (status, metadata, fault rules) go to each node's
authenticated endpoint as the member "launcher".
"""

from __future__ import annotations

import atexit
import json
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from launcher import chaos, chaos_log, control, discovery, ports, state
from launcher.control import StatusProber
from launcher.forkserver import ForkServer
from launcher.processes import NodeProcess, log_tail, spawn, stop_all
from launcher.startup import SpawnWindow
from mini_kafka.access import member_names
from mini_kafka.config import ClusterConfig, ConfigError, NodeSpec, config_from_dict, load_config
from mini_kafka.metadata import MetadataImage
from mini_kafka.transport import KeysError, ensure_keys

PROBE_INTERVAL_MS = 250  # how long a start-up round waits for a node's answer
# ... while nodes still wait to be spawned: a slot frees when a node first answers, so
# short rounds keep the window full (an up node answers in a few ms; a miss is asked again).
PROBE_WHILE_SPAWNING_MS = 50
READY_POLL_INTERVAL_MS = 100  # how often starting nodes are asked, at most
NOT_READY_TAILS_MAX = 3  # logs shown when a start times out


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


def probe(config: ClusterConfig, specs: list[NodeSpec], timeout_ms: int
          ) -> dict[str, dict[str, Any] | None]:
    """Ask every node for its status at once; None for a node that did not answer."""
    with StatusProber(config) as ask:
        return ask(specs, timeout_ms)


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
        self.actor = chaos_log.default_actor()  # who injects faults, in the chaos-event log
        self.warnings: list[str] = []  # what `start` found worth telling its user
        self._forkserver: ForkServer | None = None  # forks this object's nodes (started lazily)

    @classmethod
    def copy_on_free_ports(cls, config: ClusterConfig | dict | str | Path,
                           data_dir: Path) -> Cluster:
        """The same cluster (sizes, timeouts, defaults) on free ports with its data under
        `data_dir`: for runs that must not collide with a cluster already up."""
        copy = _load(config).to_dict()
        copy["cluster"]["data_dir"] = str(data_dir)
        for role in ("coordinators", "brokers"):
            copy[role].update(base_port=0, cluster_base_port=0)
            copy[role].pop("ports", None)
            copy[role].pop("cluster_ports", None)
        copy["brokers"]["kafka_base_port"] = 0
        copy["brokers"].pop("kafka_ports", None)
        return cls(copy)

    # -- lifecycle ----------------------------------------------------------------------

    def start(self, progress: Callable[[dict[str, tuple[int, int]]], None] | None = None
              ) -> Cluster:
        """Start every node and wait until each is ready. `progress`, if given, is called
        after every readiness probe with role -> (nodes ready, nodes) while it waits."""
        self._check_host()
        config_path = self._writable_data_dir() / state.EFFECTIVE_CONFIG_FILE
        running = self._running_nodes()
        if running:
            names = ", ".join(f"{n.spec.name} (pid {n.pid})" for n in running)
            raise ClusterError(
                f"a cluster is already running from {state.state_path(self.data_dir)}: "
                f"{names}. Use `mini-kafka cluster status` or `mini-kafka cluster down`.")
        self.config = self._with_ports_resolved()
        self._refuse_busy_ports()
        state.ensure_cluster_id(self.data_dir)
        try:  # before any node runs: each reads its own key and the members' at start
            ensure_keys(self.config.keys_dir, member_names(self.config))
        except (KeysError, OSError) as e:
            raise ClusterError(f"cannot set up the cluster's keys: {e}") from None
        # JSON, which is YAML too: nodes then parse it without importing PyYAML.
        config_path.write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        self._config_path = config_path
        began = time.monotonic()
        self._owned = True
        atexit.register(self._stop_at_exit)
        try:
            # Coordinators first, but brokers without waiting for them: a broker keeps
            # asking for the controller until one is elected, so its interpreter start
            # overlaps the election instead of following it.
            specs = sorted(self.config.nodes, key=lambda s: s.role != "coordinator")
            self._spawn_and_wait(specs, progress)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Brokers first (they may hand off work to the coordinators), then coordinators.
        Nodes another process restarted (the CLI, the web console) are stopped too."""
        grace_s = self.config.timeouts.node_shutdown_grace_ms / 1000
        nodes = [*self.nodes.values(), *self._restarted_elsewhere()]
        for role in ("broker", "coordinator"):
            stop_all([n for n in nodes if n.spec.role == role], grace_s)
        state.remove_state(self.data_dir)
        self._owned = False
        if self._forkserver is not None:
            self._forkserver.close(grace_s)
            self._forkserver = None

    def _restarted_elsewhere(self) -> list[NodeProcess]:
        """Live nodes recorded in the state file that this object does not know by pid."""
        try:
            recorded = state.read_state(self.data_dir) or {}
        except RuntimeError:
            return []
        known = {n.pid for n in self.nodes.values()}
        names = {s.name for s in self.config.nodes}
        found = [NodeProcess.from_json(self.config.node(name), entry)
                 for name, entry in recorded.get("nodes", {}).items()
                 if name in names and entry.get("pid") not in known]
        return [n for n in found if n.alive()]

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
        return cls._from_state(recorded)

    @classmethod
    def find(cls, where: str | Path | None = None) -> Cluster:
        """The running cluster a command means: `where` (a cluster.yaml, a data directory
        or its cluster.json), else $MINI_KAFKA_CLUSTER, else the nearest one walking up
        from the current directory (see launcher.discovery)."""
        state_file = discovery.running_cluster(where)
        recorded = state.read_state(state_file.parent)
        if recorded is None:  # stopped between finding and reading it
            raise ClusterError(f"no cluster is running: {state_file} is gone")
        return cls._from_state(recorded)

    @classmethod
    def _from_state(cls, recorded: dict[str, Any]) -> Cluster:
        cluster = cls(load_config(recorded["config_path"]))
        cluster._config_path = Path(recorded["config_path"])
        for name, entry in recorded["nodes"].items():
            cluster.nodes[name] = NodeProcess.from_json(cluster.config.node(name), entry)
        return cluster

    # -- what it is ---------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """mini_kafka.client's bootstrap list (the brokers' ZeroMQ endpoints)."""
        return ",".join(f"{s.host}:{s.port}" for s in self.config.nodes if s.role == "broker")

    @property
    def kafka_bootstrap(self) -> str:
        """The brokers' Kafka listeners, for Kafka clients (bootstrap.servers) and tools."""
        return ",".join(s.kafka_address for s in self.config.nodes if s.role == "broker")

    @property
    def state_file(self) -> Path:
        return state.state_path(self.data_dir)

    def status(self) -> list[NodeStatus]:
        specs = self.config.nodes
        answers = probe(self.config, [s for s in specs if self._alive(s.name)],
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
        endpoint = self.config.node(node).cluster_endpoint if node else None
        return control.read_metadata(self.config, endpoint, linearizable)

    def write_metadata(self, command: dict[str, Any], timeout_ms: int | None = None) -> dict:
        """Commit a metadata command (e.g. create_topic) through the controller."""
        return control.write(self.config, command, timeout_ms)

    # -- disturbing it ------------------------------------------------------------------

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        self.kill_many([name], sig)

    def kill_many(self, names: list[str], sig: int = signal.SIGKILL) -> None:
        """Signal every node first, then wait for them: a mass failure, all at once
        rather than one death after another."""
        nodes = [self._node(name) for name in names]
        at_ms = _now_ms()
        not_running = [n.spec.name for n in nodes if not n.signal(sig)]
        if sig in (signal.SIGKILL, signal.SIGTERM):
            for node in nodes:
                if sig == signal.SIGTERM:
                    node.signal(signal.SIGCONT)
                self._wait_dead(node)
        if not_running:
            raise ClusterError(f"{', '.join(not_running)} "
                               f"{'is' if len(not_running) == 1 else 'are'} not running")
        self._record_fault("kill", list(names), at_ms, signal=signal.Signals(sig).name)

    def pause(self, name: str) -> None:
        node = self._node(name)
        if not node.signal(signal.SIGSTOP):
            raise ClusterError(f"{name} is not running")
        self._wait_stopped(node, True)
        self._record_fault("pause", [name])

    def resume(self, name: str) -> None:
        node = self._node(name)
        if not node.signal(signal.SIGCONT):
            raise ClusterError(f"{name} is not running")
        self._wait_stopped(node, False)
        self._record_fault("resume", [name])

    def partition(self, *groups: list[str], one_way_from: list[str] | None = None) -> list:
        """Cut links between groups of nodes (see launcher.chaos.partition)."""
        at_ms = _now_ms()
        cut = chaos.partition(self, [list(g) for g in groups], one_way_from)
        self._record_fault("partition", sorted({n for link in cut for n in link}), at_ms,
                           groups=[list(g) for g in groups], one_way_from=one_way_from,
                           links_cut=len(cut))
        return cut

    def delay(self, name: str, ms: int, jitter_ms: int = 0) -> None:
        target = chaos.resolve(self, name)
        chaos.delay(self, target, ms, jitter_ms)
        self._record_fault("delay", [target], ms=ms, jitter_ms=jitter_ms)

    def loss(self, name: str, rate: float) -> None:
        target = chaos.resolve(self, name)
        chaos.loss(self, target, rate)
        self._record_fault("loss", [target], rate=rate)

    def disk_full(self, name: str, full: bool = True) -> None:
        """Every write to the broker's partition logs fails with ENOSPC until
        disk_full(name, False) or heal() (see launcher.chaos.disk_full)."""
        target = chaos.resolve(self, name)
        chaos.disk_full(self, target, full)
        self._record_fault("disk-full" if full else "disk-free", [target])

    def heal(self) -> list[str]:
        """Clear every fault rule and resume paused nodes; the nodes healed. Raises
        ChaosError naming any running node it could not reach (the others are healed)."""
        report = self.heal_report()
        if report.unreachable:
            raise chaos.ChaosError(report.problem())
        return report.healed

    def heal_report(self) -> chaos.HealReport:
        """heal(), reporting instead of raising: healed, not running, unreachable."""
        at_ms = _now_ms()
        report = chaos.heal(self)
        self._record_fault("heal", report.healed, at_ms,
                           **({"unreachable": report.unreachable} if report.unreachable
                              else {}))
        return report

    def resolve(self, spec: str) -> str:
        """broker-2, coordinator-1, 'controller' or 'leader-of TOPIC/PARTITION'."""
        return chaos.resolve(self, spec)

    def restart(self, name: str) -> None:
        """Stop the node (SIGTERM, then SIGKILL after the grace period) if it runs, start it
        again with the same identity and data, and wait until it is ready."""
        node = self._node(name)
        at_ms = _now_ms()
        stop_all([node], self.config.timeouts.node_shutdown_grace_ms / 1000)
        self.start_node(name)
        self._record_fault("restart", [name], at_ms, took_ms=_now_ms() - at_ms)

    def start_node(self, name: str) -> None:
        self.start_nodes([name])

    def start_nodes(self, names: list[str]) -> None:
        """Start stopped nodes together (brokers returning after a mass failure) and
        wait until every one is ready."""
        specs = [self.config.node(name) for name in names]
        for name in names:
            node = self.nodes.get(name)
            if node is not None and node.alive():
                raise ClusterError(f"{name} is already running (pid {node.pid})")
        if self._config_path is None:
            raise ClusterError("the cluster was never started; call start() first")
        self._spawn_and_wait(specs)

    # -- helpers ------------------------------------------------------------------------

    def _record_fault(self, op: str, nodes: list[str], at_ms: int | None = None,
                      **details) -> None:
        chaos_log.record(self.data_dir, op, nodes, by=self.actor, at_ms=at_ms,
                         bytes_max=self.config.console.chaos_log_bytes_max, **details)

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
        brokers = [s for s in c.nodes if s.role == "broker"]
        try:
            picked = iter(ports.free_ports(c.cluster.host, 2 * len(c.nodes) + len(brokers)))
        except ports.AddressError as e:
            raise ClusterError(str(e)) from None
        chosen = {s.name: (s.port or next(picked), s.cluster_port or next(picked))
                  for s in c.nodes}
        by_role = {(role, i): [chosen[s.name][i] for s in c.nodes if s.role == role]
                   for role in ("coordinator", "broker") for i in (0, 1)}
        kafka = [s.kafka_port or next(picked) for s in brokers]
        return c.with_ports(by_role["coordinator", 0], by_role["broker", 0], kafka,
                            coordinator_cluster_ports=by_role["coordinator", 1],
                            broker_cluster_ports=by_role["broker", 1])

    def _check_host(self) -> None:
        """Refuse a host nodes cannot listen on, and one other hosts could reach unless
        the config says so (cluster.allow_remote_access): nothing authenticates clients.
        Allowed, it is still worth a warning (`self.warnings`, printed by `cluster up`)."""
        host = self.config.cluster.host
        try:
            exposure = ports.remote_exposure(host, ports.host_addresses(host))
        except ports.AddressError as e:
            raise ClusterError(str(e)) from None
        if exposure is None:
            return
        risk = ("mini-kafka does not authenticate clients: anyone who can reach these ports "
                "can produce, consume, create and delete topics")
        if not self.config.cluster.allow_remote_access:
            raise ClusterError(f"cluster.host = {host!r} would let other hosts reach the "
                               f"cluster: {exposure}. {risk}. Use 127.0.0.1, or set "
                               "cluster.allow_remote_access: true to accept that.")
        self.warnings.append(f"the cluster is reachable from other hosts: {exposure}. {risk}.")

    def _writable_data_dir(self) -> Path:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            probe = self.data_dir / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise ClusterError(f"cluster.data_dir {self.data_dir} is not a directory this "
                               f"user can write ({e.strerror}: {e.filename}); choose another "
                               "data_dir in the config") from None
        return self.data_dir

    def _refuse_busy_ports(self) -> None:
        wanted = [(s.name, s.host, s.port) for s in self.config.nodes]
        wanted += [(f"{s.name} (cluster endpoint)", s.host, s.cluster_port)
                   for s in self.config.nodes]
        wanted += [(f"{s.name} (Kafka listener)", s.host, s.kafka_port)
                   for s in self.config.nodes if s.kafka_port]
        problems = [(name, host, port, ports.bind_problem(host, port))
                    for name, host, port in wanted]
        problems = [p for p in problems if p[3]]
        if problems:
            names = ", ".join(f"{name} needs {host}:{port} ({why})"
                              for name, host, port, why in problems)
            raise ClusterError(f"cannot listen: {names}. Stop the process holding a port or "
                               "change base_port / cluster_base_port in the config.")

    def _write_state(self) -> None:
        state.write_state(self.data_dir, {
            "config_path": str(self._config_path),
            "bootstrap": self.bootstrap,
            "kafka_bootstrap": self.kafka_bootstrap,
            "keys_dir": str(self.config.keys_dir),
            "nodes": {name: {**n.to_json(), "role": n.spec.role, "endpoint": n.spec.endpoint,
                             "cluster_endpoint": n.spec.cluster_endpoint,
                             **({"kafka_address": n.spec.kafka_address}
                                if n.spec.kafka_address else {})}
                      for name, n in self.nodes.items()},
        })

    def _spawn_and_wait(self, specs: list[NodeSpec], progress=None) -> None:
        """Spawn `specs` a window at a time (startup.py) and wait until each is ready.
        node_startup_timeout_ms is what one node may take with a core to itself. Nodes
        started together share the host's cores, so the first of them is waited for
        that long per node a core has to start; after that the timeout runs from the
        last node that became ready. A node that never does still fails the start, and
        one that exits fails it at once."""
        timeout_ms = self.config.timeouts.node_startup_timeout_ms
        per_core = -(-len(specs) // _cores())
        first_ms = timeout_ms * per_core
        deadline = time.monotonic() + first_ms / 1000
        pending = {s.name: s for s in specs}
        window = SpawnWindow(specs, self.config.limits.starting_nodes_per_core_max * _cores())
        spawned: set[str] = set()
        forkserver = self._fork_server()
        with StatusProber(self.config) as ask:
            while pending:
                taken = window.take()
                for spec in taken:
                    self.nodes[spec.name] = spawn(spec, self._config_path, self.data_dir,
                                                  forkserver, self.warnings.append)
                    spawned.add(spec.name)
                if taken:
                    self._write_state()
                for name in [n for n in pending if n in spawned]:
                    node = self.nodes[name]
                    if not node.alive():
                        raise ClusterError(
                            f"{name} exited during start (exit code "
                            f"{self._exit_code(node)}); last lines of its log:\n"
                            f"{self._tail(name)}")
                round_began = time.monotonic()
                left_ms = int((deadline - round_began) * 1000)
                if left_ms <= 0:
                    raise ClusterError(self._not_ready(
                        list(pending), f"{timeout_ms} ms of the last node ready"
                        if len(pending) < len(specs) else f"{first_ms} ms ({timeout_ms} ms "
                        f"a node, {len(specs)} starting on {_cores()} core(s))"))
                answers = ask([s for s in pending.values() if s.name in spawned],
                              min(PROBE_WHILE_SPAWNING_MS if window.queued else
                                  PROBE_INTERVAL_MS, left_ms))
                for name, info in answers.items():
                    if info is not None:
                        window.answered(name)
                    if info is not None and info.get("ready"):
                        del pending[name]
                        deadline = time.monotonic() + timeout_ms / 1000
                if progress is not None:
                    progress({role: (sum(1 for s in specs if s.role == role and s.name
                                         not in pending),
                                     sum(1 for s in specs if s.role == role))
                              for role in ("coordinator", "broker")})
                # Nodes that answer "starting" at once would be asked again at once; but
                # a window with room spawns its next nodes now.
                rest_s = READY_POLL_INTERVAL_MS / 1000 - (time.monotonic() - round_began)
                if pending and rest_s > 0 and not window.has_room:
                    time.sleep(rest_s)

    def _fork_server(self) -> ForkServer | None:
        """The running fork server, started now if there is none: None if it cannot
        start, and the nodes are then started the ordinary way."""
        if self._forkserver is not None and self._forkserver.running:
            return self._forkserver
        try:
            self._forkserver = ForkServer(
                self.data_dir, self.config.timeouts.node_startup_timeout_ms / 1000)
        except OSError as e:
            self.warnings.append(f"nodes started without the fork server ({e})")
            self._forkserver = None
        return self._forkserver

    def _not_ready(self, names: list[str], within: str) -> str:
        """Which nodes, and the logs of the first few: a hundred tails would bury it."""
        shown = names[:NOT_READY_TAILS_MAX]
        tails = "\n".join(f"--- {n}:\n{self._tail(n)}" for n in shown)
        more = f"\n(and {len(names) - len(shown)} more)" if len(names) > len(shown) else ""
        return f"not ready within {within}: {', '.join(names)}\n{tails}{more}"

    def _exit_code(self, node: NodeProcess) -> int | None:
        """A node seen dead may still be finishing its exit (its main thread gone, the
        ZeroMQ threads not yet): wait for the code instead of reporting None."""
        if node.popen is None:
            return None
        try:
            return node.popen.wait(timeout=self.config.timeouts.node_shutdown_grace_ms / 1000)
        except subprocess.TimeoutExpired:
            return None

    def _wait_dead(self, node: NodeProcess) -> None:
        proc = node.process()
        if proc is not None:
            try:
                proc.wait(timeout=self.config.timeouts.node_shutdown_grace_ms / 1000)
            except psutil.TimeoutExpired:
                raise ClusterError(f"{node.spec.name} (pid {node.pid}) did not exit") from None
        if node.popen is not None:
            node.popen.poll()  # reap, so the pid is not left a zombie

    def _wait_stopped(self, node: NodeProcess, stopped: bool) -> None:
        """A signal is delivered asynchronously, and a busy multi-threaded node takes a
        moment to stop every thread: "paused" is only said once it is true."""
        proc = node.process()
        deadline = time.monotonic() + self.config.timeouts.node_shutdown_grace_ms / 1000
        while proc is not None:
            try:
                if (proc.status() == psutil.STATUS_STOPPED) == stopped:
                    return
            except psutil.NoSuchProcess:
                return  # it died meanwhile; the caller's next step will say so
            if time.monotonic() >= deadline:
                state_word = "stop" if stopped else "continue"
                raise ClusterError(f"{node.spec.name} (pid {node.pid}) did not {state_word}")
            time.sleep(0.002)

    def _tail(self, name: str) -> str:
        return log_tail(self.data_dir, name, self.config.limits.log_tail_lines)


def _cores() -> int:
    return psutil.cpu_count() or 1


def _now_ms() -> int:
    return int(time.time() * 1000)
