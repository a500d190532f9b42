"""cluster.yaml -> frozen, validated dataclasses. Every bound of the system lives here.

Each field declares its allowed range next to its default, so the validator and the
reader of this file see the same rule. Invalid configuration is refused at load with a
message naming the key, the value and what is allowed: a bad file must never start a
half-working cluster.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PORT_MAX = 65535
KEYS_DIR = "keys"
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
    # A host other machines can reach (0.0.0.0, this machine's LAN address) is refused
    # unless this is true: nothing authenticates clients.
    allow_remote_access: bool = False


@dataclass(frozen=True)
class NodesSection:
    count: int = bounded(3, 1, 200)
    # base_port + (id - 1) for node `id`; 0 picks free ports when the cluster starts.
    base_port: int = bounded(0, 0, PORT_MAX)
    # Explicit per-node ports (one per node) win over base_port.
    ports: tuple[int, ...] | None = None
    # The authenticated (CURVE) endpoint for the cluster's own traffic: Raft, broker <->
    # controller, replica fetches, fault rules, the launcher's and the CLI's requests.
    # cluster_base_port + (id - 1) for node `id`; 0 picks free ports when the cluster
    # starts; cluster_ports (one per node) win over it. Clients never use these ports.
    cluster_base_port: int = bounded(0, 0, PORT_MAX)
    cluster_ports: tuple[int, ...] | None = None


@dataclass(frozen=True)
class CoordinatorsSection(NodesSection):
    # A Raft ensemble: each write waits for a majority, so more members cost every write
    # and buy only more failures survived (7 survives 3).
    count: int = bounded(3, 1, 7, "odd")


@dataclass(frozen=True)
class BrokersSection(NodesSection):
    # Each broker's Kafka-protocol listener, for unchanged Kafka clients and tools:
    # broker-N on kafka_base_port + N - 1, so a client's default localhost:9092 reaches
    # broker-1. 0 picks free ports when the cluster starts.
    kafka_base_port: int = bounded(9092, 0, PORT_MAX)
    kafka_ports: tuple[int, ...] | None = None


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
    # What an idle cluster costs is its heartbeats: each wakes a sender and a receiver
    # (~1 ms of CPU a message pair here). A killed node is noticed by its dropped
    # connections (transport/watch.py), so these intervals only bound how long a paused
    # or cut-off node goes unnoticed: 500 ms / 1.5 s, as Kafka's KRaft (500 ms fetches,
    # 1-2 s elections), rather than 50 ms / 300 ms, cut an idle 3+3 cluster's CPU ~3x.
    raft_heartbeat_interval_ms: int = bounded(500, 1, 60_000)
    raft_election_timeout_ms: int = bounded(1_500, 2, 600_000, "randomised to [t, 2t)")
    # A coordinator that has just started knows of no leader: its first election comes
    # after this instead (randomised the same way), so `cluster up` does not wait out
    # the long timeout. Safe for a restart into a live ensemble: its pre-vote is refused
    # by peers that hear their leader, and the long timeout applies from then on.
    raft_startup_election_timeout_ms: int = bounded(300, 2, 600_000, "randomised to [t, 2t)")
    # The resolution of Raft's timers: election timeouts are randomised in steps of it,
    # and after a leader's process dies its followers campaign in turns this far apart.
    # A node wakes only when one of its timers is due, so a fine tick costs nothing idle.
    raft_tick_interval_ms: int = bounded(50, 1, 60_000)
    # A broker's heartbeat also carries its offline and damaged replicas; a change to
    # those goes at once rather than at the heartbeat's turn, and so does the heartbeat
    # of a broker whose metadata caught up with its registration (the one that unfences
    # it). The interval then only keeps the session: Kafka's 2 s / 9 s. A killed broker
    # is fenced at once by its dropped connections, so the session only bounds how long
    # a paused or cut-off one goes unnoticed, and it must outlast a busy host's stalls:
    # at 1 s / 3 s a 1000-partition create missed sessions in every run (3 brokers: 1-4
    # missed, 3 of 3 runs; 100 brokers: 176 and 205, and the fencing, ISR churn and
    # controller loss that followed); at 2 s / 9 s none did (3 runs and 6). Idle, the
    # heartbeats are most of what a 100-broker cluster does: 500 ms / 1.5 s idled 5 + 100
    # at 0.35-0.37 core, 1 s / 3 s at 0.23, 2 s / 9 s at 0.18-0.22.
    broker_heartbeat_interval_ms: int = bounded(2_000, 1, 60_000)
    broker_session_timeout_ms: int = bounded(9_000, 2, 600_000)
    # A mass kill's connection drops reach the controller spread over milliseconds (tens
    # on a loaded host). The first fence write goes at once and the rest wait for it
    # (fencing.py); a linger makes the first wait too, so that most go in it. Off by
    # default: any linger (20 ms as 50) made a single leader kill take ~145 ms to re-lead
    # instead of ~85 (perf failover), more than the linger itself, not yet understood.
    fence_linger_ms: int = bounded(0, 0, 10_000)
    replica_lag_time_max_ms: int = bounded(3_000, 1, 600_000)
    # How long a follower's fetch waits at its leader when nothing changes (Kafka's
    # replica.fetch.wait.max.ms, 500 ms there). Each answer wakes both brokers: at
    # 100 brokers with 1000 partitions, 500 ms was 4000 idle fetches a second. Long is
    # safe: an append or a high watermark move answers at once, a follower waiting at
    # the log end counts as in sync (broker/replica.py), and a fetch lost on the way is
    # noticed by its leader (replica_fetch_silence_ms), not after this wait. The price:
    # a follower cut off while its fetch waits at the leader counts as caught up until
    # that fetch is answered, so at an idle partition it leaves the ISR up to this plus
    # replica_lag_time_max_ms after the cut (Kafka: replica.lag.time.max.ms, 30 s); an
    # append answers the fetch at once, so a write waits only the lag window for it.
    replica_fetch_wait_max_ms: int = bounded(30_000, 1, 600_000)
    # A follower with no fetch waiting at its leader and none received or answered there
    # for this long is asked to fetch again (broker/fetch_nudges.py): a fetch or its
    # answer lost to a `loss` fault costs this, not the fetch's whole wait and timeout.
    # Below replica_lag_time_max_ms, the follower fetches again before it leaves the ISR.
    replica_fetch_silence_ms: int = bounded(1_000, 1, 600_000)
    node_startup_timeout_ms: int = bounded(20_000, 1, 600_000)
    node_shutdown_grace_ms: int = bounded(5_000, 0, 600_000)
    retention_check_interval_ms: int = bounded(60_000, 1, 86_400_000)
    # An idle broker's metadata poll returns after this; each return wakes it and its
    # coordinator. A reader that stops following is noticed by the heartbeat instead,
    # within metadata_reader_lag_max_ms (broker/reader_watch.py).
    metadata_poll_max_wait_ms: int = bounded(10_000, 1, 60_000)
    metadata_reader_lag_max_ms: int = bounded(1_500, 1, 600_000)
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
    # A replica taken offline by a storage error (a full disk) is tried again this often.
    storage_retry_interval_ms: int = bounded(1_000, 1, 600_000)


@dataclass(frozen=True)
class LimitsSection:
    request_retries_max: int = bounded(3, 0, 100)
    retry_backoff_ms: int = bounded(50, 0, 60_000)
    server_inflight_requests_max: int = bounded(1_000, 1, 1_000_000)
    socket_queue_messages_max: int = bounded(10_000, 1, 10_000_000)
    message_bytes_max: int = bounded(16 * 1024 * 1024, 1024, 2**31 - 1)
    log_tail_lines: int = bounded(20, 0, 10_000)
    # A broker takes on a large metadata change (a 1000-partition create) in slices of
    # about this long, serving requests and heartbeats between them.
    metadata_apply_slice_ms: int = bounded(5, 1, 60_000)
    # Nodes importing Python at once while a cluster starts, per core (launcher/startup.py).
    starting_nodes_per_core_max: int = bounded(3, 1, 1_000)
    # A problem that repeats (a stalled follower, a full disk) logs once per interval.
    log_repeat_interval_ms: int = bounded(10_000, 0, 3_600_000)
    metadata_history_entries_max: int = bounded(10_000, 1, 10_000_000)
    raft_snapshot_interval_entries: int = bounded(2_000, 1, 10_000_000)
    raft_entries_per_append_max: int = bounded(256, 1, 100_000)
    # What one message may be: frames (a header, a body, one per record batch), all of
    # them together (message_bytes_max; ZeroMQ itself can only bound each frame) and how
    # deep its JSON body nests. Past these, MESSAGE_TOO_LARGE or INVALID_REQUEST.
    message_frames_max: int = bounded(10_000, 3, 1_000_000)
    message_nesting_levels_max: int = bounded(32, 4, 200, "below Python's recursion limit")
    # Work one client connection can put on a node: requests served at once, then
    # requests waiting their turn; past both, THROTTLING_QUOTA_EXCEEDED at once.
    peer_inflight_requests_max: int = bounded(100, 1, 1_000_000)
    peer_queued_requests_max: int = bounded(1_000, 0, 1_000_000)
    # What one fetch may ask for; larger asks are cut down to these (Kafka's
    # fetch.max.bytes), so a request can never make a broker allocate more.
    fetch_response_bytes_max: int = bounded(50 * 1024 * 1024, 1024, 2**31 - 1)
    fetch_partition_bytes_max: int = bounded(10 * 1024 * 1024, 1024, 2**31 - 1)
    fetch_wait_ms_max: int = bounded(5_000, 0, 600_000)
    # The Kafka listener (Kafka's socket.request.max.bytes is 100 MiB; clients send at most
    # their max.request.size, 1 MiB by default).
    kafka_request_bytes_max: int = bounded(16 * 1024 * 1024, 1024, 2**31 - 1)
    kafka_inflight_requests_per_connection_max: int = bounded(100, 1, 100_000)
    kafka_connections_max: int = bounded(1_000, 1, 1_000_000)


# -- the web console (`mini-kafka console`) ---------------------------------------------


@dataclass(frozen=True)
class ConsoleSection:
    # Loopback by default: the page can kill brokers (with the per-run token).
    host: str = "127.0.0.1"
    port: int = bounded(8080, 0, PORT_MAX, "0 picks a free port")
    # How often the console reads the cluster and pushes a new view to open pages.
    refresh_interval_ms: int = bounded(1_000, 100, 60_000)
    # How far back the timeline, the rates and the lag curves reach.
    history_ms: int = bounded(600_000, 10_000, 86_400_000)
    timeline_events_max: int = bounded(1_000, 10, 100_000)
    browse_records_max: int = bounded(500, 1, 10_000)
    # A browsed key, value or header past this is cut (and says so), not sent whole.
    browse_value_bytes_max: int = bounded(64 * 1024, 16, 16 * 1024 * 1024)
    # Where the console starts reading a long chaos-event log (its newest part).
    chaos_log_tail_bytes: int = bounded(1024 * 1024, 1024, 2**31 - 1)
    # The launcher's log of injected faults is rotated past this (one old file kept).
    chaos_log_bytes_max: int = bounded(8 * 1024 * 1024, 1024, 2**31 - 1)


@dataclass(frozen=True)
class NodeSpec:
    name: str
    role: str
    id: int
    host: str
    port: int
    kafka_port: int | None = None  # brokers only: the Kafka-protocol listener
    cluster_port: int = 0  # the authenticated endpoint; 0 until the launcher picks one

    @property
    def endpoint(self) -> str:
        """Open (no authentication): what clients and tools without the keys reach."""
        return f"tcp://{self.host}:{self.port}"

    @property
    def kafka_address(self) -> str | None:
        return None if self.kafka_port is None else f"{self.host}:{self.kafka_port}"

    @property
    def cluster_endpoint(self) -> str:
        """CURVE-authenticated: the cluster's own traffic, from members holding its keys."""
        return f"tcp://{self.host}:{self.cluster_port}"


