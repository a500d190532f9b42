"""A pure Raft node: ticked, stepped with messages, given proposals; its outputs are
collected in a Ready for the shell to persist, send and apply (etcd's RawNode shape).

Beyond the paper's core it has:
- pre-vote: a node whose election timer fires first asks whether it could win, without
  raising its term, so a node rejoining from a partition cannot depose a healthy leader;
- leader stickiness: a node that heard from a live leader within the election timeout
  ignores (pre-)vote requests;
- check-quorum: a leader that has not heard from a majority within an election timeout
  steps down, so a partitioned leader stops acting as one;
- fast backtracking: a rejection carries the conflicting term and its first index;
- snapshots: the shell compacts the log; lagging followers are sent the snapshot;
- read-index: a linearizable read waits for a heartbeat round acknowledged by a majority;
- a dead leader noticed at once: the shell reports a peer whose process it saw die (its
  connection dropped); a follower of that peer stops counting it as a live leader and,
  when the shell says so, campaigns without waiting out its election timeout. Pre-vote
  and stickiness keep a false report harmless: peers that still hear the leader refuse.

No clock, no sockets, no global randomness: time is `tick()`, randomness an injected
random.Random, and I/O is the shell's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from mini_kafka.raft.messages import (
    APPEND,
    APPEND_RESP,
    PRE_VOTE,
    PRE_VOTE_RESP,
    SNAPSHOT,
    VOTE,
    VOTE_RESP,
    Entry,
    Msg,
    Ready,
    Snapshot,
)

FOLLOWER, PRE_CANDIDATE, CANDIDATE, LEADER = "follower", "pre_candidate", "candidate", "leader"


class NotLeader(Exception):
    def __init__(self, leader: int | None):
        super().__init__(f"not the leader (leader: {leader})")
        self.leader = leader


@dataclass(frozen=True)
class RaftConfig:
    election_ticks: int = 10  # randomised to [election_ticks, 2 * election_ticks)
    # Election timeouts until the node first hears of a leader after it starts
    # (randomised alike), so a fresh ensemble elects quickly; None: election_ticks.
    startup_election_ticks: int | None = None
    heartbeat_ticks: int = 1
    max_entries_per_append: int = 256


@dataclass
class _Progress:
    match: int = 0
    next: int = 1


@dataclass
class _ReadRound:
    request: Any
    index: int
    acks: set[int]


class RaftNode:
    def __init__(self, node_id: int, voters: list[int], config: RaftConfig, rng: random.Random,
                 *, term: int = 0, voted_for: int | None = None,
                 snapshot: Snapshot | None = None, entries: list[Entry] | None = None):
        assert node_id in voters, f"node {node_id} is not among the voters {voters}"
        self.id = node_id
        self.voters = sorted(voters)
        self.peers = [v for v in self.voters if v != node_id]
        self.quorum = len(self.voters) // 2 + 1
        self.config = config
        self.rng = rng
        self.term = term
        self.voted_for = voted_for
        self.snapshot = snapshot or Snapshot(0, 0, None)
        self.log: list[Entry] = list(entries or [])
        assert not self.log or self.log[0].index == self.snapshot.index + 1, "log gap"
        self.commit = self.snapshot.index
        self.applied = self.snapshot.index
        self.role = FOLLOWER
        self.leader: int | None = None
        self.progress: dict[int, _Progress] = {}
        self.votes: dict[int, bool] = {}
        self.recent_active: set[int] = set()
        self.reads: dict[int, _ReadRound] = {}
        self.pending_reads: list[Any] = []
        self._read_ctx = 0
        self._unheard_vote: Msg | None = None  # the last vote request a live leader's lease hid
        self._ready = Ready()
        self._leader_seen = False  # since this node started
        self._reset_election_timer()

    # -- the log --------------------------------------------------------------------------

    @property
    def last_index(self) -> int:
        return self.log[-1].index if self.log else self.snapshot.index

    @property
    def last_term(self) -> int:
        return self.log[-1].term if self.log else self.snapshot.term

    def term_at(self, index: int) -> int | None:
        """The term of the entry at `index`; None if compacted away or beyond the log."""
        if index == self.snapshot.index:
            return self.snapshot.term
        pos = index - self.snapshot.index - 1
        if 0 <= pos < len(self.log):
            return self.log[pos].term
        return None

    def entries_from(self, index: int, limit: int) -> list[Entry]:
        pos = index - self.snapshot.index - 1
        assert pos >= 0, f"entry {index} is compacted (snapshot at {self.snapshot.index})"
        return self.log[pos:pos + limit]

    def _append(self, entries: list[Entry]) -> None:
        self.log.extend(entries)
        self._ready.entries.extend(entries)

    def _truncate_from(self, index: int) -> None:
        del self.log[index - self.snapshot.index - 1:]
        r = self._ready
        r.entries = [e for e in r.entries if e.index < index]
        r.truncate_from = index if r.truncate_from is None else min(r.truncate_from, index)

    # -- outputs --------------------------------------------------------------------------

    def ready(self) -> Ready:
        """Take what has accumulated since the last call."""
        if self.applied < self.commit:
            self._ready.committed.extend(
                self.entries_from(self.applied + 1, self.commit - self.applied))
            self.applied = self.commit
        out, self._ready = self._ready, Ready()
        return out

    def _send(self, msg: Msg) -> None:
        self._ready.messages.append(msg)

    def _set_hard_state(self, term: int, voted_for: int | None) -> None:
        if (term, voted_for) != (self.term, self.voted_for):
            self.term, self.voted_for = term, voted_for
            self._ready.hard_state = (term, voted_for)

    # -- time -----------------------------------------------------------------------------

    def _reset_election_timer(self) -> None:
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self._leader_seen |= self.leader is not None
        e = self.config.election_ticks
        if self.config.startup_election_ticks is not None and not self._leader_seen:
            e = self.config.startup_election_ticks  # nobody leads that we know of yet
        self.randomized_timeout = self.rng.randrange(e, 2 * e)

    def tick(self) -> None:
        self.election_elapsed += 1
        if self.role == LEADER:
            self.heartbeat_elapsed += 1
            if self.election_elapsed >= self.config.election_ticks:
                self.election_elapsed = 0
                if len(self.recent_active | {self.id}) < self.quorum:
                    self._become_follower(self.term, None)  # check-quorum: we are cut off
                    return
                self.recent_active = set()
            if self.heartbeat_elapsed >= self.config.heartbeat_ticks:
                self.heartbeat_elapsed = 0
                self._broadcast_append()
        elif self.election_elapsed >= self.randomized_timeout:
            self._become_pre_candidate()

    def ticks_until_due(self) -> int:
        """How many more tick() calls until one acts (a heartbeat, a check-quorum round,
        an election): the ticks before it change nothing but counters, so a shell may
        apply them all at once, later (raft/timer.py)."""
        if self.role == LEADER:
            return max(1, min(self.config.heartbeat_ticks - self.heartbeat_elapsed,
                              self.config.election_ticks - self.election_elapsed))
        return max(1, self.randomized_timeout - self.election_elapsed)

    def _in_lease(self) -> bool:
        """We lead, or heard from a live leader less than an election timeout ago (a
        leader's election_elapsed restarts at every check-quorum round)."""
        return self.leader is not None and self.election_elapsed < self.config.election_ticks

    def peer_lost(self, peer: int) -> int | None:
        """The shell saw `peer`'s process die. If it was our leader, its lease is void
        (we may grant votes at once), and this returns our turn: the shell calls
        campaign() after that many heartbeat intervals (and less than one more). The
        followers see the death within a millisecond of each other, so random pauses
        alone would often start two campaigns together and split the vote; turns in
        voter order leave each campaign a heartbeat interval to finish before the next
        one starts (it then finds a leader and does nothing). None: nothing to do."""
        if self.role != FOLLOWER or self.leader != peer:
            return None
        self.leader = None
        # A follower that saw the death first may already have asked us, and the lease
        # hid its request: hear it now (the candidate does not ask twice before its
        # election timeout, and our own turn's pre-vote would be refused at its term).
        unheard, self._unheard_vote = self._unheard_vote, None
        if unheard is not None:
            self.step(unheard)
        return [v for v in self.voters if v != peer].index(self.id)

    def campaign(self) -> None:
        """Start a pre-vote now, unless a leader has been heard from meanwhile or an
        election is already under way."""
        if self.role == FOLLOWER and self.leader is None:
            self._become_pre_candidate()

    # -- roles ----------------------------------------------------------------------------

    def _become_follower(self, term: int, leader: int | None) -> None:
        self._set_hard_state(term, self.voted_for if term == self.term else None)
        self.role = FOLLOWER
        self.leader = leader
        self.progress = {}
        self.reads = {}
        self._reset_election_timer()

    def _become_pre_candidate(self) -> None:
        self.role = PRE_CANDIDATE
        self.leader = None
        self.votes = {self.id: True}
        self._reset_election_timer()
        if self._tally() is True:
            self._become_candidate()
            return
        for peer in self.peers:
            self._send(Msg(PRE_VOTE, self.id, peer, self.term + 1,
                           last_index=self.last_index, last_term=self.last_term))

    def _become_candidate(self) -> None:
        self.role = CANDIDATE
        self.leader = None
        self._set_hard_state(self.term + 1, self.id)
        self.votes = {self.id: True}
        self._reset_election_timer()
        if self._tally() is True:
            self._become_leader()
            return
        for peer in self.peers:
            self._send(Msg(VOTE, self.id, peer, self.term,
                           last_index=self.last_index, last_term=self.last_term))

    def _become_leader(self) -> None:
        self.role = LEADER
        self.leader = self.id
        self.progress = {p: _Progress(0, self.last_index + 1) for p in self.peers}
        self.recent_active = set()
        self._reset_election_timer()
        # A no-op in our term lets entries from earlier terms commit (Raft §5.4.2).
        self._append([Entry(self.term, self.last_index + 1, None)])
        self._maybe_commit()
        self._broadcast_append()

    def _tally(self) -> bool | None:
        yes = sum(1 for v in self.votes.values() if v)
        no = len(self.votes) - yes
        if yes >= self.quorum:
            return True
        if no >= self.quorum:
            return False
        return None

    # -- proposals and reads --------------------------------------------------------------

    def propose(self, data: Any) -> tuple[int, int]:
        """Append `data` to the log; returns (index, term). It is committed only if an
        entry with this index and term is later applied."""
        if self.role != LEADER:
            raise NotLeader(self.leader)
        entry = Entry(self.term, self.last_index + 1, data)
        self._append([entry])
        self._maybe_commit()
        self._broadcast_append()
        return entry.index, entry.term

    def read_index(self, request: Any) -> None:
        """Ask for a linearizable read point. When a majority confirms this node still
        leads, `request` comes back in Ready.read_states with the commit index to wait
        for before reading."""
        if self.role != LEADER:
            raise NotLeader(self.leader)
        if self.term_at(self.commit) != self.term:
            self.pending_reads.append(request)  # our commit index is not yet known current
            return
        self._start_read_round(request)

    def _start_read_round(self, request: Any) -> None:
        if self.quorum == 1:
            self._ready.read_states.append((request, self.commit))
            return
        self._read_ctx += 1
        self.reads[self._read_ctx] = _ReadRound(request, self.commit, {self.id})
        for peer in self.peers:
            self._send_append(peer, ctx=self._read_ctx)

    def compact(self, index: int, data: Any) -> None:
        """The shell saved a snapshot of the state machine at applied `index`: drop the
        log up to it."""
        assert self.snapshot.index <= index <= self.applied, \
            f"cannot compact to {index} (snapshot {self.snapshot.index}, applied {self.applied})"
        term = self.term_at(index)
        self.log = self.log[index - self.snapshot.index:]
        self.snapshot = Snapshot(index, term, data)

    # -- messages -------------------------------------------------------------------------

    def step(self, m: Msg) -> None:
        if m.dst != self.id or m.src not in self.voters:
            return
        if m.term > self.term:
            if m.type in (PRE_VOTE, VOTE) and self._in_lease():
                self._unheard_vote = m  # reconsidered if the leader is seen dead
                return  # a live leader exists: do not let a rejoining node disrupt it
            if m.type == PRE_VOTE or (m.type == PRE_VOTE_RESP and m.granted):
                pass  # pre-votes never change anyone's term
            else:
                self._become_follower(m.term, m.src if m.type in (APPEND, SNAPSHOT) else None)
        elif m.term < self.term:
            if m.type in (APPEND, SNAPSHOT):
                # A deposed leader: answer with our term so it steps down.
                self._send(Msg(APPEND_RESP, self.id, m.src, self.term))
            elif m.type == PRE_VOTE:
                self._send(Msg(PRE_VOTE_RESP, self.id, m.src, self.term, granted=False))
            return
        handler = getattr(self, f"_on_{m.type}")
        handler(m)

    def _log_ok(self, last_term: int, last_index: int) -> bool:
        return (last_term, last_index) >= (self.last_term, self.last_index)

    def _on_pre_vote(self, m: Msg) -> None:
        granted = m.term > self.term and self._log_ok(m.last_term, m.last_index)
        self._send(Msg(PRE_VOTE_RESP, self.id, m.src, m.term if granted else self.term,
                       granted=granted))

    def _on_vote(self, m: Msg) -> None:
        granted = (self.voted_for in (None, m.src) and self.role == FOLLOWER
                   and self._log_ok(m.last_term, m.last_index))
        if granted:
            self._set_hard_state(self.term, m.src)
            self._reset_election_timer()
        self._send(Msg(VOTE_RESP, self.id, m.src, self.term, granted=granted))

    def _on_pre_vote_resp(self, m: Msg) -> None:
        if self.role == PRE_CANDIDATE and m.term == self.term + 1:
            self._count_vote(m, on_win=self._become_candidate)

    def _on_vote_resp(self, m: Msg) -> None:
        if self.role == CANDIDATE:
            self._count_vote(m, on_win=self._become_leader)

    def _count_vote(self, m: Msg, on_win) -> None:
        self.votes[m.src] = m.granted
        result = self._tally()
        if result is True:
            on_win()
        elif result is False:
            self._become_follower(self.term, None)

    def _on_append(self, m: Msg) -> None:
        if self.role != FOLLOWER:
            self._become_follower(self.term, m.src)
        self.leader = m.src
        self._reset_election_timer()
        prev_index, prev_term, entries = m.prev_index, m.prev_term, m.entries
        if prev_index < self.commit:
            # Our committed prefix matches the leader's log (leader completeness): keep
            # only what lies beyond it.
            entries = tuple(e for e in entries if e.index > self.commit)
            prev_index, prev_term = self.commit, self.term_at(self.commit)
        elif self.term_at(prev_index) != prev_term:
            self._send(self._rejection(m))
            return
        for entry in entries:
            existing = self.term_at(entry.index)
            if existing == entry.term:
                continue
            if existing is not None:
                assert entry.index > self.commit, "a committed entry would be overwritten"
                self._truncate_from(entry.index)
            self._append([e for e in entries if e.index >= entry.index])
            break
        last_new = prev_index + len(entries)
        if min(m.commit, last_new) > self.commit:
            self.commit = min(m.commit, last_new)
        self._send(Msg(APPEND_RESP, self.id, m.src, self.term, ctx=m.ctx, success=True,
                       match_index=last_new))

    def _rejection(self, m: Msg) -> Msg:
        if m.prev_index > self.last_index:
            hint_index, hint_term = self.last_index + 1, -1
        else:
            hint_term = self.term_at(m.prev_index)
            hint_index = m.prev_index
            while hint_index - 1 > self.commit and self.term_at(hint_index - 1) == hint_term:
                hint_index -= 1
        return Msg(APPEND_RESP, self.id, m.src, self.term, ctx=m.ctx, success=False,
                   hint_index=hint_index, hint_term=hint_term)

    def _on_snapshot(self, m: Msg) -> None:
        if self.role != FOLLOWER:
            self._become_follower(self.term, m.src)
        self.leader = m.src
        self._reset_election_timer()
        snap = m.snapshot
        if snap.index > self.commit:
            if self.term_at(snap.index) == snap.term:
                self.log = self.log[snap.index - self.snapshot.index:]
            else:
                self.log = []  # our log disagrees with the snapshot: all of it goes
                r = self._ready
                r.truncate_from = snap.index + 1 if r.truncate_from is None else \
                    min(r.truncate_from, snap.index + 1)
            self.snapshot = snap
            self.commit = self.applied = snap.index
            self._ready.snapshot = snap
            self._ready.committed = []
            self._ready.entries = [e for e in self._ready.entries if e.index > snap.index]
        self._send(Msg(APPEND_RESP, self.id, m.src, self.term, success=True,
                       match_index=self.commit))

    def _on_append_resp(self, m: Msg) -> None:
        if self.role != LEADER:
            return
        self.recent_active.add(m.src)
        pr = self.progress[m.src]
        if m.success:
            if m.match_index > pr.match:
                pr.match = m.match_index
                self._maybe_commit()
            pr.next = max(pr.next, pr.match + 1)
            if m.ctx in self.reads:
                self._ack_read(m.ctx, m.src)
            if pr.next <= self.last_index:
                self._send_append(m.src)
            return
        next_index = m.hint_index
        if m.hint_term >= 0:
            last_of_term = self._last_index_of_term(m.hint_term, upto=m.hint_index)
            if last_of_term is not None:
                next_index = last_of_term + 1
        pr.next = max(pr.match + 1, min(next_index, self.last_index + 1))
        self._send_append(m.src)

    def _last_index_of_term(self, term: int, upto: int) -> int | None:
        i = min(upto, self.last_index)
        while i > self.snapshot.index:
            t = self.term_at(i)
            if t == term:
                return i
            if t < term:
                return None
            i -= 1
        return None

    def _ack_read(self, ctx: int, peer: int) -> None:
        rounds = self.reads[ctx]
        rounds.acks.add(peer)
        if len(rounds.acks) >= self.quorum:
            # This round confirms leadership for it and every earlier round.
            for c in sorted(k for k in self.reads if k <= ctx):
                done = self.reads.pop(c)
                self._ready.read_states.append((done.request, done.index))

    # -- leader replication ---------------------------------------------------------------

    def _broadcast_append(self) -> None:
        # A heartbeat does not resend what a follower has not acknowledged yet: its
        # prev_index is the last entry sent, so a follower that lost an append rejects it
        # and is resent from its hint, and one whose answer was lost answers it with its
        # match. Resending every unacknowledged entry at each heartbeat made a follower
        # slowed by its disk (an fsync behind 100 brokers' writes) decode the same large
        # entries again every 500 ms, slowing it further.
        for peer in self.peers:
            self._send_append(peer)

    def _send_append(self, peer: int, ctx: int = 0) -> None:
        pr = self.progress[peer]
        if pr.next <= self.snapshot.index:
            self._send(Msg(SNAPSHOT, self.id, peer, self.term, snapshot=self.snapshot))
            pr.next = self.snapshot.index + 1
            return
        prev = pr.next - 1
        entries = tuple(self.entries_from(pr.next, self.config.max_entries_per_append))
        self._send(Msg(APPEND, self.id, peer, self.term, prev_index=prev,
                       prev_term=self.term_at(prev), entries=entries,
                       commit=self.commit, ctx=ctx))
        if entries:
            pr.next = entries[-1].index + 1  # pipeline; unacked entries resend on heartbeat

    def _maybe_commit(self) -> None:
        matches = sorted([self.last_index] + [p.match for p in self.progress.values()],
                         reverse=True)
        candidate = matches[self.quorum - 1]
        if candidate > self.commit and self.term_at(candidate) == self.term:
            first_in_term = self.term_at(self.commit) != self.term
            self.commit = candidate
            if first_in_term and self.pending_reads:
                pending, self.pending_reads = self.pending_reads, []
                for request in pending:
                    self._start_read_round(request)
            for peer in self.peers:  # tell followers now, not at the next heartbeat
                if self.progress[peer].next > self.last_index:
                    self._send_append(peer)
