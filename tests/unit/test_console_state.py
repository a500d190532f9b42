"""The console's pure core: events, rates, CPU and lag curves from successive snapshots,
and the views' flags (under-replicated, offline, faults in force)."""

from mini_kafka.console.snapshot import GroupReading, NodeReading, Snapshot
from mini_kafka.console.state import ConsoleState
from mini_kafka.metadata import MetadataImage


def image(offset, isr=(1, 2, 3), leader=1, fenced=(), epoch=0):
    img = MetadataImage()
    img.apply(offset, [
        *({"type": "broker", "id": b, "endpoint": f"tcp://h:{b}", "epoch": 10 + b,
           "incarnation": "x", "fenced": b in fenced} for b in (1, 2, 3)),
        {"type": "topic", "name": "orders", "partitions": 2, "replication_factor": 3,
         "configs": {}},
        {"type": "topic", "name": "__consumer_offsets", "partitions": 1,
         "replication_factor": 3, "configs": {}},
        *({"type": "partition", "topic": "orders", "partition": p, "replicas": [1, 2, 3],
           "leader": leader, "leader_epoch": epoch, "isr": list(isr), "partition_epoch": 0}
          for p in (0, 1)),
        {"type": "partition", "topic": "__consumer_offsets", "partition": 0,
         "replicas": [1, 2, 3], "leader": 1, "leader_epoch": 0, "isr": [1, 2, 3],
         "partition_epoch": 0}])
    return img


def nodes(states=None, leader="coordinator-1", term=1, produced=0, cpu_s=1.0, pids=None):
    states = states or {}
    pids = pids or {}
    out = []
    for role, count in (("coordinator", 3), ("broker", 3)):
        for i in range(1, count + 1):
            name = f"{role}-{i}"
            info = {"uptime_ms": 5000, "ready": True, "faults": []}
            if role == "coordinator":
                info.update(raft_role="leader" if name == leader else "follower", term=term,
                            commit_index=40)
            else:
                info.update(traffic={"produced_records": produced, "produced_bytes": 10 * produced,
                                     "fetched_records": 0, "fetched_bytes": 0},
                            log_bytes={"orders/0": 100 * i})
            state = states.get(name, "up")
            out.append(NodeReading(name, role, state, pids.get(name, 100 + i), f"tcp://h:{i}",
                                   info if state != "dead" else {}, cpu_s=cpu_s, rss_bytes=1 << 20))
    return out


def snap(at_ms, **kw):
    return Snapshot(at_ms, True, nodes=kw.pop("nodes", None) or nodes(), **kw)


def new_state():
    return ConsoleState(history_ms=60_000, events_max=100, min_insync_default=2)


def test_a_broker_death_is_one_story_per_kind_with_the_chaos_fault_that_caused_it():
    state = new_state()
    state.update(snap(1_000, metadata=image(5)))
    kill = {"at_ms": 1_500, "op": "kill", "nodes": ["broker-2"], "by": "console",
            "signal": "SIGKILL"}
    events = state.update(snap(2_000, metadata=image(6, isr=(1, 3), fenced=(2,)),
                               nodes=nodes({"broker-2": "dead"}), chaos=[kill]))
    by_kind = {e["kind"]: e for e in events}
    assert by_kind["chaos"]["text"] == "chaos: broker-2 killed (SIGKILL)"
    assert by_kind["chaos"]["at_ms"] == 1_500 and by_kind["chaos"]["by"] == "console"
    assert by_kind["node"]["text"] == "broker-2 is dead"
    assert by_kind["fencing"]["text"] == "broker 2 fenced (epoch 12)"
    assert by_kind["isr_shrink"]["text"] == "ISR shrink: broker 2 left the ISR of 2 partitions"
    assert by_kind["isr_shrink"]["details"] == ["orders/0: [1, 2, 3] → [1, 3]",
                                                "orders/1: [1, 2, 3] → [1, 3]"]
    assert [e["at_ms"] for e in state.timeline()["events"]] == sorted(
        e["at_ms"] for e in events)


def test_elections_offline_partitions_expansions_and_a_new_controller():
    state = new_state()
    state.update(snap(1_000, metadata=image(5, isr=(1, 3))))
    events = state.update(snap(2_000, metadata=image(6, isr=(1, 2, 3), leader=3, epoch=1),
                               nodes=nodes(leader="coordinator-2", term=2)))
    texts = [e["text"] for e in events]
    assert "controller is coordinator-2, term 2 (was coordinator-1)" in texts
    assert "leader election: 2 partitions" in texts
    assert "ISR expand: broker 2 rejoined the ISR of 2 partitions" in texts
    events = state.update(snap(3_000, metadata=image(7, isr=(), leader=-1, epoch=2),
                               nodes=nodes(leader="coordinator-2", term=2)))
    assert {e["kind"] for e in events} == {"offline", "isr_shrink"}
    topics = {t["name"]: t for t in state.topics()["topics"]}
    assert topics["orders"]["offline"] == 2 and topics["orders"]["partitions"][0]["offline"]


