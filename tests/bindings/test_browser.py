"""A real headless Chromium on the NiceGUI example, with hotstate attached to NiceGUI's port.

The example app runs as a subprocess on a free port; the test changes the store
through a hotstate client on that same port and watches the page update without
a reload. A screenshot goes to ``tests/artifacts/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hotstate_rx.client import Client

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "bindings" / "examples" / "nicegui_todos.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for_http(url: str, proc: asyncio.subprocess.Process, timeout: float) -> None:
    async def poll() -> None:
        async with httpx.AsyncClient() as http:
            while proc.returncode is None:
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(url)).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"the example app exited with {proc.returncode}")

    await asyncio.wait_for(poll(), timeout)


@pytest.fixture
async def example_port(tmp_path: Path) -> AsyncIterator[int]:
    """The NiceGUI example running in a subprocess; yields its port."""
    port = free_port()
    # NiceGUI reads PYTEST_CURRENT_TEST as "screen test" and would ignore port=.
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env["PORT"] = str(port)
    log_path = tmp_path / "app.log"
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(EXAMPLE), env=env, cwd=tmp_path, stdout=log, stderr=log
        )
    try:
        try:
            await wait_for_http(f"http://127.0.0.1:{port}/", proc, timeout=30)
        except (RuntimeError, TimeoutError):
            pytest.fail(f"the example app did not start:\n{log_path.read_text()}")
        yield port
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


@pytest.fixture
async def browser_page(chromium: Any) -> Any:
    return await chromium.new_page(viewport={"width": 900, "height": 600})


@pytest.fixture
async def port_client(example_port: int) -> AsyncIterator[Client]:
    """A hotstate client on the example's own port: the server is attached to NiceGUI."""
    hs = Client(reconnect=False)
    hs.connect(f"ws://127.0.0.1:{example_port}/ws")
    try:
        await asyncio.wait_for(hs.ready(), 10)
        yield hs
    finally:
        await hs.close()


@pytest.mark.timeout(90)
async def test_a_server_change_appears_in_chromium_without_reload(
    browser_page: Any, example_port: int, port_client: Client, artifacts: Path
) -> None:
    from playwright.async_api import expect

    page = browser_page
    await page.goto(f"http://127.0.0.1:{example_port}/")
    await expect(page.get_by_test_id("status")).to_have_text("● connected", timeout=15_000)
    await expect(page.get_by_test_id("count")).to_have_text("0 todos")
    await page.evaluate("window.hotstateMarker = 'same document'")

    await port_client.call("todos.add", {"text": "typed by the test"})

    await expect(page.get_by_test_id("count")).to_have_text("1 todos", timeout=10_000)
    await expect(page.get_by_test_id("todos")).to_contain_text("typed by the test")
    assert await page.evaluate("window.hotstateMarker") == "same document"  # no reload
    await page.screenshot(path=str(artifacts / "nicegui_todos.png"))
