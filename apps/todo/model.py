"""The todo app's rules, pure: argument checks and the recipes that change its stores.

Every function here takes plain values (or a draft) and either returns a clean
value or raises :class:`InvalidInput` with a message meant for the person who
typed the input: an ``RpcError``, so the server sends that message back to the
caller (any other exception would reach it as ``"internal error"``).
No I/O, no server: the wiring lives in :mod:`apps.todo.server`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

from hotstate_rx import RpcError, Unauthorized

MAX_TEXT = 280
MAX_NAME = 24
MAX_MESSAGES = 200
THEMES = ("dark", "light")
DEFAULT_ROOM = "general"
_ROOM_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,23}")


class InvalidInput(RpcError, ValueError):
    """Bad input, explained: an ``RpcError`` so that the caller reads the
    message, and a ``ValueError`` for the pages that check input themselves."""


def _args(args: object, function: str) -> Mapping[str, Any]:
    if not isinstance(args, Mapping):
        raise InvalidInput(f"{function}: arguments must be an object, got {type(args).__name__}")
    return args


def text_arg(args: object, function: str, key: str = "text", *, limit: int = MAX_TEXT) -> str:
    """The non-blank string ``args[key]``, stripped; a clear error otherwise."""
    value = _args(args, function).get(key)
    if value is None:
        raise InvalidInput(f"{function}: '{key}' is required")
    if not isinstance(value, str):
        raise InvalidInput(f"{function}: '{key}' must be a string, got {type(value).__name__}")
    value = value.strip()
    if not value:
        raise InvalidInput(f"{function}: '{key}' must not be empty")
    if len(value) > limit:
        raise InvalidInput(f"{function}: '{key}' is too long ({len(value)} > {limit} characters)")
    return value


def id_arg(args: object, function: str) -> int:
    """The integer ``args["id"]`` (``bool`` is refused: ``True`` is not a todo id)."""
    value = _args(args, function).get("id")
    if value is None:
        raise InvalidInput(f"{function}: 'id' is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{function}: 'id' must be an integer, got {type(value).__name__}")
    return value


def room_arg(args: object, function: str) -> str:
    """A room name: lower-case letters, digits, ``-`` and ``_``, at most 24 characters."""
    return room_name(text_arg(args, function, "room", limit=MAX_NAME), function)


def room_name(name: str, function: str = "room") -> str:
    """``name`` when it is a valid room name; else :class:`InvalidInput` saying what is allowed."""
    if not _ROOM_NAME.fullmatch(name):
        raise InvalidInput(
            f"{function}: invalid room name {name!r}: use 1-{MAX_NAME} lower-case letters, "
            "digits, '-' or '_', starting with a letter or digit"
        )
    return name


def theme_arg(args: object, function: str) -> str:
    """``args["theme"]``, one of :data:`THEMES`."""
    theme = text_arg(args, function, "theme", limit=MAX_NAME)
    if theme not in THEMES:
        raise InvalidInput(f"{function}: 'theme' must be one of {', '.join(THEMES)}, got {theme!r}")
    return theme


def user_name(token: str | None) -> str:
    """The name a person signs in with (the demo's token: no password, it is a
    demo), stripped; ``Unauthorized`` says what is needed otherwise."""
    name = (token or "").strip()
    if not 0 < len(name) <= MAX_NAME or not name.isprintable():
        raise Unauthorized(f"a name of 1-{MAX_NAME} printable characters is needed to join")
    return name


# Recipes: each takes a draft of one store's state and changes it in place.


def add_todo(draft: MutableMapping[str, Any], todo_id: int, text: str) -> None:
    draft["items"].append({"id": todo_id, "text": text, "done": False})


def _find(draft: MutableMapping[str, Any], todo_id: int) -> int:
    for index, item in enumerate(draft["items"]):
        if item["id"] == todo_id:
            return index
    raise InvalidInput(f"no todo with id {todo_id}")


def toggle_todo(draft: MutableMapping[str, Any], todo_id: int) -> bool:
    """Flip ``done`` of the todo ``todo_id``; returns the new value."""
    item = draft["items"][_find(draft, todo_id)]
    item["done"] = not item["done"]
    return bool(item["done"])


def remove_todo(draft: MutableMapping[str, Any], todo_id: int) -> None:
    del draft["items"][_find(draft, todo_id)]


def post_message(draft: MutableMapping[str, Any], message: dict[str, Any]) -> None:
    """Append ``message``; keep the last :data:`MAX_MESSAGES` (a room is a chat, not a log)."""
    messages = draft["messages"]
    messages.append(message)
    if len(messages) > MAX_MESSAGES:
        del messages[: len(messages) - MAX_MESSAGES]


def join_room(draft: MutableMapping[str, Any], user: str) -> bool:
    """Add ``user`` to the room's users; ``False`` when already there."""
    if user in draft["users"]:
        return False
    draft["users"].append(user)
    return True


def leave_room(draft: MutableMapping[str, Any], user: str) -> bool:
    """Remove ``user`` from the room's users; ``False`` when absent."""
    if user not in draft["users"]:
        return False
    draft["users"].remove(user)
    return True


def add_room(draft: MutableMapping[str, Any], name: str) -> None:
    """Keep the sorted list of known rooms (the room picker reads it)."""
    if name not in draft["names"]:
        draft["names"].append(name)
        draft["names"].sort()


# Client-side optimistic views: the same changes on plain (immutable) states.


def with_todo(state: Mapping[str, Any], text: str) -> dict[str, Any]:
    """``state`` plus a provisional todo (id ``-1``) until the server answers."""
    return {**state, "items": [*state["items"], {"id": -1, "text": text, "done": False}]}


def with_toggled(state: Mapping[str, Any], todo_id: int) -> dict[str, Any]:
    items = [
        {**item, "done": not item["done"]} if item["id"] == todo_id else item
        for item in state["items"]
    ]
    return {**state, "items": items}


def without_todo(state: Mapping[str, Any], todo_id: int) -> dict[str, Any]:
    return {**state, "items": [item for item in state["items"] if item["id"] != todo_id]}


def with_theme(state: Mapping[str, Any], theme: str) -> dict[str, Any]:
    return {**state, "theme": theme}


def next_theme(config: Mapping[str, Any] | None) -> str:
    """The theme the switch turns ``Config`` to: ``"light"`` from dark, and
    while there is no ``Config`` state yet (its default is dark); else dark."""
    return "light" if config is None or config["theme"] == "dark" else "dark"


def present_names(present: Any) -> list[str]:
    """The sorted names of a room's presence (``{client_id: {"name"}}``)."""
    return sorted(str(entry.get("name", "?")) for entry in (present or {}).values())
