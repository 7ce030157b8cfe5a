"""tutorialkit (every module): each public function and class has a docstring.

The API reference is built from them.
"""

import importlib
import inspect
import pkgutil

import pytest

import tutorialkit

MODULES = [
    importlib.import_module(f"tutorialkit.{m.name}")
    for m in pkgutil.iter_modules(tutorialkit.__path__)
]


def _public(module):
    for name, obj in vars(module).items():
        if not name.startswith("_") and (
            inspect.isfunction(obj) or inspect.isclass(obj)
        ):
            if obj.__module__ == module.__name__:
                yield name, obj


def _own_docstring(name, obj) -> bool:
    """A docstring written for obj: not inherited, not the signature dataclasses put
    there."""
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    return bool(doc and doc.strip()) and not doc.startswith(f"{name}(")


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_public_api_is_documented(module):
    assert inspect.getdoc(module), f"{module.__name__} has no module docstring"
    undocumented = [
        name for name, obj in _public(module) if not _own_docstring(name, obj)
    ]
    assert not undocumented, f"{module.__name__}: no docstring on {undocumented}"


def test_every_module_is_in_the_api_reference():
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "book" / "api.md").read_text()
    missing = [m.__name__ for m in MODULES if f"automodule:: {m.__name__}" not in page]
    assert not missing, f"book/api.md does not document {missing}"
