import pytest

from mini_kafka.protocol import (
    ApiKey,
    Kind,
    Message,
    ProtocolError,
    decode,
    encode,
    peek_request_id,
)


def test_round_trip_keeps_payload_frames_apart_from_the_body():
    msg = Message(Kind.REQUEST, ApiKey.PRODUCE, 42, "broker-1", {"topic": "t", "acks": -1},
                  [b"\x00batch-bytes", b""])
    back = decode(encode(msg))
    assert back == msg
    assert back.error == "NONE"


def test_reply_and_error_reply_echo_the_request_id():
    req = Message(Kind.REQUEST, ApiKey.STATUS, 7, "cli")
    assert req.reply({"x": 1}, sender="b").body == {"error": "NONE", "x": 1}
    err = req.error_reply("NOT_LEADER_OR_FOLLOWER", "moved", sender="b")
    assert (err.kind, err.request_id, err.error) == (Kind.REPLY, 7, "NOT_LEADER_OR_FOLLOWER")


@pytest.mark.parametrize("frames, problem", [
    ([], "needs a header and a body"),
    ([b"\x01\x00"], "needs a header and a body"),
    ([b"\x01", b"{}"], "shorter than"),
    ([b"\x09" + bytes(11), b"{}"], "unsupported protocol version 9"),
    ([b"\x01\x07" + bytes(10), b"{}"], "unknown message kind 7"),
    ([b"\x01\x00" + bytes(10), b"{not json"], "undecodable"),
    ([b"\x01\x00" + bytes(10), b"[1]"], "must be a JSON object"),
    ([b"\x01\x00" + bytes(10) + b"\xff\xfe", b"{}"], "undecodable"),
])
def test_garbage_is_a_protocol_error_never_a_crash(frames, problem):
    with pytest.raises(ProtocolError, match=problem):
        decode(frames)


def test_request_id_of_a_broken_message_can_still_be_read():
    frames = encode(Message(Kind.REQUEST, 3, 99, "x"))
    assert peek_request_id([frames[0], b"garbage"]) == 99
    assert peek_request_id([b"\x01"]) is None
