"""Write the book's Results page: every claim of every chapter with the value of its
last run.

Reads the claims that the chapters recorded (``TUTORIALKIT_CLAIMS=FOLDER``: quick and
rehearsal runs write under ``_build/claims``, ``make full`` under ``results/claims``)
and, when it exists, ``results/full.json`` (written by ``make full`` on a GPU: device
and wall time per chapter). Usage: ``python .ci/results_page.py book/results.md
_build/claims results/claims``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tutorialkit.claims import claims_table, read_claims

HEADER = """(results)=
# Results and claims

Every chapter separates two kinds of statements about its code. A **check** is a
structural truth (our attention equals torch's; probabilities sum to one): a plain
`assert`, true at every scale. A **claim** is a measured result that depends on the data
and the scale of the run ("fine-tuning beats the untrained head"): it goes through
`tutorialkit.claims.claim`, with a threshold taken from the chapter's plan, and it fails
the run when it does not hold. This page lists every claim with the value it had in the
last run of each kind:

- **quick**: the offline profile this site was built with (CPU, the packaged MiniLM and
  corpora);
- **full**: `make full` on a GPU with the Hugging Face Hub (BERT-base on the drafts'
  benchmarks), when it has been run and its results committed;
- **rehearsal**: the full profile's code against a small local copy of the Hub, run in
  CI to prove that the path Colab readers take executes. Its numbers are meaningless by
  design (tiny data, untrained stand-ins); a claim it does not meet is marked ✗ and
  recorded, not raised.
"""


def full_runs(path: Path) -> str:
    """A table of the GPU run: chapter, device, wall time, claims held."""
    if not path.exists():
        return (
            "\n## The GPU run\n\nNo `make full` run has been recorded yet "
            "(`results/full.json` is missing).\n"
        )
    run = json.loads(path.read_text())
    lines = [
        f"\n## The GPU run\n\n`make full` on {run['device']}, {run['date']}.\n",
        "| chapter | status | wall time (s) | claims held |",
        "|---|---|---|---|",
    ]
    for chapter in run["chapters"]:
        lines.append(
            f"| {chapter['chapter']} | {chapter['status']} | {chapter['seconds']:.0f} "
            "| "
            f"{chapter['claims_held']}/{chapter['claims']} |"
        )
    return "\n".join(lines) + "\n"


def title_of(chapter: str) -> str:
    """The chapter's title: the first level-1 heading of nbs/<chapter>.md."""
    lines = Path("nbs", f"{chapter}.md").read_text(encoding="utf-8").splitlines()
    return next(line[2:].strip() for line in lines if line.startswith("# "))


def by_chapter(by_profile: dict) -> str:
    """One section per chapter, titled with a link to the chapter, holding its table of
    claims."""
    chapters = sorted({c.chapter for found in by_profile.values() for c in found})
    sections = []
    for chapter in chapters:
        mine = {
            profile: [c for c in found if c.chapter == chapter]
            for profile, found in by_profile.items()
        }
        heading = f"### [{title_of(chapter)}](../nbs/{chapter}.md)"
        sections.append(heading + "\n\n" + claims_table(mine, chapter_column=False))
    return "\n\n".join(sections) if sections else "No run has recorded claims yet."


def main(page: str, *folders: str) -> None:
    by_profile: dict = {}
    for folder in folders:
        for profile, found in read_claims(folder).items():
            by_profile.setdefault(profile, []).extend(found)
    text = (
        HEADER
        + full_runs(Path("results/full.json"))
        + "\n## Every claim\n\n"
        + by_chapter(by_profile)
        + "\n"
    )
    Path(page).write_text(text, encoding="utf-8")
    print(
        f"{page}: {sum(map(len, by_profile.values()))} claims from {sorted(by_profile)}"
    )


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python .ci/results_page.py PAGE.md [CLAIMS_FOLDER ...]")
    main(sys.argv[1], *sys.argv[2:])
