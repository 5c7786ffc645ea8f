"""The public surface: ``__all__`` is exact, names load lazily, and pure modules stay pure."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import hotstate_rx
import hotstate_rx.client
import hotstate_rx.server

PUBLIC = {
    "ALL",
    "PROTOCOL_VERSION",
    "AuthError",
    "CallContext",
    "CertificateError",
    "Change",
    "ClusterConflict",
    "ClusterError",
    "ClusterUnavailable",
    "ConnectInfo",
    "Disconnected",
    "Hotstate",
    "HotstateError",
    "InstanceHandle",
    "Limits",
    "PatchError",
    "ProtocolError",
    "RateLimit",
    "Removed",
    "RpcError",
    "RpcTimeout",
    "Server",
    "Storage",
    "StorageError",
    "StoreHandle",
    "SubscriptionError",
    "Unauthorized",
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
    "channels",
    # the server's rules
    "server.store",
    "server.handle",
    "server.hub",
    "server.notify",
    "server.session",
    "server.lifecycle",
    "server.functions",
    "server.limits",
    "server.access",
    "server.storage.base",
    "server.storage.journal",
    "server.storage.memory",
    "server.replication",
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
    assert issubclass(hotstate_rx.RpcTimeout, TimeoutError)  # `except TimeoutError` catches it
    assert str(hotstate_rx.RpcTimeout()) == "RPC timeout"
    for name in (
        "PatchError",
        "RpcError",
        "Disconnected",
        "SubscriptionError",
        "StorageError",
        "CertificateError",
        "ClusterError",
        "ClusterUnavailable",
    ):
        assert issubclass(getattr(hotstate_rx, name), hotstate_rx.HotstateError)


def test_primary_names_and_parity_aliases() -> None:
    assert hotstate_rx.Hotstate is hotstate_rx.Server is hotstate_rx.server.Server
    assert isinstance(hotstate_rx.Hotstate(), hotstate_rx.Server)
    assert hotstate_rx.client.Hotstate is hotstate_rx.client.Client


def test_documented_signatures_and_defaults() -> None:
    """API.md's defaults, keyword-only options, and which calls are coroutines."""
    server, client = hotstate_rx.Server, hotstate_rx.client.Client
    for method in (server.listen, server.run):
        assert _defaults(method) == {
            "port": 4400,
            "host": "localhost",
            "path": None,
            "heartbeat": 30.0,
            "ssl": None,
            "certfile": None,
            "keyfile": None,
            **({"loop": "auto"} if method is server.run else {}),
        }
        for name in ("ssl", "certfile", "keyfile"):  # additions of wave 2, keyword-only
            assert inspect.signature(method).parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
    assert _defaults(server.attach) == {"path": "/ws", "heartbeat": 30.0}
    emit = inspect.signature(server.emit).parameters["client_id"]
    assert emit.kind is emit.KEYWORD_ONLY and emit.default is None
    options = _defaults(client)
    assert {k: options[k] for k in ("url", "reconnect", "reconnect_delay", "reconnect_max")} == {
        "url": None,
        "reconnect": True,
        "reconnect_delay": 1.0,
        "reconnect_max": 10.0,
    }
    assert options["rpc_timeout"] == 10.0
    call = inspect.signature(client.call).parameters
    assert list(call)[1:3] == ["name", "args"] and call["args"].default is None
    for name in ("store", "optimistic", "timeout"):
        assert call[name].kind is inspect.Parameter.KEYWORD_ONLY and call[name].default is None
    assert _defaults(client.subscribe) == {"on_change": None}
    for coroutine in (server.listen, server.close, client.ready, client.call, client.close):
        assert inspect.iscoroutinefunction(coroutine), coroutine
    assert not inspect.iscoroutinefunction(client.destroy)


def _defaults(fn: Any) -> dict[str, Any]:
    params = inspect.signature(fn).parameters.values()
    return {p.name: p.default for p in params if p.default is not p.empty}


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_io(module: str) -> None:
    loaded = _loaded_after(f"hotstate_rx.{module}", IO)
    assert loaded == [], f"hotstate_rx.{module} imports {loaded}"


def test_the_json_core_loads_no_server_and_no_msgpack() -> None:
    """``import hotstate_rx.draft`` is the pure engine alone: the root package is lazy."""
    watched = ["hotstate_rx.server", "hotstate_rx.client", "msgpack", *IO]
    assert _loaded_after("hotstate_rx.draft", watched) == []


@pytest.mark.parametrize("module", ["server/session.py", "server/hub.py", "client/core.py"])
def test_the_rules_take_time_and_chance_from_their_caller(module: str) -> None:
    """The sans-I/O cores read no clock and draw no random number of their own,
    so a test replays them exactly."""
    tree = ast.parse((Path(hotstate_rx.__file__).parent / module).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not imported & {"time", "random", "secrets", "asyncio"}


def test_the_client_loads_no_server() -> None:
    """The client and the Rx operators it uses stand on the shared core alone."""
    assert _loaded_after("hotstate_rx.client.client", ["hotstate_rx.server"]) == []


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
