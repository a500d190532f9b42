"""The authenticated endpoint over real sockets: CURVE with the cluster's keys, checked
through our ZAP handler; only members get a message through, each as itself."""

import asyncio
import logging

import pytest
import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from mini_kafka.clock import SystemClock
from mini_kafka.errors import KafkaError
from mini_kafka.log_limit import RepeatLimitedLog
from mini_kafka.protocol import ApiKey, Bounds, Kind, Message, decode, encode
from mini_kafka.transport import (
    Client,
    ClusterKeys,
    FaultRules,
    Server,
    ZapHandler,
    ensure_keys,
    load_keys,
)
from tests.integration.test_transport import endpoint, run

MEMBERS = ["coordinator-1", "broker-1", "broker-2", "launcher"]


def quiet():
    return RepeatLimitedLog(logging.getLogger("test.zap"), 1000, SystemClock())


@pytest.fixture
def keys(tmp_path):
    ensure_keys(tmp_path / "keys", MEMBERS)
    return {name: load_keys(tmp_path / "keys", name, MEMBERS) for name in MEMBERS}


def member_client(keys, name, ep, server="broker-1"):
    return Client(name, keys=keys[name], member_endpoints={ep: server}, retries_max=0,
                  peer_names={ep: server})


class Authenticated:
    """broker-1's authenticated endpoint, with its ZAP handler; records what it served."""

    def __init__(self, keys, ep):
        self.keys, self.ep, self.served = keys, ep, []

    async def handler(self, request):
        self.served.append((request.api, request.sender))
        return request.reply({"you": request.sender}, sender="broker-1")

    async def __aenter__(self):
        self.zap = ZapHandler(self.keys["broker-1"], quiet())
        self.server = Server("broker-1", self.ep, self.handler, faults=FaultRules(),
                             inflight_requests_max=10, queue_messages_max=100,
                             bounds=Bounds(), members=self.zap)
        self.task = asyncio.ensure_future(self.server.run())
        return self

    async def __aexit__(self, *exc):
        self.task.cancel()
        self.server.close()
        self.zap.close()


def test_a_member_is_served_as_itself(keys):
    ep = endpoint()

    async def main():
        async with Authenticated(keys, ep) as node:
            client = member_client(keys, "broker-2", ep)
            try:
                reply = await client.request(ep, ApiKey.STATUS, timeout_ms=2000)
            finally:
                client.close()
        assert reply.error == "NONE" and reply.body["you"] == "broker-2"
        assert node.served == [(ApiKey.STATUS, "broker-2")]

    run(main())


def test_a_member_claiming_another_members_name_is_refused(keys):
    ep = endpoint()

    async def main():
        async with Authenticated(keys, ep) as node:
            sock = zmq.asyncio.Context.instance().socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.curve_serverkey = keys["broker-1"].members["broker-1"]
            sock.curve_publickey, sock.curve_secretkey = keys["broker-2"].public, \
                keys["broker-2"].secret
            sock.connect(ep)
            try:  # broker-2's key, coordinator-1's name
                await sock.send_multipart(encode(Message(Kind.REQUEST, ApiKey.RAFT, 7,
                                                         "coordinator-1")))
                frames = await asyncio.wait_for(sock.recv_multipart(), 5)
            finally:
                sock.close(0)
            reply = decode(frames)
            assert reply.error == "CLUSTER_AUTHORIZATION_FAILED"
            assert "'coordinator-1' is authenticated as 'broker-2'" in reply.body["message"]
            assert node.served == []

    run(main())


async def refused_handshake(sock, ep) -> int:
    """Connect and wait for the handshake's verdict; returns the monitor event."""
    monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH
                                      | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                                      | zmq.EVENT_HANDSHAKE_SUCCEEDED)
    sock.connect(ep)
    await sock.send_multipart(encode(Message(Kind.REQUEST, ApiKey.STATUS, 1, "launcher")))
    event = parse_monitor_message(await asyncio.wait_for(monitor.recv_multipart(), 10))
    sock.disable_monitor()
    monitor.close(0)
    return event["event"]


def test_a_process_without_the_keys_gets_nothing_through(keys):
    ep = endpoint()

    async def main():
        async with Authenticated(keys, ep) as node:
            ctx = zmq.asyncio.Context.instance()
            plain = ctx.socket(zmq.DEALER)  # no CURVE at all
            own = ctx.socket(zmq.DEALER)    # CURVE with a key of its own making
            own.curve_serverkey = keys["broker-1"].members["broker-1"]
            own.curve_publickey, own.curve_secretkey = zmq.curve_keypair()
            try:
                assert await refused_handshake(plain, ep) == \
                    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                assert await refused_handshake(own, ep) == zmq.EVENT_HANDSHAKE_FAILED_AUTH
            finally:
                plain.close(0)
                own.close(0)
            assert node.zap.refused >= 1 and node.served == []
            # Our own client says why, at once, instead of timing out.
            public, secret = zmq.curve_keypair()
            stranger = ClusterKeys("launcher", public, secret, keys["launcher"].members)
            client = Client("launcher", keys=stranger, member_endpoints={ep: "broker-1"},
                            retries_max=0, peer_names={ep: "broker-1"})
            try:
                with pytest.raises(KafkaError, match="broker-1 refused the handshake"):
                    await client.request(ep, ApiKey.STATUS, timeout_ms=5000)
            finally:
                client.close()
            assert node.served == []

    run(main())


def test_an_authenticated_endpoint_never_opens_without_its_zap_handler(keys):
    async def main():
        zap = ZapHandler(keys["broker-1"], quiet())
        zap.close()
        await asyncio.sleep(0)
        with pytest.raises(AssertionError, match="needs a running ZAP handler"):
            Server("broker-1", endpoint(), None, faults=FaultRules(), inflight_requests_max=1,
                   queue_messages_max=1, bounds=Bounds(), members=zap)

    run(main())
