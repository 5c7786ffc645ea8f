"""Frames written straight to ``websockets`` transports, coalesced per loop iteration.

Both ends send every message as one binary frame, synchronously, in the order
asked. Two costs dominate that path, and both are per frame, not per byte:
the framing ``websockets`` does for each ``send`` and each connection, and one
system call per frame. So:

- A frame is serialized here once (:meth:`Outbox.send`), and a server writes
  the very same bytes to every subscriber (:meth:`Outbox.write`): server
  frames are not masked, so without extensions they are identical on every
  connection. A connection that negotiated an extension (per-message deflate)
  keeps websockets' own path, frame by frame.
- The first frame for a connection in a loop iteration is written at once, so
  a lone call or patch waits for nothing; later ones in the same iteration
  (a burst of pipelined calls, several patches) are joined and written in one
  go by a callback at the start of the next iteration. The frames, their
  order and their content are unchanged: only the system calls are fewer.

Writing to the transport bypasses ``Connection.send``, which is safe because
the ``websockets`` protocol object writes whatever it queues at once (nothing
of its own is ever pending between two of our writes) and because only open
connections are written to, as ``broadcast`` does.
"""

from __future__ import annotations

import asyncio

from websockets.asyncio.connection import Connection, broadcast
from websockets.frames import Frame, Opcode
from websockets.protocol import CLIENT, State

__all__ = ["Batcher", "Outbox"]


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
    """The frames going to one connection, in order."""

    __slots__ = ("_batcher", "_epoch", "_held", "_mask", "ws")

    def __init__(self, ws: Connection, batcher: Batcher) -> None:
        self.ws = ws
        self._batcher = batcher
        self._epoch = -1
        self._held: list[bytes] = []
        self._mask = ws.protocol.side is CLIENT  # RFC 6455 §5.3: clients mask, servers don't

    @property
    def plain(self) -> bool:
        """Open, with no extension: frames can be written as bytes of our own."""
        protocol = self.ws.protocol
        return protocol.state is State.OPEN and not protocol.extensions

    def send(self, message: bytes) -> None:
        """Send ``message`` as one binary frame (dropped unless the connection is open)."""
        if self.plain:
            self.write(Frame(Opcode.BINARY, message).serialize(mask=self._mask))
        else:  # closed (broadcast skips it) or an extension with per-connection state
            broadcast((self.ws,), message)

    def write(self, frame: bytes) -> None:
        """Write an already serialized frame; call only when :attr:`plain`."""
        batcher = self._batcher
        if self._epoch != batcher.epoch:
            self._epoch = batcher.epoch
            self.ws.transport.write(frame)
            batcher._wrote()
        else:
            if not self._held:
                batcher._pending.append(self)
            self._held.append(frame)

    def flush(self) -> None:
        """Write what is held now (before closing, say); dropped if no longer open."""
        held, self._held = self._held, []
        if held and self.ws.protocol.state is State.OPEN:
            self.ws.transport.write(b"".join(held))
