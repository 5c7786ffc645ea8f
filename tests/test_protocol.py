"""The wire codec: every message round-trips, and bad frames raise ProtocolError."""

from __future__ import annotations

import msgpack
import pytest

from hotstate_rx.errors import ProtocolError
from hotstate_rx.frozen import FrozenDict, FrozenList
from hotstate_rx.protocol import (
    PROTOCOL_VERSION,
    Call,
    ClientHello,
    Deleted,
    ErrorMessage,
    EventMessage,
    PatchMessage,
    Ping,
    Pong,
    Result,
    ServerHello,
    Snapshot,
    Subscribe,
    Unsubscribe,
    decode_client_message,
    decode_server_message,
    encode,
    to_wire,
)

CLIENT_MESSAGES = [
    ClientHello(),
    ClientHello(token="s3cret"),
    Subscribe("Todos"),
    Subscribe("Room:general", version=7),
    Unsubscribe("Todos"),
    Call(1, "todos.add", {"text": "Buy milk"}),
    Call(2, "noargs"),
    Ping(),
    Pong(),
]

SERVER_MESSAGES = [
    ServerHello("c1", 30.0),
    Snapshot("Todos", 3, {"items": [{"id": 1, "done": False}]}),
    PatchMessage("Todos", 4, [{"op": "replace", "path": "/items/0/done", "value": True}]),
    Result(1, {"id": 1}),
    Result(2, None),
    Result(3, error="boom"),
    Deleted("Room:general"),
    EventMessage("notification", {"title": "Deployed"}),
    ErrorMessage("subscribe", "unknown store 'Nope'", store="Nope"),
    ErrorMessage("bad_message", "malformed MessagePack frame"),
    ErrorMessage("unauthorized", "bad token"),
    Ping(),
    Pong(),
]


@pytest.mark.parametrize("msg", CLIENT_MESSAGES, ids=repr)
def test_client_messages_round_trip(msg: object) -> None:
    assert decode_client_message(encode(msg)) == msg  # type: ignore[arg-type]


@pytest.mark.parametrize("msg", SERVER_MESSAGES, ids=repr)
def test_server_messages_round_trip(msg: object) -> None:
    assert decode_server_message(encode(msg)) == msg  # type: ignore[arg-type]


def test_short_keys_on_the_wire() -> None:
    assert to_wire(PatchMessage("T", 2, [])) == {"t": "patch", "s": "T", "v": 2, "p": []}
    assert to_wire(ClientHello()) == {"t": "hello", "pv": PROTOCOL_VERSION}
    assert to_wire(ClientHello(token="x")) == {"t": "hello", "pv": PROTOCOL_VERSION, "tk": "x"}
    assert "x" not in repr(ClientHello(token="x"))
    assert to_wire(Result(5, error="x")) == {"t": "res", "i": 5, "e": "x"}


def test_server_data_decodes_frozen() -> None:
    snap = decode_server_message(encode(Snapshot("T", 1, {"items": [{"a": 1}]})))
    assert isinstance(snap, Snapshot)
    assert isinstance(snap.data, FrozenDict)
    assert isinstance(snap.data["items"], FrozenList)
    with pytest.raises(TypeError):
        snap.data["items"].append(1)


def test_a_result_value_decodes_plain_for_its_one_caller() -> None:
    """No freeze on the way in, no thaw on the way out: the value of a result
    goes to one caller, who may change it."""
    result = decode_server_message(encode(Result(4, {"items": [{"a": 1}]})))
    assert result == Result(4, {"items": [{"a": 1}]})
    assert isinstance(result, Result) and type(result.value) is dict
    assert type(result.value["items"]) is list
    # Another encoder's key order: decoded as any frame (frozen), and still equal.
    other = msgpack.packb({"i": 4, "t": "res", "r": {"items": [{"a": 1}]}})
    assert decode_server_message(other) == result
    failed = decode_server_message(encode(Result(4, error="no")))
    assert failed == Result(4, error="no")


def test_call_args_are_validated_and_frozen() -> None:
    call = decode_client_message(encode(Call(1, "f", {"a": [1, 2]})))
    assert isinstance(call, Call)
    assert isinstance(call.args, FrozenDict)
    raw = msgpack.packb({"t": "rpc", "i": 1, "n": "f", "a": {"b": b"bytes"}}, use_bin_type=True)
    with pytest.raises(ProtocolError, match="args is not JSON"):
        decode_client_message(raw)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"\xc1", "malformed MessagePack"),
        (b"\x93\x01\x02", "malformed MessagePack"),  # truncated array
        (msgpack.packb([1, 2]), "must hold a map"),
        (msgpack.packb({"t": "nope"}), "unknown message type 'nope'"),
        (msgpack.packb({"x": 1}), "unknown message type None"),
        (msgpack.packb({"t": "sub"}), "lacks store name"),
        (msgpack.packb({"t": "sub", "s": 3}), "int for store name"),
        (msgpack.packb({"t": "sub", "s": ""}), "empty store name"),
        (msgpack.packb({"t": "rpc", "i": True, "n": "f"}), "bool for call id"),
        (msgpack.packb({"t": "hello"}), "lacks the protocol version"),
        (msgpack.packb({"t": "hello", "pv": 1, "tk": 5}), "int for token"),
        (b"", "malformed MessagePack"),
        (msgpack.packb({"t": "rpc", "i": 1, "n": None}), "NoneType for function name"),
        (msgpack.packb({"t": "rpc", "i": 1, "n": "f", "a": float("nan")}), "args is not JSON"),
        (msgpack.packb({1: 2}), "malformed MessagePack"),
        ("text", "text frame"),
    ],
)
def test_bad_client_frames_raise_protocol_error(frame: bytes | str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_client_message(frame)


def test_server_only_messages_are_rejected_from_clients() -> None:
    with pytest.raises(ProtocolError, match="unknown message type 'snap'"):
        decode_client_message(encode(Snapshot("T", 1, {})))


def test_encode_rejects_non_messages() -> None:
    with pytest.raises(TypeError, match="not a hotstate message"):
        encode({"t": "sub"})  # type: ignore[arg-type]
