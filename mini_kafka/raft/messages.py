"""Raft's data: log entries, snapshots, messages, and the Ready a node hands its shell.

All of it is plain data that round-trips through JSON, so the same objects travel over
the transport, live in the simulator and sit in the persisted log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Message types
PRE_VOTE = "pre_vote"
PRE_VOTE_RESP = "pre_vote_resp"
VOTE = "vote"
VOTE_RESP = "vote_resp"
APPEND = "append"
APPEND_RESP = "append_resp"
SNAPSHOT = "snapshot"
MESSAGE_TYPES = {PRE_VOTE, PRE_VOTE_RESP, VOTE, VOTE_RESP, APPEND, APPEND_RESP, SNAPSHOT}


@dataclass(frozen=True)
class Entry:
    term: int
    index: int
    data: Any = None  # None marks the no-op a new leader appends in its term


@dataclass(frozen=True)
class Snapshot:
    index: int  # last index the snapshot covers
    term: int  # that entry's term
    data: Any = None


@dataclass(frozen=True)
class Msg:
    type: str
    src: int
    dst: int
    term: int
    # votes
    last_index: int = 0
    last_term: int = 0
    granted: bool = False
    # replication
    prev_index: int = 0
    prev_term: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    success: bool = False
    match_index: int = 0
    hint_index: int = 0  # on rejection: where the leader should look next
    hint_term: int = -1  # on rejection: the follower's term at prev_index (-1: no entry)
    ctx: int = 0  # read-index round this heartbeat belongs to
    snapshot: Snapshot | None = None

    def to_wire(self) -> dict[str, Any]:
        # Field by field, not asdict(): that deep-copies every entry's data and the
        # snapshot, only for most of it to be dropped again (every heartbeat pays it).
        out = {k: v for k in _FIELDS if (v := getattr(self, k)) != _DEFAULTS[k]}
        out.update(type=self.type, src=self.src, dst=self.dst, term=self.term)
        if self.entries:
            out["entries"] = [[e.term, e.index, e.data] for e in self.entries]
        if self.snapshot is not None:
            out["snapshot"] = asdict(self.snapshot)
        return out

    @staticmethod
    def from_wire(d: dict[str, Any]) -> Msg:
        """Raises ValueError (or TypeError/KeyError) on a malformed message."""
        if d.get("type") not in MESSAGE_TYPES:
            raise ValueError(f"unknown raft message type {d.get('type')!r}")
        fields = dict(d)
        fields["entries"] = tuple(Entry(int(t), int(i), data) for t, i, data in
                                  d.get("entries", ()))
        snap = d.get("snapshot")
        fields["snapshot"] = Snapshot(int(snap["index"]), int(snap["term"]), snap["data"]) \
            if snap else None
        unknown = set(fields) - set(_DEFAULTS) - {"type", "src", "dst", "term"}
        if unknown:
            raise ValueError(f"unknown raft message field(s) {sorted(unknown)}")
        return Msg(**fields)


_DEFAULTS = {f: v for f, v in asdict(Msg("", 0, 0, 0)).items()}
_FIELDS = tuple(k for k in _DEFAULTS if k not in ("entries", "snapshot"))


@dataclass
class Ready:
    """What the shell must do, in this order: persist (hard state, truncation, entries,
    snapshot; fsync), then send the messages, then apply the committed entries."""
    hard_state: tuple[int, int | None] | None = None  # (term, voted_for) when changed
    truncate_from: int | None = None  # drop persisted entries at or after this index
    entries: list[Entry] = field(default_factory=list)  # append after truncating
    snapshot: Snapshot | None = None  # installed from the leader: persist and restore
    messages: list[Msg] = field(default_factory=list)
    committed: list[Entry] = field(default_factory=list)
    read_states: list[tuple[Any, int]] = field(default_factory=list)  # (request, index)

    def __bool__(self) -> bool:
        return bool(self.hard_state or self.truncate_from is not None or self.entries
                    or self.snapshot or self.messages or self.committed or self.read_states)
