"""Ready-made widgets for hotstate apps."""

from __future__ import annotations

from typing import Any

from textual.reactive import reactive
from textual.widgets import Static

from hotstate_rx.client import Client, ConnectionStatus

from .pump import bind_observable

STATUSES = tuple(str(status) for status in ConnectionStatus)


class StatusIndicator(Static):
    """Shows the connection status, e.g. ``● connected``.

    Either give it the client (``StatusIndicator(client)``) or bind it to an
    app's status reactive: ``StatusIndicator().data_bind(MyApp.status)``. The
    widget carries the CSS class ``-<status>`` for styling.
    """

    DEFAULT_CSS = """
    StatusIndicator { width: auto; }
    StatusIndicator.-connected { color: $success; }
    StatusIndicator.-connecting, StatusIndicator.-reconnecting { color: $warning; }
    StatusIndicator.-disconnected { color: $error; }
    """

    status: reactive[str] = reactive("disconnected")

    def __init__(self, client: Client | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._client = client

    def on_mount(self) -> None:
        if self._client is not None:
            bind_observable(self, self._client.status, self._set_status, name="hotstate status")

    def _set_status(self, status: Any) -> None:
        self.status = str(status)

    def watch_status(self, status: str) -> None:
        self.set_class(True, f"-{status}")
        for other in STATUSES:
            if other != status:
                self.set_class(False, f"-{other}")
        self.update(f"● {status}")


__all__ = ["StatusIndicator"]
