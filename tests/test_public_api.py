"""The public surface: ``__all__`` is exact, and pure modules stay pure."""

from __future__ import annotations

import subprocess
import sys

import pytest

import hotstate_rx

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

# The client's pure core (client/core.py) has its own check in tests/client/test_core.py:
# importing it here would run the client package's __init__, which is I/O by design.
PURE = [
    "frozen",
    "draft",
    "patch",
    "pointer",
    "diff",
    "protocol",
    "store",
    "notify",
    "session",
    "events",
    "functions",
    "errors",
]
IO = ["asyncio", "websockets", "starlette", "reactivex", "textual", "nicegui"]


def test_all_is_exact_and_importable() -> None:
    assert set(hotstate_rx.__all__) == PUBLIC
    for name in hotstate_rx.__all__:
        assert getattr(hotstate_rx, name) is not None


def test_errors_hierarchy() -> None:
    assert issubclass(hotstate_rx.PatchError, ValueError)
    assert issubclass(hotstate_rx.RpcTimeout, hotstate_rx.RpcError)
    for name in ("PatchError", "RpcError", "Disconnected", "SubscriptionError"):
        assert issubclass(getattr(hotstate_rx, name), hotstate_rx.HotstateError)


def test_factory_returns_a_server() -> None:
    assert isinstance(hotstate_rx.Hotstate(), hotstate_rx.Server)


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_io(module: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _isolated(module)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == "[]", f"hotstate_rx.{module} imports {out.stdout.strip()}"


def _isolated(module: str) -> str:
    """Source that imports ``hotstate_rx.<module>`` without running the package's
    ``__init__`` (which imports the server), then lists the I/O modules loaded."""
    return (
        "import sys, types, importlib\n"
        "pkg = types.ModuleType('hotstate_rx')\n"
        f"pkg.__path__ = [{hotstate_rx.__path__[0]!r}]\n"
        "sys.modules['hotstate_rx'] = pkg\n"
        f"importlib.import_module('hotstate_rx.{module}')\n"
        f"print(sorted(m for m in {IO!r} if m in sys.modules))\n"
    )
