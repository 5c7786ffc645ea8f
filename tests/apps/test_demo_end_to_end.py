"""Issue #6, "Done when", as one test: the README's demo, two browser pages and the TUI.

The demo runs exactly as the README starts it (``<venv python> -m apps todo
--port N`` from the repository root, its data directory a temporary one) and
the test uses the URLs its banner prints. A todo typed into one page of a
headless Chromium must show on a second page without a reload, and in the
Textual client (``TodoApp``) driven by ``run_test()`` on the test's own loop.
Screenshots of both pages go to ``tests/artifacts/``. Then the demo is stopped
and started again (issue #14): the todo is still there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Label

from apps.todo.tui import TodoApp, TodoTable
from hotstate_rx.client import Client

ROOT = Path(__file__).resolve().parents[2]
STARTUP = 30.0  # the demo's banner (imports NiceGUI: a few seconds on 2 cores)
STOP = 10.0  # SIGINT to exit, before a kill
WAIT_MS = 10_000  # any one browser expectation
TUI_WAIT = 10.0  # the Textual client showing the todo


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Demo:
    """The running demo: the URLs from its banner and everything it printed so far."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.http_url = ""
        self.ws_url = ""

    @property
    def output(self) -> str:
        return "".join(self.lines)

    async def read_banner(self) -> None:
        """Read until the banner's terminal-client line; fill in both URLs from it."""
        assert self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"the demo exited ({self.proc.returncode}):\n{self.output}")
            self.lines.append(line.decode(errors="replace"))
            web = re.search(r"web page:\s+(http://\S+)", self.lines[-1])
            if web:
                self.http_url = web.group(1)
            tui = re.search(r"terminal client:.* --url (ws://\S+)", self.lines[-1])
            if tui:
                self.ws_url = tui.group(1)
                assert self.http_url, self.output
                return

    async def drain(self) -> None:
        """Keep reading its output (a full pipe would block it) until it exits."""
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            self.lines.append(line.decode(errors="replace"))


@contextlib.asynccontextmanager
async def demo(data: Path) -> AsyncIterator[Demo]:
    """``<venv python> -m apps todo --port N`` from the repo root, stopped with Ctrl-C;
    its data directory is ``data`` (``$HOTSTATE_DATA``)."""
    port = free_port()
    # NiceGUI reads PYTEST_CURRENT_TEST as "screen test" and would ignore the port.
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env["HOTSTATE_DATA"] = str(data)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "apps", "todo", "--port", str(port),
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    running = Demo(proc)
    drain: asyncio.Task[None] | None = None
    try:
        try:
            await asyncio.wait_for(running.read_banner(), STARTUP)
        except TimeoutError:
            pytest.fail(f"no banner from the demo within {STARTUP} s:\n{running.output}")
        assert running.http_url == f"http://127.0.0.1:{port}", running.output
        assert running.ws_url == f"ws://127.0.0.1:{port}/ws", running.output
        drain = asyncio.create_task(running.drain())
        yield running
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), STOP) == 0, running.output
        await asyncio.wait_for(drain, STOP)
        assert running.output.rstrip().endswith("stopped"), running.output
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), STOP)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if drain is not None and not drain.done():
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain


def task_texts(table: TodoTable) -> list[str]:
    """The Task column of the TUI's todo list, top to bottom."""
    return [str(table.get_row_at(row)[1]) for row in range(table.row_count)]


