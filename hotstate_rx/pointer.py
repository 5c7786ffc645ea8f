"""JSON Pointer (RFC 6901) tokens and strings.

A pointer is ``""`` (the whole document) or ``"/"`` followed by tokens joined
by ``"/"``; inside a token ``~`` is written ``~0`` and ``/`` is written ``~1``
(RFC 6901 §3). Decoding replaces ``~1`` before ``~0`` (§4) so that ``~01``
means the literal ``~1``.
"""

from __future__ import annotations

from collections.abc import Iterable


def escape_token(token: str | int) -> str:
    """Encode one reference token; list indices may be given as ints."""
    if isinstance(token, str):
        if "~" in token or "/" in token:
            return token.replace("~", "~0").replace("/", "~1")
        return token
    if type(token) is int:  # exactly int: a bool is no list index
        return str(token)
    raise TypeError(f"a JSON Pointer token is a str or an int, not {type(token).__name__}")


def unescape_token(token: str) -> str:
    """Decode one reference token; a ``~`` not followed by ``0``/``1`` is an error."""
    if "~" not in token:
        return token
    if token.count("~") != token.count("~0") + token.count("~1"):
        raise ValueError(f"bad escape in JSON Pointer token {token!r}")
    return token.replace("~1", "/").replace("~0", "~")


def parse_pointer(pointer: str) -> list[str]:
    """Split a pointer into decoded tokens (``""`` gives ``[]``)."""
    if type(pointer) is not str:
        raise ValueError(f"JSON Pointer must be a str, not {type(pointer).__name__}")
    if not pointer:
        return []
    if pointer[0] != "/":
        raise ValueError(f"JSON Pointer must start with '/': {pointer!r}")
    tokens = pointer[1:].split("/")
    if "~" in pointer:
        return [unescape_token(t) for t in tokens]
    return tokens


def format_pointer(tokens: Iterable[str | int]) -> str:
    """Join tokens into a pointer string (no tokens gives ``""``)."""
    return "".join("/" + escape_token(t) for t in tokens)


__all__ = ["escape_token", "format_pointer", "parse_pointer", "unescape_token"]
