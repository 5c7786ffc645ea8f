"""The one error of the command line: a mistake a person can fix, said in one line."""

from __future__ import annotations

__all__ = ["CommandError"]


class CommandError(Exception):
    """A mistake in what the person asked for; ``status`` is the exit status
    (2 for bad usage, as argparse uses, 1 for anything else)."""

    def __init__(self, message: str, *, status: int = 2) -> None:
        super().__init__(message)
        self.status = status