@dataclass(frozen=True)
class ClusterConfig:
    cluster: ClusterSection = ClusterSection()
    coordinators: CoordinatorsSection = CoordinatorsSection()
    brokers: BrokersSection = BrokersSection()
    topics: TopicsSection = TopicsSection()
    timeouts: TimeoutsSection = TimeoutsSection()
    limits: LimitsSection = LimitsSection()
    console: ConsoleSection = ConsoleSection()
    # Where relative paths are anchored; not a key of the file.
    base_dir: str = field(default=".", compare=False)

    @property
    def data_dir(self) -> Path:
        return (Path(self.base_dir) / self.cluster.data_dir).resolve()

    def node_dir(self, name: str) -> Path:
        return self.data_dir / name

    @property
    def keys_dir(self) -> Path:
        """The cluster's CURVE keys (owner-only), made by the launcher at first start."""
        return self.data_dir / KEYS_DIR

    @property
    def nodes(self) -> list[NodeSpec]:
        return list(self._nodes_by_name.values())

    @functools.cached_property
    def _nodes_by_name(self) -> dict[str, NodeSpec]:
        # Built once (the config is frozen): brokers look peers up for every partition
        # they follow, and rebuilding 105 specs each time was seconds at 100 brokers.
        return {s.name: s for s in (*self._role_nodes("coordinator"),
                                    *self._role_nodes("broker"))}

    def cluster_endpoint_of(self, name: str) -> str | None:
        """Where node `name` takes the cluster's own traffic (its authenticated endpoint);
        None for a node this config does not have."""
        spec = self._nodes_by_name.get(name)
        return spec.cluster_endpoint if spec is not None else None

    def node(self, name: str) -> NodeSpec:
        spec = self._nodes_by_name.get(name)
        if spec is not None:
            return spec
        known = ", ".join(s.name for s in self.nodes)
        raise ConfigError(f"unknown node {name!r} (this cluster has: {known})")

    def _role_nodes(self, role: str) -> list[NodeSpec]:
        if role == "coordinator":
            section, kafka = self.coordinators, [None] * self.coordinators.count
        else:
            section, kafka = self.brokers, _ports(self.brokers, "kafka_ports", "kafka_base_port")
        cluster_ports = _ports(section, "cluster_ports", "cluster_base_port")
        return [NodeSpec(f"{role}-{i}", role, i, self.cluster.host, port,
                         kafka_port=kafka[i - 1], cluster_port=cluster_ports[i - 1])
                for i, port in enumerate(_ports(section), start=1)]

    @property
    def needs_ports(self) -> bool:
        """True when some node's port is to be picked at start (base_port 0)."""
        return any(spec.port == 0 or spec.kafka_port == 0 or spec.cluster_port == 0
                   for spec in self.nodes)

    def with_ports(self, coordinator_ports: list[int], broker_ports: list[int],
                   kafka_ports: list[int] | None = None, *,
                   coordinator_cluster_ports: list[int] | None = None,
                   broker_cluster_ports: list[int] | None = None) -> ClusterConfig:
        coordinators = dataclasses.replace(self.coordinators, ports=tuple(coordinator_ports))
        brokers = dataclasses.replace(self.brokers, ports=tuple(broker_ports))
        if kafka_ports is not None:
            brokers = dataclasses.replace(brokers, kafka_ports=tuple(kafka_ports))
        if coordinator_cluster_ports is not None:
            coordinators = dataclasses.replace(coordinators,
                                               cluster_ports=tuple(coordinator_cluster_ports))
        if broker_cluster_ports is not None:
            brokers = dataclasses.replace(brokers, cluster_ports=tuple(broker_cluster_ports))
        return dataclasses.replace(self, coordinators=coordinators, brokers=brokers)

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


