"""The wire protocol: message values and their MessagePack codec (pure, no I/O).

Every WebSocket message is one binary frame holding one MessagePack map. The
key ``"t"`` names the message type; the other keys are one or two letters.
``PROTOCOL.md`` at the top of the repository is the full specification; this
module is its executable form. Messages are frozen dataclasses, so tests
compare whole messages and lists of messages.

Decoding never trusts the peer: a frame that is not a map, has an unknown
``"t"``, lacks a key or has a key of the wrong type raises
:class:`~hotstate_rx.errors.ProtocolError` naming the problem, and the caller
decides what happens to the connection. A server reads a client's frame in
two steps (:func:`decode_client_envelope`): everything but a call's arguments
first, for the price of a scan of the bytes, so that it can refuse a call
(an unknown function, a limit) before it pays for decoding and validating
the arguments (:meth:`RawCall.decode`), which costs up to about a
microsecond per byte of nested containers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

import msgpack

from .errors import ProtocolError
from .frozen import JSON, FrozenDict, FrozenList, freeze
from .patch import PatchOp

PROTOCOL_VERSION = 1
"""Bumped on any incompatible change; both peers send theirs in ``hello``."""


# ---------------------------------------------------------------------------
# Client -> server
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientHello:
    """First message of a client: the protocol version it speaks and, for a
    server that authenticates, its credential (``token``, a string the server's
    ``authenticate`` interprets). The token travels in the protocol rather
    than in the URL or a header so that it works the same on every transport
    and stays out of access logs. The repr hides it. A client that reconnects
    presents the ``resume`` token of its last session and the number of the
    last event it received (``last_event``), so the server can resume that
    session (same client id, missed events, cached results)."""

    version: int = PROTOCOL_VERSION
    token: str | None = field(default=None, repr=False)
    resume: str | None = field(default=None, repr=False)
    last_event: int | None = None


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Subscribe to a store instance. ``version`` and ``epoch`` name the copy
    the client holds, if any: the server answers with the patches it missed
    when its history still has them, else with a snapshot."""

    store: str
    version: int | None = None
    epoch: str | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """End the subscription to a store instance."""

    store: str


@dataclass(frozen=True, slots=True)
class Call:
    """A function call; ``id`` is chosen by the client and echoed in the result.
    ``resent`` marks a call sent again on a resumed session because its answer
    may have been lost: the server answers it from its cache and never runs a
    handler twice for it."""

    id: int
    name: str
    args: JSON = None
    resent: bool = False


@dataclass(slots=True)
class RawCall:
    """A :class:`Call` as a server first reads it, its arguments not yet
    validated: decoded (``args``) when the frame was small, still the
    MessagePack bytes the client sent (``encoded_args``) when it was large.

    Cheap to make whatever the arguments hold; :meth:`decode` does the
    expensive part, once the server knows it will run the call. Read-only by
    convention, not frozen: one is made per call frame, and a frozen
    dataclass costs three times as much to build."""

    id: int
    name: str
    args: Any = None
    encoded_args: bytes | None = None
    resent: bool = False

    def decode(self) -> Call:
        """The call with its arguments validated as JSON and frozen;
        ``ProtocolError`` when they are not JSON."""
        args = self.args
        if self.encoded_args is not None:
            try:
                args = msgpack.unpackb(self.encoded_args, raw=False, strict_map_key=True)
            except (ValueError, TypeError, msgpack.UnpackException) as exc:
                raise ProtocolError(f"'rpc' message: args is not JSON: {exc}") from None
        try:
            return Call(self.id, self.name, freeze(args), self.resent)
        except TypeError as exc:
            raise ProtocolError(f"'rpc' message: args is not JSON: {clip(str(exc))}") from None


# ---------------------------------------------------------------------------
# Server -> client
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerHello:
    """First message of the server: its version, the client's id and the
    heartbeat interval in seconds (0 when disabled). ``resume`` is the token
    that resumes this session after a drop (None: the server does not resume),
    ``recovered`` whether this connection resumed the session the client
    asked for, and ``tag`` the opaque name under which this session's calls
    appear as the ``cause`` of the changes they make."""

    client_id: str
    heartbeat: float
    version: int = PROTOCOL_VERSION
    resume: str | None = field(default=None, repr=False)
    recovered: bool = False
    tag: str | None = None


