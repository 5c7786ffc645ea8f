"""``python -m apps.cookie_login [--port 8082]``: serve the cookie sign-in example."""

from __future__ import annotations

import argparse

import uvicorn

from .app import build_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m apps.cookie_login", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8082, help="HTTP port (default: 8082)")
    args = parser.parse_args()
    app, _ = build_app()
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
