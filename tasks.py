#!/usr/bin/env python3
"""One entry point for people and CI: ``python3 tasks.py <command>``
(``python3 tasks.py help`` lists the commands).

Each command first makes sure ``.venv`` exists inside the checkout and holds
this project with every extra it needs (re-installing only when
``pyproject.toml`` changed), so a fresh machine with Python 3.11+ and pip is
enough. Standard library only: it runs before anything is installed.

The apps replace this process (``exec``), so Ctrl-C, signals and the exit
status are the app's own; for the other commands Ctrl-C is the running
tool's to handle (it gets it from the terminal too), then this stops quietly.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".tasks-stamp"
EXTRAS = "all,test,bench"
# Every command shares one .venv, so every extra goes in (one set of extras per command would
# reinstall at each switch between them); "bench" adds the benchmarks' peer, python-socketio.
# Debian packages the browser tests use; installed when we are root and they are missing.
BROWSER = Path("/usr/bin/chromium")
NO_APT = "HOTSTATE_NO_APT"

COMMANDS = {
    "demo": "todo demo: server + web page, http://127.0.0.1:8080 (--port)",
    "tui": "the demo's terminal client (--url ws://127.0.0.1:8080/ws)",
    "dashboard": "live dashboard of this machine, http://127.0.0.1:8081 (--port)",
    "dashboard-tui": "the dashboard's terminal client (--url)",
    "test": "ruff, mypy, then pytest; extra arguments go to pytest (-k, -x)",
    "bench": "the benchmarks of BENCHMARKS.md (bench --help for options)",
    "lint": "ruff only (lint and format check)",
    "help": "this text",
}
APPS = {"demo": "todo", "tui": "todo-tui", "dashboard": "dashboard"}
APPS["dashboard-tui"] = "dashboard-tui"


def usage() -> str:
    """The help text: every command in one line, and what ``test`` may install."""
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {what}" for name, what in COMMANDS.items()]
    return "\n".join(
        [
            "usage: python3 tasks.py <command> [arguments]",
            "",
            "Every command first creates or updates .venv in this checkout (Python 3.11+ and",
            "pip are all it needs).",
            "",
            "commands:",
            *lines,
            "",
            "the browser tests:",
            f"  `test` runs them in Debian's Chromium ({BROWSER}). When that is",
            "  missing and this runs as root with apt-get, `test` installs it first",
            f"  (apt-get install chromium, about a minute) and says so; {NO_APT}=1",
            "  turns that off. Without Chromium the browser tests skip and say why.",
        ]
    )


def _say(msg: str) -> None:
    print(f"[tasks] {msg}", flush=True)


def _run(*args: str | Path, **kw: object) -> None:
    subprocess.run([str(a) for a in args], check=True, **kw)  # type: ignore[call-overload]


def ensure_venv() -> None:
    """Create .venv and install the project with its extras when needed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - tasks.py runs on whatever python3 is there
        sys.exit(f"hotstate_rx needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PY.exists():
        _say(f"creating {VENV}")
        try:
            _run(sys.executable, "-m", "venv", VENV)
        except subprocess.CalledProcessError:
            shutil.rmtree(VENV, ignore_errors=True)
            _say("the venv module is unavailable; falling back to virtualenv from pip")
            _run(sys.executable, "-m", "pip", "install", "--user", "--quiet", "virtualenv")
            _run(sys.executable, "-m", "virtualenv", VENV)
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + EXTRAS.encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == want:
        return
    _say("installing hotstate-rx and its extras into .venv (once per pyproject change)")
    _run(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    _run(PY, "-m", "pip", "install", "--quiet", "-e", f".[{EXTRAS}]", cwd=ROOT)
    STAMP.write_text(want)


def ensure_browser() -> None:
    """Install Debian's Chromium for the browser tests when we can (root + apt)."""
    if BROWSER.exists():
        return
    if os.environ.get(NO_APT):
        _say(f"chromium is missing and {NO_APT} is set: browser tests will skip")
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        _say("chromium is missing and cannot be installed here: browser tests will skip")
        return
    _say(f"installing Debian's chromium for the browser tests ({NO_APT}=1 skips this)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        _run("apt-get", "update", "-qq", env=env)
        _run("apt-get", "install", "-y", "-qq", "chromium", env=env, stdout=subprocess.DEVNULL)
    except subprocess.CalledProcessError as exc:
        _say(f"could not install chromium ({exc}); browser tests will skip")


def _call(*args: str | Path) -> int:
    """Run a tool in the checkout to its end; its exit status. Ctrl-C reaches it
    from the terminal and is its to handle (pytest prints its summary); once it
    has ended, the interruption goes on to stop this script."""
    proc = subprocess.Popen([str(a) for a in args], cwd=ROOT)
    interrupted = False
    while True:
        try:
            status = proc.wait()
        except KeyboardInterrupt:
            interrupted = True
            continue
        if interrupted:
            raise KeyboardInterrupt
        return status


def run_app(name: str, args: list[str]) -> int:
    """``python -m apps NAME ARGS`` in place of this process (POSIX), so that the
    app itself gets Ctrl-C or a SIGINT sent to this script, and its status is ours."""
    argv = [str(PY), "-m", "apps", name, *args]
    if os.name != "posix":
        return _call(*argv)
    os.chdir(ROOT)
    os.execv(argv[0], argv)


def lint() -> int:
    """ruff's lint rules, then its formatter in check mode; non-zero if either fails."""
    ruff = BIN / "ruff"
    checked = _call(ruff, "check", ".")
    return _call(ruff, "format", "--check", ".") or checked


def main(argv: list[str]) -> int:
    cmd, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if cmd in {"help", "-h", "--help"}:
        print(usage())
        return 0
    if cmd not in COMMANDS:
        print(f"unknown command {cmd!r}\n\n{usage()}", file=sys.stderr)
        return 2
    try:
        ensure_venv()
        if cmd in APPS:
            return run_app(APPS[cmd], rest)
        if cmd == "lint":
            return lint()
        if cmd == "test":
            ensure_browser()
            lint_failed = lint()
            types = _call(PY, "-m", "mypy")  # [tool.mypy] in pyproject
            tests = _call(PY, "-m", "pytest", *rest)
            return tests or lint_failed or types
        return _call(PY, "-m", "tests.benchmarks", *rest)  # bench
    except KeyboardInterrupt:
        _say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
