import random
from collections import Counter

from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from mini_kafka.partitioner import StickyPartitioner, murmur2, partition_for_key


def test_murmur2_matches_kafka_python_for_every_tail_length():
    rng = random.Random(3)
    keys = [b"", b"a", b"ab", b"abc", b"abcd", b"hello", "ünïcödé".encode()]
    keys += [rng.randbytes(rng.randint(0, 64)) for _ in range(2000)]
    for key in keys:
        # kafka-python returns the unsigned form of Java's signed int: compare the bits.
        assert murmur2(key) & 0xFFFFFFFF == kafka_python_murmur2(bytearray(key)) & 0xFFFFFFFF
        assert partition_for_key(key, 7) == (kafka_python_murmur2(bytearray(key))
                                             & 0x7FFFFFFF) % 7


def test_known_kafka_values():
    # Kafka's own test vectors (UtilsTest.testMurmur2).
    assert murmur2(b"21") == -973932308
    assert murmur2(b"foobar") == -790332482
    assert murmur2(b"a-little-bit-long-string") == -985981536
    assert murmur2(b"a-little-bit-longer-string") == -1486304829
    assert murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971
    assert murmur2(b"abc") == 479470107


def test_same_key_same_partition_and_null_keys_spread_evenly():
    assert len({partition_for_key(b"user-42", 6) for _ in range(10)}) == 1
    sticky = StickyPartitioner(batch_size=1000, rng=random.Random(1))
    chosen = [sticky.partition("t", 6, 100) for _ in range(600)]
    # Ten 100-byte records fill a batch: runs of ten on one partition, then the next.
    runs = [chosen[i:i + 10] for i in range(0, 600, 10)]
    assert all(len(set(run)) == 1 for run in runs)
    assert [run[0] for run in runs[1:]] == [(run[0] + 1) % 6 for run in runs[:-1]]
    assert Counter(chosen) == {p: 100 for p in range(6)}


def test_keyless_producers_start_on_different_partitions_and_topics_stick_apart():
    starts = {StickyPartitioner(1000, random.Random(seed)).partition("t", 6, 1)
              for seed in range(20)}
    assert len(starts) > 1
    sticky = StickyPartitioner(1000, random.Random(2))
    first_a, first_b = sticky.partition("a", 3, 600), sticky.partition("b", 3, 600)
    assert sticky.partition("a", 3, 600) == first_a  # b's records do not move a on
    assert sticky.partition("a", 3, 600) == (first_a + 1) % 3
    assert sticky.partition("b", 3, 100) == first_b


def test_runs_put_records_exactly_where_one_call_per_record_would():
    for trial in range(200):
        rnd = random.Random(trial)
        batch_size = rnd.choice([1, 50, 100, 1000, 16384])
        one, runs = (StickyPartitioner(batch_size, random.Random(7)) for _ in range(2))
        for _ in range(4):  # successive calls carry the sticky state over
            sizes = [rnd.randint(1, 300) for _ in range(rnd.randint(0, 200))]
            count = rnd.randint(1, 7)
            expected = [one.partition("t", count, s) for s in sizes]
            got = []
            for partition, start, end in runs.runs("t", count, sizes):
                assert end > start
                got += [partition] * (end - start)
            assert got == expected, (trial, batch_size)
