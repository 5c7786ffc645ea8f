"""The ``hotstate`` command, also ``python -m hotstate_rx``: serve, inspect, demo.

A thin argparse layer over small functions, so that every path a person can
take is tested through :func:`main`::

    hotstate serve myapp:server [--host H] [--port P] [--path /ws] [--heartbeat S]
                                [--certfile C --keyfile K] [--loop auto|uvloop|asyncio]
    hotstate inspect ws://host:port [ws://... ...] [--token T]
    hotstate demo [--host H] [--port P]        # the collaborative todo demo
    hotstate demo --tui [--url ws://... ...] [--name N]   # its terminal client

A mistake (a bad ``module:attribute``, a module that is not there, an object
that is not a ``Server``, a demo without a checkout) ends with one line that
names it and exit status 2 for bad usage, 1 otherwise; never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .. import __version__
from ..server.loops import LOOPS
from .errors import CommandError

__all__ = ["CommandError", "main"]

SERVE_EPILOG = """\
MODULE is imported as `python -m` would (the current directory first), so run
`hotstate serve chat:server` next to chat.py. The module must not start the
server itself when imported: guard a `server.run()` with
`if __name__ == "__main__":`.
"""


def main(argv: Sequence[str] | None = None, *, prog: str = "hotstate") -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); the exit status."""
    args = parser(prog).parse_args(argv)
    command: Callable[[argparse.Namespace], int] = args.run
    try:
        return command(args)
    except CommandError as error:
        print(f"{prog} {args.command}: {error}", file=sys.stderr)
        return error.status


def parser(prog: str = "hotstate") -> argparse.ArgumentParser:
    """The whole command line, every subcommand with its ``--help``."""
    root = argparse.ArgumentParser(
        prog=prog,
        description="hotstate_rx: real-time, server-authoritative JSON state over WebSocket.",
    )
    root.add_argument("--version", action="version", version=f"{prog} {__version__}")
    commands = root.add_subparsers(dest="command", required=True, metavar="command")

    serve = commands.add_parser(
        "serve",
        help="serve a Server object from a module",
        description="Serve the hotstate_rx Server found at MODULE:ATTRIBUTE until Ctrl-C.",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("target", metavar="MODULE:ATTRIBUTE", help="e.g. chat:server")
    serve.add_argument("--host", default="localhost", help="bind address (default: localhost)")
    serve.add_argument("--port", type=int, default=4400, help="port; 0 picks one (default: 4400)")
    serve.add_argument("--path", default=None, help="the only path served (default: every path)")
    serve.add_argument(
        "--heartbeat", type=float, default=30.0, help="seconds between pings, 0 = off (default: 30)"
    )
    serve.add_argument(
        "--certfile", default=None, help="serve wss://: the certificate and its chain (PEM)"
    )
    serve.add_argument(
        "--keyfile", default=None, help="its private key (PEM; default: in the certfile)"
    )
    serve.add_argument(
        "--loop",
        choices=LOOPS,
        default="auto",
        help="event loop: auto = uvloop when installed (pip install 'hotstate-rx[speed]')",
    )
    serve.set_defaults(run=_serve)

    inspect = commands.add_parser(
        "inspect",
        help="open the live inspector on a server",
        description=(
            "Open a Textual inspector on the server at URL: clients, instances, the live "
            "state and patch log of an instance, function rates, latencies and errors. "
            "The server must allow the connection: Server(inspect=True) in development, "
            "or inspect=lambda ctx: ... (with authenticate and --token)."
        ),
    )
    inspect.add_argument(
        "urls",
        nargs="+",
        metavar="URL",
        help="the server's WebSocket URL; several: the nodes to fail over between",
    )
    inspect.add_argument("--token", default=None, help="a token the server's authenticate accepts")
    inspect.set_defaults(run=_inspect)

    demo = commands.add_parser(
        "demo",
        help="run the collaborative todo demo (server + web page), or its terminal client",
        description=(
            "Run the todo demo: its server and web page on one port, until Ctrl-C. "
            "With --tui, its terminal client instead. Needs a checkout of hotstate_rx "
            "(the demo apps are not installed with the package)."
        ),
    )
    demo.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1)")
    demo.add_argument("--port", type=int, default=8080, help="HTTP port (default: 8080)")
    demo.add_argument("--tui", action="store_true", help="run the terminal client instead")
    demo.add_argument(
        "--url",
        action="append",
        dest="urls",
        metavar="URL",
        help="the terminal client's server; repeat it to fail over between servers "
        "(default: ws://127.0.0.1:PORT/ws)",
    )
    demo.add_argument(
        "--name", default=None, help="the terminal client's name in the chat (default: your login)"
    )
    demo.add_argument(
        "--data",
        type=Path,
        default=None,
        help="directory of the demo's todo.sqlite3 (default: $HOTSTATE_DATA, else "
        ".hotstate-data/ in the checkout)",
    )
    demo.set_defaults(run=_demo, prog=prog)
    return root


def _serve(args: argparse.Namespace) -> int:
    from .serve import check_serving, load_server

    check_serving(args.certfile, args.keyfile, args.loop)
    server = load_server(args.target)
    server.run(
        port=args.port,
        host=args.host,
        path=args.path,
        heartbeat=args.heartbeat,
        certfile=args.certfile,
        keyfile=args.keyfile,
        loop=args.loop,
    )
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from ..client.options import check_urls

    for url in args.urls:
        if not url.startswith(("ws://", "wss://")):
            raise CommandError(f"not a WebSocket URL: {url!r} (e.g. ws://localhost:4400)")
    try:
        check_urls(None, args.urls, None)  # a malformed or repeated one, before the screen opens
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    try:
        from .inspector import InspectorApp
    except ImportError as exc:
        raise CommandError(
            f"the inspector needs Textual ({exc}): pip install 'hotstate-rx[textual]'", status=1
        ) from None
    InspectorApp(*args.urls, token=args.token).run()
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(
        host=args.host,
        port=args.port,
        tui=args.tui,
        urls=args.urls or (),
        name=args.name,
        data=args.data,
        prog=args.prog,
    )
