"""Frames written straight to ``websockets`` transports, coalesced per loop iteration.

Both ends send every message as one binary frame, synchronously, in the order
asked. Two costs dominate that path, and both are per frame, not per byte:
the framing ``websockets`` does for each ``send`` and each connection, and one
system call per frame. So:

- A frame is serialized once (:func:`binary_frame`), and a server writes the
  very same bytes to every subscriber (:meth:`Outbox.write`): server frames
  are not masked, so without extensions they are identical on every
  connection. A connection that negotiated an extension (per-message deflate)
  keeps websockets' own path, frame by frame.
- The first frame for a connection in a loop iteration is written at once, so
  a lone call or patch waits for nothing; later ones in the same iteration
  (a burst of pipelined calls, several patches) are joined and written in one
  go by a callback at the start of the next iteration. The frames, their
  order and their content are unchanged: only the system calls are fewer.

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
(:func:`binary_frame`, :class:`Outbox`).

Public API:

- ``websockets.frames.Frame(Opcode.BINARY, data).serialize(mask=...)``, the
  sans-I/O framing (RFC 6455 §5.2). Without extensions, a frame's bytes
  depend only on its opcode, its payload and its mask, which is why one
  serialized server frame fits every connection and why our bytes equal
  those ``Connection.send`` would write (tested byte for byte, the mask key
  pinned for client frames).
- ``websockets.asyncio.connection.broadcast``: the fallback, which frames and
  writes through the connection's own protocol object.

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
import struct

from websockets.asyncio.connection import Connection, broadcast
from websockets.frames import Frame, Opcode
from websockets.protocol import CLIENT, OPEN

__all__ = ["Batcher", "Outbox", "binary_frame"]


def binary_frame(message: bytes, *, mask: bool = False) -> bytes:
    """``message`` as one serialized binary WebSocket frame, without extensions.

    Servers send unmasked frames (``mask=False``, the same bytes for every
    connection); clients mask theirs with a fresh random key per frame. An
    unmasked frame is only a header (RFC 6455 §5.2: FIN + opcode 2, then the
    length in 7, 16 or 64 bits) before the payload, written here directly:
    websockets' general serializer costs several times more, and every patch,
    result and event of a server goes through this (tests/net check that the
    bytes are websockets' own)."""
    if mask:
        return Frame(Opcode.BINARY, message).serialize(mask=True)
    size = len(message)
    if size < 126:
        return bytes((0x82, size)) + message
    if size < 65536:
        return _HEAD16.pack(0x82, 126, size) + message
    return _HEAD64.pack(0x82, 127, size) + message


_HEAD16 = struct.Struct("!BBH")
_HEAD64 = struct.Struct("!BBQ")


class Batcher:
    """The iteration clock shared by the outboxes of one server or client."""

    __slots__ = ("_loop", "_pending", "_scheduled", "epoch")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pending: list[Outbox] = []
        self._scheduled = False
        self.epoch = 0
        """Advances once per loop iteration that wrote something."""

    def _wrote(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
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

    __slots__ = ("_bare", "_batcher", "_epoch", "_held", "_held_bytes", "_mask", "_protocol", "ws")

    def __init__(self, ws: Connection, batcher: Batcher) -> None:
        self.ws = ws
        self._batcher = batcher
        self._epoch = -1
        self._held: list[bytes] = []
        self._held_bytes = 0
        protocol = self._protocol = ws.protocol
        self._mask = protocol.side is CLIENT  # RFC 6455 §5.3: clients mask, servers don't
        self._bare = not protocol.extensions  # fixed once the handshake is over

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
            self.write(Frame(Opcode.BINARY, message).serialize(mask=self._mask))
        else:  # closed (broadcast skips it) or an extension with per-connection state
            broadcast((self.ws,), message)

    def write(self, frame: bytes) -> None:
        """Write an already serialized frame (:func:`binary_frame`); call only
        when :attr:`plain`."""
        batcher = self._batcher
        if self._epoch != batcher.epoch:
            self._epoch = batcher.epoch
            self.ws.transport.write(frame)
            batcher._wrote()
        else:
            if not self._held:
                batcher._pending.append(self)
            self._held.append(frame)
            self._held_bytes += len(frame)

    def flush(self) -> None:
        """Write what is held now (before closing, say); dropped if no longer open."""
        held, self._held = self._held, []
        self._held_bytes = 0
        if held and self._protocol.state is OPEN:
            self.ws.transport.write(b"".join(held))
