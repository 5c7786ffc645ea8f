"""Frames to and from ``websockets`` connections, with as little per frame as possible.

Both ends send every message as one binary frame, synchronously, in the order
asked. Two costs dominate that path, and both are per frame, not per byte:
the framing ``websockets`` does for each ``send`` and each connection, and one
system call per frame. So:

- A frame is serialized once (:func:`binary_frame`), and a server writes the
  very same bytes to every subscriber (:meth:`Outbox.write`): server frames
  are not masked, so without extensions they are identical on every
  connection. A connection that negotiated an extension (per-message deflate)
  keeps websockets' own path, frame by frame. A client masks each frame with
  a key from a pool of random bytes its outbox draws from ``os.urandom`` 4 KiB
  at a time, instead of a system call per frame.
- Writes come in rounds. The first frame for a connection in a round is
  written at once, so a lone call, result or patch waits for nothing; later
  ones in the same round (a burst of pipelined calls, their results, several
  patches) are joined and written in one go by a callback at the start of the
  next loop iteration, which starts a new round. A round also starts whenever
  data arrives on one of the batcher's connections (:meth:`Batcher.received`,
  from the connection classes below): a request and its answer, or an answer
  and the next call, need no callback at all, so a round trip costs no extra
  loop iteration. A frame written at once in a round that no data began (a
  server pushing patches from a timer) schedules the callback that starts the
  next round, as every write did before rounds began with data. A frame
  written in a later iteration of a round data began, with nothing arrived
  since, waits for that callback: one loop iteration, never more. The
  frames, their order and their content are unchanged: only the system calls
  are fewer.

Reading: :class:`InlineClientConnection` and :class:`InlineServerConnection`
hand each message to a callback in the connection's data callback, as soon as
it is parsed, in order, instead of queueing it for a task's ``recv()``: a
caller is woken by its answer's arrival, and a server answers a call in the
callback that read it, not one loop iteration later each. Reads go into one
buffer per thread (:class:`_ReadsInto`).

The seam: what of ``websockets`` this relies on
-----------------------------------------------
Everything below holds for every release in the range ``pyproject.toml``
pins, and ``tests/net/test_batching.py`` checks each point against the
installed release over real loopback sockets, so an upgrade that breaks one
fails a test, not production; the upper bound is the next major after the
one CI tests. The floor is 14.1, not 13.0 (where ``websockets.asyncio``
appeared): before 14.1 a connection dropped the messages it had received but
not yet handed to ``recv()`` once a close arrived, so frames we wrote just
before closing (a last error, say) could be lost at the other end. Other
modules reach these internals only through this module's names
(:func:`binary_frame`, :class:`Outbox`, :class:`Batcher`,
:class:`InlineClientConnection`, :class:`InlineServerConnection`,
:func:`server_connection`).

Public API:

- ``websockets.frames.Frame(Opcode.BINARY, data).serialize(mask=...)``, the
  sans-I/O framing (RFC 6455 §5.2). Without extensions, a frame's bytes
  depend only on its opcode, its payload and its mask, which is why one
  serialized server frame fits every connection and why our bytes equal
  those ``Connection.send`` would write (tested byte for byte, the mask key
  pinned for client frames). A frame's ``opcode``, ``fin`` and ``data``.
- ``apply_mask(data, key)`` (``websockets.speedups``, in C, else
  ``websockets.utils``), the masking ``Frame.serialize`` does.
- ``websockets.asyncio.connection.broadcast``: the fallback, which frames and
  writes through the connection's own protocol object.
- ``connect(..., create_connection=...)`` and ``serve(...,
  create_connection=...)``: the connection class to use, "set it to a wrapper
  or a subclass to customize connection handling".
- ``Connection.data_received``, the asyncio ``Protocol`` callback each chunk
  of incoming bytes goes through (subclasses extend it, then call it).
- ``Connection.wait_closed()`` and ``protocol.close_exc`` (the
  ``ConnectionClosed`` that ``recv()`` would raise), for a connection whose
  messages never reach ``recv()``.

Undocumented attributes of ``websockets.asyncio.connection.Connection``:

- ``.protocol``, its sans-I/O state machine, of which we read ``.state`` (is
  it ``OPEN``? the very test ``broadcast`` makes), ``.side`` (clients mask,
  RFC 6455 §5.3) and ``.extensions`` (negotiated during the handshake and
  fixed afterwards, so read once per outbox).
- ``.transport``, the asyncio transport, which we write to (and whose
  ``get_write_buffer_size()`` counts what waits for the peer).
- ``.drain()``, the coroutine its own sends use for flow control: it returns
  at once unless the transport paused writing (its buffer passed the
  high-water mark, our writes included), then once it resumed or the
  connection was lost.
- ``.process_event(event)``, which ``data_received`` calls for each event the
  protocol parsed, in order ("overridden in subclasses to handle the
  handshake"): the client's handshake response first, then frames; data
  frames go to the queue ``recv()`` reads, a pong acknowledges pings. The
  inline connections take the data frames there instead.

One behaviour, which is what makes writing behind websockets' back safe:

- **The connection writes whatever its protocol object queues at once.** Every
  ``protocol.send_*()`` and ``receive_data()`` it makes (a ``send``, a ping, the
  automatic pong, a close) is followed in the same synchronous step by
  ``send_data()``, which writes all of ``protocol.data_to_send()`` to the
  transport. So no websockets bytes are ever pending between two of our
  writes, and a frame of ours can never land inside one of its frames.
  (Control frames it writes may come between our frames, which RFC 6455 §5.4
  allows.)

And two rules of ours that keep it so: these connections never send a
fragmented message through ``Connection.send`` (we would interleave with its
continuation frames), and only ``OPEN`` connections are written to (no data
after a close frame, RFC 6455 §5.5.1): an outbox holding frames when the
connection leaves ``OPEN`` drops them, as ``broadcast`` would have.
"""

