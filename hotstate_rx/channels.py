"""Event channel names, shared by both ends: the client's lifecycle channels,
and how they are told from the server's channels (pure).

``client.on(channel, handler)`` and ``client.events(channel)`` take both kinds
of name, in one namespace, as the original library's ``client.on`` does:

- the **lifecycle channels** of :data:`LIFECYCLE_CHANNELS`, fired by the
  client itself: ``connected``, ``disconnected``, ``reconnecting``, ``error``,
  ``store_deleted``;
- every other name is a **server event channel**, whatever ``server.emit``
  sends on (``"note"``, ``"user.joined"``, ``"Room:general"``).

So a lifecycle name spelt another way would silently become a server channel
that never fires: ``"storeDeleted"`` (the original's spelling),
``"StoreDeleted"``, ``"store-deleted"``, ``"Connected"``, ``"ERROR"``. The rule:
a name that equals a lifecycle channel once case and the separators ``_``,
``-``, ``.`` and spaces are ignored is **reserved**; spelt exactly as the
lifecycle channel it names it, any other spelling raises ``ValueError``
naming it and listing the lifecycle channels. Names that merely contain a
lifecycle word (``"error_log"``, ``"user.connected"``) are server channels.

Reserved names are the client's: ``server.emit`` refuses them, and a server
event that arrives on one anyway is not delivered as if the client had fired
it (the client's core reports it on ``"error"`` instead).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["LIFECYCLE_CHANNELS", "check_channel", "is_reserved"]

LIFECYCLE_CHANNELS: Final = ("connected", "disconnected", "reconnecting", "error", "store_deleted")
"""The channels the client fires itself, in the order the docs list them."""

_SEPARATORS = re.compile(r"[\s_.\-]")
_FOLDED: Final = {_SEPARATORS.sub("", name).casefold(): name for name in LIFECYCLE_CHANNELS}


def _lifecycle_spelling(name: str) -> str | None:
    """The lifecycle channel ``name`` is a spelling of, else None."""
    return _FOLDED.get(_SEPARATORS.sub("", name).casefold())


def is_reserved(name: str) -> bool:
    """Whether ``name`` is a lifecycle channel in any spelling (see the module
    docstring): no server event may use it."""
    return _lifecycle_spelling(name) is not None


def check_channel(channel: object) -> str:
    """Return ``channel`` if ``client.on`` / ``client.events`` may take it.

    Raises ``TypeError`` for a non-str, ``ValueError`` for an empty name and
    for a lifecycle channel spelt another way."""
    if not isinstance(channel, str):
        raise TypeError(f"channel must be a str, got {type(channel).__name__}")
    if not channel:
        raise ValueError("channel must not be empty")
    meant = _lifecycle_spelling(channel)
    if meant is not None and meant != channel:
        known = ", ".join(LIFECYCLE_CHANNELS)
        raise ValueError(
            f"unknown lifecycle channel {channel!r} (did you mean {meant!r}?); "
            f"lifecycle channels: {known}. Spellings of these names are reserved; "
            "any other name is a server event channel."
        )
    return channel
