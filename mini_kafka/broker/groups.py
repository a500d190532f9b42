"""The classic consumer-group protocol as a pure state machine (Kafka's GroupCoordinator).

States: Empty -> PreparingRebalance -> CompletingRebalance -> Stable (and Dead).
JoinGroup and SyncGroup answers are delayed until the group is ready to give them, so a
request carries an opaque `token` (the shell's future); answers come out of
`take_completions()` as (token, response). Time is `now_ms`, passed in; `tick(now_ms)`
expires sessions and rebalance deadlines. Member ids come from a counter, so a run is
reproducible.

Membership survives a coordinator move: each time a group settles (Stable, or Empty) it is
marked dirty; the shell writes `snapshot(group)` to __consumer_offsets and a new
coordinator `restore`s it, so members carry on in the same generation.

Zombies are fenced by generation: a member from an older generation gets
ILLEGAL_GENERATION, an unknown one UNKNOWN_MEMBER_ID, and while a rebalance is on,
REBALANCE_IN_PROGRESS tells members to rejoin. A static member (group_instance_id)
that restarts takes its old place without a rebalance (KIP-345).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

EMPTY, PREPARING, COMPLETING, STABLE, DEAD = (
    "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead")


@dataclass
class Member:
    member_id: str
    client_id: str
    instance_id: str | None
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocols: list[tuple[str, Any]]  # (assignor name, subscription metadata), by preference
    last_heartbeat_ms: int
    host: str = ""
    join_token: Any = None  # waiting in JoinGroup
    sync_token: Any = None  # waiting in SyncGroup
    assignment: Any = None


@dataclass
class Group:
    group_id: str
    state: str = EMPTY
    generation: int = 0
    protocol_type: str | None = None  # "consumer" for consumer groups; all members agree
    protocol: str | None = None
    leader: str | None = None
    members: dict[str, Member] = field(default_factory=dict)
    static: dict[str, str] = field(default_factory=dict)  # instance id -> member id
    rebalance_deadline_ms: int = 0
    delay_join: bool = False
    offsets: dict[tuple[str, int], tuple[int, str]] = field(default_factory=dict)
    # The log offset of the record behind each committed offset: commits applied out of
    # order (two acks=all writes finishing together) never let an older one win.
    offset_positions: dict[tuple[str, int], int] = field(default_factory=dict)


def _error(error: str, **extra) -> dict[str, Any]:
    return {"error": error, **extra}


class GroupCoordinatorState:
    def __init__(self, initial_rebalance_delay_ms: int = 0,
                 new_member_id: Callable[[str], str] | None = None):
        """`new_member_id(client_id)` names members; the default counts, which is
        reproducible, while the shell passes one unique across coordinators."""
        self.groups: dict[str, Group] = {}
        self.initial_rebalance_delay_ms = initial_rebalance_delay_ms
        self._completions: list[tuple[Any, dict[str, Any]]] = []
        self._next_member = 0
        self._new_member_id = new_member_id or self._counted_member_id
        self._dirty: set[str] = set()

    def _counted_member_id(self, client_id: str) -> str:
        self._next_member += 1
        return f"{client_id}-{self._next_member}"

    def take_dirty(self) -> list[str]:
        """Groups whose membership record must be (re)written, in name order."""
        out, self._dirty = sorted(self._dirty), set()
        return out

    def take_completions(self) -> list[tuple[Any, dict[str, Any]]]:
        out, self._completions = self._completions, []
        return out

    def _complete(self, token, response: dict[str, Any]) -> None:
        if token is not None:
            self._completions.append((token, response))

    def group(self, group_id: str) -> Group:
        return self.groups.setdefault(group_id, Group(group_id))

    # -- JoinGroup ------------------------------------------------------------------------

    def join(self, token, group_id: str, member_id: str, *, client_id: str,
             instance_id: str | None, session_timeout_ms: int, rebalance_timeout_ms: int,
             protocols: list[tuple[str, Any]], now_ms: int, host: str = "",
             protocol_type: str = "consumer") -> None:
        g = self.group(group_id)
        if g.state == DEAD:
            return self._complete(token, _error("COORDINATOR_NOT_AVAILABLE"))
        if not protocols or not protocol_type:
            return self._complete(token, _error("INCONSISTENT_GROUP_PROTOCOL",
                                                message="no assignor or protocol type offered"))
        if g.members and g.protocol_type not in (None, protocol_type):
            return self._complete(token, _error(
                "INCONSISTENT_GROUP_PROTOCOL",
                message=f"the group's protocol type is {g.protocol_type!r}, not "
                        f"{protocol_type!r}"))
        g.protocol_type = protocol_type
        if g.members and not self._common_protocols(g, protocols, member_id):
            return self._complete(token, _error("INCONSISTENT_GROUP_PROTOCOL",
                                                message="no assignor shared with the group"))
        if instance_id is not None and instance_id in g.static:
            return self._join_static(token, g, instance_id, member_id, client_id,
                                     session_timeout_ms, rebalance_timeout_ms, protocols,
                                     now_ms)
        if member_id and member_id not in g.members:
            return self._complete(token, _error("UNKNOWN_MEMBER_ID"))
        newcomer = not member_id
        if newcomer:
            member_id = self._new_member_id(client_id)
            g.members[member_id] = Member(member_id, client_id, instance_id, session_timeout_ms,
                                          rebalance_timeout_ms, protocols, now_ms, host)
            if instance_id is not None:
                g.static[instance_id] = member_id
        member = g.members[member_id]
        changed = member.protocols != protocols
        member.protocols, member.last_heartbeat_ms = protocols, now_ms
        member.join_token = token
        if g.state == STABLE and not changed and not newcomer and member_id != g.leader:
            # A follower rejoining with nothing new: hand it the current generation.
            member.join_token = None
            return self._complete(token, self._join_response(g, member))
        if g.state != PREPARING:
            self._prepare_rebalance(g, now_ms)
        self._maybe_complete_join(g, now_ms)

    def _join_static(self, token, g: Group, instance_id, member_id, client_id,
                     session_timeout_ms, rebalance_timeout_ms, protocols, now_ms) -> None:
        old_id = g.static[instance_id]
        old = g.members[old_id]
        if member_id and member_id != old_id:
            return self._complete(token, _error("FENCED_INSTANCE_ID"))
        if not member_id:  # a restart: a new member id takes the old one's place
            new_id = self._new_member_id(client_id)
            del g.members[old_id]
            old.member_id = new_id
            g.members[new_id] = old
            g.static[instance_id] = new_id
            if g.leader == old_id:
                g.leader = new_id
            self._fence_waiters(old, "FENCED_INSTANCE_ID")
            self._dirty.add(g.group_id)
        member = g.members[g.static[instance_id]]
        member.client_id, member.last_heartbeat_ms = client_id, now_ms
        member.session_timeout_ms, member.rebalance_timeout_ms = (session_timeout_ms,
                                                                  rebalance_timeout_ms)
        if g.state == STABLE and member.protocols == protocols:
            return self._complete(token, self._join_response(g, member))  # no rebalance
        member.protocols = protocols
        member.join_token = token
        if g.state != PREPARING:
            self._prepare_rebalance(g, now_ms)
        self._maybe_complete_join(g, now_ms)

    def _fence_waiters(self, member: Member, error: str) -> None:
        for attr in ("join_token", "sync_token"):
            token = getattr(member, attr)
            if token is not None:
                setattr(member, attr, None)
                self._complete(token, _error(error))

    def _common_protocols(self, g: Group, protocols, member_id: str) -> list[str]:
        names = {name for name, _ in protocols}
        for m in g.members.values():
            if m.member_id != member_id:
                names &= {name for name, _ in m.protocols}
        return sorted(names)

    def _prepare_rebalance(self, g: Group, now_ms: int) -> None:
        for m in g.members.values():  # members waiting in SyncGroup must rejoin
            if m.sync_token is not None:
                self._complete(m.sync_token, _error("REBALANCE_IN_PROGRESS"))
                m.sync_token = None
        # A group forming from empty waits a moment for more members (Kafka's
        # group.initial.rebalance.delay.ms); otherwise members get their rebalance timeout.
        g.delay_join = g.state == EMPTY and self.initial_rebalance_delay_ms > 0
        timeout = max((m.rebalance_timeout_ms for m in g.members.values()), default=0)
        g.state = PREPARING
        g.rebalance_deadline_ms = now_ms + (self.initial_rebalance_delay_ms if g.delay_join
                                            else timeout)

    def _maybe_complete_join(self, g: Group, now_ms: int, deadline_passed: bool = False
                             ) -> None:
        if g.state != PREPARING:
            return
        everyone = all(m.join_token is not None for m in g.members.values())
        if not (deadline_passed or (everyone and not g.delay_join)):
            return
        for m in [m for m in g.members.values() if m.join_token is None]:
            self._remove(g, m)  # did not rejoin in time
        if not g.members:
            g.state, g.generation, g.leader, g.protocol = EMPTY, g.generation + 1, None, None
            g.protocol_type = None
            self._dirty.add(g.group_id)
            return
        g.generation += 1
        g.protocol = self._choose_protocol(g)
        if g.leader not in g.members:
            g.leader = next(iter(g.members))
        g.state = COMPLETING
        for m in g.members.values():
            m.assignment = None
            token, m.join_token = m.join_token, None
            self._complete(token, self._join_response(g, m))

    def _choose_protocol(self, g: Group) -> str:
        common = self._common_protocols(g, g.members[next(iter(g.members))].protocols, "")
        leader = g.members.get(g.leader) or next(iter(g.members.values()))
        for name, _ in leader.protocols:  # the leader's preference among the shared ones
            if name in common:
                return name
        raise AssertionError("members joined without a shared protocol")

    def _join_response(self, g: Group, m: Member) -> dict[str, Any]:
        response = {"error": "NONE", "generation": g.generation, "protocol": g.protocol,
                    "protocol_type": g.protocol_type, "leader": g.leader,
                    "member_id": m.member_id, "members": []}
        if m.member_id == g.leader:
            response["members"] = [
                {"member_id": x.member_id, "instance_id": x.instance_id,
                 "metadata": dict(x.protocols)[g.protocol]} for x in g.members.values()]
        return response

    # -- SyncGroup ------------------------------------------------------------------------

    def sync(self, token, group_id: str, member_id: str, generation: int,
             assignments: dict[str, Any] | None, now_ms: int) -> None:
        g = self.groups.get(group_id)
        problem = self._check_member(g, member_id, generation)
        if problem:
            return self._complete(token, _error(problem))
        if g.state == PREPARING:
            return self._complete(token, _error("REBALANCE_IN_PROGRESS"))
        m = g.members[member_id]
        m.last_heartbeat_ms = now_ms
        if g.state == STABLE:
            return self._complete(token, self._sync_response(g, m))
        m.sync_token = token
        if member_id == g.leader and assignments is not None:
            for mid, member in g.members.items():
                member.assignment = assignments.get(mid)
            g.state = STABLE
            self._dirty.add(g.group_id)
            for member in g.members.values():
                if member.sync_token is not None:
                    t, member.sync_token = member.sync_token, None
                    self._complete(t, self._sync_response(g, member))

    @staticmethod
    def _sync_response(g: Group, m: Member) -> dict[str, Any]:
        return {"error": "NONE", "assignment": m.assignment, "protocol": g.protocol,
                "protocol_type": g.protocol_type}

    # -- Heartbeat, LeaveGroup, time --------------------------------------------------------

    def heartbeat(self, group_id: str, member_id: str, generation: int,
                  now_ms: int) -> dict[str, Any]:
        g = self.groups.get(group_id)
        problem = self._check_member(g, member_id, generation)
        if problem:
            return _error(problem)
        g.members[member_id].last_heartbeat_ms = now_ms
        if g.state == PREPARING:
            return _error("REBALANCE_IN_PROGRESS")
        return _error("NONE")

    def leave(self, group_id: str, member_id: str, now_ms: int,
              instance_id: str | None = None) -> dict[str, Any]:
        """A member leaves, named by its member id or (KIP-345) its static instance id."""
        g = self.groups.get(group_id)
        if g is not None and instance_id is not None:
            known = g.static.get(instance_id)
            if known is None:
                return _error("UNKNOWN_MEMBER_ID")
            if member_id and member_id != known:
                return _error("FENCED_INSTANCE_ID")
            member_id = known
        if g is None or member_id not in g.members:
            return _error("UNKNOWN_MEMBER_ID")
        self._remove(g, g.members[member_id])
        self._after_departure(g, now_ms)
        return _error("NONE")

    def has_timers(self) -> bool:
        """Whether tick() could change anything: some member's session or some
        rebalance deadline is running. Only join() and restore() start one."""
        return any(g.members or g.state in (PREPARING, COMPLETING)
                   for g in self.groups.values())

    def tick(self, now_ms: int) -> None:
        for g in list(self.groups.values()):
            expired = [m for m in g.members.values() if m.join_token is None and
                       now_ms - m.last_heartbeat_ms > m.session_timeout_ms]
            for m in expired:
                self._remove(g, m)
            if expired:
                self._after_departure(g, now_ms)
            if g.state == PREPARING and now_ms >= g.rebalance_deadline_ms:
                self._maybe_complete_join(g, now_ms, deadline_passed=True)
            elif g.state == COMPLETING and now_ms >= g.rebalance_deadline_ms + max(
                    (m.rebalance_timeout_ms for m in g.members.values()), default=0):
                self._prepare_rebalance(g, now_ms)  # the leader never sent assignments

    def _after_departure(self, g: Group, now_ms: int) -> None:
        if not g.members:
            g.state, g.leader, g.protocol, g.protocol_type = EMPTY, None, None, None
            g.generation += 1
            self._dirty.add(g.group_id)
        elif g.state != PREPARING:
            self._prepare_rebalance(g, now_ms)
        self._maybe_complete_join(g, now_ms)

    def _remove(self, g: Group, m: Member) -> None:
        self._fence_waiters(m, "UNKNOWN_MEMBER_ID")
        del g.members[m.member_id]
        if m.instance_id is not None and g.static.get(m.instance_id) == m.member_id:
            del g.static[m.instance_id]
        if g.leader == m.member_id:
            g.leader = next(iter(g.members), None)

    def _check_member(self, g: Group | None, member_id: str, generation: int) -> str | None:
        if g is None or member_id not in g.members:
            return "UNKNOWN_MEMBER_ID"
        if generation != g.generation:
            return "ILLEGAL_GENERATION"
        return None

    # -- offsets --------------------------------------------------------------------------

    def check_commit(self, group_id: str, member_id: str, generation: int) -> str:
        """May this member commit now? Standalone consumers (no member id, generation -1)
        may commit only to a group with no members."""
        g = self.groups.get(group_id)
        if not member_id and generation < 0:
            return "NONE" if g is None or not g.members else "UNKNOWN_MEMBER_ID"
        problem = self._check_member(g, member_id, generation)
        if problem:
            return problem
        if g.state == COMPLETING:
            # Kafka's rule: while assignments are being handed out nobody commits; while
            # members rejoin (PreparingRebalance) they may, so a revoke can commit first.
            return "REBALANCE_IN_PROGRESS"
        return "NONE"

    def apply_commit(self, group_id: str, offsets: dict[tuple[str, int], tuple[int, str]],
                     log_offset: int = -1) -> None:
        """Committed offsets, once written to __consumer_offsets (or replayed from it) at
        `log_offset`; a commit from an earlier record than the one applied is ignored."""
        g = self.group(group_id)
        for tp, value in offsets.items():
            if log_offset >= g.offset_positions.get(tp, -1):
                g.offsets[tp] = value
                g.offset_positions[tp] = log_offset

    def committed(self, group_id: str) -> dict[tuple[str, int], tuple[int, str]]:
        g = self.groups.get(group_id)
        return dict(g.offsets) if g else {}

    def describe(self, group_id: str) -> dict[str, Any]:
        g = self.groups.get(group_id)
        if g is None:
            return {"group_id": group_id, "state": DEAD, "members": []}
        return {"group_id": group_id, "state": g.state, "generation": g.generation,
                "protocol_type": g.protocol_type or "consumer",
                "protocol": g.protocol, "leader": g.leader,
                "members": [{"member_id": m.member_id, "client_id": m.client_id,
                             "instance_id": m.instance_id, "host": m.host,
                             "metadata": dict(m.protocols).get(g.protocol),
                             "assignment": m.assignment}
                            for m in g.members.values()]}

    def list_groups(self) -> list[dict[str, Any]]:
        return [{"group_id": g.group_id, "state": g.state,
                 "protocol_type": g.protocol_type or "consumer"}
                for g in sorted(self.groups.values(), key=lambda g: g.group_id)]

    def delete(self, group_id: str) -> str:
        """Forget an empty group and its offsets (DeleteGroups); the shell writes the
        tombstones first. Returns the error name."""
        g = self.groups.get(group_id)
        if g is None or (g.state == EMPTY and not g.offsets and not g.generation):
            return "GROUP_ID_NOT_FOUND"
        if g.members:
            return "NON_EMPTY_GROUP"
        del self.groups[group_id]
        self._dirty.discard(group_id)
        return "NONE"

    # -- moving between coordinators --------------------------------------------------------

    def snapshot(self, group_id: str) -> dict[str, Any]:
        """The group's membership as a record for __consumer_offsets."""
        g = self.groups[group_id]
        return {"generation": g.generation, "protocol": g.protocol, "leader": g.leader,
                "protocol_type": g.protocol_type,
                "members": [{"member_id": m.member_id, "client_id": m.client_id,
                             "instance_id": m.instance_id, "host": m.host,
                             "session_timeout_ms": m.session_timeout_ms,
                             "rebalance_timeout_ms": m.rebalance_timeout_ms,
                             "protocols": [list(p) for p in m.protocols],
                             "assignment": m.assignment}
                            for m in g.members.values()] if g.state == STABLE else []}

    def restore(self, group_id: str, record: dict[str, Any], now_ms: int) -> None:
        """Take over a group from its record; its members get a fresh session to find us."""
        g = self.group(group_id)
        g.generation, g.protocol, g.leader = (record["generation"], record["protocol"],
                                              record["leader"])
        g.protocol_type = record.get("protocol_type")
        g.members, g.static = {}, {}
        for m in record["members"]:
            g.members[m["member_id"]] = Member(
                m["member_id"], m["client_id"], m["instance_id"], m["session_timeout_ms"],
                m["rebalance_timeout_ms"], [tuple(p) for p in m["protocols"]], now_ms,
                m["host"], assignment=m["assignment"])
            if m["instance_id"] is not None:
                g.static[m["instance_id"]] = m["member_id"]
        g.state = STABLE if g.members else EMPTY

    def unload(self, group_ids) -> None:
        """This broker no longer coordinates these groups: waiting members are told to
        find the new coordinator."""
        for group_id in group_ids:
            g = self.groups.pop(group_id, None)
            if g is not None:
                for m in g.members.values():
                    self._fence_waiters(m, "NOT_COORDINATOR")
                self._dirty.discard(group_id)
