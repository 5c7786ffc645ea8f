"""``hotstate demo``: the collaborative todo demo of a source checkout.

The demo apps live in the checkout's ``apps/`` folder, a folder of runnable
examples next to the package, and are not installed with it: the package
stays a library. So the demo runs when hotstate_rx is a checkout (an editable
install, as the README's ``pip install -e``), and says so clearly otherwise.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import CommandError

__all__ = ["CHECKOUT", "run_demo"]

CHECKOUT = Path(__file__).resolve().parents[2]
"""Where the checkout would be if hotstate_rx is imported from one."""

APPS_EXTRAS = {"nicegui", "textual", "psutil"}


def run_demo(
    *,
    host: str,
    port: int,
    tui: bool = False,
    urls: Sequence[str] = (),
    name: str | None = None,
    data: Path | None = None,
    prog: str = "hotstate",
    checkout: Path = CHECKOUT,
) -> int:
    """Serve the todo demo on ``host:port`` until Ctrl-C, its stores kept in
    ``data`` (default: the demo's own default), or with ``tui`` run its
    terminal client on ``urls`` (default: the demo's on ``host:port``; several:
    it fails over between them) as ``name``; the exit status."""
    if not (checkout / "apps" / "todo" / "web.py").is_file():
        raise CommandError(
            f"the demo apps come with a checkout of hotstate_rx, and {checkout} is not one "
            "(the package was installed without them): clone the repository, then run "
            "`python3 tasks.py demo` in it",
            status=1,
        )
    if sys.path[:1] != [str(checkout)]:  # first: a folder named apps elsewhere must not win
        sys.path.insert(0, str(checkout))
    try:
        # By name: the apps are found at run time in the checkout, not type-checked with
        # the package.
        apps = importlib.import_module("apps.__main__")
        serve = importlib.import_module("apps.todo.web").serve
    except ModuleNotFoundError as missing:
        if missing.name not in APPS_EXTRAS:
            raise
        raise CommandError(
            f"the demo needs {missing.name}, which is not installed: "
            f"pip install -e '{checkout}[apps]'",
            status=1,
        ) from None
    if tui:
        named = [] if name is None else ["--name", name]
        default = [f"ws://127.0.0.1:{port}/ws"]
        servers = [arg for url in urls or default for arg in ("--url", url)]
        status: int = apps.main(["todo-tui", *servers, *named])
        return status
    serve(host=host, port=port, data=data or apps.default_data(), tui=f"{prog} demo --tui")
    return 0
