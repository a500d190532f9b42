"""The pure group coordinator: every transition, timeout and fencing case."""

from mini_kafka.broker.groups import (
    COMPLETING,
    EMPTY,
    PREPARING,
    STABLE,
    GroupCoordinatorState,
)

SESSION, REBALANCE = 1000, 3000
RANGE = [("range", {"topics": ["t"]})]


class Harness:
    def __init__(self, delay_ms=0):
        self.gc = GroupCoordinatorState(initial_rebalance_delay_ms=delay_ms)
        self.now = 0
        self.answers = {}

    def join(self, token, member_id="", instance_id=None, protocols=RANGE, client="c"):
        self.gc.join(token, "g", member_id, client_id=client, instance_id=instance_id,
                     session_timeout_ms=SESSION, rebalance_timeout_ms=REBALANCE,
                     protocols=protocols, now_ms=self.now)
        self._collect()

    def sync(self, token, member_id, generation, assignments=None):
        self.gc.sync(token, "g", member_id, generation, assignments, self.now)
        self._collect()

    def tick(self, ms):
        self.now += ms
        self.gc.tick(self.now)
        self._collect()

    def _collect(self):
        self.answers.update(dict(self.gc.take_completions()))

    @property
    def state(self):
        return self.gc.groups["g"].state


def stable_group(h, n):
    """A Stable group of n members: one joins and syncs alone, then the rest join and
    the leader rejoins, as real members would; returns (member ids, leader, generation)."""
    h.join("j0")
    first = h.answers["j0"]["member_id"]
    h.sync("s0", first, 1, {first: b""})
    if n > 1:
        for i in range(1, n):
            h.join(f"j{i}")
        h.join("j0-again", member_id=first)
    g = h.gc.groups["g"]
    ids, leader, gen = list(g.members), g.leader, g.generation
    h.sync("s-leader", leader, gen, {m: f"parts-of-{m}" for m in ids})
    for m in ids:
        if m != leader:
            h.sync(f"s-{m}", m, gen)
    assert h.state == STABLE and len(ids) == n
    return ids, leader, gen


def test_first_member_forms_a_group_and_leads_it():
    h = Harness()
    h.join("a")
    answer = h.answers["a"]
    assert answer["error"] == "NONE" and answer["generation"] == 1
    assert answer["leader"] == answer["member_id"] and len(answer["members"]) == 1
    assert h.state == COMPLETING
    h.sync("sa", answer["member_id"], 1, {answer["member_id"]: b"all"})
    assert h.answers["sa"] == {"error": "NONE", "assignment": b"all", "protocol": "range",
                              "protocol_type": "consumer"} and h.state == STABLE


def test_a_newcomer_triggers_a_rebalance_that_waits_for_everyone():
    h = Harness()
    ids, leader, gen = stable_group(h, 1)
    h.join("b")
    assert "b" not in h.answers and h.state == PREPARING  # waits for the leader to rejoin
    assert h.gc.heartbeat("g", leader, gen, h.now)["error"] == "REBALANCE_IN_PROGRESS"
    h.join("a2", member_id=leader)
    assert h.answers["b"]["generation"] == h.answers["a2"]["generation"] == gen + 1
    assert h.answers["a2"]["members"] and not h.answers["b"]["members"], "only the leader"
    b = h.answers["b"]["member_id"]
    h.sync("sb", b, gen + 1)
    assert "sb" not in h.answers, "a follower waits for the leader's assignment"
    h.sync("sa", leader, gen + 1, {leader: b"p0", b: b"p1"})
    assert h.answers["sb"]["assignment"] == b"p1" and h.answers["sa"]["assignment"] == b"p0"


def test_zombies_are_fenced_by_generation_and_member_id():
    h = Harness()
    ids, leader, gen = stable_group(h, 1)
    assert h.gc.heartbeat("g", leader, gen - 1, h.now)["error"] == "ILLEGAL_GENERATION"
    assert h.gc.heartbeat("g", "ghost", gen, h.now)["error"] == "UNKNOWN_MEMBER_ID"
    h.sync("old", leader, gen - 1)
    assert h.answers["old"]["error"] == "ILLEGAL_GENERATION"
    assert h.gc.check_commit("g", leader, gen - 1) == "ILLEGAL_GENERATION"
    assert h.gc.check_commit("g", "ghost", gen) == "UNKNOWN_MEMBER_ID"
    assert h.gc.check_commit("g", leader, gen) == "NONE"
    assert h.gc.check_commit("g", "", -1) == "UNKNOWN_MEMBER_ID", "group has members"
    h.join("x", member_id="ghost")
    assert h.answers["x"]["error"] == "UNKNOWN_MEMBER_ID"


