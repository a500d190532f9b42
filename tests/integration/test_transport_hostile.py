"""What a bad peer can cost a transport server: bounded messages, answers from the
receive loop, a bounded share of the server per connection, and no reply waiting on a
peer that reads nothing. Real ZeroMQ sockets on 127.0.0.1, one event loop."""

import asyncio

import zmq
import zmq.asyncio

from mini_kafka.protocol import ApiKey, Bounds, Kind, Message, decode, encode
from mini_kafka.transport import Client, FaultRules, Server
from tests.integration.test_transport import endpoint, run

BOUNDS = Bounds(message_bytes_max=1 << 20, message_frames_max=8, nesting_levels_max=32)


def raw_dealer(ep, rcvhwm=1000):
    sock = zmq.asyncio.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, rcvhwm)
    sock.connect(ep)
    return sock


def header(request_id, api=ApiKey.PRODUCE, sender="raw"):
    return encode(Message(Kind.REQUEST, api, request_id, sender))[0]


async def answer(sock, timeout_s=5):
    return decode(await asyncio.wait_for(sock.recv_multipart(), timeout_s))


class Serving:
    def __init__(self, ep, handler, **options):
        self.ep, self.handler = ep, handler
        self.options = dict(faults=FaultRules(), inflight_requests_max=100,
                            queue_messages_max=1000, bounds=BOUNDS) | options

    async def __aenter__(self):
        self.server = Server("server", self.ep, self.handler, **self.options)
        self.task = asyncio.ensure_future(self.server.run())
        return self.server

    async def __aexit__(self, *exc):
        self.task.cancel()
        self.server.close()


def test_a_message_past_its_bounds_is_answered_without_reaching_a_handler():
    ep, handled = endpoint(), []

    async def handler(request):
        handled.append(request.request_id)
        return request.reply(sender="server")

    async def main():
        async with Serving(ep, handler):
            raw = raw_dealer(ep)
            try:
                # Every frame is within the 1 MiB bound, the message is not.
                await raw.send_multipart([header(1), b"{}", *[b"x" * 300_000] * 4])
                too_big = await answer(raw)
                await raw.send_multipart([header(2), b"{}", *[b""] * 7])
                too_many = await answer(raw)
                await raw.send_multipart([header(3), b'{"a": ' + b"[" * 50_000 + b"}"])
                too_deep = await answer(raw)
                await raw.send_multipart([header(4), b"{}"])
                fine = await answer(raw)
            finally:
                raw.close(0)
        assert (too_big.request_id, too_big.error) == (1, "MESSAGE_TOO_LARGE")
        assert "1200017 bytes; at most 1048576" in too_big.body["message"]
        assert (too_many.request_id, too_many.error) == (2, "MESSAGE_TOO_LARGE")
        assert (too_deep.request_id, too_deep.error) == (3, "INVALID_REQUEST")
        assert fine.error == "NONE" and handled == [4]

    run(main())


def test_one_connection_gets_a_bounded_share_and_others_are_still_served():
    ep, release, started = endpoint(), asyncio.Event(), []

    async def slow(request):
        if request.sender == "greedy":
            started.append(request.request_id)
            await release.wait()
        return request.reply(sender="server")

    async def main():
        async with Serving(ep, slow, peer_inflight_requests_max=2,
                           peer_queued_requests_max=3):
            greedy = raw_dealer(ep)
            client = Client("polite")
            try:
                for i in range(10):
                    await greedy.send_multipart(encode(Message(Kind.REQUEST, ApiKey.FETCH,
                                                               i, "greedy")))
                refused = [await answer(greedy) for _ in range(5)]
                assert sorted(r.request_id for r in refused) == [5, 6, 7, 8, 9]
                assert {r.error for r in refused} == {"THROTTLING_QUOTA_EXCEEDED"}
                assert started == [0, 1]  # two at once; three wait their turn
                assert (await client.request(ep, ApiKey.FETCH, timeout_ms=2000)).error == \
                    "NONE"
                release.set()
                served = [await answer(greedy) for _ in range(5)]
                assert sorted(r.request_id for r in served) == [0, 1, 2, 3, 4]
                assert {r.error for r in served} == {"NONE"}
            finally:
                greedy.close(0)
                client.close()

    run(main())


def test_a_peer_that_reads_nothing_delays_no_other_peers_reply():
    ep = endpoint()

    async def echo_big(request):
        return request.reply(payloads=[b"x" * 256 * 1024], sender="server")

    async def main():
        async with Serving(ep, echo_big, queue_messages_max=2):
            deaf = raw_dealer(ep, rcvhwm=1)
            deaf.setsockopt(zmq.RCVBUF, 4096)
            client = Client("reader")
            try:
                for i in range(40):  # its replies fill every queue between us
                    await deaf.send_multipart(encode(Message(Kind.REQUEST, ApiKey.FETCH, i,
                                                             "deaf")))
                await asyncio.sleep(0.3)
                for _ in range(5):
                    reply = await client.request(ep, ApiKey.FETCH, timeout_ms=2000)
                    assert reply.error == "NONE"
                ids = [(await answer(deaf)).request_id for _ in range(40)]
                assert ids == list(range(40))  # ...and it still gets all of its own, in order
            finally:
                deaf.close(0)
                client.close()

    run(main())
