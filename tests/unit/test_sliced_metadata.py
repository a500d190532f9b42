"""A large metadata change is taken on in slices: the broker's event loop (its
heartbeats, its requests) runs between them, and the broker reports the change applied
(what unfences it) only once every replica is taken on."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from mini_kafka.broker.server import BrokerRole
from mini_kafka.supervisor import Supervisor
from tests.unit.test_replica_storage import image, manager

PARTITIONS = 40
TAKE_ON_MS = 2  # what taking on one replica costs here, on the manager's manual clock


def test_a_large_change_hands_the_loop_back_between_slices(tmp_path):
    async def scenario():
        m = manager(tmp_path)
        take_on = m._take_on

        def costly_take_on(*args):
            take_on(*args)
            m.clock.advance(TAKE_ON_MS)

        m._take_on = costly_take_on
        seen = []  # how many replicas were open each time the loop ran something else
        applying = asyncio.ensure_future(m.on_metadata_in_slices(
            image(topics=(("t", PARTITIONS, "id-7"),)), None, slice_ms=5))
        while not applying.done():
            seen.append(len(m.partitions))
            await asyncio.sleep(0)
        await applying
        assert len(m.partitions) == PARTITIONS
        between = sorted(set(seen) - {0, PARTITIONS})
        # 5 ms slices of 2 ms take-ons: three replicas a slice, the loop free after each.
        assert between == list(range(3, PARTITIONS, 3)), seen

    asyncio.run(scenario())


def test_all_at_once_and_in_slices_take_on_the_same(tmp_path):
    async def scenario():
        whole, sliced = manager(tmp_path / "a"), manager(tmp_path / "b")
        big = image(topics=(("t", 6, "id-7"), ("u", 3, "id-8")))
        whole.on_metadata(big)
        await sliced.on_metadata_in_slices(big, None, slice_ms=1)
        assert sorted(whole.partitions) == sorted(sliced.partitions)
        assert [p.role for _, p in sorted(whole.partitions.items())] == \
            [p.role for _, p in sorted(sliced.partitions.items())]
        # A later change that drops a topic drops it the same way.
        smaller = image(offset=11, topics=(("u", 3, "id-8"),))
        whole.on_metadata(smaller)
        await sliced.on_metadata_in_slices(smaller, None, slice_ms=1)
        assert sorted(whole.partitions) == sorted(sliced.partitions) == \
            [("u", 0), ("u", 1), ("u", 2)]
        assert not (tmp_path / "b" / "t-0").exists()

    asyncio.run(scenario())


class SlowReplicas:
    """Takes on a change only when the test lets it."""

    def __init__(self):
        self.proceed = asyncio.Event()
        self.applied: list[int] = []

    async def on_metadata_in_slices(self, image, changed, slice_ms):
        await self.proceed.wait()
        self.applied.append(image.offset)


def broker_applying(replicas) -> SimpleNamespace:
    noop = SimpleNamespace(on_metadata=lambda image: None)
    stub = SimpleNamespace(image=image(offset=10), applied_offset=10,
                           _applying=asyncio.Lock(), replicas=replicas, groups=noop,
                           txns=noop, metadata_changed=asyncio.Event(),
                           node=SimpleNamespace(supervisor=Supervisor("broker-1")),
                           config=SimpleNamespace(limits=SimpleNamespace(
                               metadata_apply_slice_ms=5)))

    def apply_image(reply):
        stub.image = reply.body["image"]
        return True, None

    stub._apply_image = apply_image
    return stub


def test_the_broker_reports_a_change_applied_only_when_its_replicas_are_taken_on():
    async def scenario():
        replicas = SlowReplicas()
        broker = broker_applying(replicas)
        reply = SimpleNamespace(body={"image": image(offset=12)})
        first = asyncio.ensure_future(BrokerRole._apply_metadata(broker, reply))
        await asyncio.sleep(0.01)
        assert broker.image.offset == 12 and broker.applied_offset == 10, \
            "the image is current at once; the heartbeat's offset waits for the replicas"
        # A catch-up meanwhile waits its turn: the image holds still under the slices.
        later = SimpleNamespace(body={"image": image(offset=13)})
        second = asyncio.ensure_future(BrokerRole._apply_metadata(broker, later))
        await asyncio.sleep(0.01)
        assert broker.image.offset == 12
        replicas.proceed.set()
        await asyncio.wait_for(asyncio.gather(first, second), 5)
        assert replicas.applied == [12, 13] and broker.applied_offset == 13

    asyncio.run(scenario())