def _ports(section: NodesSection, explicit: str = "ports", base: str = "base_port") -> list[int]:
    given = getattr(section, explicit)
    if given is not None:
        return list(given)
    base_port = getattr(section, base)
    if base_port == 0:
        return [0] * section.count
    return [base_port + i for i in range(section.count)]


# -- loading and validation -------------------------------------------------------------


def load_config(path: str | os.PathLike) -> ClusterConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from e
    raw = _parse(text, path)
    return config_from_dict(raw if raw is not None else {}, base_dir=path.resolve().parent)


def _parse(text: str, path: Path) -> Any:
    # The launcher hands its nodes the effective config as JSON (a JSON document is YAML
    # too), so a node reads it without PyYAML: ~1.3 MB of every node's RSS.
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            pass  # a YAML flow mapping, not JSON
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from e


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
    "coordinators": CoordinatorsSection,
    "brokers": BrokersSection,
    "topics": TopicsSection,
    "timeouts": TimeoutsSection,
    "limits": LimitsSection,
    "console": ConsoleSection,
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
    if key.endswith(".ports") or key.endswith("_ports"):
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
    port_lists = [(role, explicit, base) for role in ("coordinators", "brokers")
                  for explicit, base in (("ports", "base_port"),
                                         ("cluster_ports", "cluster_base_port"))]
    port_lists.append(("brokers", "kafka_ports", "kafka_base_port"))
    for role, explicit, base in port_lists:
        section: NodesSection = getattr(c, role)
        given, base_port = getattr(section, explicit), getattr(section, base)
        if given is not None and len(given) != section.count:
            raise ConfigError(
                f"{role}.{explicit} has {len(given)} entries but {role}.count = "
                f"{section.count}: give one port per node"
            )
        last = base_port + section.count - 1
        if given is None and base_port and last > PORT_MAX:
            raise ConfigError(
                f"{role}.{base} = {base_port}: {section.count} nodes need ports up "
                f"to {last}, past {PORT_MAX}"
            )
    _check_base_port_ranges(c, port_lists)
    seen: dict[int, str] = {}
    for spec in c.nodes:
        for port, what in ((spec.port, spec.name), (spec.kafka_port, f"{spec.name} (Kafka)"),
                           (spec.cluster_port, f"{spec.name} (cluster endpoint)")):
            if port and port in seen:
                raise ConfigError(
                    f"port clash: {what} and {seen[port]} both use port {port} (check "
                    "coordinators and brokers: base_port/ports, cluster_base_port/"
                    "cluster_ports, kafka_base_port/kafka_ports)"
                )
            if port:
                seen[port] = what
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
    if tm.raft_tick_interval_ms > tm.raft_heartbeat_interval_ms:
        raise ConfigError(f"timeouts.raft_tick_interval_ms = {tm.raft_tick_interval_ms}: "
                          "must not exceed timeouts.raft_heartbeat_interval_ms = "
                          f"{tm.raft_heartbeat_interval_ms}")
    if tm.group_min_session_timeout_ms > tm.group_max_session_timeout_ms:
        raise ConfigError(f"timeouts.group_min_session_timeout_ms = "
                          f"{tm.group_min_session_timeout_ms}: must not exceed "
                          f"timeouts.group_max_session_timeout_ms = "
                          f"{tm.group_max_session_timeout_ms}")
    _require_less(tm.broker_heartbeat_interval_ms, "timeouts.broker_heartbeat_interval_ms",
                  tm.broker_session_timeout_ms, "timeouts.broker_session_timeout_ms")


