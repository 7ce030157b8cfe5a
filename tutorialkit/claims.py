"""Claims: measured results that depend on the data and the scale of a run.

A chapter makes two kinds of statements about its code. A **check** is a structural
truth (our attention equals torch's, probabilities sum to one): a plain ``assert``, true
at every scale. A **claim** is a measured result ("fine-tuning beats the untrained head
by at least 0.1 F1"): it holds for the data and sizes of a profile, so its threshold
comes from the chapter's plan (:mod:`tutorialkit.plan`) and it goes through
:func:`claim`, which

* raises :class:`ClaimFailed` in the quick and full profiles, so a false claim fails the
  run;
* only records it in a rehearsal (the full profile's code on a small local copy of the
  Hub, where the numbers mean nothing), so that the rehearsal checks that the code runs;
* in every profile, remembers the claim with its value, and writes it to
  ``$TUTORIALKIT_CLAIMS/<profile>/<chapter>.json`` when that variable names a folder, so
  that the book can list every claim with the value of its last run
  (:func:`claims_table`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

RECORD_VARIABLE = "TUTORIALKIT_CLAIMS"


class ClaimFailed(AssertionError):
    """A measured claim of a chapter did not hold in this run."""


@dataclass
class Claim:
    """One claim as it was checked: where, what, the measured value, and whether it
    held."""

    chapter: str
    text: str
    value: object
    held: bool


@dataclass
class _Session:
    chapter: str = "unnamed"
    profile: str = "quick"  # "quick", "full" or "rehearsal"
    claims: list | None = None


_session = _Session(claims=[])


def start(chapter: str, profile: str, rehearsal: bool = False) -> None:
    """Begin a chapter's list of claims (called by :func:`tutorialkit.plan.plan`)."""
    _session.chapter, _session.profile = chapter, "rehearsal" if rehearsal else profile
    _session.claims = []
    _write()


def claim(condition: bool, text: str, value: object = None) -> None:
    """Check a measured claim: raise when it fails, except in a rehearsal, where it is
    recorded.

    ``text`` is the sentence of the chapter that the claim backs; ``value`` the measured
    number(s) it rests on, shown in the error and in the book's table of claims. It
    returns nothing, so that a notebook cell ending with a claim shows no output. Usage:
    ``claim(f1 > base + 0.1, "fine-tuning beats the untrained head", value=f1 - base)``.
    """
    held = bool(condition)
    _session.claims.append(Claim(_session.chapter, text, _plain(value), held))
    _write()
    if not held:
        where = f"{_session.chapter} ({_session.profile})"
        message = f"claim failed in {where}: {text} [value: {value}]"
        if _session.profile != "rehearsal":
            raise ClaimFailed(message)
        print(f"(rehearsal, recorded) {message}")


def recorded() -> list[Claim]:
    """The claims of the current chapter so far."""
    return list(_session.claims)


def _plain(value: object) -> object:
    """A JSON-friendly copy of ``value``: numbers rounded to 4 significant digits."""
    # numpy or torch scalar
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float):
        return value if not math.isfinite(value) else float(f"{value:.4g}")
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def _write() -> None:
    folder = os.environ.get(RECORD_VARIABLE)
    if not folder:
        return
    path = Path(folder) / _session.profile / f"{_session.chapter}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps([asdict(c) for c in _session.claims], ensure_ascii=False, indent=1)
    )


def read_claims(folder: str | Path) -> dict[str, list[Claim]]:
    """Every recorded claim under ``folder``, by profile (``quick``, ``full``,
    ``rehearsal``)."""
    found: dict[str, list[Claim]] = {}
    for path in sorted(Path(folder).glob("*/*.json")):
        found.setdefault(path.parent.name, []).extend(
            Claim(**c) for c in json.loads(path.read_text())
        )
    return found


def claims_table(
    by_profile: dict[str, list[Claim]], chapter_column: bool = True
) -> str:
    """A Markdown table: one row per claim (chapter, text) and one value column per
    profile.

    A value that did not meet its claim is marked ✗ (only a rehearsal lets that happen).
    Without ``chapter_column`` the rows start with the claim (for a table of one
    chapter's claims).

    Example:

    >>> quick = Claim("06_ner", "beats the head", 0.21, True)
    >>> rehearsal = Claim("06_ner", "beats the head", -0.01, False)
    >>> print(claims_table({"quick": [quick], "rehearsal": [rehearsal]}))
    | chapter | claim | quick | rehearsal |
    |---|---|---|---|
    | 06_ner | beats the head | 0.21 | -0.01 ✗ |
    """
    profiles = [p for p in ("quick", "full", "rehearsal") if p in by_profile]
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for profile in profiles:
        for c in by_profile[profile]:
            cell = (
                json.dumps(c.value, ensure_ascii=False) if c.value is not None else ""
            )
            rows.setdefault((c.chapter, c.text), {})[profile] = cell + (
                "" if c.held else " ✗"
            )
    first = ["chapter", "claim"] if chapter_column else ["claim"]
    lines = [
        "| " + " | ".join(first + profiles) + " |",
        "|" + "---|" * (len(first) + len(profiles)),
    ]
    for (chapter, text), values in sorted(rows.items(), key=lambda item: item[0][0]):
        cells = (
            ([chapter] if chapter_column else [])
            + [text]
            + [values.get(p, "–") for p in profiles]
        )
        lines.append(
            "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"
        )
    return "\n".join(lines)


# python -m tutorialkit.claims FOLDER [PROFILE]: print the recorded claims
if __name__ == "__main__":
    import sys

    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python -m tutorialkit.claims FOLDER [quick|full|rehearsal]")
    found = read_claims(sys.argv[1])
    if len(sys.argv) == 3:
        found = {sys.argv[2]: found.get(sys.argv[2], [])}
    held = sum(c.held for claims in found.values() for c in claims)
    print(claims_table(found))
    print(f"{held} of {sum(map(len, found.values()))} claims held")
