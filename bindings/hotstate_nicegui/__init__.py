"""NiceGUI bindings for hotstate_rx: live stores as bindable properties.

::

    from hotstate_nicegui import bind_client

    @ui.page("/")
    def index() -> None:
        state = bind_client(client, stores=["Todos"])   # released when the page closes
        ui.label().bind_text_from(state, "status")
        ui.label().bind_text_from(state.select("Todos", lambda s: len(s["items"])), "value")

Serve the hotstate server on NiceGUI's own port with ``server.attach(app, path="/ws")``.
"""

from __future__ import annotations

from .state import HotstateState as HotstateState
from .state import Selection as Selection
from .state import bind_client as bind_client

__all__ = ["HotstateState", "Selection", "bind_client"]