def _check_base_port_ranges(c: ClusterConfig, port_lists) -> None:
    """Ranges given by base ports must not overlap: with the defaults, 100 brokers from
    19092 reach coordinator-1's 19191. Say so about the ranges, with a base port that
    would fit, rather than about the one port where they first meet."""
    ranges = []
    for role, explicit, base in port_lists:
        section: NodesSection = getattr(c, role)
        first = getattr(section, base)
        if getattr(section, explicit) is None and first:
            ranges.append((f"{role}.{base}", first, first + section.count - 1, section.count))
    for i, (key, first, last, count) in enumerate(ranges):
        for other, o_first, o_last, o_count in ranges[i + 1:]:
            if first <= o_last and o_first <= last:
                move, move_count = (other, o_count) if o_count <= count else (key, count)
                fit = _free_base_port([(f, la) for k, f, la, _ in ranges if k != move],
                                      move_count)
                hint = f"; e.g. {move}: {fit}" if fit else ""
                raise ConfigError(
                    f"port ranges overlap: {key} = {first} gives {count} nodes ports "
                    f"{first}-{last} and {other} = {o_first} gives {o_count} nodes ports "
                    f"{o_first}-{o_last}; move one of them{hint}")


def _free_base_port(taken: list[tuple[int, int]], count: int) -> int | None:
    """The lowest multiple of 100 past the highest taken range whose `count` ports fit."""
    start = (max(last for _, last in taken) // 100 + 1) * 100
    return start if start + count - 1 <= PORT_MAX else None


def _require_less(a: int, a_key: str, b: int, b_key: str) -> None:
    if a >= b:
        raise ConfigError(f"{a_key} = {a}: must be less than {b_key} = {b}")

