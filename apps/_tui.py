"""What both Textual demos share: telling the person what the connection is doing.

A terminal client pointed at the wrong place must say so: a hotstate server
that refuses the app's stores is not the demo's, and one that refuses the
client's credentials will not serve it (either way the app ends with a
message and return code 1, not a traceback); a server that cannot be reached
is named, with the reason, once per outage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App

from hotstate_rx import AuthError, SubscriptionError
from hotstate_rx.client import Client


def report_connection(
    app: App[Any], client: Client, *, what: str, start: str
) -> list[Callable[[], None]]:
    """Report ``client``'s connection problems in ``app``; the listeners' removers.

    ``what`` names the server the app needs ("the todo demo"), ``start`` the
    command that starts it.
    """
    ended = False

    def refused(error: object) -> None:
        nonlocal ended
        if isinstance(error, AuthError):
            message = f"{client.url} refused this client: {error}"
        elif isinstance(error, SubscriptionError):
            message = (
                f"{client.url} is a hotstate server, but not {what}: {error}.\n"
                f"Start {what} with `{start}` and use the URL it prints."
            )
        else:
            return
        if ended:
            return
        ended = True
        # The app's own streams end with this error too: stop them first, so
        # the person reads one message instead of a traceback.
        app.workers.cancel_all()
        app.exit(return_code=1, message=message)

    def reconnecting(retry: dict[str, Any]) -> None:
        if retry["attempt"] == 1:
            app.notify(f"{retry['reason']}; retrying", severity="warning", markup=False)

    return [client.on("error", refused), client.on("reconnecting", reconnecting)]
