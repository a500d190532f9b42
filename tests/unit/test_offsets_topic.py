"""__consumer_offsets: Kafka's group placement and the records' round trip."""

from mini_kafka.broker import offsets_topic as ot


def test_group_placement_matches_kafkas_java_hash():
    # Printed by Java 17's String.hashCode and Kafka's Utils.abs(h) % 50 on this host.
    for group, java_hash, partition in [("my-group", -1906497762, 12), ("hello", 99162322, 22),
                                        ("polygenelubricants", -(1 << 31), 0),
                                        ("\u00e9t\u00e9", 227742, 42),
                                        ("console-consumer-12345", 158455506, 6)]:
        assert ot.java_string_hash(group) == java_hash, group
        assert ot.partition_for(group, 50) == partition, group


def test_records_round_trip_and_unknown_ones_are_skipped():
    key, value = ot.offset_record("g", "t", 3, 42, "meta", 1000)
    assert ot.parse(key, value) == (ot.OFFSET, "g", ("t", 3), (42, "meta"))
    assert ot.parse(key, None) == (ot.OFFSET, "g", ("t", 3), None)
    key, value = ot.group_record("g", {"generation": 2, "members": []})
    assert ot.parse(key, value) == (ot.GROUP, "g", None, {"generation": 2, "members": []})
    assert ot.parse(b"\xff garbage", b"x") is None
    assert ot.parse(b'{"type": "future-kind"}', b"{}") is None


def test_the_topic_never_asks_more_in_sync_replicas_than_it_has():
    assert ot.topic_configs(1, 2) == {"cleanup.policy": "compact", "min.insync.replicas": "1"}
    assert ot.topic_configs(3, 2)["min.insync.replicas"] == "2"