Cause: TypeAlias = tuple[str, int]
"""``(session tag, call id)``: the call whose handler made a change."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole state of a store instance at ``version``. ``epoch`` names the
    instance's history: versions compare only within one epoch (a deleted and
    re-created instance, or a server restarted without storage, starts a new
    one). ``cause`` names the call that made this change, if one did."""

    store: str
    version: int
    data: JSON
    epoch: str | None = None
    cause: Cause | None = None


@dataclass(frozen=True, slots=True)
class PatchMessage:
    """RFC 6902 operations that turn version ``version - 1`` into ``version``;
    ``cause`` names the call that made this change, if one did."""

    store: str
    version: int
    ops: list[PatchOp]
    cause: Cause | None = None


@dataclass(frozen=True, slots=True)
class Result:
    """The answer to a :class:`Call`: ``value`` on success, else ``error``."""

    id: int
    value: JSON = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Deleted:
    """The store instance was deleted; the subscription is over."""

    store: str


@dataclass(frozen=True, slots=True)
class EventMessage:
    """An event pushed on ``channel`` (fire and forget). ``seq`` grows with every
    event the server sends (server-wide), so a resuming client can say which
    it got last."""

    channel: str
    data: JSON = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class ErrorMessage:
    """Something the peer should know about. ``code`` is one of
    :data:`ERROR_CODES`; ``store`` is set for subscription errors."""

    code: str
    message: str
    store: str | None = None


ERROR_CODES = frozenset({"protocol", "subscribe", "bad_message", "limit", "unauthorized"})

RESUMABLE_CLOSES = frozenset({None, 1005, 1006, 1011, 1012, 1014})
"""How a connection may end and its session still be resumed: no close frame
(the network failed: None, 1005, 1006), a heartbeat timeout (1011), a server
restart or overload (1012, 1014). A peer that closes with 1000 or 1001 means
it, and a connection closed for misbehaving (1002, 1008, 1009, 1013, ...) is
not given a second chance."""


# ---------------------------------------------------------------------------
# Both directions
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ping:
    """Application-level heartbeat, so every transport (ASGI too) has one."""


@dataclass(frozen=True, slots=True)
class Pong:
    """The answer to :class:`Ping`."""


ClientMessage: TypeAlias = ClientHello | Subscribe | Unsubscribe | Call | Ping | Pong
ServerMessage: TypeAlias = (
    ServerHello
    | Snapshot
    | PatchMessage
    | Result
    | Deleted
    | EventMessage
    | ErrorMessage
    | Ping
    | Pong
)
Message: TypeAlias = ClientMessage | ServerMessage

# ---------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------


def to_wire(msg: Message) -> dict[str, Any]:
    """The map that goes on the wire for ``msg`` (before MessagePack)."""
    kind = type(msg)
    wire = _WIRE.get(kind)
    if wire is None:  # a subclass of a message, or not a message at all
        wire = next((_WIRE[k] for k in kind.__mro__ if k in _WIRE), None)
        if wire is None:
            raise TypeError(f"not a hotstate message: {msg!r}")
    return wire(msg)


def _result(m: Result) -> dict[str, Any]:
    if m.error is None:
        return {"t": "res", "i": m.id, "r": m.value}
    return {"t": "res", "i": m.id, "e": m.error}


def _call(m: Call) -> dict[str, Any]:
    wire = {"t": "rpc", "i": m.id, "n": m.name, "a": m.args}
    if m.resent:
        wire["rs"] = True
    return wire


def _snapshot(m: Snapshot) -> dict[str, Any]:
    wire = _with({"t": "snap", "s": m.store, "v": m.version, "d": m.data}, "e", m.epoch)
    return _with(wire, "c", m.cause)


def _server_hello(m: ServerHello) -> dict[str, Any]:
    wire = {"t": "hello", "pv": m.version, "c": m.client_id, "hb": m.heartbeat}
    wire = _with(_with(wire, "r", m.resume), "g", m.tag)
    return _with(wire, "rc", True if m.recovered else None)


def _client_hello(m: ClientHello) -> dict[str, Any]:
    wire = _with({"t": "hello", "pv": m.version}, "tk", m.token)
    return _with(_with(wire, "r", m.resume), "q", m.last_event)


def _error(m: ErrorMessage) -> dict[str, Any]:
    return _with({"t": "err", "k": m.code, "m": m.message}, "s", m.store)