def test_topics_flag_under_replicated_and_below_min_isr_and_list_internal_topics_last():
    state = new_state()
    state.update(snap(1_000, metadata=image(5, isr=(1,)), offsets={
        "orders/0": {"high_watermark": 7, "log_end_offset": 9}}))
    topics = state.topics()["topics"]
    assert [t["name"] for t in topics] == ["orders", "__consumer_offsets"]
    assert topics[1]["internal"] and not topics[0]["internal"]
    p0 = topics[0]["partitions"][0]
    assert p0["under_replicated"] and p0["under_min_isr"] and not p0["offline"]
    assert (p0["high_watermark"], p0["log_end_offset"]) == (7, 9)
    assert p0["size_bytes"] == 100 and p0["replica_bytes"] == {"1": 100, "2": 200, "3": 300}
    assert topics[0]["under_replicated"] == 2


def test_rates_count_only_brokers_seen_by_the_same_process_in_both_snapshots():
    state = new_state()
    state.update(snap(1_000, nodes=nodes(produced=100, cpu_s=1.0)))
    state.update(snap(3_000, nodes=nodes(produced=300, cpu_s=1.5)))
    assert state.rates["produced_records"].last == 300.0  # 3 brokers x 200 records / 2 s
    assert state.cpu["broker-1"] == 25.0  # 0.5 s of CPU in 2 s
    state.update(snap(4_000, nodes=nodes(produced=5, pids={"broker-1": 999})))  # restarted
    assert state.rates["produced_records"].last == 0.0
    assert "broker-1" not in state.cpu


def test_lag_per_partition_and_its_curve_over_the_window():
    state = new_state()
    group = GroupReading("billing", "Stable", "range", [
        {"member_id": "m1", "client_id": "c1", "host": "h", "partitions": [["orders", 0]]}],
        {"orders/0": 10})
    for at_ms, hw in ((1_000, 10), (2_000, 50), (3_000, 10)):
        group.committed = {"orders/0": 10}
        state.update(snap(at_ms, groups=[group],
                          offsets={"orders/0": {"high_watermark": hw, "log_end_offset": hw}}))
    [g] = state.groups()["groups"]
    assert g["total_lag"] == 0 and g["partitions"][0]["member"] == "m1"
    assert g["lag_history"] == [[1_000, 0], [2_000, 40], [3_000, 0]]
    assert g["partitions"][0]["lag_history"] == g["lag_history"]
    state.update(snap(200_000, groups=[]))  # gone, and out of the window
    assert state.lag_history() == {}


def test_faults_in_force_are_dead_and_paused_nodes_and_fault_rules():
    ns = nodes({"broker-1": "dead", "broker-2": "paused"})
    ns[5].info["faults"] = [{"peer": "broker-1", "direction": "out", "drop_rate": 1.0,
                             "delay_ms": 0, "jitter_ms": 0}]
    state = new_state()
    state.update(snap(1_000, nodes=ns))
    assert [f["text"] for f in state.faults()["faults"]] == [
        "broker-1 is dead", "broker-2 is paused", "broker-3: cut off to broker-1"]


def test_history_and_event_count_are_bounded():
    state = ConsoleState(history_ms=10_000, events_max=3, min_insync_default=2)
    for i in range(10):
        state.update(snap(1_000 * i, chaos=[{"at_ms": 1_000 * i, "op": "heal", "nodes": []}]))
    assert [e["at_ms"] for e in state.events] == [7_000, 8_000, 9_000]
    assert len(state.rates["produced_records"].points) <= 11


def test_a_failed_group_read_keeps_the_last_groups_without_adding_to_the_curve():
    state = new_state()
    group = GroupReading("billing", "Stable", "range", [], {"orders/0": 1})
    offsets = {"orders/0": {"high_watermark": 5, "log_end_offset": 5}}
    state.update(snap(1_000, groups=[group], offsets=offsets))
    state.update(snap(2_000, groups=None, offsets=offsets, errors={"groups": "NETWORK"}))
    [g] = state.groups()["groups"]
    assert g["total_lag"] == 4 and g["lag_history"] == [[1_000, 4]]
