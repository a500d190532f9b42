"""The transport over real ZeroMQ sockets on 127.0.0.1, in one event loop."""

import asyncio

import pytest
import zmq
import zmq.asyncio

from launcher.ports import free_ports
from mini_kafka.access import LAUNCHER
from mini_kafka.errors import KafkaError, KafkaTimeoutError
from mini_kafka.node import _launcher_control
from mini_kafka.protocol import ApiKey, Bounds, Kind, Message, decode, encode
from mini_kafka.transport import Client, FaultRule, FaultRules, Server


def endpoint():
    return f"tcp://127.0.0.1:{free_ports('127.0.0.1', 1)[0]}"


def make_server(ep, handler, faults=None):
    return Server("server", ep, handler, faults=faults or FaultRules(),
                  inflight_requests_max=100, queue_messages_max=1000,
                  bounds=Bounds(message_bytes_max=1 << 20))


async def echo(request: Message) -> Message:
    if request.body.get("fail") == "kafka":
        raise KafkaError("NOT_LEADER_OR_FOLLOWER", "not me")
    if request.body.get("fail") == "bug":
        raise KeyError("missing")
    return request.reply({"echo": request.body, "sizes": [len(p) for p in request.payloads]},
                         payloads=[bytes(p) for p in request.payloads], sender="server")


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def serving(ep, handler=echo, faults=None):
    """Async context: a server running in the background."""

    class _Ctx:
        async def __aenter__(self):
            self.server = make_server(ep, handler, faults)
            self.task = asyncio.ensure_future(self.server.run())
            return self.server

        async def __aexit__(self, *exc):
            self.task.cancel()
            self.server.close()

    return _Ctx()


def test_request_reply_with_raw_payload_frames():
    ep = endpoint()

    async def main():
        async with serving(ep):
            client = Client("c")
            try:
                reply = await client.request(ep, ApiKey.PRODUCE, {"a": 1},
                                             [b"x" * 100_000, b"batch"])
            finally:
                client.close()
        assert reply.body["echo"] == {"a": 1}
        assert reply.body["sizes"] == [100_000, 5]
        assert bytes(reply.payloads[1]) == b"batch"

    run(main())


def test_many_concurrent_requests_are_matched_to_their_replies():
    ep = endpoint()

    async def main():
        async with serving(ep):
            client = Client("c")
            try:
                replies = await asyncio.gather(
                    *(client.request(ep, ApiKey.FETCH, {"i": i}) for i in range(300)))
            finally:
                client.close()
        assert [r.body["echo"]["i"] for r in replies] == list(range(300))

    run(main())


def test_handler_errors_become_error_replies():
    ep = endpoint()

    async def main():
        async with serving(ep):
            client = Client("c")
            try:
                kafka = await client.request(ep, ApiKey.PRODUCE, {"fail": "kafka"})
                bug = await client.request(ep, ApiKey.PRODUCE, {"fail": "bug"})
                ok = await client.request(ep, ApiKey.PRODUCE, {})
            finally:
                client.close()
        assert (kafka.error, kafka.body["message"]) == ("NOT_LEADER_OR_FOLLOWER", "not me")
        assert bug.error == "UNKNOWN_SERVER_ERROR" and "KeyError" in bug.body["message"]
        assert ok.error == "NONE"

    run(main())


def test_timeout_when_nobody_answers_names_the_peer_and_attempts():
    ep = endpoint()

    async def never_answer(request):
        return None

    async def main():
        async with serving(ep, never_answer):
            client = Client("c", retries_max=2, retry_backoff_ms=1, peer_names={ep: "broker-9"})
            try:
                with pytest.raises(KafkaTimeoutError) as info:
                    await client.request(ep, ApiKey.STATUS, timeout_ms=50)
            finally:
                client.close()
        assert "broker-9" in str(info.value) and "after 3 attempt(s)" in str(info.value)
        assert info.value.error.name == "REQUEST_TIMED_OUT" and info.value.retriable

    run(main())


