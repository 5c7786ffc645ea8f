"""Server processes for multi-process tests (a cluster's nodes, a crash target):
``NodeProcess`` runs ``python -u TARGET --port P ARGS`` and waits, with a
deadline, for the line that says it serves.

The contract for a node script (``tests/node_echo.py`` is one): take
``--port P``, listen on 127.0.0.1:P, then print ``ready`` (optionally
followed by its URL) on stdout and flush. Whatever it prints later is
drained as it comes (``next_line()`` hands it out), so a chatty node never
blocks on a full pipe; the end of its stderr goes into every failure
message. The ``start_node`` fixture in ``tests/conftest.py`` kills whatever
a test started, whatever the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

from redis_server import free_port

ROOT = Path(__file__).resolve().parents[1]
STARTUP = 30.0
"""Seconds a node may take to say ``ready`` (imports on a loaded two-core machine)."""
STOP = 10.0
TAIL = 40
"""Lines of stderr kept for failure messages."""


class NodeProcess:
    """One server subprocess: ``target`` is a script path or a module name
    (``-m``, run from the checkout's root); it gets ``--port PORT`` then
    ``args``, and the environment of the tests updated with ``env``.

    ``start()`` again after ``kill()`` or ``stop()`` runs it anew on the
    same port, with the same arguments (a restarted node)."""

    def __init__(
        self,
        target: str | Path,
        port: int | None = None,
        *,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        startup: float = STARTUP,
    ) -> None:
        self.target = target
        self.port = port or free_port()
        self.args = list(args)
        # NiceGUI reads PYTEST_CURRENT_TEST as "screen test" and would ignore the port.
        self.env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
        self.env |= dict(env or {}) | {"PYTHONUNBUFFERED": "1"}
        self.startup = startup
        self.url = f"ws://127.0.0.1:{self.port}"
        """What the ready line named, else ``ws://127.0.0.1:PORT``."""
        self._proc: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._ready: asyncio.Future[str] | None = None
        self._lines: asyncio.Queue[str] = asyncio.Queue()
        self._stderr: deque[str] = deque(maxlen=TAIL)

    @property
    def argv(self) -> list[str]:
        """The command line it runs."""
        target = self.target
        run = (
            [str(target)] if isinstance(target, Path) or target.endswith(".py") else ["-m", target]
        )
        return [sys.executable, "-u", *run, "--port", str(self.port), *self.args]

    @property
    def pid(self) -> int | None:
        """The process id while it runs, else None."""
        return self._proc.pid if self._proc and self._proc.returncode is None else None

    @property
    def returncode(self) -> int | None:
        """How the last run ended (``-9`` after ``kill()``); None while it runs."""
        return self._proc.returncode if self._proc else None

    async def start(self) -> NodeProcess:
        """Run it; return once it printed ``ready``. Raises, with the end of
        its stderr, when it exits first or stays silent past ``startup``."""
        if self.pid is not None:
            raise RuntimeError(f"{self.target} is already running (pid {self.pid})")
        await self._stop_readers()
        self._stderr.clear()
        self._lines = asyncio.Queue()
        self._ready = asyncio.get_running_loop().create_future()
        self._proc = proc = await asyncio.create_subprocess_exec(
            *self.argv,
            cwd=ROOT,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        self._readers = [
            asyncio.create_task(self._read_stdout(proc.stdout)),
            asyncio.create_task(self._read_stderr(proc.stderr)),
        ]
        try:
            line = await asyncio.wait_for(asyncio.shield(self._ready), self.startup)
        except TimeoutError:
            self._ready.cancel()
            await self.close()
            raise TimeoutError(
                f"{self.target} did not print 'ready' within {self.startup} s\n{self.stderr_tail()}"
            ) from None
        except EOFError:
            await self.wait()
            await self._stop_readers()  # all of stderr is in
            raise RuntimeError(
                f"{self.target} exited with status {proc.returncode} before 'ready'\n"
                + self.stderr_tail()
            ) from None
        url = line.split(maxsplit=1)[1:]
        if url:
            self.url = url[0]
        return self

    async def _read_stdout(self, stream: asyncio.StreamReader) -> None:
        assert self._ready is not None
        ready = self._ready
        while line := (await stream.readline()).decode(errors="replace"):
            if not ready.done() and (line == "ready\n" or line.startswith("ready ")):
                ready.set_result(line.strip())
            elif ready.done():
                self._lines.put_nowait(line.rstrip("\n"))
        if not ready.done():
            ready.set_exception(EOFError())

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self._stderr.append(line.decode(errors="replace").rstrip("\n"))

    async def _stop_readers(self) -> None:
        """Let the readers drain what the ended process left, then drop them."""
        for task in self._readers:
            try:
                await asyncio.wait_for(task, STOP)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
        self._readers = []

    async def next_line(self, timeout: float = STOP) -> str:
        """The next line it printed on stdout after ``ready``."""
        return await asyncio.wait_for(self._lines.get(), timeout)

    def stderr_tail(self) -> str:
        """The last lines of its stderr (what a failure message shows)."""
        return "stderr:\n" + "\n".join(self._stderr) if self._stderr else "(no stderr)"

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed, no goodbye to its clients."""
        if self.pid is not None:
            assert self._proc is not None
            self._proc.kill()

    def terminate(self) -> None:
        """SIGTERM: what a process manager sends to stop a service."""
        if self.pid is not None:
            assert self._proc is not None
            self._proc.terminate()

    async def wait(self, timeout: float = STOP) -> int:
        """Its exit status once it has ended (TimeoutError if not within ``timeout``)."""
        assert self._proc is not None, "never started"
        return await asyncio.wait_for(self._proc.wait(), timeout)

    async def stop(self, timeout: float = STOP) -> int:
        """SIGTERM and wait; SIGKILL if it is still there after ``timeout``."""
        self.terminate()
        try:
            return await self.wait(timeout)
        except TimeoutError:
            await self.close()
            raise

    async def close(self) -> None:
        """Kill it if it runs and collect it: nothing is left behind."""
        if self._proc is None:
            return
        self.kill()
        with contextlib.suppress(ProcessLookupError):
            await self._proc.wait()
        await self._stop_readers()

    async def __aenter__(self) -> NodeProcess:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