from __future__ import annotations

import asyncio
import os
import struct
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.connection import Connection, broadcast
from websockets.asyncio.server import ServerConnection
from websockets.frames import BINARY, CONT, TEXT, Frame
from websockets.protocol import CLIENT, OPEN, Event

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

__all__ = [
    "Batcher",
    "InlineClientConnection",
    "InlineServerConnection",
    "Outbox",
    "binary_frame",
    "server_connection",
]

MAX_FRAGMENTS = 4096
"""Frames a fragmented message may come in (websockets' own bound); a peer
that sends more loses the connection."""

_KEY_POOL = 4096
"""Bytes of randomness a client's outbox draws at once: 1,024 mask keys."""


def binary_frame(message: bytes, *, mask: bool = False) -> bytes:
    """``message`` as one serialized binary WebSocket frame, without extensions.

    Servers send unmasked frames (``mask=False``, the same bytes for every
    connection); clients mask theirs with a fresh random key per frame. A
    frame is only a header (RFC 6455 §5.2: FIN + opcode 2, then the length in
    7, 16 or 64 bits, the mask bit on a client's) before the payload, written
    here directly: websockets' general serializer costs several times more,
    and every patch, result and event goes through this (tests/net check that
    the bytes are websockets' own)."""
    if mask:
        return _masked(message, _entropy(4))
    size = len(message)
    if size < 126:
        return bytes((0x82, size)) + message
    if size < 65536:
        return _HEAD16.pack(0x82, 126, size) + message
    return _HEAD64.pack(0x82, 127, size) + message


def _masked(message: bytes, key: bytes) -> bytes:
    """A client's frame of ``message``, masked with the 4-byte ``key`` (RFC 6455 §5.3)."""
    size = len(message)
    if size < 126:
        head = bytes((0x82, 0x80 | size))
    elif size < 65536:
        head = _HEAD16.pack(0x82, 0xFE, size)
    else:
        head = _HEAD64.pack(0x82, 0xFF, size)
    return head + key + apply_mask(message, key)


def _entropy(size: int) -> bytes:
    """``size`` random bytes for mask keys, from the operating system's CSPRNG."""
    return os.urandom(size)


_HEAD16 = struct.Struct("!BBH")
_HEAD64 = struct.Struct("!BBQ")


class Batcher:
    """The rounds of writes shared by the outboxes of one server or client."""

    __slots__ = ("_fed", "_loop", "_pending", "_scheduled", "epoch")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pending: list[Outbox] = []
        self._scheduled = False
        self._fed = False
        """The round began with data arriving (its end is the next data's)."""
        self.epoch = 0
        """Advances once per round: when data arrives, and at each flush."""

    def received(self) -> None:
        """Data arrived on a connection: the writes it causes start a new round."""
        self.epoch += 1
        self._fed = True

    def _wrote(self) -> None:
        """A frame was written at once. In a round no data began (a timer's
        fan-out, say), the next loop iteration starts a new one, so that the
        next frame is written at once too; a round data began ends with the
        next data, and needs no callback."""
        if not self._fed and not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def _hold(self, outbox: Outbox) -> None:
        """``outbox`` holds its first frame: flush it at the next iteration."""
        self._pending.append(outbox)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = self._fed = False
        self.epoch += 1
        pending, self._pending = self._pending, []
        for outbox in pending:
            outbox.flush()


