"""The ``hotstate`` command: every mistake through ``main(argv)``, and the
installed script once for real (serve, demo), as a person would run it."""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import re
import signal
import socket
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import hotstate_rx
from hotstate_rx.cli import main, parser
from hotstate_rx.cli.demo import CHECKOUT, run_demo
from hotstate_rx.cli.serve import load_server
from hotstate_rx.client import Client

if TYPE_CHECKING:
    from conftest import Certificates

SCRIPT = Path(sys.executable).with_name("hotstate")
STARTUP = 30.0  # a subprocess up and listening (the demo imports NiceGUI)

CHAT = """
from hotstate_rx import Hotstate

server = Hotstate()
messages = server.create_store("Messages", {"items": []})
not_a_server = {"a": "dict"}


@server.handle("say")
def say(args):
    messages.update(lambda d: d["items"].append(args["text"]))
    return len(messages.get()["items"])
"""


@pytest.fixture
def app_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory holding ``chat_<n>.py`` (a unique module name per test);
    sys.path and sys.modules come back as they were."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def write_module(folder: Path, name: str, source: str = CHAT) -> str:
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    return name


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


# ------------------------------------------------------------------ help, version


@pytest.mark.parametrize(
    "argv", [["--help"], ["serve", "--help"], ["inspect", "-h"], ["demo", "-h"]]
)
def test_help_everywhere(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: hotstate")
    if argv == ["--help"]:
        for command in ("serve", "inspect", "demo"):
            assert re.search(rf"^    {command} ", out, re.M), out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", hotstate_rx.__version__)
    assert importlib.metadata.version("hotstate-rx") == hotstate_rx.__version__  # one source
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"hotstate {hotstate_rx.__version__}\n"


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([])
    assert done.value.code == 2
    assert "the following arguments are required: command" in capsys.readouterr().err


# ----------------------------------------------------------------------- serve


def test_serve_finds_the_server_of_a_module(app_dir: Path) -> None:
    name = write_module(app_dir, "chat_found")
    server = load_server(f"{name}:server")
    assert server is sys.modules[name].server
    assert server.list_stores() == ["Messages"]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("chat", "'chat' is not MODULE:ATTRIBUTE; name the module and its Server object, "
         "e.g. chat:server for `server = Hotstate()` in chat.py"),
        (":server", "':server' is not MODULE:ATTRIBUTE"),
        ("chat:", "'chat:' is not MODULE:ATTRIBUTE"),
        ("nowhere_to_be_found:server", "no module named 'nowhere_to_be_found' in "),
        ("{m}:srv", "module '{m}' has no attribute 'srv'; its Server objects: server"),
        ("{m}:not_a_server", "{m}:not_a_server is a dict, not a hotstate_rx Server"),
        ("{m}:messages", "{m}:messages is a StoreHandle, not a hotstate_rx Server"),
    ],
)  # fmt: skip
def test_serve_names_each_mistake_in_one_line(
    app_dir: Path, capsys: pytest.CaptureFixture[str], target: str, message: str
) -> None:
    name = write_module(app_dir, f"chat_{abs(hash(target))}")
    status, out, err = run(["serve", target.format(m=name)], capsys)
    assert (status, out) == (2, "")
    assert err.startswith("hotstate serve: " + message.format(m=name)), err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("source", "status", "message"),
    [
        ("x = 1\n", 2, "module '{m}' has no attribute 'server'; it has no Server"),
        ("import not_installed_anywhere\n", 1,
         "importing '{m}' failed: No module named 'not_installed_anywhere'"),
    ],
)  # fmt: skip
def test_serve_a_module_without_a_server_or_whose_import_fails(
    app_dir: Path, capsys: pytest.CaptureFixture[str], source: str, status: int, message: str
) -> None:
    name = write_module(app_dir, f"module_{status}", source)
    assert run(["serve", f"{name}:server"], capsys) == (
        status,
        "",
        f"hotstate serve: {message.format(m=name)}\n",
    )