def test_requests_timing_out_together_on_one_connection_all_time_out_cleanly():
    ep = endpoint()

    async def never_answer(request):
        return None

    async def main():
        async with serving(ep, never_answer):
            client = Client("c", retries_max=0, peer_names={ep: "broker-9"})
            try:
                # Each finds the connection silent and recycles it; the second must not
                # trip over the socket the first already closed.
                results = await asyncio.gather(
                    *(client.request(ep, ApiKey.STATUS, timeout_ms=100) for _ in range(5)),
                    return_exceptions=True)
            finally:
                client.close()
        # Timed out, or failed at once when another recycled the silent connection: a
        # retriable Kafka error either way, never a raw socket error.
        assert all(isinstance(r, KafkaError) and r.retriable for r in results), results
        assert any(isinstance(r, KafkaTimeoutError) for r in results)

    run(main())


def test_a_slow_peer_keeps_its_connection_through_short_timeouts():
    """A request that times out only presumes its connection dead once the peer has been
    silent for a whole request timeout: a busy peer that answers late is not handed a
    new connection (and a new CURVE handshake) on every short timeout."""
    ep = endpoint()

    async def slow(request):
        await asyncio.sleep(0.2)
        return request.reply({"late": True}, sender="broker-9")

    async def main():
        async with serving(ep, slow):
            client = Client("c", retries_max=0, request_timeout_ms=2_000,
                            peer_names={ep: "broker-9"})
            try:
                assert (await client.request(ep, ApiKey.STATUS)).body["late"]
                first = client._conns[ep]
                for _ in range(3):
                    with pytest.raises(KafkaTimeoutError):
                        await client.request(ep, ApiKey.STATUS, timeout_ms=50)
                assert client._conns[ep] is first, "a late peer's connection was replaced"
                assert (await client.request(ep, ApiKey.STATUS)).body["late"]
            finally:
                client.close()

    run(main())


def test_a_peer_that_is_not_listening_is_refused_at_once_not_timed_out():
    ep = endpoint()

    async def main():
        client = Client("c", retries_max=2, retry_backoff_ms=1, peer_names={ep: "broker-9"})
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            with pytest.raises(KafkaError) as info:
                await client.request(ep, ApiKey.STATUS, timeout_ms=20_000)
        finally:
            client.close()
        assert info.value.error.name == "NETWORK_EXCEPTION" and info.value.retriable
        assert "broker-9" in str(info.value) and "refused" in str(info.value)
        # Well inside the 20 s request timeout: the refusal ended the wait, not the clock.
        assert loop.time() - started < 10

    run(main())


def test_retry_succeeds_after_an_unanswered_attempt():
    ep = endpoint()
    attempts = []

    async def swallow_first(request):
        attempts.append(request.request_id)
        return None if len(attempts) == 1 else request.reply(sender="server")

    async def main():
        async with serving(ep, swallow_first):
            client = Client("c", retries_max=3, retry_backoff_ms=1)
            try:
                reply = await client.request(ep, ApiKey.STATUS, timeout_ms=100)
            finally:
                client.close()
        assert reply.error == "NONE"
        assert len(attempts) == 2 and attempts[0] != attempts[1]

    run(main())


def test_reconnect_after_the_server_restarts():
    ep = endpoint()

    async def main():
        client = Client("c", retries_max=0)
        try:
            async with serving(ep):
                assert (await client.request(ep, ApiKey.STATUS)).error == "NONE"
            with pytest.raises(KafkaError) as info:  # dropped connection, or timeout
                await client.request(ep, ApiKey.STATUS, timeout_ms=100)
            assert info.value.retriable
            async with serving(ep):
                reply = await client.request(ep, ApiKey.STATUS, timeout_ms=2000, retries=3)
            assert reply.error == "NONE"
        finally:
            client.close()

    run(main())


