import random
from collections import Counter

from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from mini_kafka.partitioner import RoundRobin, murmur2, partition_for_key


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
    rr = RoundRobin()
    counts = Counter(rr.next("t", 6) for _ in range(600))
    assert counts == {p: 100 for p in range(6)}