def test_serve_names_bad_tls_files_and_a_missing_loop_in_one_line(
    app_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = write_module(app_dir, "chat_tls")
    status, out, err = run(["serve", f"{name}:server", "--certfile", "missing.pem"], capsys)
    assert (status, out) == (2, "")
    assert err.startswith("hotstate serve: cannot load certificate 'missing.pem': No such file")
    assert err.count("\n") == 1
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if not installed
    status, out, err = run(["serve", f"{name}:server", "--loop", "uvloop"], capsys)
    assert (status, out) == (2, "")
    assert (
        err == "hotstate serve: loop='uvloop' needs uvloop: pip install 'hotstate-rx[speed]'"
        " (not on Windows)\n"
    )


# --------------------------------------------------------------- inspect, demo


def test_inspect_refuses_what_is_not_a_websocket_url(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(["inspect", "http://127.0.0.1:4400"], capsys)
    assert (status, out) == (2, "")
    assert (
        err
        == "hotstate inspect: not a WebSocket URL: 'http://127.0.0.1:4400' (e.g. ws://localhost:4400)\n"
    )


def test_inspect_refuses_a_server_given_twice(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(
        ["inspect", "ws://node1:4400", "ws://node2:4400", "ws://NODE1:4400/"], capsys
    )
    assert (status, out) == (2, "")
    assert err == (
        "hotstate inspect: urls[2] (ws://NODE1:4400/) is the same server as "
        "urls[0] (ws://node1:4400): list each once\n"
    )


def test_inspect_and_the_demo_client_take_several_urls() -> None:
    """Several servers: the nodes the client fails over between."""
    assert parser().parse_args(["inspect", "ws://a", "ws://b"]).urls == ["ws://a", "ws://b"]
    demo = parser().parse_args(["demo", "--tui", "--url", "ws://a", "--url", "ws://b"])
    assert demo.urls == ["ws://a", "ws://b"]
    assert parser().parse_args(["demo", "--tui"]).urls is None  # run_demo's default, on --port


def test_demo_outside_a_checkout_says_what_it_needs(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="the demo apps come with a checkout") as caught:
        run_demo(host="127.0.0.1", port=8080, checkout=tmp_path)
    assert "python3 tasks.py demo" in str(caught.value)
    assert getattr(caught.value, "status", None) == 1


def test_this_package_is_a_checkout() -> None:
    assert (CHECKOUT / "apps" / "todo" / "web.py").is_file()
    assert Path(hotstate_rx.__file__).resolve().parent == CHECKOUT / "hotstate_rx"


# ---------------------------------------------------- the installed script, for real


async def lines_until(
    stream: asyncio.StreamReader, pattern: str, seen: list[str], timeout: float = STARTUP
) -> re.Match[str]:
    """Read lines (into ``seen``) until one matches ``pattern``."""

    async def read() -> re.Match[str]:
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError("the command exited:\n" + "".join(seen))
            seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found

    return await asyncio.wait_for(read(), timeout)


@pytest.fixture
async def script() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """Processes of the installed ``hotstate`` script; killed if a test leaves one."""
    assert SCRIPT.exists(), f"{SCRIPT} is missing: reinstall (pip install -e .)"
    started: list[asyncio.subprocess.Process] = []
    yield started
    for proc in started:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def start(
    started: list[asyncio.subprocess.Process], *args: str, cwd: Path, **env_vars: str
) -> asyncio.subprocess.Process:
    # NiceGUI reads PYTEST_CURRENT_TEST as "screen test" and would ignore the port.
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"} | env_vars
    proc = await asyncio.create_subprocess_exec(
        str(SCRIPT), *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    started.append(proc)
    return proc


async def stop(proc: asyncio.subprocess.Process, seen: list[str]) -> str:
    """Ctrl-C; everything it printed; it must end with status 0."""
    assert proc.stdout is not None
    proc.send_signal(signal.SIGINT)
    rest = await asyncio.wait_for(proc.stdout.read(), 15)
    assert await asyncio.wait_for(proc.wait(), 15) == 0
    return "".join(seen) + rest.decode()


async def test_the_installed_script_serves_a_module_until_ctrl_c(
    script: list[asyncio.subprocess.Process], tmp_path: Path
) -> None:
    write_module(tmp_path, "chat")
    proc = await start(script, "serve", "chat:server", "--host", "127.0.0.1", "--port", "0",
                       cwd=tmp_path)  # fmt: skip
    assert proc.stdout is not None
    seen: list[str] = []
    listening = await lines_until(proc.stdout, r"listening on (ws://127\.0\.0\.1:\d+)/ ", seen)
    async with Client(listening.group(1), reconnect=False) as client:
        assert await client.call("say", {"text": "hello"}) == 1
    output = await stop(proc, seen)
    assert output.endswith("stopped\n") and "Traceback" not in output, output


async def test_the_installed_script_serves_wss(
    script: list[asyncio.subprocess.Process], tmp_path: Path, certificates: Certificates
) -> None:
    write_module(tmp_path, "chat")
    tls = ["--certfile", str(certificates.certfile), "--keyfile", str(certificates.keyfile)]
    proc = await start(script, "serve", "chat:server", "--host", "127.0.0.1", "--port", "0",
                       *tls, "--loop", "asyncio", cwd=tmp_path)  # fmt: skip
    assert proc.stdout is not None
    seen: list[str] = []
    listening = await lines_until(proc.stdout, r"listening on (wss://127\.0\.0\.1:\d+)/ ", seen)
    url = listening.group(1)
    async with Client(url, reconnect=False, ssl=certificates.client_context()) as client:
        assert await client.call("say", {"text": "hello"}) == 1
    output = await stop(proc, seen)
    assert output.endswith("stopped\n") and "Traceback" not in output, output


async def test_the_installed_script_runs_the_demo_from_anywhere(
    script: list[asyncio.subprocess.Process], tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = await start(script, "demo", "--port", str(port), "--data", "data", cwd=tmp_path)
    assert proc.stdout is not None
    seen: list[str] = []
    tui = await lines_until(proc.stdout, r"terminal client: (.*)$", seen)
    assert tui.group(1) == f"hotstate demo --tui --url ws://127.0.0.1:{port}/ws"
    # The banner comes with NiceGUI's startup, a moment before the port accepts: retry.
    async with Client(f"ws://127.0.0.1:{port}/ws", token="CLI", reconnect_delay=0.05) as client:
        await asyncio.wait_for(client.ready(), STARTUP)
        assert await client.call("todos.add", {"text": "from the CLI"}) == {"id": 1}
    output = await stop(proc, seen)
    assert output.rstrip().endswith("stopped") and "Traceback" not in output, output
    assert (tmp_path / "data" / "todo.sqlite3").is_file()  # --data reached the demo


async def test_python_dash_m_hotstate_rx_is_the_same_command() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotstate_rx", "--version", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    assert out.decode() == f"python -m hotstate_rx {hotstate_rx.__version__}\n"


async def test_the_installed_script_runs_the_demo_terminal_client(
    script: list[asyncio.subprocess.Process], tmp_path: Path
) -> None:
    """``hotstate demo --tui --url`` (headless) on a server that is not the demo's:
    the terminal client's own message and status come through the command."""
    other = hotstate_rx.Server()
    await other.listen(port=0, host="127.0.0.1")
    try:
        proc = await start(
            script, "demo", "--tui", "--name", "Tess", "--url", f"ws://127.0.0.1:{other.port}",
            cwd=tmp_path,
            TEXTUAL_DRIVER="textual.drivers.headless_driver:HeadlessDriver",
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), STARTUP)
    finally:
        await other.close()
    message = " ".join(out.decode().split())
    assert proc.returncode == 1, message
    assert "is a hotstate server, but not the todo demo: unknown store" in message
    assert "Traceback" not in message
