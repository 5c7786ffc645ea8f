"""What both NiceGUI demos share: one port for page and socket, and page plumbing.

Both web demos start the same way: check the port, attach the server at
``/ws``, register the pages with the socket's URL, print where to look, run
until Ctrl-C, close. Each tab owns one hotstate client, dialled once the
browser is really there, and shows its status truthfully in the header.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Callable
from typing import Any, TypeVar

from hotstate_nicegui import HotstateState
from nicegui import Client as Page
from nicegui import app, ui
from reactivex import Observable

from hotstate_rx import Server
from hotstate_rx.client import Client

T = TypeVar("T")

WS_PATH = "/ws"


def client_host(host: str) -> str:
    """The address a local client dials for a server bound to ``host``."""
    if host in {"", "0.0.0.0"}:
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def check_port(host: str, port: int) -> None:
    """End the program with a hint when ``host:port`` is taken (before any banner:
    a second demo must not look as if it started)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.create_server((host, port), family=family):
            pass
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise SystemExit(
            f"port {port} on {host} is already in use (is the demo running already?): "
            f"start this one on another port, e.g. --port {port + 10}"
        ) from None


def run(
    server: Server,
    pages: Callable[[str], None],
    *,
    host: str,
    port: int,
    title: str,
    tui: str,
) -> None:
    """Serve ``server`` at ``/ws`` and ``pages(ws_url)`` on ``host:port``; blocks until Ctrl-C.

    ``tui`` is the command that starts the matching terminal client, without
    its ``--url``.
    """
    check_port(host, port)
    server.attach(app, path=WS_PATH)
    http_url = f"http://{client_host(host)}:{port}"
    ws_url = f"ws://{client_host(host)}:{port}{WS_PATH}"
    pages(ws_url)

    def banner() -> None:
        print(
            f"\n{title}\n"
            f"  web page:        {http_url}   (open it in two tabs: they stay in sync)\n"
            f"  terminal client: {tui} --url {ws_url}\n"
            "  stop:            Ctrl-C\n",
            flush=True,
        )

    app.on_startup(banner)
    app.on_shutdown(server.close)
    # uvicorn shuts down (closing the server), then re-raises Ctrl-C: that is the normal stop.
    with contextlib.suppress(KeyboardInterrupt):
        ui.run(
            host=host,
            port=port,
            title=title,
            reload=False,
            show=False,
            show_welcome_message=False,
        )
    print("stopped", flush=True)


async def connect_when_shown(page: Page, client: Client, ws_url: str) -> None:
    """Connect ``client`` once ``page`` has a browser behind it; destroy it with the page.

    A bare HTTP GET (a crawler, curl) never opens NiceGUI's socket: it must not
    dial the hotstate server and show up as a user.
    """
    page.on_delete(client.destroy)
    try:
        await page.connected()
    except TimeoutError:
        return
    if page.is_deleted:  # NiceGUI ends the wait of a page discarded unseen, too
        return
    client.connect(ws_url)


# The page's status is the tab's hotstate client, which lives in the server
# process: when the browser loses NiceGUI's own socket, that text can no
# longer change. NiceGUI then shows its "connection lost" popup; while it is
# up, the header says so instead (CSS only: nothing has to reach the page).
_LOST_CSS = """
body:has(#popup[aria-hidden="false"]) .hotstate-status { display: none; }
body:not(:has(#popup[aria-hidden="false"])) .hotstate-lost { display: none; }
"""


def status_label(state: HotstateState) -> None:
    """The header's "● connected": the tab's client status, or "● connection
    lost" while the browser cannot reach the page's server."""
    ui.add_css(_LOST_CSS)
    status = ui.label().bind_text_from(state, "status", lambda s: f"● {s}")
    status.classes("hotstate-status").props("data-testid=status").mark("status")
    ui.label("● connection lost").classes("hotstate-lost").props("data-testid=lost").mark("lost")


def follow(page: Page, source: Observable[T], on_value: Callable[[T], Any]) -> Callable[[], None]:
    """Call ``on_value`` with each value of ``source`` until ``page`` is deleted.

    The tab's client runs on NiceGUI's loop, so values arrive there: no hop needed.
    Returns the function that stops following earlier.
    """
    subscription = source.subscribe(on_value)
    page.on_delete(subscription.dispose)
    return subscription.dispose