def test_garbage_frames_get_an_error_or_are_dropped_and_the_server_lives_on():
    ep = endpoint()

    async def main():
        async with serving(ep):
            raw = zmq.asyncio.Context.instance().socket(zmq.DEALER)
            raw.setsockopt(zmq.LINGER, 0)
            raw.connect(ep)
            try:
                # Unreadable: a single short frame. Nothing to answer; dropped and logged.
                await raw.send_multipart([b"\xde\xad"])
                # Readable request id, garbage body: answered with INVALID_REQUEST.
                header = encode(Message(Kind.REQUEST, ApiKey.STATUS, 1234, "raw"))[0]
                await raw.send_multipart([header, b"\x00not json"])
                reply = decode(await asyncio.wait_for(raw.recv_multipart(), 5))
                assert (reply.request_id, reply.error) == (1234, "INVALID_REQUEST")
            finally:
                raw.close(0)
            client = Client("c")
            try:
                assert (await client.request(ep, ApiKey.STATUS)).error == "NONE"
            finally:
                client.close()

    run(main())


def test_a_cut_link_times_out_and_healing_restores_it():
    ep = endpoint()

    async def main():
        async with serving(ep):
            cut = FaultRules()
            client = Client("c", faults=cut, retries_max=0, peer_names={ep: "server"})
            try:
                cut.set([FaultRule(peer="server", direction="out", drop_rate=1.0)])
                with pytest.raises(KafkaTimeoutError):
                    await client.request(ep, ApiKey.STATUS, timeout_ms=100)
                cut.clear()
                assert (await client.request(ep, ApiKey.STATUS)).error == "NONE"
            finally:
                client.close()

    run(main())


def test_a_request_lost_to_a_cut_fails_when_the_cut_heals_not_at_its_timeout():
    """A cut drops the request; nothing would answer it for its whole timeout (a
    follower's fetch: seconds after the heal). Lifting the cut fails it at once, as a
    dropped connection does, and the caller asks again."""
    ep = endpoint()

    async def main():
        async with serving(ep):
            cut = FaultRules()
            client = Client("c", faults=cut, retries_max=0, peer_names={ep: "server"})
            try:
                assert (await client.request(ep, ApiKey.STATUS)).error == "NONE"
                cut.set([FaultRule(peer="server", direction="out", drop_rate=1.0)])
                lost = asyncio.ensure_future(client.request(ep, ApiKey.STATUS,
                                                            timeout_ms=600_000))
                while not client._conn(ep).pending:  # until it has gone out into the cut
                    await asyncio.sleep(0)
                await asyncio.sleep(0)
                assert not lost.done()
                cut.clear()
                with pytest.raises(KafkaError, match="NETWORK_EXCEPTION.*lifted"):
                    await lost
                assert (await client.request(ep, ApiKey.STATUS)).error == "NONE"
            finally:
                client.close()

    run(main())


def test_fault_rules_never_block_the_launchers_node_administration_either_way():
    """A server that drops everything it receives and sends still answers the launcher's
    STATUS and SET_FAULTS: the chaos tools must always be able to read and clear its
    rules. Anyone else's are faulted like any request."""
    ep = endpoint()

    async def main():
        everything = FaultRules()
        everything.set([FaultRule(direction="in", drop_rate=1.0),
                        FaultRule(direction="out", drop_rate=1.0)])
        server = Server("server", ep, echo, faults=everything, inflight_requests_max=100,
                        queue_messages_max=1000, bounds=Bounds(message_bytes_max=1 << 20),
                        fault_exempt=_launcher_control)
        task = asyncio.ensure_future(server.run())
        launcher, other = Client(LAUNCHER, retries_max=0), Client("c", retries_max=0)
        try:
            with pytest.raises(KafkaTimeoutError):
                await launcher.request(ep, ApiKey.METADATA, timeout_ms=200)
            for api in (ApiKey.STATUS, ApiKey.SET_FAULTS):
                reply = await launcher.request(ep, api, timeout_ms=2000)
                assert reply.body["echo"] == {}, api
                with pytest.raises(KafkaTimeoutError):
                    await other.request(ep, api, timeout_ms=200)
        finally:
            launcher.close()
            other.close()
            task.cancel()
            server.close()

    run(main())


