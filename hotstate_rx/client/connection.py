"""The asyncio driver of a client (:class:`ClientDriver`): one supervisor task
that connects and retries, feeding the sans-I/O core and dispatching its
actions. A driver, not a connection: it outlives each websockets
``Connection`` it opens.

Frames are read in the connection's data callback, each handed to the core as
it arrives (:class:`~hotstate_rx.net.batching.InlineClientConnection`: no
reader task, so the caller of a call wakes one loop iteration after its
answer arrived, not two); the task meanwhile waits for the socket to close.
Frames are written synchronously as the core asks for them (no writer task,
no queue; a burst of calls leaves in one system call, see
:mod:`hotstate_rx.net.batching`), so they leave in the order they were asked
for and a close comes after them.
The task owns everything it starts (a closing handshake), so stopping it
leaves nothing behind. Time enters here only: the heartbeat watchdog is one
self-rearming timer per socket, the backoff a sleep between attempts.
Which URL each attempt dials is the core's choice (:attr:`ClientCore.url`,
failover across several): the driver reads it before each attempt.

Why a socket failed or ended is put in words here (:attr:`ClientDriver.failure`),
where the websockets exceptions are known: the client's ``Disconnected`` and
``RpcTimeout`` messages and the ``"reconnecting"`` event carry it, and the
first failure of an outage is logged as a warning (later attempts at info
level), so a client with no server says so once instead of hanging silently.
Credentials too: before each attempt a token callable is asked for a fresh
token, which the core puts in the ``hello``; headers go on the upgrade. A
server certificate the client refuses is told to the core, which stops.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import logging
import random
import socket
from collections.abc import Callable
from typing import Any, cast

from websockets.asyncio.client import connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    WebSocketException,
)

from ..errors import ProtocolError
from ..net.batching import Batcher, InlineClientConnection, Outbox
from ..protocol import ClientMessage, decode_server_message, encode
from .actions import Action
from .core import ClientCore
from .options import ClientOptions
from .status import ConnectionStatus
from .tls import certificate_error

log = logging.getLogger(__name__)


class ClientDriver:
    """Keeps a client connected to one of the core's URLs until :meth:`stop`."""

    def __init__(
        self,
        options: ClientOptions,
        core: ClientCore,
        dispatch: Callable[[list[Action]], None],
        *,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._options = options
        self._core = core
        self._dispatch = dispatch
        self._jitter = jitter
        self._outbox: Outbox | None = None
        self._closing: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._close_code: int | None = None
        """The code of the server's close frame on the last socket (None: none came)."""
        self.failure: str | None = None
        """Why the last socket failed to open or ended, in words ("could not
        connect to ws://...: connection refused (is the server running?)");
        None until one did."""

    def start(self) -> None:
        """Start the supervisor task on the running loop."""
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"hotstate client {', '.join(self._core.urls)}"
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
        warned = False  # once per outage: the first failure is a warning, retries are info
        while True:
            self._close_code = None
            told = False  # the reason was reported where it arose
            url = self._core.url
            try:
                ended = await self._attempt(url)
            except (OSError, TimeoutError, WebSocketException) as exc:
                cause = describe_failure(exc, self._options.open_timeout)
                self.failure = f"could not connect to {url}: {cause}"
                refused = certificate_error(exc, url)
                if refused is not None:  # told once, here and on "error"
                    log.warning("%s", refused)
                    self._dispatch(self._core.certificate_failed(refused))
                    told = True
            except Exception:  # a bug must not end the client silently
                log.exception("connection to %s crashed", url)
                self.failure = f"the connection to {url} crashed (see the log)"
            else:
                told = ended is None
                if ended is not None:
                    self.failure = f"the connection to {url} was lost: {ended}"
                    warned = False  # it was open: this is a new outage
            lost = self._core.connection_lost(self._jitter(), self._close_code, self.failure)
            self._dispatch(lost)
            delay = self._core.retry_delay
            retrying = self._core.status is ConnectionStatus.RECONNECTING and delay is not None
            if self._core.failure is None and not told:  # else reported already
                where = f"{self._core.url} " if self._core.url != url else ""
                then = f"; retrying {where}in {delay:.1f} s" if retrying else ""
                log.log(logging.INFO if warned else logging.WARNING, "%s%s", self.failure, then)
                warned = True
            if not retrying or delay is None:
                return
            await asyncio.sleep(delay)

    async def _attempt(self, url: str) -> str | None:
        """Credentials, then one socket to ``url`` (unless the core gives up on
        them): why the socket ended once open, or None when none was opened
        (the reason is told already). Raises when the socket could not open."""
        try:
            token = await self._token()
        except Exception as exc:  # user code: report it, count a failed attempt
            log.warning("the token function failed: %r", exc)
            self.failure = f"could not connect to {url}: the token function failed: {exc!r}"
            self._dispatch(self._core.token_failed(exc))
            return None
        self._dispatch(self._core.credentials(token))
        if self._core.status is ConnectionStatus.DISCONNECTED:
            return None
        return await self._connect_once(url, token)

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

    async def _connect_once(self, url: str, token: str | None) -> str:
        """One socket to ``url``, from opening to closing; why it ended.
        Raises when it could not open."""
        options = self._options
        tls: dict[str, Any] = {} if options.ssl is None else {"ssl": options.ssl}
        async with connect(
            url,
            additional_headers=options.headers,
            compression=options.compression,
            max_size=options.max_message_size,
            open_timeout=options.open_timeout,
            close_timeout=options.close_timeout,
            ping_interval=None,  # the protocol has its own heartbeat, on every transport
            create_connection=InlineClientConnection,
            **tls,  # wss:// without ssl=: websockets verifies against the system's CAs
        ) as opened:
            ws = cast(InlineClientConnection, opened)  # the class asked for above
            batcher = ws.batcher = Batcher(asyncio.get_running_loop())
            self._outbox = Outbox(ws, batcher)
            try:
                self._dispatch(self._core.opened(token))
                return await self._read(ws, url)
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

    async def _read(self, ws: InlineClientConnection, url: str) -> str:
        """Feed every message from ``url`` to the core, in the connection's
        data callback as it arrives, until the socket closes or the server
        stays silent too long (the open timeout until its hello, then 2.5
        heartbeats); say which. A message only records when it came; one
        timer checks the silence and re-arms itself. A message the core
        cannot take (a bug: the application's callbacks are guarded) ends the
        socket from here, as a crash."""
        loop = asyncio.get_running_loop()
        core, dispatch = self._core, self._dispatch
        heard = loop.time()
        timer: asyncio.TimerHandle | None = None
        crash: Exception | None = None

        def limit() -> float | None:
            if core.status is ConnectionStatus.CONNECTED:
                return core.silence_limit()
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
                deadline.reschedule(loop.time())  # ends the wait below
            else:
                arm()

        def receive(frame: bytes | str) -> None:
            nonlocal heard, crash
            if crash is not None:  # the socket is ending: nothing more is taken
                return
            heard = loop.time()
            status = core.status
            try:
                try:
                    message = decode_server_message(frame)
                except ProtocolError as exc:
                    log.warning("bad frame from %s: %s", url, exc)
                    dispatch(core.bad_frame(exc))
                else:
                    dispatch(core.receive(message))
                if core.status is not status:  # the allowed silence may have changed
                    arm()
            except Exception as exc:
                crash = exc
                deadline.reschedule(loop.time())  # ends the wait below

        try:
            async with asyncio.timeout(None) as deadline:
                arm()
                ws.deliver_to(receive)
                await ws.wait_closed()
        except TimeoutError:
            if crash is not None:
                raise crash from None
            if not deadline.expired():  # not the watchdog's: someone else's bug
                raise
            return f"the server sent nothing for {limit() or 0:.1f} s"
        finally:
            if timer is not None:
                timer.cancel()
        closed = ws.protocol.close_exc
        if closed.rcvd is not None and closed.rcvd_then_sent:  # the server's goodbye
            self._close_code = closed.rcvd.code
        return describe_close(closed)


_STATUS_HINTS = {
    403: " (an Origin it does not allow?)",
    404: " (is the URL's path right?)",
}


def describe_failure(exc: BaseException, open_timeout: float) -> str:
    """Why a socket did not open, as a person can act on it."""
    if isinstance(exc, ConnectionRefusedError) or f"[Errno {errno.ECONNREFUSED}]" in str(exc):
        return "connection refused (is the server running?)"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if isinstance(exc, TimeoutError):
        return f"no WebSocket handshake within {open_timeout:g} s"
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        hint = _STATUS_HINTS.get(status, "")
        return f"the server answered HTTP {status} instead of a WebSocket upgrade{hint}"
    if isinstance(exc, InvalidHandshake):
        return f"not a WebSocket server ({exc})"
    return str(exc) or type(exc).__name__


def describe_close(closed: ConnectionClosed) -> str:
    """Who closed an open socket, with which code."""
    if closed.rcvd is not None:
        return f"closed by the server with {closed.rcvd}"
    if closed.sent is not None:
        return f"closed by this client with {closed.sent}"
    return "the connection dropped (no close frame)"


__all__ = ["ClientDriver", "describe_close", "describe_failure"]
