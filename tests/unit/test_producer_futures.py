"""A record's future: callbacks run once, in order, when its batch completes — or at once
when it already has; a callback that raises stops none of the others."""

from __future__ import annotations

import pytest

from mini_kafka.client.batch import Batch

pytestmark = pytest.mark.unit


def test_callbacks_run_when_the_batch_completes_and_at_once_afterwards():
    batch = Batch("t", 2, created_s=0.0)
    first = batch.append(None, b"a", 111, None, 10)
    second = batch.append(b"k", b"b", 222, None, 10)
    seen = []

    def boom(f):
        raise RuntimeError("a bad callback")

    first.add_done_callback(lambda f: seen.append(("a", f.get().offset)))
    second.add_done_callback(boom)
    second.add_done_callback(lambda f: seen.append(("b", f.get().offset)))
    assert seen == [] and not first.done()
    batch.complete(40)
    assert seen == [("a", 40), ("b", 41)]
    second.add_done_callback(lambda f: seen.append(("late", f.get().timestamp)))
    assert seen[-1] == ("late", 222)
    meta = second.get()
    assert (meta.topic, meta.partition, meta.offset) == ("t", 2, 41)


def test_a_failed_batch_fails_every_record_in_it():
    batch = Batch("t", 0, created_s=0.0)
    future = [batch.append(None, b"v", 0, None, 10) for _ in range(4)][3]
    errors = []
    future.add_done_callback(lambda f: errors.append(f.exception()))
    batch.fail(TimeoutError("expired"))
    assert [str(e) for e in errors] == ["expired"]
    with pytest.raises(TimeoutError):
        future.get()
