"""The one place where the Rx layer reaches past the public server API.

Feeds and streams use three things of the :class:`~hotstate_rx.server.store.StoreRegistry`
behind a server or a handle: its ``lock`` (a feed checks "still fed?" and
mutates in one step), ``on_close(fn)`` (feeds and streams end when the server
closes) and ``report(exc)`` (an error reaches the server's ``"error"`` event on
its loop, ordered with the store notifications). Only reaching the registry
is private; a public accessor would replace this function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..server.handle import InstanceHandle, StoreHandle
    from ..server.server import Server
    from ..server.store import StoreRegistry


def registry_of(target: Server | StoreHandle | InstanceHandle) -> StoreRegistry:
    """The registry serving ``target``'s stores."""
    return target._registry
