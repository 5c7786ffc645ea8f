"""``tasks.py``, the entry point the README gives first, run as a person runs it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TASKS = [sys.executable, str(ROOT / "tasks.py")]
COMMANDS = ["demo", "tui", "dashboard", "dashboard-tui", "test", "bench", "lint", "help"]


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
