"""Show the source of a package function or class inside a notebook.

The book explains code that lives once, in ``tutorialkit``; :func:`show` prints that
code in the chapter, so the rendered book, Colab and a local Jupyter all display exactly
what runs.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Source:
    """Source code of one object, displayed as a highlighted code block by Jupyter."""

    code: str
    where: str  # "tutorialkit/env.py, lines 30-41"

    def _repr_markdown_(self) -> str:
        return f"`{self.where}`\n\n```python\n{self.code}\n```\n"

    def __repr__(self) -> str:
        return f"# {self.where}\n{self.code}"


def show(obj: object) -> Source:
    """Return the source of ``obj`` (a function, class or module) for display in a
    notebook.

    The last expression of a cell is displayed, so ``show(seed_everything)`` alone in a
    cell shows the function, with the file and line numbers it comes from.

    Example:

    >>> source = show(show)
    >>> source.where.split(",")[0], source.code.splitlines()[0]
    ('tutorialkit/show.py', 'def show(obj: object) -> Source:')
    """
    # a decorated function (e.g. @torch.no_grad()) shows its own code
    obj = inspect.unwrap(obj)
    lines, first = inspect.getsourcelines(obj)
    path = Path(inspect.getsourcefile(obj))
    package_root = Path(__file__).resolve().parent.parent
    try:
        name = path.resolve().relative_to(package_root).as_posix()
    except ValueError:
        name = path.name
    first = max(first, 1)  # modules report line 0
    where = f"{name}, lines {first}-{first + len(lines) - 1}"
    return Source("".join(lines).rstrip("\n"), where)
