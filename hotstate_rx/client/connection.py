"""The asyncio driver of a client: one supervisor task that connects, reads,
writes and retries, feeding the sans-I/O core and dispatching its actions.

The task owns everything it starts (the writer of each socket), so stopping it
leaves nothing behind. Time enters here only: the heartbeat watchdog is a
timeout on each receive, the backoff a sleep between attempts.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from ..errors import ProtocolError
from ..protocol import ClientMessage, decode_server_message, encode
from .actions import Action
from .core import ClientCore
from .options import ClientOptions
from .status import ConnectionStatus

logger = logging.getLogger("hotstate_rx.client")

_Outgoing = bytes | tuple[int, str]  # a frame, or a close code and reason


class Connection:
    """Keeps a client connected to ``url`` until :meth:`stop`."""

    def __init__(
        self,
        url: str,
        options: ClientOptions,
        core: ClientCore,
        dispatch: Callable[[list[Action]], None],
        *,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._url = url
        self._options = options
        self._core = core
        self._dispatch = dispatch
        self._jitter = jitter
        self._outbox: asyncio.Queue[_Outgoing] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the supervisor task on the running loop."""
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"hotstate client {self._url}"
        )

    def send(self, message: ClientMessage) -> None:
        """Queue ``message`` for the open socket; dropped when there is none
        (the core re-sends what matters when the next socket opens)."""
        if self._outbox is not None:
            self._outbox.put_nowait(encode(message))

    def close_socket(self, code: int, reason: str) -> None:
        """Close the open socket once what is queued before has been sent."""
        if self._outbox is not None:
            self._outbox.put_nowait((code, reason))

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def wait_stopped(self) -> None:
        if self._task is not None:
            await asyncio.wait([self._task])

    async def _run(self) -> None:
        while True:
            try:
                await self._session()
            except (OSError, TimeoutError, WebSocketException) as exc:
                logger.info("connection to %s failed: %s", self._url, exc)
            except Exception:  # a bug must not end the client silently
                logger.exception("connection to %s crashed", self._url)
            self._dispatch(self._core.connection_lost(self._jitter()))
            delay = self._core.retry_delay
            if self._core.status is not ConnectionStatus.RECONNECTING or delay is None:
                return
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        options = self._options
        async with connect(
            self._url,
            compression=options.compression,
            max_size=options.max_message_size,
            open_timeout=options.open_timeout,
            close_timeout=options.close_timeout,
            ping_interval=None,  # the protocol has its own heartbeat, on every transport
        ) as ws:
            outbox: asyncio.Queue[_Outgoing] = asyncio.Queue()
            writer = asyncio.create_task(self._write(ws, outbox))
            self._outbox = outbox
            try:
                self._dispatch(self._core.opened())
                await self._read(ws)
            finally:
                self._outbox = None
                writer.cancel()
                await asyncio.wait([writer])

    async def _read(self, ws: ClientConnection) -> None:
        while True:
            connected = self._core.status is ConnectionStatus.CONNECTED
            limit = self._core.silence_limit() if connected else self._options.open_timeout
            try:
                async with asyncio.timeout(limit):
                    frame = await ws.recv()
            except TimeoutError:
                logger.warning("%s sent nothing for %.1f s; reconnecting", self._url, limit)
                return
            except ConnectionClosed:
                return
            try:
                message = decode_server_message(frame)
            except ProtocolError as exc:
                logger.warning("bad frame from %s: %s", self._url, exc)
                self._dispatch(self._core.bad_frame(exc))
                continue
            self._dispatch(self._core.receive(message))

    @staticmethod
    async def _write(ws: ClientConnection, outbox: asyncio.Queue[_Outgoing]) -> None:
        try:
            while True:
                item = await outbox.get()
                if isinstance(item, tuple):
                    await ws.close(*item)
                    return
                await ws.send(item)
        except ConnectionClosed:
            return


__all__ = ["Connection"]
