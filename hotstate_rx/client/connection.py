"""The asyncio driver of a client (:class:`ClientDriver`): one supervisor task
that connects, reads and retries, feeding the sans-I/O core and dispatching
its actions. A driver, not a connection: it outlives each websockets
``Connection`` it opens and reads from.

Frames are written synchronously as the core asks for them (no writer task,
no queue, one loop iteration less per call; a burst of calls within one loop
iteration leaves in one system call, see :mod:`hotstate_rx.net.batching`),
so they leave in the order they were asked for and a close comes after them.
The task owns everything it starts (a closing handshake), so stopping it
leaves nothing behind. Time enters here only: the heartbeat watchdog is one
self-rearming timer per socket, the backoff a sleep between attempts.
Credentials too: before each attempt a token callable is asked for a fresh
token, which the core puts in the ``hello``; headers go on the upgrade.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from ..errors import ProtocolError
from ..net.batching import Batcher, Outbox
from ..protocol import ClientMessage, decode_server_message, encode
from .actions import Action
from .core import ClientCore
from .options import ClientOptions
from .status import ConnectionStatus

log = logging.getLogger(__name__)


class ClientDriver:
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
        self._outbox: Outbox | None = None
        self._closing: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._close_code: int | None = None
        """The code of the server's close frame on the last socket (None: none came)."""

    def start(self) -> None:
        """Start the supervisor task on the running loop."""
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"hotstate client {self._url}"
        )

    def send(self, message: ClientMessage) -> None:
        """Write ``message`` to the open socket now; dropped when there is none
        (the core re-sends what matters when the next socket opens)."""
        if self._outbox is not None:
            self._outbox.send(encode(message))

    def close_socket(self, code: int, reason: str) -> None:
        """Close the open socket, after every frame sent before it."""
        if self._outbox is not None and self._closing is None:
            self._outbox.flush()
            close = self._outbox.ws.close(code, reason)
            self._closing = asyncio.get_running_loop().create_task(close)

    def stop(self) -> None:
        """Cancel the supervisor task: an open socket is closed with 1000 and no
        retry follows. Returns at once; :meth:`wait_stopped` waits for the end."""
        if self._task is not None:
            self._task.cancel()

    async def wait_stopped(self) -> None:
        """Return once the supervisor task (and the closing handshake it owns) is over."""
        if self._task is not None:
            await asyncio.wait([self._task])

    async def _run(self) -> None:
        while True:
            self._close_code = None
            try:
                await self._attempt()
            except (OSError, TimeoutError, WebSocketException) as exc:
                log.info("connection to %s failed: %s", self._url, exc)
            except Exception:  # a bug must not end the client silently
                log.exception("connection to %s crashed", self._url)
            self._dispatch(self._core.connection_lost(self._jitter(), self._close_code))
            delay = self._core.retry_delay
            if self._core.status is not ConnectionStatus.RECONNECTING or delay is None:
                return
            await asyncio.sleep(delay)

    async def _attempt(self) -> None:
        """Credentials, then one socket (unless the core gives up on them)."""
        try:
            token = await self._token()
        except Exception as exc:  # user code: report it, count a failed attempt
            log.warning("the token function failed: %r", exc)
            self._dispatch(self._core.token_failed(exc))
            return
        self._dispatch(self._core.credentials(token))
        if self._core.status is not ConnectionStatus.DISCONNECTED:
            await self._connect_once(token)

    async def _token(self) -> str | None:
        token = self._options.token
        if not callable(token):
            return token
        value = token()
        if inspect.isawaitable(value):
            value = await value
        if value is not None and not isinstance(value, str):
            raise TypeError(f"the token function returned a {type(value).__name__}, not a str")
        return value

    async def _connect_once(self, token: str | None) -> None:
        """One socket, from opening to closing."""
        options = self._options
        async with connect(
            self._url,
            additional_headers=options.headers,
            compression=options.compression,
            max_size=options.max_message_size,
            open_timeout=options.open_timeout,
            close_timeout=options.close_timeout,
            ping_interval=None,  # the protocol has its own heartbeat, on every transport
        ) as ws:
            self._outbox = Outbox(ws, Batcher(asyncio.get_running_loop()))
            try:
                self._dispatch(self._core.opened(token))
                await self._read(ws)
            except asyncio.CancelledError:
                # stop(): say goodbye with 1000; leaving the ``async with`` on an
                # exception would close with 1011 (internal error).
                await ws.close(1000, "client closed")
                raise
            finally:
                self._outbox = None
                closing, self._closing = self._closing, None
                if closing is not None:
                    await asyncio.wait([closing])

    async def _read(self, ws: ClientConnection) -> None:
        """Feed every frame to the core until the socket closes or the server
        stays silent too long (the open timeout until its hello, then 2.5
        heartbeats). A frame only records when it came; one timer checks the
        silence and re-arms itself, instead of a timeout around each receive."""
        loop = asyncio.get_running_loop()
        heard = loop.time()
        timer: asyncio.TimerHandle | None = None

        def limit() -> float | None:
            if self._core.status is ConnectionStatus.CONNECTED:
                return self._core.silence_limit()
            return self._options.open_timeout

        def arm() -> None:
            nonlocal timer
            if timer is not None:
                timer.cancel()
            allowed = limit()
            timer = None if allowed is None else loop.call_at(heard + allowed, check)

        def check() -> None:
            allowed = limit()
            if allowed is not None and loop.time() - heard >= allowed:
                log.warning("%s sent nothing for %.1f s; reconnecting", self._url, allowed)
                deadline.reschedule(loop.time())  # ends the pending receive
            else:
                arm()

        try:
            async with asyncio.timeout(None) as deadline:
                arm()
                while True:
                    try:
                        frame = await ws.recv()
                    except ConnectionClosed as closed:
                        if (
                            closed.rcvd is not None and closed.rcvd_then_sent
                        ):  # the server's goodbye
                            self._close_code = closed.rcvd.code
                        return
                    heard = loop.time()
                    status = self._core.status
                    try:
                        message = decode_server_message(frame)
                    except ProtocolError as exc:
                        log.warning("bad frame from %s: %s", self._url, exc)
                        self._dispatch(self._core.bad_frame(exc))
                    else:
                        self._dispatch(self._core.receive(message))
                    if self._core.status is not status:  # the allowed silence may have changed
                        arm()
        except TimeoutError:
            if not deadline.expired():  # not the watchdog's: someone else's bug
                raise
        finally:
            if timer is not None:
                timer.cancel()


__all__ = ["ClientDriver"]
