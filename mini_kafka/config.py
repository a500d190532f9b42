"""cluster.yaml -> frozen, validated dataclasses. Every bound of the system lives here.

Each field declares its allowed range next to its default, so the validator and the
reader of this file see the same rule. Invalid configuration is refused at load with a
message naming the key, the value and what is allowed: a bad file must never start a
half-working cluster.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PORT_MAX = 65535
ROLES = ("coordinator", "broker")


class ConfigError(ValueError):
    """A configuration value is missing, unknown, of the wrong type or out of range."""


def bounded(default: Any, lo: int | None = None, hi: int | None = None, doc: str = ""):
    """A field with an inclusive range; `lo`/`hi` of None mean unbounded on that side."""
    return field(default=default, metadata={"lo": lo, "hi": hi, "doc": doc})


# -- sections ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterSection:
    name: str = "mini-kafka"
    host: str = "127.0.0.1"
    # Relative paths are resolved against the directory holding the config file.
    data_dir: str = "logs"


@dataclass(frozen=True)
class NodesSection:
    count: int = bounded(3, 1, 99)
    # base_port + (id - 1) for node `id`; 0 picks free ports when the cluster starts.
    base_port: int = bounded(0, 0, PORT_MAX)
    # Explicit per-node ports (one per node) win over base_port.
    ports: tuple[int, ...] | None = None


@dataclass(frozen=True)
class TopicsSection:
    num_partitions: int = bounded(3, 1, 10_000)
    default_replication_factor: int = bounded(3, 1, 99)
    min_insync_replicas: int = bounded(2, 1, 99)
    retention_ms: int = bounded(604_800_000, -1, None, "-1 keeps data forever")
    retention_bytes: int = bounded(-1, -1, None, "-1 means no size limit")
    segment_bytes: int = bounded(64 * 1024 * 1024, 1024, 2**31 - 1)
    segment_ms: int = bounded(604_800_000, 1, None)
    index_interval_bytes: int = bounded(4096, 0, 2**31 - 1)
    cleanup_policy: str = "delete"
    unclean_leader_election_enable: bool = False
    auto_create_topics_enable: bool = False
    offsets_topic_num_partitions: int = bounded(12, 1, 1000)
    transaction_state_num_partitions: int = bounded(12, 1, 1000)
    # 0 means min(3, brokers.count), as Kafka sizes __consumer_offsets on small clusters.
    offsets_topic_replication_factor: int = bounded(0, 0, 99)
    # Move leadership back to each partition's preferred replica once it is in sync.
    auto_leader_rebalance_enable: bool = True


@dataclass(frozen=True)
class TimeoutsSection:
    # Chosen for one host: loopback round trips are well under a millisecond, so
    # failure detection can be an order of magnitude faster than Kafka's defaults.
    request_timeout_ms: int = bounded(5_000, 1, 600_000)
    status_timeout_ms: int = bounded(1_000, 1, 600_000)
    raft_heartbeat_interval_ms: int = bounded(50, 1, 60_000)
    raft_election_timeout_ms: int = bounded(300, 2, 600_000, "randomised to [t, 2t)")
    broker_heartbeat_interval_ms: int = bounded(250, 1, 60_000)
    broker_session_timeout_ms: int = bounded(1_500, 2, 600_000)
    replica_lag_time_max_ms: int = bounded(3_000, 1, 600_000)
    node_startup_timeout_ms: int = bounded(20_000, 1, 600_000)
    node_shutdown_grace_ms: int = bounded(5_000, 0, 600_000)
    retention_check_interval_ms: int = bounded(60_000, 1, 86_400_000)
    metadata_poll_max_wait_ms: int = bounded(1_000, 1, 60_000)
    # One try at one coordinator; a silent one is then skipped for the next.
    controller_attempt_timeout_ms: int = bounded(1_000, 1, 600_000)
    leader_imbalance_check_interval_ms: int = bounded(3_000, 1, 3_600_000)
    # Consumer groups (Kafka: group.initial.rebalance.delay.ms 3 s, group.min/max
    # .session.timeout.ms 6 s / 30 min): a shorter initial delay still lets members that
    # start together land in one generation, and short sessions suit one host.
    group_initial_rebalance_delay_ms: int = bounded(300, 0, 600_000)
    group_min_session_timeout_ms: int = bounded(500, 1, 3_600_000)
    group_max_session_timeout_ms: int = bounded(1_800_000, 1, 3_600_000)
    group_tick_interval_ms: int = bounded(50, 1, 60_000)
    # Transactions (Kafka: transaction.max.timeout.ms 15 min, abort check every 10 s).
    transaction_max_timeout_ms: int = bounded(900_000, 1, 3_600_000)
    transaction_abort_check_interval_ms: int = bounded(1_000, 1, 600_000)


@dataclass(frozen=True)
class LimitsSection:
    request_retries_max: int = bounded(3, 0, 100)
    retry_backoff_ms: int = bounded(50, 0, 60_000)
    server_inflight_requests_max: int = bounded(1_000, 1, 1_000_000)
    socket_queue_messages_max: int = bounded(10_000, 1, 10_000_000)
    message_bytes_max: int = bounded(16 * 1024 * 1024, 1024, 2**31 - 1)
    log_tail_lines: int = bounded(20, 0, 10_000)
    metadata_history_entries_max: int = bounded(10_000, 1, 10_000_000)
    raft_snapshot_interval_entries: int = bounded(2_000, 1, 10_000_000)
    raft_entries_per_append_max: int = bounded(256, 1, 100_000)


@dataclass(frozen=True)
class NodeSpec:
    name: str
    role: str
    id: int
    host: str
    port: int

    @property
    def endpoint(self) -> str:
        return f"tcp://{self.host}:{self.port}"


@dataclass(frozen=True)
class ClusterConfig:
    cluster: ClusterSection = ClusterSection()
    coordinators: NodesSection = NodesSection()
    brokers: NodesSection = NodesSection()
    topics: TopicsSection = TopicsSection()
    timeouts: TimeoutsSection = TimeoutsSection()
    limits: LimitsSection = LimitsSection()
    # Where relative paths are anchored; not a key of the file.
    base_dir: str = field(default=".", compare=False)

    @property
    def data_dir(self) -> Path:
        return (Path(self.base_dir) / self.cluster.data_dir).resolve()

    def node_dir(self, name: str) -> Path:
        return self.data_dir / name

    @property
    def nodes(self) -> list[NodeSpec]:
        return [*self._role_nodes("coordinator"), *self._role_nodes("broker")]

    def node(self, name: str) -> NodeSpec:
        for spec in self.nodes:
            if spec.name == name:
                return spec
        known = ", ".join(s.name for s in self.nodes)
        raise ConfigError(f"unknown node {name!r} (this cluster has: {known})")

    def _role_nodes(self, role: str) -> list[NodeSpec]:
        section = self.coordinators if role == "coordinator" else self.brokers
        return [
            NodeSpec(f"{role}-{i}", role, i, self.cluster.host, port)
            for i, port in enumerate(_ports(section), start=1)
        ]

    @property
    def needs_ports(self) -> bool:
        """True when some node's port is to be picked at start (base_port 0)."""
        return any(spec.port == 0 for spec in self.nodes)

    def with_ports(self, coordinator_ports: list[int], broker_ports: list[int]) -> ClusterConfig:
        return dataclasses.replace(
            self,
            coordinators=dataclasses.replace(self.coordinators, ports=tuple(coordinator_ports)),
            brokers=dataclasses.replace(self.brokers, ports=tuple(broker_ports)),
        )

    def to_dict(self) -> dict[str, Any]:
        """The file form, with data_dir made absolute so the dict stands alone."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name == "base_dir":
                continue
            section = dataclasses.asdict(getattr(self, f.name))
            out[f.name] = {k: list(v) if isinstance(v, tuple) else v
                           for k, v in section.items() if v is not None}
        out["cluster"]["data_dir"] = str(self.data_dir)
        return out


def _ports(section: NodesSection) -> list[int]:
    if section.ports is not None:
        return list(section.ports)
    if section.base_port == 0:
        return [0] * section.count
    return [section.base_port + i for i in range(section.count)]


# -- loading and validation -------------------------------------------------------------


def load_config(path: str | os.PathLike) -> ClusterConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from e
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from e
    return config_from_dict(raw if raw is not None else {}, base_dir=path.resolve().parent)


def config_from_dict(raw: Any, base_dir: str | os.PathLike = ".") -> ClusterConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"the config must be a mapping of sections, got {type(raw).__name__}")
    _refuse_unknown(raw, _SECTION_CLASSES, prefix="")
    built = {name: _build_section(cls, raw.get(name), name)
             for name, cls in _SECTION_CLASSES.items()}
    config = ClusterConfig(**built, base_dir=str(Path(base_dir).resolve()))
    _check_cross_field(config)
    return config


# The file's sections (annotations are strings under `from __future__`, so map explicitly).
_SECTION_CLASSES = {
    "cluster": ClusterSection,
    "coordinators": NodesSection,
    "brokers": NodesSection,
    "topics": TopicsSection,
    "timeouts": TimeoutsSection,
    "limits": LimitsSection,
}


def _refuse_unknown(raw: dict, allowed, prefix: str) -> None:
    for key in raw:
        if key not in allowed:
            where = f"{prefix}{key}"
            raise ConfigError(f"unknown key {where!r} (allowed: {', '.join(sorted(allowed))})")


def _build_section(cls, raw: Any, name: str):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{name} must be a mapping, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _refuse_unknown(raw, fields, prefix=f"{name}.")
    values = {}
    for key, value in raw.items():
        values[key] = _check_value(f"{name}.{key}", value, fields[key], cls)
    return cls(**values)


def _check_value(key: str, value: Any, f: dataclasses.Field, cls) -> Any:
    default = f.default
    if key.endswith(".ports"):
        return _check_ports(key, value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{key} = {value!r}: must be true or false")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} = {value!r}: must be an integer{_range_text(f)}")
        lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ConfigError(f"{key} = {value}: must be{_range_text(f)}")
        return value
    if isinstance(default, str):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{key} = {value!r}: must be a non-empty string")
        if key.endswith("cleanup_policy") and value not in ("delete", "compact"):
            raise ConfigError(f"{key} = {value!r}: must be 'delete' or 'compact'")
        return value
    raise AssertionError(f"no validator for {cls.__name__}.{f.name}")


def _range_text(f: dataclasses.Field) -> str:
    lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
    doc = f.metadata.get("doc")
    if lo is not None and hi is not None:
        text = f" between {lo} and {hi}"
    elif lo is not None:
        text = f" at least {lo}"
    elif hi is not None:
        text = f" at most {hi}"
    else:
        text = ""
    return f"{text} ({doc})" if doc else text


def _check_ports(key: str, value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(p, int) and not isinstance(p, bool) for p in value
    ):
        raise ConfigError(f"{key} = {value!r}: must be a list of port numbers")
    for p in value:
        if not 1 <= p <= PORT_MAX:
            raise ConfigError(f"{key} = {value!r}: port {p} is not between 1 and {PORT_MAX}")
    return tuple(value)


def _check_cross_field(c: ClusterConfig) -> None:
    if c.coordinators.count % 2 == 0:
        raise ConfigError(
            f"coordinators.count = {c.coordinators.count}: must be odd (1, 3, 5, 7, ...) "
            "so that a majority survives any split of the ensemble"
        )
    for role in ("coordinators", "brokers"):
        section: NodesSection = getattr(c, role)
        if section.ports is not None and len(section.ports) != section.count:
            raise ConfigError(
                f"{role}.ports has {len(section.ports)} entries but {role}.count = "
                f"{section.count}: give one port per node"
            )
        last = section.base_port + section.count - 1
        if section.ports is None and section.base_port and last > PORT_MAX:
            raise ConfigError(
                f"{role}.base_port = {section.base_port}: {section.count} nodes need ports up "
                f"to {last}, past {PORT_MAX}"
            )
    seen: dict[int, str] = {}
    for spec in c.nodes:
        if spec.port and spec.port in seen:
            raise ConfigError(
                f"port clash: {spec.name} and {seen[spec.port]} both use port {spec.port} "
                "(check coordinators.base_port/ports and brokers.base_port/ports)"
            )
        seen[spec.port] = spec.name
    t = c.topics
    if t.default_replication_factor > c.brokers.count:
        raise ConfigError(
            f"topics.default_replication_factor = {t.default_replication_factor}: exceeds "
            f"brokers.count = {c.brokers.count} (allowed 1..{c.brokers.count})"
        )
    if t.min_insync_replicas > t.default_replication_factor:
        raise ConfigError(
            f"topics.min_insync_replicas = {t.min_insync_replicas}: exceeds "
            f"topics.default_replication_factor = {t.default_replication_factor}"
        )
    if t.offsets_topic_replication_factor > c.brokers.count:
        raise ConfigError(
            f"topics.offsets_topic_replication_factor = {t.offsets_topic_replication_factor}: "
            f"exceeds brokers.count = {c.brokers.count}"
        )
    tm = c.timeouts
    _require_less(tm.raft_heartbeat_interval_ms, "timeouts.raft_heartbeat_interval_ms",
                  tm.raft_election_timeout_ms, "timeouts.raft_election_timeout_ms")
    if tm.group_min_session_timeout_ms > tm.group_max_session_timeout_ms:
        raise ConfigError(f"timeouts.group_min_session_timeout_ms = "
                          f"{tm.group_min_session_timeout_ms}: must not exceed "
                          f"timeouts.group_max_session_timeout_ms = "
                          f"{tm.group_max_session_timeout_ms}")
    _require_less(tm.broker_heartbeat_interval_ms, "timeouts.broker_heartbeat_interval_ms",
                  tm.broker_session_timeout_ms, "timeouts.broker_session_timeout_ms")


def _require_less(a: int, a_key: str, b: int, b_key: str) -> None:
    if a >= b:
        raise ConfigError(f"{a_key} = {a}: must be less than {b_key} = {b}")