_WIRE: dict[type, Callable[[Any], dict[str, Any]]] = {
    Result: _result,
    Call: _call,
    PatchMessage: lambda m: _with(
        {"t": "patch", "s": m.store, "v": m.version, "p": m.ops}, "c", m.cause
    ),
    Snapshot: _snapshot,
    EventMessage: lambda m: _with({"t": "evt", "c": m.channel, "d": m.data}, "q", m.seq),
    Subscribe: lambda m: _with(_with({"t": "sub", "s": m.store}, "v", m.version), "e", m.epoch),
    Unsubscribe: lambda m: {"t": "unsub", "s": m.store},
    Deleted: lambda m: {"t": "del", "s": m.store},
    ErrorMessage: _error,
    ServerHello: _server_hello,
    ClientHello: _client_hello,
    Ping: lambda m: {"t": "ping"},
    Pong: lambda m: {"t": "pong"},
}
"""Each message type's map, looked up by type: one dict lookup per message
where a ``match`` tried the cases one by one."""


def _with(wire: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """``wire`` plus ``key`` when ``value`` is set: optional keys stay off the wire."""
    if value is not None:
        wire[key] = value
    return wire


def encode(msg: Message) -> bytes:
    """One binary frame for ``msg``. Raises ``TypeError`` for values MessagePack
    cannot carry (callers validate JSON-ness earlier, where the path is known)."""
    return _packb(to_wire(msg))


def pack_value(value: JSON) -> bytes:
    """``value`` alone in MessagePack, to be framed later by :func:`encode_event`."""
    return _packb(value)


_packers = threading.local()


def _packb(value: Any) -> bytes:
    """``msgpack.packb(value)`` with this thread's packer: ``packb`` makes a new
    ``Packer`` per call, which costs as much as packing a small message. (A
    packer resets itself after each value, and after one it failed on.)"""
    try:
        packer = _packers.packer
    except AttributeError:
        packer = _packers.packer = msgpack.Packer(use_bin_type=True)
    return packer.pack(value)


_EVT = msgpack.packb("t") + msgpack.packb("evt") + msgpack.packb("c")


def encode_event(channel: str, packed: bytes, seq: int | None = None) -> bytes:
    """The frame of ``EventMessage(channel, data, seq)`` from ``packed =
    pack_value(data)``, byte for byte what :func:`encode` makes: the data of an
    event is validated and packed once, where it is emitted, and numbered
    where it is sent."""
    frame = (b"\x84" if seq is not None else b"\x83") + _EVT + msgpack.packb(channel)
    frame += b"\xa1d" + packed
    if seq is not None:
        frame += b"\xa1q" + msgpack.packb(seq)
    return frame


# ---------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------


SMALL_FRAME = 16 << 10
"""Client frames up to this size are decoded whole at once (under a
millisecond whatever they hold); larger ones are scanned first
(:func:`decode_client_envelope`)."""


def _unpack(frame: bytes | bytearray | memoryview, *, frozen: bool) -> Mapping[str, Any]:
    """The map a frame holds; with ``frozen``, containers are frozen as they are
    built. MessagePack's C decoder nests at most 1024 levels: deeper raises,
    it never recurses in Python."""
    try:
        if frozen:
            obj = msgpack.unpackb(
                frame, raw=False, strict_map_key=True, object_hook=FrozenDict, list_hook=FrozenList
            )
        else:
            obj = msgpack.unpackb(frame, raw=False, strict_map_key=True)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise ProtocolError(f"malformed MessagePack frame: {exc}") from None
    if not isinstance(obj, dict):  # what msgpack makes of a map (FrozenDict is one)
        raise ProtocolError(f"a frame must hold a map, got {type(obj).__name__}")
    return obj


_MAPS = frozenset({*range(0x80, 0x90), 0xDE, 0xDF})
_ARRAYS = frozenset({*range(0x90, 0xA0), 0xDC, 0xDD})


def _envelope(frame: bytes | bytearray | memoryview) -> tuple[dict[str, Any], bytes | None]:
    """The top-level map of a client frame with every container value left
    undecoded (an empty ``{}``/``[]`` stands for it: its type is all a field
    check needs), and apart, the raw bytes under ``"a"`` (a call's arguments).
    One pass of MessagePack's C scanner whatever the frame holds, so a frame
    costs little until its arguments are decoded."""
    size = len(frame)
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=True, max_buffer_size=max(size, 1))
    unpacker.feed(frame)
    try:
        if size and frame[0] not in _MAPS:
            unpacker.skip()  # well-formed, but not a map?
            raise ProtocolError(f"a frame must hold a map, got {_kind(frame[0])}")
        fields: dict[str, Any] = {}
        args: bytes | None = None
        for _ in range(unpacker.read_map_header()):
            start = unpacker.tell()
            if frame[start] in _MAPS or frame[start] in _ARRAYS:
                raise ProtocolError("malformed MessagePack frame: map keys must be strings")
            key = unpacker.unpack()
            if type(key) is not str:
                raise ProtocolError("malformed MessagePack frame: map keys must be strings")
            start = unpacker.tell()
            first = frame[start]
            if key == "a":
                unpacker.skip()
                args = bytes(frame[start : unpacker.tell()])
            elif first in _MAPS or first in _ARRAYS:
                unpacker.skip()
                fields[key] = {} if first in _MAPS else []
            else:
                fields[key] = unpacker.unpack()
    except (ValueError, TypeError, IndexError, msgpack.UnpackException) as exc:
        raise ProtocolError(f"malformed MessagePack frame: {exc or type(exc).__name__}") from None
    if unpacker.tell() != size:
        raise ProtocolError("malformed MessagePack frame: extra data after the map")
    return fields, args


