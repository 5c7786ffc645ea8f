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

try:
    import nicegui  # noqa: F401 - first, so that its absence is named with the fix
except ModuleNotFoundError as missing:
    if missing.name != "nicegui":
        raise
    raise ModuleNotFoundError(
        "hotstate_nicegui needs NiceGUI, which is not installed: "
        "pip install 'hotstate-rx[nicegui]'",
        name="nicegui",
    ) from missing

from .state import HotstateState as HotstateState
from .state import Selection as Selection
from .state import bind_client as bind_client

__all__ = ["HotstateState", "Selection", "bind_client"]
