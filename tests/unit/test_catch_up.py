"""A broker that wrote a change through the controller (a create, an election) answers
for it from its metadata image at once: it reads the change from the controller at the
offset the write answered with, without a read-index round (which a controller starved
by a hundred busy brokers took seconds to confirm), and returns once the image has it,
while its own replicas are still being taken on."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from mini_kafka.broker.server import BrokerRole
from mini_kafka.coordinator.history import ChangeHistory
from mini_kafka.metadata import MetadataImage
from mini_kafka.protocol import ApiKey, Kind, Message
from mini_kafka.supervisor import Supervisor

CREATE = [{"type": "topic", "name": "t", "partitions": 1},
          {"type": "partition", "topic": "t", "partition": 0, "replicas": [1], "isr": [1],
           "leader": 1, "leader_epoch": 0, "partition_epoch": 0}]


class Controller:
    """Answers metadata polls from a change history at `offset`; records what it got."""

    def __init__(self, offset: int):
        self.history = ChangeHistory(100)
        self.history.append(offset, CREATE)
        self.offset = offset
        self.asked: list[dict] = []

    async def call_controller(self, api, body):
        assert api == ApiKey.METADATA_POLL
        self.asked.append(body)
        return Message(Kind.REPLY, api, 1, "coordinator-1",
                       {"error": "NONE", "offset": self.offset},
                       [self.history.encoded_after(body["after_offset"])])


def broker(controller: Controller, replicas_opened: asyncio.Event):
    async def take_on(image, changed, slice_ms):
        await replicas_opened.wait()  # as a broker opening its replicas in slices

    stub = SimpleNamespace(
        image=MetadataImage(), controller=controller, applied_offset=0,
        config=SimpleNamespace(timeouts=SimpleNamespace(controller_attempt_timeout_ms=5000),
                               limits=SimpleNamespace(metadata_apply_slice_ms=10)),
        node=SimpleNamespace(supervisor=Supervisor("broker-1")), _applying=asyncio.Lock(),
        replicas=SimpleNamespace(on_metadata_in_slices=take_on),
        groups=SimpleNamespace(on_metadata=lambda image: None),
        txns=SimpleNamespace(on_metadata=lambda image: None),
        metadata_changed=asyncio.Event())
    stub._apply_image = lambda reply: BrokerRole._apply_image(stub, reply)
    stub._apply_metadata = lambda reply, applied=None: BrokerRole._apply_metadata(
        stub, reply, applied)
    stub.catch_up_metadata = lambda *a, **k: BrokerRole.catch_up_metadata(stub, *a, **k)
    return stub


def test_after_its_own_write_it_reads_from_the_controller_without_a_read_index():
    async def scenario():
        opened = asyncio.Event()
        controller = Controller(offset=7)
        b = broker(controller, opened)
        await asyncio.wait_for(b.catch_up_metadata(image_only=True, committed=7), 5)
        assert b.image.offset == 7 and "t" in b.image.topics
        assert controller.asked == [{"after_offset": 0, "max_wait_ms": 0,
                                     "linearizable": False}]
        assert b.applied_offset == 0, "returned before its replicas were taken on"
        opened.set()
        await asyncio.sleep(0.05)
        assert b.applied_offset == 7  # and the apply went on to the end on its own

    asyncio.run(scenario())


def test_an_image_already_at_the_written_offset_asks_nothing():
    async def scenario():
        controller = Controller(offset=7)
        b = broker(controller, asyncio.Event())
        b.image.apply(7, CREATE)
        await asyncio.wait_for(b.catch_up_metadata(image_only=True, committed=7), 5)
        assert controller.asked == []

    asyncio.run(scenario())


def test_a_controller_behind_the_write_is_asked_again_with_a_read_index():
    """A controller elected since the write may not have applied it yet."""
    async def scenario():
        opened = asyncio.Event()
        opened.set()
        controller = Controller(offset=5)
        b = broker(controller, opened)
        await asyncio.wait_for(b.catch_up_metadata(image_only=True, committed=7), 5)
        assert [body["linearizable"] for body in controller.asked] == [False, True]

    asyncio.run(scenario())


def test_without_a_written_offset_it_is_a_read_index_read_that_waits_for_the_replicas():
    async def scenario():
        opened = asyncio.Event()
        controller = Controller(offset=7)
        b = broker(controller, opened)
        waiting = asyncio.ensure_future(b.catch_up_metadata())
        await asyncio.sleep(0.05)
        assert not waiting.done(), "a full catch-up waits until its replicas are taken on"
        opened.set()
        await asyncio.wait_for(waiting, 5)
        assert b.applied_offset == 7 and controller.asked[0]["linearizable"] is True

    asyncio.run(scenario())


def test_a_replica_the_metadata_names_but_not_yet_opened_is_retriable_and_says_so(tmp_path):
    from tests.unit.test_replica_storage import manager, produce

    async def scenario():
        m = manager(tmp_path)  # its image names it, its replicas are not taken on yet
        result = await produce(m)
        assert result["error"] == "NOT_LEADER_OR_FOLLOWER"
        assert "still opening its replica of t-0" in result["message"]
        m.on_metadata(m.role.image)
        assert (await produce(m))["error"] == "NONE"

    asyncio.run(scenario())