def _kind(first: int) -> str:
    """The Python type a MessagePack value decodes to, from its first byte."""
    if first in _ARRAYS:
        return "list"
    if first <= 0x7F or first >= 0xE0 or 0xCC <= first <= 0xD3:
        return "int"
    if 0xA0 <= first <= 0xBF or 0xD9 <= first <= 0xDB:
        return "str"
    kinds = {0xC0: "NoneType", 0xC2: "bool", 0xC3: "bool", 0xCA: "float", 0xCB: "float"}
    return kinds.get(first, "bytes" if 0xC4 <= first <= 0xC6 else "ExtType")


def clip(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters: peer-chosen strings (names, paths)
    go into error messages and logs, never at their full, unbounded length."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _field(m: Mapping[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    try:
        value = m[key]
    except KeyError:
        raise ProtocolError(f"{_tag(m)} message lacks {what} (key {key!r})") from None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(
            f"{_tag(m)} message has a {type(value).__name__} for {what} (key {key!r})"
        )
    return value


def _tag(m: Mapping[str, Any]) -> str:
    return clip(repr(m.get("t")), 40)


def _name(m: Mapping[str, Any], key: str, what: str) -> str:
    value = _field(m, key, str, what)
    if not value:
        raise ProtocolError(f"{_tag(m)} message has an empty {what}")
    return value


def _version(m: Mapping[str, Any]) -> int:
    return _field(m, "pv", int, "the protocol version")


def _optional(m: Mapping[str, Any], key: str, kind: type, what: str) -> Any:
    return _field(m, key, kind, what) if key in m else None


def _cause(m: Mapping[str, Any]) -> Cause | None:
    if "c" not in m:
        return None
    cause = m["c"]
    if (
        not isinstance(cause, list | tuple)
        or len(cause) != 2
        or not isinstance(cause[0], str)
        or not isinstance(cause[1], int)
        or isinstance(cause[1], bool)
    ):
        raise ProtocolError(f"{_tag(m)} message has a malformed cause (key 'c')")
    return (cause[0], cause[1])


def _rpc(m: Mapping[str, Any]) -> RawCall:
    call_id, name = m.get("i"), m.get("n")
    if type(call_id) is int and type(name) is str and name and "rs" not in m:
        return RawCall(call_id, name, m.get("a"))  # the usual call, checked in one go
    return RawCall(
        _field(m, "i", int, "call id"),
        _name(m, "n", "function name"),
        m.get("a"),
        resent=bool(_optional(m, "rs", bool, "resent flag")),
    )


def _res(m: Mapping[str, Any]) -> Result:
    call_id = m.get("i")
    if type(call_id) is int and "e" not in m:
        return Result(call_id, m.get("r"))  # the usual answer, checked in one go
    return Result(
        _field(m, "i", int, "call id"),
        m.get("r"),
        _field(m, "e", str, "error message") if "e" in m else None,
    )


_CLIENT: dict[str, Callable[[Mapping[str, Any]], ClientMessage | RawCall]] = {
    "hello": lambda m: ClientHello(
        _version(m),
        _optional(m, "tk", str, "token"),
        _optional(m, "r", str, "resume token"),
        _optional(m, "q", int, "last event number"),
    ),
    "sub": lambda m: Subscribe(
        _name(m, "s", "store name"),
        _optional(m, "v", int, "store version"),
        _optional(m, "e", str, "store epoch"),
    ),
    "unsub": lambda m: Unsubscribe(_name(m, "s", "store name")),
    "rpc": _rpc,
    "ping": lambda m: Ping(),
    "pong": lambda m: Pong(),
}

_SERVER: dict[str, Callable[[Mapping[str, Any]], ServerMessage]] = {
    "hello": lambda m: ServerHello(
        _field(m, "c", str, "client id"),
        float(_field(m, "hb", (int, float), "heartbeat")),
        _version(m),
        _optional(m, "r", str, "resume token"),
        bool(_optional(m, "rc", bool, "recovered flag")),
        _optional(m, "g", str, "call tag"),
    ),
    "snap": lambda m: Snapshot(
        _name(m, "s", "store name"),
        _field(m, "v", int, "store version"),
        m.get("d"),
        _optional(m, "e", str, "store epoch"),
        _cause(m),
    ),
    "patch": lambda m: PatchMessage(
        _name(m, "s", "store name"),
        _field(m, "v", int, "store version"),
        _field(m, "p", list, "operations"),
        _cause(m),
    ),
    "res": _res,
    "del": lambda m: Deleted(_name(m, "s", "store name")),
    "evt": lambda m: EventMessage(
        _name(m, "c", "channel"), m.get("d"), _optional(m, "q", int, "event number")
    ),
    "err": lambda m: ErrorMessage(
        _field(m, "k", str, "error code"),
        _field(m, "m", str, "error message"),
        _field(m, "s", str, "store name") if "s" in m else None,
    ),
    "ping": lambda m: Ping(),
    "pong": lambda m: Pong(),
}


_M = TypeVar("_M")


def _decode(m: Mapping[str, Any], table: Mapping[str, Callable[[Mapping[str, Any]], _M]]) -> _M:
    tag = m.get("t")
    decoder = table.get(tag) if isinstance(tag, str) else None
    if decoder is None:
        raise ProtocolError(f"unknown message type {_tag(m)}")
    return decoder(m)


def decode_client_envelope(
    frame: bytes | bytearray | memoryview | str,
) -> ClientMessage | RawCall:
    """Decode and validate a frame a client sent, except a call's arguments:
    an ``rpc`` frame gives an :class:`RawCall`. Its cost does not depend
    on what the arguments hold. Anything malformed raises ``ProtocolError``."""
    if isinstance(frame, str):
        raise ProtocolError("expected a binary frame, got a text frame")
    if len(frame) <= SMALL_FRAME:
        return _decode(_unpack(frame, frozen=False), _CLIENT)
    fields, args = _envelope(frame)
    msg = _decode(fields, _CLIENT)
    if args is not None and isinstance(msg, RawCall):
        return RawCall(msg.id, msg.name, encoded_args=args, resent=msg.resent)
    return msg


def decode_client_message(frame: bytes | bytearray | memoryview | str) -> ClientMessage:
    """Decode and validate a frame a client sent. Arguments of calls are
    validated as JSON and frozen; anything else raises ProtocolError."""
    msg = decode_client_envelope(frame)
    return msg.decode() if isinstance(msg, RawCall) else msg


def decode_server_message(frame: bytes | bytearray | memoryview | str) -> ServerMessage:
    """Decode a frame the server sent. Containers come back frozen
    (FrozenDict/FrozenList), so snapshots are immutable without a second
    walk; but for a result as hotstate servers encode it (:data:`_RESULT`),
    whose value goes to its one caller as plain data: decoded plain, it needs
    no copy (:func:`~hotstate_rx.frozen.as_plain`)."""
    if isinstance(frame, str):
        raise ProtocolError("expected a binary frame, got a text frame")
    frozen = frame[: len(_RESULT)] != _RESULT
    return _decode(_unpack(frame, frozen=frozen), _SERVER)


_RESULT = b"\x83\xa1t\xa3res"
"""How a result encoded by :func:`encode` begins: a map of three, ``"t"``
first, ``"res"``. Another encoder's key order is decoded frozen, as any frame."""


__all__ = [
    "ERROR_CODES",
    "PROTOCOL_VERSION",
    "RESUMABLE_CLOSES",
    "SMALL_FRAME",
    "Call",
    "Cause",
    "ClientHello",
    "ClientMessage",
    "Deleted",
    "ErrorMessage",
    "EventMessage",
    "Message",
    "PatchMessage",
    "Ping",
    "Pong",
    "RawCall",
    "Result",
    "ServerHello",
    "ServerMessage",
    "Snapshot",
    "Subscribe",
    "Unsubscribe",
    "clip",
    "decode_client_envelope",
    "decode_client_message",
    "decode_server_message",
    "encode",
    "encode_event",
    "pack_value",
    "to_wire",
]
