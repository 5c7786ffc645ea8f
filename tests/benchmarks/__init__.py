"""Benchmarks of hotstate_rx against bare ``websockets`` baselines.

Run them all with ``python3 tasks.py bench`` (or ``python -m tests.benchmarks
[names...]``). They are not collected by pytest: they time things, and timing
is not a pass/fail test. ``BENCHMARKS.md`` at the repository root holds the
figures and how to read them.
"""
