"""The public surface: ``__all__`` is exact, names load lazily, and pure modules stay pure."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

import hotstate_rx
import hotstate_rx.client
import hotstate_rx.server

PUBLIC = {
    "ALL",
    "PROTOCOL_VERSION",
    "CallContext",
    "Change",
    "Disconnected",
    "Hotstate",
    "HotstateError",
    "PatchError",
    "ProtocolError",
    "Removed",
    "RpcError",
    "RpcTimeout",
    "Server",
    "StoreHandle",
    "SubscriptionError",
}

PURE = [
    # the shared JSON core
    "errors",
    "frozen",
    "pointer",
    "patch",
    "diff",
    "draft",
    "protocol",
    # the server's rules
    "server.store",
    "server.notify",
    "server.session",
    "server.lifecycle",
    "server.functions",
    # the client's rules
    "client.core",
    "client.status",
    "client.actions",
]
IO = ["asyncio", "socket", "ssl", "selectors", "websockets", "starlette", "reactivex"]
IO += ["textual", "nicegui", "sqlite3", "redis"]


def test_all_is_exact_and_importable() -> None:
    assert set(hotstate_rx.__all__) == PUBLIC
    for name in hotstate_rx.__all__:
        assert getattr(hotstate_rx, name) is not None
    assert set(dir(hotstate_rx)) >= PUBLIC


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"'hotstate_rx' has no attribute 'Nope'"):
        hotstate_rx.Nope  # noqa: B018


def test_errors_hierarchy() -> None:
    assert issubclass(hotstate_rx.PatchError, ValueError)
    assert issubclass(hotstate_rx.RpcTimeout, hotstate_rx.RpcError)
    for name in ("PatchError", "RpcError", "Disconnected", "SubscriptionError"):
        assert issubclass(getattr(hotstate_rx, name), hotstate_rx.HotstateError)


def test_primary_names_and_parity_aliases() -> None:
    assert hotstate_rx.Hotstate is hotstate_rx.Server is hotstate_rx.server.Server
    assert isinstance(hotstate_rx.Hotstate(), hotstate_rx.Server)
    assert hotstate_rx.client.Hotstate is hotstate_rx.client.Client


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_io(module: str) -> None:
    loaded = _loaded_after(f"hotstate_rx.{module}", IO)
    assert loaded == [], f"hotstate_rx.{module} imports {loaded}"


def test_the_json_core_loads_no_server_and_no_msgpack() -> None:
    """``import hotstate_rx.draft`` is the pure engine alone: the root package is lazy."""
    watched = ["hotstate_rx.server", "hotstate_rx.client", "msgpack", *IO]
    assert _loaded_after("hotstate_rx.draft", watched) == []


def _loaded_after(module: str, watched: list[str]) -> list[str]:
    """Import ``module`` in a fresh interpreter; which of ``watched`` got loaded."""
    source = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(sorted(m for m in {watched!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, check=True, timeout=60
    )
    return list(ast.literal_eval(out.stdout))
