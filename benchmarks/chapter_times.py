"""Per-chapter execution times and the slowest cells, from a pytest log.

Run the chapters through nbval with ``--durations=0`` (``make test`` does, for the quick
profile and the rehearsal) and give this script the log::

    make test 2>&1 | tee test.log
    python benchmarks/chapter_times.py test.log

It prints one JSON line per chapter (``{"chapter": ..., "seconds": ..., "cells": ...}``,
the sum of its cells' call times, slowest first) and then a Markdown table of the ten
slowest cells, the table that ``benchmarks/README.md`` keeps. A log with both the
rehearsal and the quick run holds each chapter twice: ``--run`` picks the first or the
second block of durations.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

# "412.15s call     nbs/08_peft.ipynb::Cell 10"
DURATION = re.compile(r"^\s*([\d.]+)s (call|setup|teardown)\s+(\S+\.ipynb)::Cell (\d+)")
BLOCK_START = re.compile(r"=+ slowest (?:\d+ )?durations =+")


def duration_blocks(text: str) -> list[list[tuple[str, int, float]]]:
    """The (notebook, cell, seconds) call durations of each block of durations."""
    blocks: list[list[tuple[str, int, float]]] = []
    for line in text.splitlines():
        if BLOCK_START.search(line):
            blocks.append([])
            continue
        match = DURATION.match(line)
        if match and blocks and match.group(2) == "call":
            seconds, _, notebook, cell = match.groups()
            blocks[-1].append((notebook, int(cell), float(seconds)))
    return [block for block in blocks if block]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path, help="pytest output with --durations=0")
    parser.add_argument(
        "--run", type=int, default=-1, help="which durations block (default: the last)"
    )
    args = parser.parse_args()
    blocks = duration_blocks(args.log.read_text(encoding="utf-8", errors="replace"))
    if not blocks:
        raise SystemExit(
            f"{args.log}: no notebook durations found; run pytest with --durations=0"
        )
    cells = blocks[args.run]
    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for notebook, _, seconds in cells:
        totals[notebook] += seconds
        counts[notebook] += 1
    for notebook in sorted(totals, key=totals.get, reverse=True):
        print(
            json.dumps(
                {
                    "chapter": Path(notebook).stem,
                    "seconds": round(totals[notebook], 1),
                    "cells": counts[notebook],
                }
            )
        )
    print("\n| cell | seconds |\n|---|---|")
    for notebook, cell, seconds in sorted(cells, key=lambda c: -c[2])[:10]:
        print(f"| {Path(notebook).stem}, cell {cell} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
