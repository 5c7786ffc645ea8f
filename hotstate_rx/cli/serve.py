"""``hotstate serve MODULE:ATTRIBUTE``: find the ``Server`` a person names."""

from __future__ import annotations

import importlib
import os
import sys

from ..server.loops import LoopChoice, loop_factory
from ..server.server import Server
from ..server.tls import server_context
from .errors import CommandError

__all__ = ["check_serving", "load_server"]


def check_serving(certfile: str | None, keyfile: str | None, loop: LoopChoice) -> None:
    """The TLS files load and the event loop is there, or a ``CommandError``
    saying which (before the module is imported: its mistakes come second)."""
    try:
        server_context(None, certfile, keyfile)
        loop_factory(loop)
    except (ValueError, ImportError) as exc:
        raise CommandError(str(exc)) from None


def load_server(target: str) -> Server:
    """Import ``module:attribute`` (the current directory first, as ``python -m``
    does) and return the ``Server`` there; a ``CommandError`` naming the
    mistake otherwise. An error raised by the module's own code propagates."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise CommandError(
            f"{target!r} is not MODULE:ATTRIBUTE; name the module and its Server object, "
            "e.g. chat:server for `server = Hotstate()` in chat.py"
        )
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as missing:
        if missing.name is None or not _is_or_contains(module_name, missing.name):
            raise CommandError(f"importing {module_name!r} failed: {missing}", status=1) from None
        raise CommandError(
            f"no module named {module_name!r} in {here} or the installed packages"
        ) from None
    found: object = module
    for name in attribute.split("."):
        try:
            found = getattr(found, name)
        except AttributeError:
            servers = sorted(n for n, v in vars(module).items() if isinstance(v, Server))
            raise CommandError(
                f"module {module_name!r} has no attribute {attribute!r}; "
                + (f"its Server objects: {', '.join(servers)}" if servers else "it has no Server")
            ) from None
    if not isinstance(found, Server):
        raise CommandError(f"{target} is a {type(found).__name__}, not a hotstate_rx Server")
    return found


def _is_or_contains(module_name: str, missing: str) -> bool:
    """Whether the missing module is ``module_name`` itself or a package on its path."""
    return module_name == missing or module_name.startswith(missing + ".")
