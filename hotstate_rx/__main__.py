"""``python -m hotstate_rx``: the ``hotstate`` command (see :mod:`hotstate_rx.cli`)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m hotstate_rx"))
