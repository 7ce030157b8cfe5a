"""pytest hooks for the chapters: keep the outputs that nbval produced.

``pytest --nbval-lax nbs/`` executes every chapter and fails on any error (each chapter checks its
claims with ``assert`` cells). The book build would then execute every chapter a second time; to
avoid that, each notebook whose cells all passed is stored, with its outputs, in the Jupyter
cache that ``jupyter-book build`` (``execute_notebooks: cache``) reads. The cache matches a
notebook by its code cells, so the paired ``.md`` the book renders finds the ``.ipynb`` run here.
"""

from pathlib import Path

import nbformat

BOOK_CACHE = Path(__file__).parent / "_build" / ".jupyter_cache"


def pytest_runtest_makereport(item, call):
    """Copy a notebook cell's fresh outputs into the notebook; remember failures."""
    if getattr(item, "test_outputs", None) is None or call.when != "call":
        return
    item.cell.outputs = item.test_outputs
    if call.excinfo is not None:
        item.parent.nb_failed = True


def pytest_sessionfinish(session):
    """Store every fully passed notebook in the book's execution cache."""
    notebooks = {item.parent for item in session.items if hasattr(item, "test_outputs")}
    passed = [nb for nb in notebooks if not getattr(nb, "nb_failed", False) and _all_ran(nb, session)]
    if not passed:
        return
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(BOOK_CACHE))
    for nb_file in passed:
        source = Path(str(nb_file.fspath)).with_suffix(".md")
        cache.cache_notebook_bundle(
            CacheBundleIn(nbformat.from_dict(nb_file.nb), str(source), data={"executed_by": "nbval"}),
            check_validity=False,
            overwrite=True,
        )


def _all_ran(nb_file, session) -> bool:
    """True when every code cell of the notebook was executed in this session."""
    cells = [item for item in session.items if item.parent is nb_file]
    return all(item.test_outputs is not None for item in cells)
