"""``python -m apps``: options, and the demo command run for real in a subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest
from app_helpers import TIMEOUT, run_apps

from apps.__main__ import _parser
from apps._web import client_host
from hotstate_rx.client import Client

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_bind_to_localhost() -> None:
    todo = _parser().parse_args(["todo"])
    assert (todo.host, todo.port) == ("127.0.0.1", 8080)
    dashboard = _parser().parse_args(["dashboard", "--port", "9000", "--host", "0.0.0.0"])
    assert (dashboard.host, dashboard.port) == ("0.0.0.0", 9000)
    todo_tui = _parser().parse_args(["todo-tui"])
    assert (todo_tui.urls, todo_tui.default_url) == (None, "ws://127.0.0.1:8080/ws")
    assert _parser().parse_args(["dashboard-tui"]).default_url == "ws://127.0.0.1:8081/ws"


def test_a_terminal_client_takes_several_urls_to_fail_over_between() -> None:
    args = _parser().parse_args(["dashboard-tui", "--url", "ws://a/ws", "--url", "ws://b/ws"])
    assert args.urls == ["ws://a/ws", "ws://b/ws"]


def test_the_todo_data_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HOTSTATE_DATA", raising=False)
    assert _parser().parse_args(["todo"]).data == ROOT / ".hotstate-data"
    monkeypatch.setenv("HOTSTATE_DATA", str(tmp_path))
    assert _parser().parse_args(["todo"]).data == tmp_path
    assert _parser().parse_args(["todo", "--data", "elsewhere"]).data == Path("elsewhere")


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args([])
    assert "command" in capsys.readouterr().err


def test_client_host() -> None:
    assert client_host("0.0.0.0") == "127.0.0.1"
    assert client_host("::") == "[::1]"
    assert client_host("::1") == "[::1]"
    assert client_host("localhost") == "localhost"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_demo_serves_page_and_socket_on_one_port_and_stops_on_ctrl_c(
    tmp_path: Path,
) -> None:
    port = free_port()
    # NiceGUI reads PYTEST_CURRENT_TEST as "screen test" and would ignore the port.
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env["HOTSTATE_DATA"] = str(tmp_path / "data")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "apps", "todo", "--port", str(port),
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        lines: list[str] = []

        async def banner() -> None:
            while not any("terminal client" in line for line in lines):
                line = await proc.stdout.readline()
                if not line:
                    raise AssertionError("the demo exited:\n" + "".join(lines))
                lines.append(line.decode())

        await asyncio.wait_for(banner(), 30)
        tui = next(line for line in lines if "terminal client" in line)
        assert f"-m apps todo-tui --url ws://127.0.0.1:{port}/ws" in tui

        async with httpx.AsyncClient() as http:
            page = await http.get(f"http://127.0.0.1:{port}/", timeout=TIMEOUT)
        assert page.status_code == 200
        async with Client(f"ws://127.0.0.1:{port}/ws", reconnect=False, token="cli") as client:
            await asyncio.wait_for(client.ready(), TIMEOUT)
            assert await client.call("todos.add", {"text": "via the demo"}) == {"id": 1}

        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        rest = (await proc.stdout.read()).decode()
        output = "".join(lines) + rest
        assert "Traceback" not in output, output
        assert output.rstrip().endswith("stopped"), output
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_a_second_demo_on_a_busy_port_says_so_before_any_banner() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        status, out, err = await run_apps("todo", "--port", str(port))
    assert (status, out) == (1, "")
    assert err == (
        f"port {port} on 127.0.0.1 is already in use (is the demo running already?): "
        f"start this one on another port, e.g. --port {port + 10}\n"
    )
