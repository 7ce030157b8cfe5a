"""`make full`: execute every chapter in the full profile (a GPU and the Hugging Face
Hub).

Keeps each executed notebook in ``results/executed/``, records every claim in
``results/claims/full/`` and writes ``results/full.json`` (device, date, and per
chapter: status, wall time, claims held), from which ``.ci/results_page.py`` makes the
book's Results page. A failing chapter is recorded with its error and the run goes on to
the next one. Usage: ``python .ci/full_run.py [nbs/06_ner.ipynb ...]`` (default: every
chapter).
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import time
from pathlib import Path

import nbformat
import torch
from nbclient import NotebookClient

RESULTS = Path("results")


def run_chapter(path: Path) -> dict:
    """Execute one notebook in its folder; return its status, wall time and claims."""
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    status = "passed"
    try:
        NotebookClient(
            notebook,
            timeout=None,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
    # a failed cell: keep the notebook as far as it ran, and the error
    except Exception as err:
        last_line = str(err).splitlines()[-1][:300] if str(err) else ""
        status = f"failed: {type(err).__name__}: {last_line}"
    seconds = time.perf_counter() - start
    (RESULTS / "executed").mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, RESULTS / "executed" / path.name)
    claims_file = RESULTS / "claims" / "full" / f"{path.stem}.json"
    claims = json.loads(claims_file.read_text()) if claims_file.exists() else []
    return {
        "chapter": path.stem,
        "status": status,
        "seconds": round(seconds, 1),
        "claims": len(claims),
        "claims_held": sum(c["held"] for c in claims),
    }


def main(paths: list[Path]) -> int:
    os.environ.update(
        TUTORIALKIT_PROFILE="full", TUTORIALKIT_CLAIMS=str(RESULTS / "claims")
    )
    device = (
        torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU (CPU)"
    )
    chapters = []
    for path in paths:
        print(f"{path.stem} ...", flush=True)
        chapters.append(run_chapter(path))
        print(f"  {chapters[-1]}", flush=True)
    run = {
        "device": device,
        "date": datetime.date.today().isoformat(),
        "chapters": chapters,
    }
    (RESULTS / "full.json").write_text(json.dumps(run, indent=1))
    return 0 if all(c["status"] == "passed" for c in chapters) else 1


if __name__ == "__main__":
    chosen = [Path(p) for p in sys.argv[1:]] or sorted(
        Path("nbs").glob("[0-9][0-9]_*.ipynb")
    )
    sys.exit(main(chosen))
