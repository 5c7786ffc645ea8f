"""Run the benchmarks and print one Markdown report.

Usage: ``python -m tests.benchmarks [--compare REF] [--rounds N] [names...]``
(``python3 tasks.py bench ...`` runs this).

Names are module names with or without ``bench_`` (``fanout calls``); none
means all: ours in a fixed order, then any other ``bench_*.py`` found here.
Each runs in a process of its own with a time limit. Rows reported through
:func:`~tests.benchmarks._harness.emit` go into the table; any other output
of a module is shown under its name, and the report has one table per
baseline (bare ``websockets`` first, with python-socketio's column). Targets
not met never fail the run; a benchmark that crashes or overruns does (exit
status 1).

``--compare REF`` runs the same benchmarks of another commit (a git ref) in
the same run, from a temporary worktree, alternating the two trees for
``--rounds`` rounds (default 2), and adds a table of the medians of each
figure with the ratio of this tree to REF: a regression check that does not
depend on how loaded the machine was on another day.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ._harness import ROOT, Row, format_value, machine, markdown_table, parse_rows

ORDER = (
    "fanout", "calls", "updates", "resume", "memory", "storage", "cluster", "client_apply", "draft",
)  # fmt: skip
TIME_LIMIT = 360.0
"""Seconds per benchmark module. The longest (fan-out, storage) take 115-170 s on
2 shared cores; the whole run 7-8 minutes (BENCHMARKS.md)."""


def available() -> list[str]:
    found = sorted(p.stem.removeprefix("bench_") for p in Path(__file__).parent.glob("bench_*.py"))
    return [n for n in ORDER if n in found] + [n for n in found if n not in ORDER]


def run(name: str, tree: Path = ROOT) -> tuple[list[Row], str, str | None]:
    """Rows, other output, and the failure (None when it ran to completion).

    ``tree`` is the checkout whose ``hotstate_rx`` and benchmark run: Python puts
    the working directory first on ``sys.path`` for ``-m``."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", f"tests.benchmarks.bench_{name}"],
            cwd=tree,
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
    parser = argparse.ArgumentParser(
        prog="python3 tasks.py bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default: all of {available()})"
    )
    parser.add_argument("--compare", metavar="REF", help="also run a git ref, in the same run")
    parser.add_argument("--rounds", type=int, default=2, help="rounds with --compare (default 2)")
    args = parser.parse_args(argv)
    known = available()
    names = [a.removeprefix("bench_") for a in args.names] or known
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {known}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    if args.compare:
        with worktree(args.compare) as other:
            rows, extra, failures, compared = _compare(names, other, args.compare, args.rounds)
    else:
        rows, extra, failures = _run_all(names, ROOT)
        compared = ""
    print(f"## Benchmarks\n\nMachine: {machine()}  ")
    print(f"Command: `{' '.join(['python3 tasks.py bench', *argv])}`  ")
    print(f"Wall time: {time.perf_counter() - started:.0f} s\n")
    print(markdown_table(rows))
    if compared:
        print(f"\n### This tree against {args.compare}\n\n{compared}")
    for section in extra:
        print("\n" + section)
    if failures:
        print("\n### Failed\n\n" + "\n".join(failures))
    return 1 if failures else 0


def _run_all(names: list[str], tree: Path) -> tuple[list[Row], list[str], list[str]]:
    rows: list[Row] = []
    extra: list[str] = []
    failures: list[str] = []
    for name in names:
        print(f"[bench] {name} ({tree.name}) ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        got, rest, failure = run(name, tree)
        print(f"[bench] {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        rows += got
        if rest:
            extra.append(f"### {name}\n\n{rest}")
        if failure:
            failures.append(f"- {name} ({tree.name}): {failure}")
    return rows, extra, failures


def _compare(
    names: list[str], other: Path, ref: str, rounds: int
) -> tuple[list[Row], list[str], list[str], str]:
    """Alternate REF and this tree; the last round's rows of this tree, and a
    table of medians over all rounds."""
    ours: dict[tuple[str, str, str], list[float]] = {}
    theirs: dict[tuple[str, str, str], list[float]] = {}
    units: dict[tuple[str, str, str], str] = {}
    rows: list[Row] = []
    extra: list[str] = []
    failures: list[str] = []
    for _ in range(max(1, rounds)):
        for tree, into in ((other, theirs), (ROOT, ours)):
            got, more, failed = _run_all(names, tree)
            failures += failed
            for row in got:
                key = (row.bench, row.case, row.metric)
                into.setdefault(key, []).append(row.value)
                units[key] = row.unit
            if tree == ROOT:
                rows, extra = got, more
    lines = [
        f"| benchmark | case | metric | this tree | {ref} | ratio |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for key, values in ours.items():
        mine = statistics.median(values)
        base = statistics.median(theirs[key]) if key in theirs else None
        ratio = "—" if not base else f"{mine / base:.2f}"
        lines.append(
            f"| {key[0]} | {key[1]} | {key[2]} | {format_value(mine, units[key])} "
            f"| {format_value(base, units[key])} | {ratio} |"
        )
    return rows, extra, failures, "\n".join(lines)


@contextmanager
def worktree(ref: str) -> Iterator[Path]:
    """A temporary, detached checkout of ``ref`` (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="hotstate-bench-") as tmp:
        path = Path(tmp) / f"at-{ref.replace('/', '-')}"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--quiet", str(path), ref], cwd=ROOT, check=True
        )
        try:
            yield path
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