def test_a_member_that_misses_its_session_is_removed_and_the_rest_rebalance():
    h = Harness()
    h.join("a")
    a = h.answers["a"]["member_id"]
    h.sync("sa", a, 1, {a: b"x"})
    h.join("b")
    h.join("a2", member_id=a)
    b = h.answers["b"]["member_id"]
    h.sync("sa2", a, 2, {a: b"1", b: b"2"})
    h.sync("sb", b, 2)
    assert h.state == STABLE
    h.tick(SESSION // 2)
    h.gc.heartbeat("g", a, 2, h.now)  # a keeps beating; b falls silent
    h.tick(SESSION // 2 + 1)
    assert b not in h.gc.groups["g"].members and h.state == PREPARING
    h.join("a3", member_id=a)
    assert h.answers["a3"]["generation"] == 3 and h.state == COMPLETING


def test_a_member_that_does_not_rejoin_in_time_is_dropped_at_the_deadline():
    h = Harness()
    ids, leader, gen = stable_group(h, 1)
    h.join("b")  # the leader never rejoins (a stuck poll loop)
    for _ in range(REBALANCE // 100):
        h.gc.heartbeat("g", leader, gen, h.now)  # its heartbeat thread is still alive
        h.tick(100)
    h.tick(1)
    assert leader not in h.gc.groups["g"].members
    assert h.answers["b"]["generation"] == gen + 1 and h.answers["b"]["members"]


def test_leaving_rebalances_and_the_last_one_out_empties_the_group():
    h = Harness()
    h.join("a")
    a = h.answers["a"]["member_id"]
    h.sync("sa", a, 1, {a: b""})
    assert h.gc.leave("g", a, h.now)["error"] == "NONE"
    assert h.state == EMPTY and not h.gc.groups["g"].members
    assert h.gc.leave("g", a, h.now)["error"] == "UNKNOWN_MEMBER_ID"
    assert h.gc.check_commit("g", "", -1) == "NONE", "an empty group takes plain commits"


def test_a_static_member_restarting_keeps_its_place_without_a_rebalance():
    h = Harness()
    h.join("a", instance_id="pod-0")
    a = h.answers["a"]["member_id"]
    h.sync("sa", a, 1, {a: b"mine"})
    h.join("restart", instance_id="pod-0")  # same instance, new process, no member id
    answer = h.answers["restart"]
    assert answer["error"] == "NONE" and answer["generation"] == 1 and h.state == STABLE
    new_id = answer["member_id"]
    assert new_id != a
    h.sync("s2", new_id, 1)
    assert h.answers["s2"]["assignment"] == b"mine"
    assert h.gc.heartbeat("g", a, 1, h.now)["error"] == "UNKNOWN_MEMBER_ID"
    h.join("zombie", member_id=a, instance_id="pod-0")
    assert h.answers["zombie"]["error"] == "FENCED_INSTANCE_ID"


def test_protocols_must_be_shared_and_the_leader_preference_wins():
    h = Harness()
    h.join("a", protocols=[("cooperative-sticky", b""), ("range", b"")])
    a = h.answers["a"]["member_id"]
    h.sync("sa", a, 1, {a: b""})
    h.join("bad", protocols=[("roundrobin", b"")])
    assert h.answers["bad"]["error"] == "INCONSISTENT_GROUP_PROTOCOL"
    h.join("b", protocols=[("range", b""), ("cooperative-sticky", b"")])
    h.join("a2", member_id=a, protocols=[("cooperative-sticky", b""), ("range", b"")])
    assert h.answers["b"]["protocol"] == "cooperative-sticky"


def test_the_initial_delay_gathers_members_before_the_first_generation():
    h = Harness(delay_ms=500)
    h.join("a")
    h.tick(100)
    h.join("b")
    assert not h.answers
    h.tick(400)
    assert h.answers["a"]["generation"] == h.answers["b"]["generation"] == 1
    assert len(h.answers[h.answers["a"]["leader"] == h.answers["a"]["member_id"]
                         and "a" or "b"]["members"]) == 2


def test_a_leader_that_never_assigns_triggers_another_rebalance():
    h = Harness()
    h.join("a")
    h.join("b")
    a = h.answers["a"]["member_id"]
    h.join("a2", member_id=a)
    b = h.answers["b"]["member_id"]
    h.sync("sb", b, 2)
    for _ in range(2 * REBALANCE // 500 + 1):  # both stay alive; the leader just never syncs
        h.gc.heartbeat("g", a, 2, h.now)
        h.gc.heartbeat("g", b, 2, h.now)
        h.tick(500)
    assert h.answers["sb"]["error"] == "REBALANCE_IN_PROGRESS" and h.state in (PREPARING,
                                                                               COMPLETING)


def test_committed_offsets_are_kept_per_group():
    h = Harness()
    h.gc.apply_commit("g", {("t", 0): (42, "meta")})
    h.gc.apply_commit("g", {("t", 1): (7, "")})
    assert h.gc.committed("g") == {("t", 0): (42, "meta"), ("t", 1): (7, "")}
    assert h.gc.committed("other") == {}
    assert h.gc.describe("other")["state"] == "Dead"


def test_commits_are_taken_while_members_rejoin_but_not_while_assignments_are_handed_out():
    h = Harness()
    ids, leader, gen = stable_group(h, 1)
    h.join("b")
    assert h.state == PREPARING
    assert h.gc.check_commit("g", leader, gen) == "NONE", "a revoking member may commit"
    h.join("a2", member_id=leader)
    assert h.state == COMPLETING
    assert h.gc.check_commit("g", leader, gen + 1) == "REBALANCE_IN_PROGRESS"


def test_an_older_commit_record_never_overwrites_a_newer_one():
    h = Harness()
    h.gc.apply_commit("g", {("t", 0): (20, "")}, log_offset=5)
    h.gc.apply_commit("g", {("t", 0): (10, "")}, log_offset=4)  # acknowledged later
    assert h.gc.committed("g") == {("t", 0): (20, "")}


def test_a_new_coordinator_restores_a_stable_group_and_its_members_carry_on():
    h = Harness()
    ids, leader, gen = stable_group(h, 2)
    assert h.gc.take_dirty() == ["g"] and h.gc.take_dirty() == []
    record = h.gc.snapshot("g")
    successor = Harness()
    successor.now = h.now
    successor.gc.restore("g", record, successor.now)
    assert successor.state == STABLE
    for m in ids:
        assert successor.gc.heartbeat("g", m, gen, successor.now)["error"] == "NONE"
    successor.sync("s", ids[1], gen)
    assert successor.answers["s"]["assignment"] == f"parts-of-{ids[1]}"
    successor.tick(SESSION + 1)  # nobody beats: the restored members expire as usual
    assert successor.state == EMPTY and successor.gc.take_dirty() == ["g"]
    assert successor.gc.snapshot("g")["members"] == []


def test_a_group_mid_rebalance_is_recorded_as_its_last_stable_generation_or_not_at_all():
    h = Harness()
    h.join("a")
    assert h.gc.snapshot("g")["members"] == [], "never stable: nothing to carry over"


def test_unloading_tells_waiting_members_to_find_the_new_coordinator():
    h = Harness()
    ids, leader, gen = stable_group(h, 1)
    h.join("b")  # waits in JoinGroup for the leader
    h.gc.unload(["g"])
    h._collect()
    assert h.answers["b"]["error"] == "NOT_COORDINATOR"
    assert "g" not in h.gc.groups


def test_timers_run_only_while_a_group_has_members_or_a_rebalance():
    """What lets the broker's tick loop sleep while no group has anyone in it."""
    h = Harness(delay_ms=300)
    assert not h.gc.has_timers()
    h.gc.committed("g")  # reading offsets of an unknown group starts nothing
    assert not h.gc.has_timers()
    h.join("a")  # waits out the initial rebalance delay
    assert h.state == PREPARING and h.gc.has_timers()
    h.tick(300)
    a = h.answers["a"]["member_id"]
    h.sync("sa", a, 1, {a: b"x"})
    assert h.state == STABLE and h.gc.has_timers()  # its session runs
    live = h.gc.snapshot("g")
    h.tick(SESSION + 1)  # it falls silent and is removed
    assert h.state == EMPTY and not h.gc.has_timers()
    restored = GroupCoordinatorState()
    restored.restore("g", h.gc.snapshot("g"), 0)  # an empty group, restored: still idle
    assert not restored.has_timers()
    restored.restore("g", live, 0)  # a new coordinator takes over a live group
    assert restored.has_timers()