def test_busy_port_is_reported_as_address_in_use():
    ep = endpoint()

    async def main():
        async with serving(ep):
            from mini_kafka.transport import AddressInUse
            with pytest.raises(AddressInUse, match="already in use"):
                make_server(ep, echo)

    run(main())


def test_a_server_that_goes_away_fails_in_flight_requests_before_their_timeout():
    ep = endpoint()

    arrived = None

    async def never_answer(request):
        arrived.set()
        await asyncio.Event().wait()

    async def main():
        nonlocal arrived
        arrived = asyncio.Event()
        client = Client("c", retries_max=0)
        try:
            async with serving(ep, never_answer):
                waiting = asyncio.ensure_future(
                    client.request(ep, ApiKey.FETCH, timeout_ms=60_000))
                await asyncio.wait_for(arrived.wait(), 10)
            with pytest.raises(KafkaError) as info:
                await asyncio.wait_for(waiting, 20)  # far below its 60 s timeout
            assert info.value.error.name == "NETWORK_EXCEPTION"
            assert info.value.retriable and info.value.refresh_metadata
        finally:
            client.close()

    run(main())


def test_requests_past_the_in_flight_bound_wait_and_are_all_served_in_turn():
    ep = endpoint()
    started, release = [], asyncio.Event()

    async def slow(request: Message) -> Message:
        started.append(request.body["i"])
        await release.wait()
        return request.reply({"i": request.body["i"]}, sender="server")

    async def main():
        server = Server("server", ep, slow, faults=FaultRules(), inflight_requests_max=2,
                        queue_messages_max=1000, bounds=Bounds(message_bytes_max=1 << 20))
        task = asyncio.ensure_future(server.run())
        client = Client("c")
        try:
            pending = asyncio.gather(*(client.request(ep, ApiKey.FETCH, {"i": i})
                                       for i in range(6)))
            while len(started) < 2:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)  # room for a third to start wrongly
            assert len(started) == 2, "more handlers ran than the bound allows"
            release.set()
            replies = await pending
            assert sorted(r.body["i"] for r in replies) == list(range(6))
        finally:
            client.close()
            task.cancel()
            server.close()

    run(main())


def test_replies_beyond_zeromq_queues_wait_for_room_and_all_arrive_in_order():
    """A client that does not read fills the server's outgoing queue (high-water mark);
    the server holds further replies until there is room again, losing none."""
    ep = endpoint()

    async def main():
        server = Server("server", ep, echo, faults=FaultRules(), inflight_requests_max=1000,
                        queue_messages_max=2, bounds=Bounds(message_bytes_max=1 << 22))
        task = asyncio.ensure_future(server.run())
        raw = zmq.asyncio.Context.instance().socket(zmq.DEALER)
        raw.setsockopt(zmq.LINGER, 0)
        raw.setsockopt(zmq.RCVHWM, 2)
        raw.setsockopt(zmq.RCVBUF, 4096)
        raw.connect(ep)
        try:
            big = b"x" * 256 * 1024  # a few replies fill the kernel's buffers too
            for i in range(40):
                await raw.send_multipart(encode(Message(Kind.REQUEST, ApiKey.FETCH, i, "raw",
                                                        {"i": i}, [big])))
            await asyncio.sleep(0.5)  # the replies pile up against the queues
            ids = []
            for _ in range(40):
                reply = decode(await asyncio.wait_for(raw.recv_multipart(), 10))
                ids.append(reply.request_id)
            assert ids == list(range(40))
        finally:
            raw.close(0)
            task.cancel()
            server.close()

    run(main())
