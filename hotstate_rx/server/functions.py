"""Server functions: registration, calling convention and context (pure)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .access import CallContext

__all__ = ["Function", "FunctionTable"]


@dataclass(frozen=True, slots=True)
class Function:
    """A registered handler and how to call it (decided once, at registration)."""

    name: str
    fn: Callable[..., Any]
    wants_context: bool

    def __call__(self, args: Any, ctx: CallContext) -> Any:
        """The handler's result: a value, or an awaitable of one."""
        return self.fn(args, ctx) if self.wants_context else self.fn(args)


class FunctionTable:
    """The server's functions by name; a name is registered once."""

    def __init__(self) -> None:
        self._functions: dict[str, Function] = {}

    def register(self, name: str, fn: Callable[..., Any]) -> None:
        """Add ``fn`` under ``name``. Whether it takes ``ctx`` is decided here,
        once, from its signature: ``fn(args)`` or ``fn(args, ctx)``."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"a function name must be a non-empty str, got {name!r}")
        if not callable(fn):
            raise TypeError(f"function {name!r} must be callable, not {type(fn).__name__}")
        if name in self._functions:
            raise ValueError(f"function {name!r} is already registered")
        self._functions[name] = Function(name, fn, _wants_context(name, fn))

    def get(self, name: str) -> Function | None:
        """The function registered as ``name``, or None."""
        return self._functions.get(name)


def _wants_context(name: str, fn: Callable[..., Any]) -> bool:
    """True for ``fn(args, ctx)`` (or ``*args``), False for ``fn(args)``; a
    signature that fits neither raises ``TypeError`` at registration."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # some builtins have no signature: call with args only
        return False
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if not positional or len(required) > 2:
        raise TypeError(
            f"function {name!r} must take (args) or (args, ctx); "
            f"its signature is {inspect.signature(fn)}"
        )
    return len(positional) >= 2
