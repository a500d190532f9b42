import pytest

from mini_kafka.protocol import (
    CLIENT_APIS,
    CLUSTER_APIS,
    ApiKey,
    Bounds,
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


HEADER = encode(Message(Kind.REQUEST, ApiKey.FETCH, 5, "x"))[0]


@pytest.mark.parametrize("body", [
    b"[" * 50_000,                                      # json.loads: RecursionError
    b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}",           # decodes, but past the bound
    b'{"a": ' + b'{"b": ' * 40 + b"1" + b"}" * 40 + b"}",
])
def test_deep_nesting_is_invalid_request_whatever_the_parser_makes_of_it(body):
    with pytest.raises(ProtocolError, match="nests deeper than 32 levels") as info:
        decode([HEADER, body])
    assert info.value.error == "INVALID_REQUEST"


def test_nesting_up_to_the_bound_and_many_flat_brackets_are_fine():
    deep = {"a": [[[[[1]]]]]}
    flat = {"partitions": [{"topic": "t", "partition": i} for i in range(500)]}
    for body in (deep, flat):
        assert decode(encode(Message(Kind.REQUEST, 1, 1, "x", body)), Bounds(
            nesting_levels_max=7)).body == body


def test_the_whole_message_is_bounded_not_each_frame():
    bounds = Bounds(message_bytes_max=1000, message_frames_max=5)
    ok = [HEADER, b"{}", b"x" * 400, b"y" * 400]
    assert len(decode(ok, bounds).payloads) == 2
    for frames, problem in [
        ([HEADER, b"{}", b"x" * 600, b"y" * 500], "a message of 1115 bytes; at most 1000"),
        ([HEADER, b"{}", *[b""] * 4], "6 frames in one message; at most 5"),
    ]:
        with pytest.raises(ProtocolError, match=problem) as info:
            decode(frames, bounds)
        assert info.value.error == "MESSAGE_TOO_LARGE"


def test_a_sender_name_past_its_bound_is_refused():
    with pytest.raises(ProtocolError, match="sender name of 300 bytes"):
        decode([HEADER[:12] + b"s" * 300, b"{}"])


def test_every_api_is_either_for_clients_or_for_cluster_members():
    assert CLIENT_APIS | CLUSTER_APIS == set(ApiKey) and not CLIENT_APIS & CLUSTER_APIS
