"""The server's lifecycle events: a small, validated listener table (pure)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

__all__ = ["LIFECYCLE_EVENTS", "LifecycleEvents", "check_lifecycle_event"]

log = logging.getLogger(__name__)

LIFECYCLE_EVENTS: Final = frozenset(
    {
        "connection",  # (client_id)
        "disconnect",  # (client_id)
        "subscribe",  # (name, client_id)
        "unsubscribe",  # (name, client_id)
        "store_created",  # (name, key)
        "store_deleted",  # (name)
        "store_hibernated",  # (name): saved, dropped from memory (storage only)
        "error",  # (error, client_id | None)
    }
)


def check_lifecycle_event(event: str) -> None:
    """Raise ``ValueError`` naming ``event`` and the known events unless it is one."""
    if event not in LIFECYCLE_EVENTS:
        known = ", ".join(sorted(LIFECYCLE_EVENTS))
        raise ValueError(f"unknown server event {event!r}; known events: {known}")


class LifecycleEvents:
    """Listeners per event name. A listener that raises is logged and skipped:
    user code never breaks the server."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Callable[..., Any]]] = {e: [] for e in LIFECYCLE_EVENTS}

    def on(self, event: str, listener: Callable[..., Any]) -> Callable[[], None]:
        """Add ``listener`` for ``event``; return the function that removes it."""
        check_lifecycle_event(event)
        if not callable(listener):
            raise TypeError(f"listener must be callable, not {type(listener).__name__}")
        listeners = self._listeners[event]
        listeners.append(listener)

        def off() -> None:
            if listener in listeners:
                listeners.remove(listener)

        return off

    def fire(self, event: str, *args: Any) -> None:
        """Call every listener of ``event`` with ``args``, in registration order
        (over a copy: a listener may remove itself or add others)."""
        for listener in list(self._listeners[event]):
            try:
                listener(*args)
            except Exception:
                log.exception("%r listener %r raised", event, listener)