class Outbox:
    """The frames going to one connection, in order.

    Make it once the opening handshake is over (as ``serve`` handlers and
    ``connect`` hand connections over): it reads the negotiated extensions
    then.
    """

    __slots__ = (
        "_bare",
        "_batcher",
        "_epoch",
        "_held",
        "_held_bytes",
        "_key_at",
        "_keys",
        "_mask",
        "_protocol",
        "ws",
    )

    def __init__(self, ws: Connection, batcher: Batcher) -> None:
        self.ws = ws
        self._batcher = batcher
        self._epoch = -1
        self._held: list[bytes] = []
        self._held_bytes = 0
        protocol = self._protocol = ws.protocol
        self._mask = protocol.side is CLIENT  # RFC 6455 §5.3: clients mask, servers don't
        self._bare = not protocol.extensions  # fixed once the handshake is over
        self._keys = b""
        self._key_at = 0

    @property
    def queued(self) -> int:
        """Bytes written to this connection that have not left the process yet:
        the frames held for the next iteration and the transport's write buffer
        (websockets' own writes, pongs and the close frame, included)."""
        return self._held_bytes + self.ws.transport.get_write_buffer_size()

    async def drained(self) -> None:
        """Write what is held, then return once the transport is below its
        high-water mark (at once if it is), or the connection is lost; raises
        what ended the connection, if anything did. For flow control: read no
        more requests from a peer that does not read its answers."""
        self.flush()
        await self.ws.drain()

    @property
    def plain(self) -> bool:
        """Open, with no extension: frames can be written as bytes of our own."""
        return self._bare and self._protocol.state is OPEN

    def send(self, message: bytes) -> None:
        """Send ``message`` as one binary frame (dropped unless the connection is open)."""
        if self._bare and self._protocol.state is OPEN:  # plain, inlined: once per frame
            if self._mask:
                at = self._key_at
                if at == len(self._keys):
                    self._keys, at = _entropy(_KEY_POOL), 0
                self._key_at = at + 4
                self.write(_masked(message, self._keys[at : at + 4]))
            else:
                self.write(binary_frame(message))
        else:  # closed (broadcast skips it) or an extension with per-connection state
            broadcast((self.ws,), message)

    def write(self, frame: bytes) -> None:
        """Write an already serialized frame (:func:`binary_frame`); call only
        when :attr:`plain`."""
        batcher = self._batcher
        if not self._held and self._epoch != batcher.epoch:
            self._epoch = batcher.epoch
            self.ws.transport.write(frame)
            batcher._wrote()
            return
        if not self._held:
            batcher._hold(self)
        self._held.append(frame)
        self._held_bytes += len(frame)

    def flush(self) -> None:
        """Write what is held now (before closing, say); dropped if no longer open."""
        held, self._held = self._held, []
        self._held_bytes = 0
        if held and self._protocol.state is OPEN:
            self.ws.transport.write(b"".join(held))


_READ_SIZE = 256 << 10
"""Bytes one read may take from a socket: asyncio's own read size."""

_reads = threading.local()


def _read_buffer() -> memoryview:
    """This thread's buffer for socket reads (:class:`_ReadsInto`)."""
    try:
        view: memoryview = _reads.view
    except AttributeError:
        view = _reads.view = memoryview(bytearray(_READ_SIZE))
    return view


class _ReadsInto(asyncio.BufferedProtocol):
    """Socket reads go into one buffer per thread, and each read's bytes on to
    ``data_received``, as asyncio's plain protocols get them.

    A plain protocol gets each read as a new ``bytes`` object of the read size
    (256 KiB), shrunk to what came. Unless an earlier free raised the C
    allocator's threshold, a block that size is a fresh mapping: an ``mmap``,
    a page fault, an ``mremap`` and a ``munmap`` per read, about 12 µs here
    against 2.5 for the read itself. A read is handed on before the next one
    starts (the loop's thread runs them one at a time, TLS included), so one
    buffer serves every connection of the thread."""

    data_received: Callable[[bytes], None]  # the connection's, which comes first

    def get_buffer(self, sizehint: int) -> memoryview:
        return _read_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(_read_buffer()[:nbytes].tobytes())


