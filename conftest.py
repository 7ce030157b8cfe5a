"""pytest hooks for the chapters: keep the outputs that nbval produced.

``pytest --nbval-lax nbs/`` executes every chapter and fails on any error (each chapter
checks its claims with ``assert`` cells). The book build would then execute every
chapter a second time; to avoid that, each notebook whose cells all passed is stored,
with its outputs, in the Jupyter cache that ``jupyter-book build`` (``execute_notebooks:
cache``) reads, as soon as its last cell has run. The cache matches a notebook by its
code cells, so the paired ``.md`` that the book renders finds the ``.ipynb`` run here.
"""

import os
from pathlib import Path

import nbformat

BOOK_CACHE = Path(__file__).parent / "_build" / ".jupyter_cache"


def pytest_configure(config):
    """Create the book cache once, in the main process, before parallel workers
    (pytest-xdist) write to it."""
    if not hasattr(config, "workerinput") and any(
        "nbs" in Path(arg).parts for arg in config.args
    ):
        from jupyter_cache import get_cache

        get_cache(str(BOOK_CACHE)).list_cache_records()


def pytest_runtest_makereport(item, call):
    """Copy a notebook cell's fresh outputs into the notebook; cache the notebook after
    its last cell."""
    if getattr(item, "test_outputs", None) is None or call.when != "call":
        return
    item.cell.outputs = item.test_outputs
    notebook = item.parent
    if call.excinfo is not None:
        notebook.nb_failed = True
    last_code_cell = [cell for cell in notebook.nb.cells if cell.cell_type == "code"][
        -1
    ]
    # the book shows the quick profile's outputs
    rehearsal = os.environ.get("TUTORIALKIT_REHEARSAL") == "1"
    if (
        item.cell is last_code_cell
        and not getattr(notebook, "nb_failed", False)
        and not rehearsal
    ):
        _store_in_book_cache(notebook)


def _store_in_book_cache(notebook) -> None:
    """Add an executed notebook to the book's Jupyter cache, under its .md source's
    path."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    source = Path(str(notebook.fspath)).with_suffix(".md")
    get_cache(str(BOOK_CACHE)).cache_notebook_bundle(
        CacheBundleIn(
            nbformat.from_dict(notebook.nb), str(source), data={"executed_by": "nbval"}
        ),
        check_validity=False,
        overwrite=True,
    )


def pytest_collection_modifyitems(items):
    """Give a notebook cell's outputs up to five minutes to arrive once the cell has
    finished.

    nbval waits only 5 s (``output_timeout``) for each message on the kernel's output
    channel after the cell's reply; on a busy 2-core machine, after minutes of training
    that keep both cores at 100%, the last messages can take longer, and the cell fails
    although it ran (Chapter 11's pre-training cell waited more than a minute, twice,
    with two chapters and other jobs sharing the cores). The time a cell may run is
    still bounded by ``--nbval-cell-timeout``.
    """
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = 300
