"""Presence: who is subscribed to each instance of a store, as a store of its own.

``create_store("Room:*", data, presence=True)`` also registers the *board*
``"Room@presence:*"`` (a static ``"Lobby"`` gets ``"Lobby@presence"``): its
instance ``"Room@presence:general"`` holds ``{client_id: metadata}`` for every
session subscribed to ``"Room:general"``. Clients subscribe to a board like to
any store, under the watched store's ``access`` rule (a client may see who is
in a room iff it may enter the room); only the server writes it.

Boards follow the hub's lifecycle events, which follow *sessions*: a client
that drops and resumes within the resume window stays present (its
subscriptions are held while it is parked); one whose session ends leaves
("unsubscribe" fires for each of its stores). A board with nobody present and
nobody watching is deleted, so memory follows use; boards saved by a storage
are cleared when the store is registered (whoever was present is gone).

``metadata``: ``presence=callable(ctx) -> JSON`` (plain, synchronous), or by
default what :func:`default_metadata` derives from ``ctx.user``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final

from ..frozen import JSON, freeze

if TYPE_CHECKING:
    from .access import CallContext
    from .handle import StoreHandle
    from .store import StoreRegistry

__all__ = [
    "PRESENCE_SUFFIX",
    "Metadata",
    "Presence",
    "board_name",
    "check_presence",
    "default_metadata",
    "user_name",
]

log = logging.getLogger(__name__)

PRESENCE_SUFFIX: Final = "@presence"
"""What a board's name adds to its store's prefix (``"Room@presence:general"``)."""

Metadata = Callable[["CallContext"], JSON]
"""``presence=fn(ctx)``: what the others see of a present client."""


def board_name(name: str) -> str:
    """The registration name of a store's board: ``"Room:*"`` -> ``"Room@presence:*"``,
    ``"Lobby"`` -> ``"Lobby@presence"``."""
    prefix, sep, star = name.partition(":")
    return f"{prefix}{PRESENCE_SUFFIX}:*" if sep and star == "*" else name + PRESENCE_SUFFIX


def default_metadata(ctx: CallContext | None) -> JSON:
    """``{"name": ...}`` from ``ctx.user`` when it has one (see :func:`user_name`),
    else ``{}``."""
    name = None if ctx is None else user_name(ctx.user)
    return {} if name is None else {"name": name}


def user_name(user: object) -> str | None:
    """The name of a ``ctx.user``: a str itself, a mapping's ``"name"``, an
    object's ``.name``; None when it has none."""
    if isinstance(user, str):
        return user
    name = user.get("name") if isinstance(user, Mapping) else getattr(user, "name", None)
    return name if isinstance(name, str) else None


def check_presence(presence: object) -> Metadata | None:
    """The metadata function of ``create_store(presence=...)`` (None: no presence);
    TypeError naming the problem for anything but a bool or a sync ``fn(ctx)``."""
    if presence is None or presence is False:
        return None
    if presence is True:
        return default_metadata
    if not callable(presence) or inspect.iscoroutinefunction(presence):
        raise TypeError(
            f"presence must be True, False or a synchronous fn(ctx) -> metadata, got {presence!r}"
        )
    return presence


class Presence:
    """The boards of one server, fed by its ``subscribe``/``unsubscribe`` events.

    ``context(client_id)`` is the server's; ``report(exc, client_id)`` tells the
    server's ``error`` listeners about a metadata function that failed (the
    client is then present with ``{}``: presence never refuses a subscription)."""

    def __init__(
        self,
        registry: StoreRegistry,
        context: Callable[[str], CallContext | None],
        report: Callable[[Exception, str | None], None],
    ) -> None:
        self._registry = registry
        self._context = context
        self._report = report
        self._boards: dict[str, tuple[StoreHandle, Metadata]] = {}
        """Watched store's registration name -> (its board, its metadata function)."""
        self.noted: Callable[[str, str, bool], None] | None = None
        """In a cluster: told ``(store, client_id, present)`` for each entry this
        node adds or removes, so a survivor removes a dead node's entries."""

    def track(self, watched: str, board: StoreHandle, metadata: Metadata) -> None:
        """Keep ``board`` for the store registered as ``watched``; clear what a
        storage kept of it."""
        self._boards[watched] = (board, metadata)
        board.on_idle(lambda key: self._forget(board, key))
        if board.dynamic:
            for name in self._registry.names():
                resolved = self._registry.resolve(name)
                if resolved is not None and resolved[0].name == board.name:
                    self._registry.delete(name)
        elif board.get():
            board.set({})

    def joined(self, store: str, client_id: str) -> None:
        """``subscribe`` listener: ``client_id`` is in ``store`` now."""
        found = self._board(store)
        if found is None:
            return
        board, key, metadata = found
        ctx = self._context(client_id)
        try:
            meta = freeze(metadata(ctx)) if ctx is not None else freeze({})
        except Exception as exc:
            log.exception("the presence function of %r raised for %s", store, client_id)
            self._report(exc, client_id)
            meta = freeze({})
        if self.noted is not None:  # first: a node that dies right after leaves no ghost
            self.noted(store, client_id, True)
        board.instance(key).update(lambda draft: draft.__setitem__(client_id, meta))

    def left(self, store: str, client_id: str) -> None:
        """``unsubscribe`` listener (also for each store of a session that ended)."""
        found = self._board(store)
        if found is None:
            return
        if self.noted is not None:
            self.noted(store, client_id, False)
        instance = found[0].instance(found[1])
        present = instance.get()
        if not isinstance(present, Mapping) or client_id not in present:
            return
        if len(present) == 1 and not instance.subscriber_count():
            instance.delete()
        else:
            instance.update(lambda draft: draft.__delitem__(client_id))

    def _board(self, store: str) -> tuple[StoreHandle, str | None, Metadata] | None:
        resolved = self._registry.resolve(store)
        if resolved is None:
            return None
        definition, key = resolved
        entry = self._boards.get(definition.name)
        return None if entry is None else (entry[0], key, entry[1])

    @staticmethod
    def _forget(board: StoreHandle, key: str | None) -> None:
        """The last watcher of a board left: an empty board leaves memory."""
        instance = board.instance(key)
        if board.dynamic and not instance.get():
            instance.delete()
