"""Run the benchmarks and print one Markdown report: ``python -m tests.benchmarks [names...]``.

Names are module names with or without ``bench_`` (``fanout calls``); none
means all: ours in a fixed order, then any other ``bench_*.py`` found here.
Each runs in a process of its own with a time limit. Rows reported through
:func:`~tests.benchmarks._harness.emit` go into the table; any other output
of a module is shown under its name. Targets not met never fail the run; a
benchmark that crashes or overruns does (exit status 1).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from ._harness import ROOT, Row, machine, markdown_table, parse_rows

ORDER = ("fanout", "calls", "updates", "memory", "client_apply", "draft")
TIME_LIMIT = 240.0
"""Seconds per benchmark module; the whole run stays within about five minutes."""


def available() -> list[str]:
    found = sorted(p.stem.removeprefix("bench_") for p in Path(__file__).parent.glob("bench_*.py"))
    return [n for n in ORDER if n in found] + [n for n in found if n not in ORDER]


def run(name: str) -> tuple[list[Row], str, str | None]:
    """Rows, other output, and the failure (None when it ran to completion)."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", f"tests.benchmarks.bench_{name}"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            timeout=TIME_LIMIT,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        return parse_rows(out), out, f"exceeded {TIME_LIMIT:.0f} s"
    rows = parse_rows(proc.stdout)
    rest = "\n".join(ln for ln in proc.stdout.splitlines() if not ln.startswith("BENCH-RESULT"))
    return rows, rest.strip(), None if proc.returncode == 0 else f"exit code {proc.returncode}"


def main(argv: list[str]) -> int:
    known = available()
    names = [a.removeprefix("bench_") for a in argv] or known
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {known}", file=sys.stderr)
        return 2
    rows: list[Row] = []
    extra: list[str] = []
    failures: list[str] = []
    started = time.perf_counter()
    for name in names:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        got, rest, failure = run(name)
        print(f"[bench] {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        rows += got
        if rest:
            extra.append(f"### {name}\n\n{rest}")
        if failure:
            failures.append(f"- {name}: {failure}")
    print(f"## Benchmarks\n\nMachine: {machine()}  ")
    print(f"Command: `{' '.join(['python3 tasks.py bench', *argv])}`  ")
    print(f"Wall time: {time.perf_counter() - started:.0f} s\n")
    print(markdown_table(rows))
    for section in extra:
        print("\n" + section)
    if failures:
        print("\n### Failed\n\n" + "\n".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