@pytest.mark.timeout(150)
async def test_readme_demo_syncs_two_browser_pages_and_the_textual_client(
    chromium: Any, artifacts: Path, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    text = f"Water the plants {uuid.uuid4().hex[:6]}"
    async with demo(tmp_path) as running:
        tui = TodoApp(running.ws_url, name="Terminal")
        async with tui.run_test(size=(110, 30)) as pilot:
            context = await chromium.new_context(viewport={"width": 1000, "height": 600})
            try:
                page_a = await context.new_page()
                page_b = await context.new_page()
                for page, name in ((page_a, "Ana"), (page_b, "Bob")):
                    await page.goto(running.http_url)
                    await page.get_by_placeholder("Your name").fill(name)
                    await page.get_by_placeholder("Your name").press("Enter")
                for page in (page_a, page_b):
                    await expect(page.get_by_text("● connected")).to_be_visible(timeout=WAIT_MS)
                    await expect(page.get_by_text("Nothing to do.")).to_be_visible()
                for page in (page_a, page_b):  # presence: each sees both names in the room
                    presence = page.get_by_test_id("presence")
                    for name in ("Ana", "Bob"):
                        await expect(presence).to_contain_text(name, timeout=WAIT_MS)
                await page_b.evaluate("window.demoMarker = 'same document'")

                new_todo = page_a.get_by_placeholder("What needs doing?")
                await new_todo.fill(text)
                await new_todo.press("Enter")

                await expect(page_a.get_by_text(text, exact=True)).to_be_visible(timeout=WAIT_MS)
                await expect(page_b.get_by_text(text, exact=True)).to_be_visible(timeout=WAIT_MS)
                await expect(page_b.get_by_text("Nothing to do.")).to_be_hidden()
                assert await page_b.evaluate("window.demoMarker") == "same document"  # no reload
                await expect(new_todo).to_have_value("")

                table = tui.query_one(TodoTable)
                for _ in range(int(TUI_WAIT / 0.05)):
                    if text in task_texts(table):
                        break
                    await pilot.pause(0.05)
                assert task_texts(table) == [text], "the Textual client did not show the todo"
                here = str(tui.query_one("#presence", Label).render())
                assert all(name in here for name in ("Ana", "Bob", "Terminal")), here
                assert tui.status == "connected"

                await page_a.screenshot(path=str(artifacts / "demo_page_a.png"))
                await page_b.screenshot(path=str(artifacts / "demo_page_b.png"))
            finally:
                await context.close()

    # The banner comes before the socket is bound: this client retries until it is.
    async with (
        demo(tmp_path) as running,
        Client(running.ws_url, reconnect_delay=0.2, token="Checker") as client,
    ):
        todos = client.subscribe("Todos")
        await asyncio.wait_for(todos.ready(), STARTUP)
        assert [t["text"] for t in todos.get_state()["items"]] == [text], "lost at restart"


@pytest.mark.timeout(90)
async def test_demo_page_fits_a_phone_skips_its_own_toasts_and_says_when_it_is_cut_off(
    chromium: Any, artifacts: Path, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    text = f"Call the plumber {uuid.uuid4().hex[:6]}"
    context = await chromium.new_context(viewport={"width": 420, "height": 800})
    try:
        async with demo(tmp_path) as running:
            phone, other = await context.new_page(), await context.new_page()
            for page, name in ((phone, "Phone"), (other, "Other")):
                await page.goto(running.http_url)
                await page.get_by_placeholder("Your name").fill(name)
                await page.get_by_placeholder("Your name").press("Enter")
                await expect(page.get_by_test_id("status")).to_have_text(
                    "● connected", timeout=WAIT_MS
                )
            await expect(phone.get_by_test_id("lost")).to_be_hidden()
            await expect(phone.get_by_label("pick one, or type a new name + Enter")).to_be_visible()

            scroll, width = await phone.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            assert scroll <= width == 420, "the page scrolls sideways on a 420 px screen"
            todos = await phone.get_by_test_id("todos-card").bounding_box()
            room = await phone.get_by_test_id("room-card").bounding_box()
            assert todos is not None and room is not None
            assert room["y"] >= todos["y"] + todos["height"], "the cards do not stack"
            assert todos["x"] >= 0 and todos["x"] + todos["width"] <= 420

            new_todo = phone.get_by_placeholder("What needs doing?")
            await new_todo.fill(text)
            await new_todo.press("Enter")
            await expect(other.get_by_text(f"New todo: {text}")).to_be_visible(timeout=WAIT_MS)
            # A later change from the other tab reaches the phone as a toast; the
            # phone's own, announced before it, must not have shown.
            elsewhere = other.get_by_placeholder("What needs doing?")
            await elsewhere.fill("from the other tab")
            await elsewhere.press("Enter")
            await expect(phone.get_by_text("New todo: from the other tab")).to_be_visible(
                timeout=WAIT_MS
            )
            await expect(phone.get_by_text(f"New todo: {text}")).to_have_count(0)
            await phone.screenshot(path=str(artifacts / "demo_phone.png"))
        # The demo stopped: the browser lost NiceGUI's socket, and the header says so.
        await expect(phone.get_by_test_id("lost")).to_be_visible(timeout=WAIT_MS)
        await expect(phone.get_by_test_id("status")).to_be_hidden()
    finally:
        await context.close()
