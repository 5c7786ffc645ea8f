#!/usr/bin/env python3
"""One entry point for people and CI: ``python3 tasks.py <command>``.

Commands: ``demo`` (todo server + web page), ``tui`` (its terminal client),
``dashboard`` / ``dashboard-tui`` (live machine dashboard), ``test`` (ruff's
lint and format check, mypy and the whole pytest suite; extra arguments go to
pytest), ``bench`` (benchmarks), ``lint`` (ruff only).

Each command first makes sure ``.venv`` exists inside the checkout and holds
this project with every extra it needs (re-installing only when
``pyproject.toml`` changed), so a fresh machine with Python 3.11+ and pip is
enough. Standard library only: it runs before anything is installed.
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
EXTRAS = "all,test"
# Debian packages the browser tests use; installed when we are root and they are missing.
BROWSER = Path("/usr/bin/chromium")


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
    if BROWSER.exists() or os.environ.get("HOTSTATE_NO_APT"):
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        _say("chromium is missing and cannot be installed here: browser tests will skip")
        return
    _say("installing Debian's chromium for the browser tests")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        _run("apt-get", "update", "-qq", env=env)
        _run("apt-get", "install", "-y", "-qq", "chromium", env=env, stdout=subprocess.DEVNULL)
    except subprocess.CalledProcessError as exc:
        _say(f"could not install chromium ({exc}); browser tests will skip")


def lint() -> int:
    """ruff's lint rules, then its formatter in check mode; non-zero if either fails."""
    ruff = str(BIN / "ruff")
    checked = subprocess.call([ruff, "check", "."], cwd=ROOT)
    return subprocess.call([ruff, "format", "--check", "."], cwd=ROOT) or checked


def main(argv: list[str]) -> int:
    cmd, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if cmd in {"help", "-h", "--help"}:
        print(__doc__)
        return 0
    ensure_venv()
    apps = {"demo": "todo", "tui": "todo-tui", "dashboard": "dashboard"}
    if cmd in apps or cmd == "dashboard-tui":
        return subprocess.call([str(PY), "-m", "apps", apps.get(cmd, cmd), *rest], cwd=ROOT)
    if cmd == "lint":
        return lint()
    if cmd == "test":
        ensure_browser()
        lint_failed = lint()
        types = subprocess.call([str(PY), "-m", "mypy"], cwd=ROOT)  # [tool.mypy] in pyproject
        tests = subprocess.call([str(PY), "-m", "pytest", *rest], cwd=ROOT)
        return tests or lint_failed or types
    if cmd == "bench":
        return subprocess.call([str(PY), "-m", "tests.benchmarks", *rest], cwd=ROOT)
    print(f"unknown command {cmd!r}\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
