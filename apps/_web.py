"""What both NiceGUI demos share: one port for page and socket, and page plumbing.

Both web demos start the same way: attach the server at ``/ws``, register the
pages with the socket's URL, print where to look, run until Ctrl-C, close. Each
tab owns one hotstate client, dialled once the browser is really there.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

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


def python_command() -> str:
    """This interpreter as a person would type it (relative to the working directory if inside)."""
    relative = os.path.relpath(sys.executable)
    return relative if not relative.startswith("..") else sys.executable


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

    ``tui`` is the ``python -m apps`` command of the matching terminal client.
    """
    server.attach(app, path=WS_PATH)
    http_url = f"http://{client_host(host)}:{port}"
    ws_url = f"ws://{client_host(host)}:{port}{WS_PATH}"
    pages(ws_url)

    def banner() -> None:
        print(
            f"\n{title}\n"
            f"  web page:        {http_url}   (open it in two tabs: they stay in sync)\n"
            f"  terminal client: {python_command()} -m apps {tui} --url {ws_url}\n"
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
    client.connect(ws_url)


def follow(page: Page, source: Observable[T], on_value: Callable[[T], Any]) -> Callable[[], None]:
    """Call ``on_value`` with each value of ``source`` until ``page`` is deleted.

    The tab's client runs on NiceGUI's loop, so values arrive there: no hop needed.
    Returns the function that stops following earlier.
    """
    subscription = source.subscribe(on_value)
    page.on_delete(subscription.dispose)
    return subscription.dispose