class _Inline(Connection, _ReadsInto):
    """A connection that hands each message, ``bytes`` (binary) or ``str``
    (text), to the callback given to :meth:`deliver_to`, in the protocol's
    data callback, in order, as soon as it is parsed. Messages never reach
    ``recv()``, which then just waits for the connection to close (so does
    ``wait_closed()``). Those that arrive before :meth:`deliver_to`, or while
    the connection is held (:meth:`hold`), wait and are handed over first.
    Data arriving starts a new round of :attr:`batcher`'s writes, once one is
    set. Reads go through one buffer (:class:`_ReadsInto`).

    The callback runs inside the transport's data callback: it must not raise
    (an exception there ends the connection abruptly) and should not block.
    """

    # Slots, not the instance dict: these keys in a connection's dict would
    # grow it by 1.6 KiB, the heap of an idle connection by a tenth.
    __slots__ = ("_cut", "_holding", "_on_message", "_parts", "_text", "_waiting", "batcher")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batcher: Batcher | None = None
        self._on_message: Callable[[bytes | str], None] | None = None
        self._waiting: deque[bytes | str] | None = None  # made when one must wait
        self._holding = False
        self._parts: list[bytes] = []
        self._text = False
        self._cut = False

    def deliver_to(self, on_message: Callable[[bytes | str], None]) -> None:
        """Hand every message to ``on_message`` from now on, those that came
        before first."""
        self._on_message = on_message
        self._hand_over()

    def hold(self) -> None:
        """Hand over nothing more until :meth:`release`: the messages parsed
        already wait, and the socket is not read meanwhile (the peer's own
        buffers fill, and TCP slows it down)."""
        if not self._holding:
            self._holding = True
            self.transport.pause_reading()

    def release(self) -> None:
        """Hand over the messages that waited (until one of them holds the
        connection again), then read the socket again."""
        self._holding = False
        self._hand_over()
        if not self._holding:
            self.transport.resume_reading()

    def drop_waiting(self) -> None:
        """Forget the messages that wait: nobody will take them."""
        self._waiting = None
        self._on_message = None

    def _hand_over(self) -> None:
        while self._waiting and self._on_message is not None and not self._holding:
            self._on_message(self._waiting.popleft())
        if not self._waiting:  # an idle connection keeps no queue
            self._waiting = None

    def data_received(self, data: bytes) -> None:
        if self.batcher is not None:
            self.batcher.received()
        super().data_received(data)

    def process_event(self, event: Event) -> None:
        if type(event) is not Frame:  # the opening handshake's request or response
            super().process_event(event)
            return
        if self._cut:  # aborted: what was parsed along is dropped
            return
        opcode = event.opcode
        if opcode is BINARY or opcode is TEXT:
            if event.fin:
                self._message(bytes(event.data), opcode is TEXT)
            else:  # the first part of a fragmented message (RFC 6455 §5.4)
                self._parts, self._text = [bytes(event.data)], opcode is TEXT
        elif opcode is CONT:  # websockets' parser checked the sequence and the size
            parts = self._parts
            parts.append(bytes(event.data))
            if event.fin:
                self._parts = []
                self._message(b"".join(parts), self._text)
            elif len(parts) >= MAX_FRAGMENTS:
                self._parts, self._cut = [], True
                self.transport.abort()
        else:  # control frames: a pong acknowledges pings
            super().process_event(event)

    def _message(self, data: bytes, text: bool) -> None:
        message: bytes | str = data.decode(errors="replace") if text else data
        on_message = self._on_message
        if on_message is not None and not self._holding and not self._waiting:
            on_message(message)
        elif self._waiting is None:
            self._waiting = deque((message,))
        else:
            self._waiting.append(message)


class InlineClientConnection(_Inline, ClientConnection):
    """A client connection (``connect(create_connection=...)``) that hands
    each message to a callback as it arrives (:class:`_Inline`)."""


class InlineServerConnection(_Inline, ServerConnection):
    """A server connection that hands each message to a callback as it
    arrives (:class:`_Inline`); made by :func:`server_connection`."""


def server_connection(batcher: Batcher) -> type[InlineServerConnection]:
    """The connection class for ``serve(create_connection=...)``: messages go
    to a callback (:class:`_Inline`), and data arriving on any of its
    connections starts a new round of ``batcher``'s writes."""

    class BatchedServerConnection(InlineServerConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.batcher = batcher

    return BatchedServerConnection
