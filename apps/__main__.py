"""``python -m apps <command>``: run the demo apps.

Commands
    todo            todo server + NiceGUI page on one port (the main demo)
    cluster-demo    Redis + two todo nodes sharing it (ports 8080 and 8082)
    todo-tui        Textual client of a running todo server
    dashboard       live machine dashboard: server + NiceGUI page on one port
    dashboard-tui   Textual client of a running dashboard server

Servers bind to 127.0.0.1 unless ``--host`` says otherwise; Ctrl-C stops them cleanly.
The todo server keeps its stores in ``todo.sqlite3`` under a data directory:
``--data DIR``, else ``$HOTSTATE_DATA``, else ``.hotstate-data/`` in the checkout;
with ``--cluster redis://...`` it keeps them in that Redis instead, as one node
of a cluster (``cluster-demo`` starts a Redis and two such nodes).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.app import App

TODO_PORT = 8080
SECOND_NODE_PORT = 8082
DASHBOARD_PORT = 8081
DATA_DIR = Path(__file__).resolve().parents[1] / ".hotstate-data"
"""Where the todo demo keeps its SQLite file unless told otherwise (git-ignored)."""


def default_data() -> Path:
    """The todo demo's data directory: ``$HOTSTATE_DATA``, else :data:`DATA_DIR`."""
    return Path(os.environ.get("HOTSTATE_DATA") or DATA_DIR)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m apps", description="hotstate_rx demo apps.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, port, what in (
        ("todo", TODO_PORT, "collaborative todos and chat rooms"),
        ("dashboard", DASHBOARD_PORT, "live machine dashboard"),
    ):
        web = commands.add_parser(name, help=f"{what}: server + web page on one port")
        web.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1)")
        web.add_argument("--port", type=int, default=port, help=f"HTTP port (default: {port})")
        if name == "todo":
            web.add_argument(
                "--data",
                type=Path,
                default=default_data(),
                help="directory of todo.sqlite3, created if missing "
                "(default: $HOTSTATE_DATA, else .hotstate-data/ in the checkout)",
            )
            web.add_argument(
                "--cluster",
                metavar="URL",
                help="run as a node of the cluster on this Redis (redis://host:port/db): "
                "the stores live there, not in --data",
            )
        tui = commands.add_parser(f"{name}-tui", help=f"{what}: terminal client")
        tui.add_argument(
            "--url",
            action="append",
            dest="urls",
            metavar="URL",
            help=f"the server's WebSocket; repeat it to fail over between servers "
            f"(default: ws://127.0.0.1:{port}/ws)",
        )
        tui.set_defaults(default_url=f"ws://127.0.0.1:{port}/ws")
        if name == "todo":
            tui.add_argument("--name", help="the name to chat under (default: your login name)")
    demo = commands.add_parser(
        "cluster-demo", help="a redis-server and two todo nodes sharing it, until Ctrl-C"
    )
    demo.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1)")
    demo.add_argument(
        "--port", type=int, default=TODO_PORT, help=f"node 1's port (default: {TODO_PORT})"
    )
    demo.add_argument(
        "--port2",
        type=int,
        default=SECOND_NODE_PORT,
        help=f"node 2's port (default: {SECOND_NODE_PORT})",
    )
    demo.add_argument(
        "--redis-port", type=int, default=0, help="Redis's port (default: a free one)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "todo":
        from .todo.web import serve

        serve(host=args.host, port=args.port, data=args.data, cluster=args.cluster)
    elif args.command == "cluster-demo":
        from .cluster_demo import run_demo

        return run_demo(host=args.host, ports=(args.port, args.port2), redis_port=args.redis_port)
    elif args.command == "dashboard":
        from .dashboard.web import serve

        serve(host=args.host, port=args.port)
    elif args.command == "todo-tui":
        from .todo.tui import TodoApp

        return _run(TodoApp(*(args.urls or [args.default_url]), name=args.name))
    else:
        from .dashboard.tui import DashboardApp

        return _run(DashboardApp(*(args.urls or [args.default_url])))
    return 0


def _run(app: App[None]) -> int:
    """Run a terminal client; its return code (non-zero when it ended on an error)."""
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
