"""Runnable examples of hotstate_rx: ``python -m apps --help``.

``apps.todo``       collaborative todos with chat rooms (NiceGUI page + Textual client)
``apps.dashboard``  live machine metrics as composed Rx stores (NiceGUI page + Textual client)
``apps.cookie_login``  a FastAPI app's session cookie signs people in to its hotstate server
"""

from __future__ import annotations

import os
import sys


def python_command() -> str:
    """This interpreter as a person would type it (relative to the working directory if inside)."""
    relative = os.path.relpath(sys.executable)
    return relative if not relative.startswith("..") else sys.executable
